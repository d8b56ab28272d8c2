"""The method contract. A method turns a batch of task items into predictions.

    system "gemma-3-270m/few-shot-choice" = model gemma-3-270m + method few-shot-choice
    system "yake"                          = no model + method yake

Batch-first: ``predict`` receives a list of items and returns predictions in the same
order. Each prediction carries its usage and timings so the runner can report latency,
tokens/s and cost per item.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from lmscape.backends.base import Backend, Timings, Usage
from lmscape.tasks.base import Item, Task


@dataclass(kw_only=True)
class Prediction:
    output: Any  # label | list[str] keyphrases | reply text
    usage: Usage = field(default_factory=Usage)
    timings: Timings = field(default_factory=Timings)
    extra: dict[str, Any] = field(default_factory=dict)  # e.g. {"ref_logprob": ..., "ref_tokens": ...}


class Method(ABC):
    name: ClassVar[str]
    needs_model: ClassVar[bool] = True
    preferred_batch_size: ClassVar[int] = 16
    # Parameters naming further models (a judge, a similarity encoder): the registry
    # loads a model id given for them, and closing the system closes them.
    model_params: ClassVar[tuple[str, ...]] = ()
    # A model-free method's code comes from this PyPI distribution (its licence is the
    # system's licence; ``lmscape recommend --licence`` reads it from the installed metadata).
    library: ClassVar[str | None] = None
    # ``train`` learns from each training item (a classifier head, fine-tuning). A method
    # that only draws a few shots and one decision threshold from the train split says
    # False: leaving some train items out of its training would change its shots, not stop
    # it from having learned them (routing keeps calibration items out of fits that learn).
    learns_from_items: ClassVar[bool] = True
    # Options this method asks of its model's backend, per backend name, when the model
    # is loaded for it (the catalog's or the spec's own options win): a head that only
    # reads an encoder's vectors can take them from bf16 products.
    backend_defaults: ClassVar[Mapping[str, Mapping[str, Any]]] = {}

    def __init__(self, task: Task, model: Backend | None = None, **params: Any) -> None:
        self.task = task
        self.model = model
        self.params = params

    @classmethod
    def default_params(cls, task: Task) -> dict[str, Any]:
        """Parameters the task supplies when the caller gives none (applied by the
        registry before it loads ``model_params``)."""
        return {}

    def cache_params(self) -> dict[str, Any]:
        """Everything that changes outputs besides model, task version and item."""
        return dict(self.params)

    def models(self) -> list[Backend]:
        """Every model this method uses: its own, then those of ``model_params``."""
        extra = [self.params.get(name) for name in self.model_params]
        return [m for m in (self.model, *extra) if isinstance(m, Backend)]

    def close(self) -> None:
        """Close every model the method uses (safe to call twice)."""
        for model in self.models():
            model.close()

    def train(self, train_items: list[Item]) -> None:
        """Train whatever the method trains (a classifier head); default: nothing."""

    @abstractmethod
    def predict(self, items: list[Item]) -> list[Prediction]:
        """Predictions for ``items``, same order."""
