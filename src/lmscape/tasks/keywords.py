"""Keyphrase extraction tasks: ``keywords`` (Inspec, default split test_public) and
``keywords-semeval2017`` (SemEval-2017 Task 10, public half). Same class, two
definitions.

Outputs are ranked lists of phrases. Per item: F1/precision/recall at 5 and 10 with
Porter-stemmed exact match (protocol in :mod:`lmscape.metrics.keyphrase`). Aggregate:
macro-average over documents with 95% bootstrap intervals.

User files: the text column is the document; the label column holds the gold phrases as
a JSON array (JSONL) or one string separated by ``;`` (CSV; ``,`` if there is no ``;``).
"""

from __future__ import annotations

import json
from typing import Any

from lmscape.metrics.bootstrap import mean_ci
from lmscape.metrics.keyphrase import keyphrase_scores
from lmscape.tasks.base import Item, Metric
from lmscape.tasks.definition import DefinedTask
from lmscape.tasks.loading import Record, require_column


def split_phrases(value: Any) -> list[str] | None:
    """A list of phrases from a list, a JSON array string, or a ``;``/``,`` list."""
    if isinstance(value, list):
        phrases = [str(v).strip() for v in value]
    elif isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                parsed = json.loads(text)
            except json.JSONDecodeError:
                return None
            return split_phrases(parsed) if isinstance(parsed, list) else None
        sep = ";" if ";" in text else ","
        phrases = [p.strip() for p in text.split(sep)]
    else:
        return None
    return [p for p in phrases if p]


class KeywordsTask(DefinedTask):
    """Keyphrase extraction scored by F1@5 and F1@10."""

    definition_file = "keywords.yaml"
    name = "keywords"
    version = "1"
    primary_metric = "f1@10"
    default_split = "test_public"
    train_split = "train"
    KS = (5, 10)

    @property
    def top_n(self) -> int:
        return int(self.options.get("top_n", 10))

    def make_item(self, record: Record, id_col: str, text_col: str, ref_col: str,
                  *, user: bool) -> Item:
        text = require_column(record, text_col, "--text-col")
        raw = require_column(record, ref_col, "--label-col")
        phrases = split_phrases(raw)
        if not phrases:
            raise record.fail(
                f"column {ref_col!r} holds no keyphrases ({str(raw)[:60]!r})",
                hint='give a JSON array ["a", "b"] or a ";"-separated string',
            )
        return Item(id=self.item_id(record, id_col), text=str(text), reference=phrases)

    def score(self, item: Item, output: Any) -> dict[str, float]:
        return keyphrase_scores(list(output or []), item.reference, self.KS)

    def aggregate(self, items: list[Item], outputs: list[Any],
                  scores: list[dict[str, float]]) -> dict[str, Metric]:
        out: dict[str, Metric] = {}
        for name in self.definition.metrics:
            value, low, high = mean_ci([s[name] for s in scores])
            out[name] = Metric(value=value, low=low, high=high, n=len(scores))
        return out


class SemEval2017KeywordsTask(KeywordsTask):
    """SemEval-2017 Task 10 keyphrases (public half)."""

    definition_file = "keywords-semeval2017.yaml"
    name = "keywords-semeval2017"
    default_split = "public"
    train_split = None
