"""Member outcomes on the calibration items, measured and stored by the bench runner.

Each member runs as an ordinary bench run on the calibration items (dataset
``calibration:SPLIT@DIGEST``), so its predictions, per-item scores, cost and CPU
seconds are stored, cached and resumable like any run; a second calibration over the
same items reads them back instead of running the models again. The router is
trained on these stored outcomes.

Costs are per item: the bench measures a batch's CPU and wall seconds, and each item
gets its share by the time the member itself reports for it (``timings.total_s``: a
llama.cpp scorer's rows for that item, say). Items differ: SST-2 sentences a MiniLM
head is unsure of are longer than average, so Gemma costs about 7% more on the items a
cascade hands it than on an average item; a flat cost per item would miss that.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import sqlalchemy as sa

from lmscape.bench.cache import CachedPrediction
from lmscape.bench.cost import CostModel
from lmscape.bench.runner import Progress, Runner, RunSpec
from lmscape.methods.base import Prediction
from lmscape.store.db import Store
from lmscape.store.schema import cache as cache_table
from lmscape.store.schema import results as results_table
from lmscape.tasks.base import Item


@dataclass(kw_only=True)
class MemberOutcomes:
    """One member on the calibration items, in item order."""

    name: str
    run_id: str
    predictions: list[Prediction]
    scores: np.ndarray  # primary metric per item
    cost_per_item: float | None  # mean cost_usd
    cpu_s_per_item: float | None
    wall_s_per_item: float | None
    # each item's effort relative to the member's mean (mean 1; 1 where not measured)
    effort: np.ndarray | None = None
    is_local: bool = False

    @property
    def quality(self) -> float:
        return float(self.scores.mean())


def collect(store: Store, task: Any, members: list[Any], items: list[Item], *,
            dataset: str, training_items: Callable[[Any], list[Item]],
            progress: Progress | None = None) -> list[MemberOutcomes]:
    """Run (or read back) every member on ``items``; each fits on ``training_items(member)``."""
    runner = Runner(store, progress=progress)
    out = []
    for member in members:
        spec = RunSpec(task=task, items=items, dataset=dataset,
                       params={"calibration": True, "n": len(items)},
                       train_items=lambda m=member: training_items(m))
        outcome = runner.run(member, spec, resume=True)
        got = read(store, outcome.run_id, task, member.name, items)
        got.is_local = CostModel.for_system(member).is_local
        out.append(got)
    return out


def item_score(scores: dict[str, float], primary: str) -> float:
    """One number per item: the primary metric, else ``correct``, else the first score."""
    for key in (primary, "correct"):
        if key in scores:
            return float(scores[key])
    return float(next(iter(scores.values()), 0.0))


def read(store: Store, run_id: str, task: Any, name: str, items: list[Item]) -> MemberOutcomes:
    r, c = results_table, cache_table
    with store.connect() as conn:
        rows = conn.execute(
            sa.select(r.c.item_id, r.c.scores, r.c.cost_usd, r.c.error,
                      c.c.value.label("effort"))
            .select_from(r.outerjoin(c, c.c.key == r.c.cache_key))
            .where(r.c.run_id == run_id)).mappings().all()
    by_id = {row["item_id"]: row for row in rows}
    preds, scores, costs, cpus, walls = [], [], [], [], []
    own = np.full(len(items), np.nan)  # the seconds the member reports for each item
    metric = task.primary_metric
    for k, item in enumerate(items):
        row = by_id.get(item.id)
        if row is None or row["error"] is not None or not row["effort"]:
            preds.append(Prediction(output=None))
            scores.append(0.0)  # an error counts as wrong
            continue
        cp = CachedPrediction.from_json(row["effort"])
        preds.append(cp.prediction)
        scores.append(item_score(row["scores"] or {}, metric))
        costs.append(row["cost_usd"])
        cpus.append(cp.cpu_s)
        walls.append(cp.wall_s)
        if cp.prediction.timings.total_s > 0:
            own[k] = cp.prediction.timings.total_s

    def mean(values: list[Any]) -> float | None:
        known = [v for v in values if v is not None]
        return float(np.mean(known)) if known else None

    return MemberOutcomes(name=name, run_id=run_id, predictions=preds,
                          scores=np.asarray(scores, dtype=float),
                          cost_per_item=mean(costs), cpu_s_per_item=mean(cpus),
                          wall_s_per_item=mean(walls), effort=relative_effort(own))


def relative_effort(seconds: np.ndarray) -> np.ndarray:
    """Each item's seconds over the mean of the measured ones (1 where not measured, or
    when too few items are measured to compare)."""
    seconds = np.asarray(seconds, dtype=float)
    known = np.isfinite(seconds) & (seconds > 0)
    if known.sum() < max(2, len(seconds) // 2):
        return np.ones(len(seconds))
    out = np.ones(len(seconds))
    out[known] = seconds[known] / seconds[known].mean()
    return out
