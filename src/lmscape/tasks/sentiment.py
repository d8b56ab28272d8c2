"""The ``sentiment`` task: SST-2 sentences, labels negative / positive.

Per item: ``correct`` (1.0 or 0.0). Aggregate: accuracy and macro-F1 with 95% seeded
bootstrap intervals. User files (``--data``) need a text column and a label column whose
values are the labels (any case) or an alias from the definition (0/1, neg/pos).
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

from lmscape.metrics.classification import classification_metrics
from lmscape.tasks.base import Item, Metric
from lmscape.tasks.definition import DefinedTask
from lmscape.tasks.loading import Record, require_column


class SentimentTask(DefinedTask):
    """SST-2 binary sentiment."""

    definition_file = "sentiment.yaml"
    name = "sentiment"
    version = "1"
    primary_metric = "accuracy"
    labels = ("negative", "positive")
    default_split = "dev"
    train_split = "train"

    def normalize_label(self, value: Any) -> str | None:
        """The canonical label for ``value`` (case-insensitive, aliases), else None."""
        return self._label_keys.get(str(value).strip().lower())

    @cached_property
    def _label_keys(self) -> dict[str, str]:
        """Lower-cased label or alias -> label (a label wins over an alias); built once."""
        keys = {k.lower(): v for k, v in self.definition.label_aliases.items()}
        keys.update({label.lower(): label for label in self.labels or ()})
        return keys

    def make_item(self, record: Record, id_col: str, text_col: str, ref_col: str,
                  *, user: bool) -> Item:
        text = require_column(record, text_col, "--text-col")
        raw = require_column(record, ref_col, "--label-col")
        label = self.normalize_label(raw)
        if label is None:
            raise record.fail(
                f"label {raw!r} is not one of {', '.join(self.labels or ())}",
                hint="map the labels to negative/positive (0/1 also work), "
                "or pick the label column with --label-col",
            )
        return Item(id=self.item_id(record, id_col), text=str(text), reference=label)

    def score(self, item: Item, output: Any) -> dict[str, float]:
        return {"correct": float(output == item.reference)}

    def aggregate(self, items: list[Item], outputs: list[Any],
                  scores: list[dict[str, float]]) -> dict[str, Metric]:
        gold = [it.reference for it in items]
        return classification_metrics(gold, list(outputs), list(self.labels or ()))
