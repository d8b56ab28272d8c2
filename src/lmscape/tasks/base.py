"""The task contract: versioned data + scoring.

``Metric`` (an aggregate with its interval) lives in :mod:`lmscape.metrics.aggregate`
and is re-exported here for task code.

A task is a data-only definition (a YAML file beside this one: splits, prompt
templates, label set, metric names, ``version``) plus Python scoring code. The version
is stored with every result, so changing a prompt or metric means bumping it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

from lmscape.metrics.aggregate import Metric


@dataclass(frozen=True, kw_only=True)
class Item:
    """One evaluation item.

    ``text`` is the model input (review, abstract, or the rendered dialogue context);
    ``reference`` the gold answer (label, list of keyphrases, reference reply).
    """

    id: str
    text: str
    reference: Any = None
    meta: dict[str, Any] = field(default_factory=dict)


class Task(ABC):
    name: ClassVar[str]
    version: ClassVar[str]
    primary_metric: ClassVar[str]
    higher_is_better: ClassVar[bool] = True
    labels: ClassVar[tuple[str, ...] | None] = None
    default_split: ClassVar[str]
    train_split: ClassVar[str | None] = None

    @abstractmethod
    def items(
        self,
        split: str | None = None,
        *,
        data_file: str | None = None,
        text_col: str | None = None,
        label_col: str | None = None,
        limit: int | None = None,
        seed: int = 7,
    ) -> Iterator[Item]:
        """Stream items from a built-in split or a user's JSONL/CSV file."""

    @abstractmethod
    def score(self, item: Item, output: Any) -> dict[str, float]:
        """Per-item metric values for one prediction."""

    @abstractmethod
    def aggregate(self, items: list[Item], outputs: list[Any],
                  scores: list[dict[str, float]]) -> dict[str, Metric]:
        """Aggregate metrics (with 95% bootstrap intervals where meaningful)."""
