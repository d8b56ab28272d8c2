"""What cascades and routers share: the members, per-item bookkeeping, cost.

A routed method is a :class:`~lmscape.methods.base.Method` whose "model" is a list
of member systems. Its predictions carry, for the bench and the gateway:

- ``extra["answered_by"]``: the member whose answer was used (bench sums these into
  each member's share);
- ``extra["route"]``: the members asked, their confidences and the thresholds;
- ``extra["cost_usd"]``: the item's cost, each member priced the way bench prices it
  (local: its measured wall time x the machine's hourly price; remote: tokens x list
  price), summed over the members that ran on the item.

Guarantees: a member only ever sees the items routed to it (a cascade never runs the
large member on items the small one answered); members whose training learns from items
are fitted on the train items minus the calibration items (see ``training_items``); a
routed system refuses to predict its own calibration items (``DataError``), so
calibration and evaluation never share items.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from typing import Any, ClassVar

from lmscape.backends.base import Timings, Usage
from lmscape.bench.cost import CostModel
from lmscape.errors import DataError
from lmscape.methods.base import Method, Prediction
from lmscape.tasks.base import Item


class ItemTrail:
    """What happened to one item on its way through the members."""

    __slots__ = ("asked", "cost", "total_s", "usage")

    def __init__(self) -> None:
        self.asked: list[dict[str, Any]] = []
        self.usage = Usage()
        self.total_s = 0.0
        self.cost: float | None = 0.0

    def add(self, member: str, p: Prediction, confidence: float | None,
            cost: float | None, wall_s: float) -> None:
        self.asked.append({"member": member, "output": p.output, "confidence": confidence,
                           "prompt_tokens": p.usage.prompt_tokens,
                           "completion_tokens": p.usage.completion_tokens})
        self.usage.prompt_tokens += p.usage.prompt_tokens
        self.usage.completion_tokens += p.usage.completion_tokens
        self.total_s += p.timings.total_s if p.timings.total_s > 0 else wall_s
        self.cost = None if cost is None or self.cost is None else self.cost + cost


class RoutedMethod(Method):
    """Base of :class:`~lmscape.route.cascade.CascadeMethod` and
    :class:`~lmscape.route.router.RouterMethod`."""

    needs_model: ClassVar[bool] = False
    kind: ClassVar[str] = "routed"
    # Large batches: the items a member hands on still make a batch worth sending on
    # (a few-shot member evaluates its shared prefix once per call).
    preferred_batch_size = 128

    def __init__(self, task: Any, members: list[Any], *, thresholds: list[float] | None,
                 calibration_ids: Sequence[str] = (), goal: dict[str, Any] | None = None,
                 n_calib: int = 200, seed: int = 7, label: str = "") -> None:
        super().__init__(task, None)
        self.members = members
        self.thresholds = thresholds
        self.calibration_ids = set(calibration_ids)
        self.goal = dict(goal or {})
        self.n_calib, self.seed = n_calib, seed
        self.label = label or self.kind
        self.calibration: Any = None  # set when fitted by calibrating here
        self._costs = [CostModel.for_system(m) for m in members]
        self._members_fitted = False
        self.member_s = 0.0  # seconds inside members' predict since the last reset

    @property
    def member_names(self) -> list[str]:
        return [m.name for m in self.members]

    def cache_params(self) -> dict[str, Any]:
        return {"kind": self.kind, "thresholds": self.thresholds,
                "members": [{"name": m.name, "params": _params(m)} for m in self.members],
                # the members learn from the train items minus these: a digest, so two
                # policies calibrated on different items never share cached answers
                "calibration_ids": _ids_digest(self.calibration_ids), **self.goal}

    def models(self) -> list[Any]:
        out: list[Any] = []
        for m in self.members:
            out.extend(m.method.models())
        return out

    def close(self) -> None:
        for m in self.members:
            m.close()

    # -- fitting -------------------------------------------------------------------------
    def training_items(self, member: Any, train_items: list[Item]) -> list[Item]:
        """What ``member`` is fitted on: the train items without the calibration items
        when its training learns from items (a head would be overconfident on items it was
        trained on); else all of them, so it is the very system it is on its own."""
        if not getattr(member.method, "learns_from_items", True):
            return train_items
        return [it for it in train_items if it.id not in self.calibration_ids]

    def fit_members(self, train_items: list[Item]) -> None:
        """Fit each member (see :meth:`training_items`)."""
        if self._members_fitted:
            return
        for m in self.members:
            m.method.train(self.training_items(m, train_items))
        self._members_fitted = True

    def train(self, train_items: list[Item]) -> None:
        if self.thresholds is None:
            from lmscape.route.calibrate import calibrate_here

            calibrate_here(self, train_items)
        self.fit_members(train_items)

    def check_items(self, items: list[Item]) -> None:
        clash = [it.id for it in items if it.id in self.calibration_ids]
        if clash:
            raise DataError(
                f"{len(clash)} of the items to predict (e.g. {clash[0]}) were used to "
                f"calibrate {self.label}",
                hint="evaluate on another split than the calibration split")

    def ensure_ready(self) -> None:
        if self.thresholds is None or not self._members_fitted:
            if not self.task.train_split:
                raise DataError(f"{self.label} needs calibration but task {self.task.name!r} "
                                "has no train split",
                                hint="give thresholds (threshold=0.8) or calibrate a policy")
            self.train(list(self.task.items(self.task.train_split)))

    # -- running members ---------------------------------------------------------------------
    def run_member(self, j: int, items: list[Item], *, confident: bool
                   ) -> tuple[list[Prediction], list[float | None], list[float | None], float]:
        """Member ``j`` on ``items``: predictions, confidences (if asked), the cost of
        each item, and the wall seconds per item."""
        from lmscape.route.confidence import confidences

        member = self.members[j]
        start = time.perf_counter()
        preds = member.method.predict(items)
        confs: list[float | None] = (list(confidences(member, items, preds)) if confident
                                     else [None] * len(items))
        self.member_s += time.perf_counter() - start  # the member's own time (its scoring too)
        wall = (time.perf_counter() - start) / max(1, len(items))
        cost = self._costs[j]
        costs = [cost.item_cost(wall_s=wall, prompt_tokens=p.usage.prompt_tokens,
                                completion_tokens=p.usage.completion_tokens) for p in preds]
        return preds, confs, costs, wall

    def finish(self, output: Any, member: str, trail: ItemTrail, why: str) -> Prediction:
        return Prediction(
            output=output, usage=trail.usage, timings=Timings(total_s=trail.total_s),
            extra={"answered_by": member, "cost_usd": trail.cost,
                   "route": {"kind": self.kind, "answered_by": member, "why": why,
                             "asked": trail.asked, "thresholds": self.thresholds}})


def _params(member: Any) -> Any:
    own = getattr(member, "cache_params", None)
    return own() if callable(own) else member.method.cache_params()


def _ids_digest(ids: set[str]) -> str:
    """A short digest of a set of item ids (order-free); empty for none."""
    if not ids:
        return ""
    return hashlib.sha256("\x00".join(sorted(ids)).encode()).hexdigest()[:16]
