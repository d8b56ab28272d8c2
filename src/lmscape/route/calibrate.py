"""Calibrate a routed system: pick its thresholds on labelled calibration items.

1. Draw the calibration items: ``limit`` seeded items of a labelled split (the train
   split by default; never the evaluation items). Members whose training learns from items
   (heads) are fitted on the train items that are not calibration items; the others
   (few-shot choice) exactly as on their own.
2. Run every member on them through the bench runner (stored, cached:
   :mod:`.outcomes`), giving per-item scores, confidences and measured cost.
3. Router only: embed the items and train one head per non-last member on the
   stored outcomes; its cross-validated (5-fold) probabilities stand in for the
   confidences, so thresholds are never chosen on items a head was trained on.
4. Sweep the threshold (:mod:`.curve`), choose the cheapest point meeting the goal
   (``target_quality`` relative to the last member, default 0.99, or
   ``max_share_large``) and explain it in one sentence.
5. ``calibrate_policy`` saves the result as a named policy.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import random
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lmscape.bench.cost import local_cost_usd
from lmscape.bench.measure import cpu_seconds
from lmscape.bench.runner import Progress
from lmscape.errors import ConfigError, DataError, require
from lmscape.route.confidence import confidences
from lmscape.route.curve import CurvePoint, choose, explain, sweep
from lmscape.route.outcomes import MemberOutcomes, collect
from lmscape.route.policy import Calibration, Policy, RouterWeights, save_policy
from lmscape.route.spec import check_fraction
from lmscape.store.db import Store, open_store
from lmscape.tasks.base import Item


@dataclass(kw_only=True)
class CalibrationResult:
    split: str
    items: list[Item]
    outcomes: list[MemberOutcomes]
    curve: list[CurvePoint]
    chosen: CurvePoint
    thresholds: list[float]
    cost_unit: str
    explanation: str
    goal: dict[str, Any]
    router: RouterWeights | None = None

    def calibration(self) -> Calibration:
        ids = [it.id for it in self.items]
        return Calibration(
            split=self.split, n=len(ids), item_ids=ids,
            items_digest=hashlib.sha256("\n".join(ids).encode()).hexdigest()[:16],
            date=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            cost_unit=self.cost_unit,
            members=[{"name": o.name, "quality": o.quality, "cost_per_item": o.cost_per_item,
                      "cpu_s_per_item": o.cpu_s_per_item, "run_id": o.run_id}
                     for o in self.outcomes],
            curve=[p.as_dict() for p in self.curve], chosen=self.chosen.as_dict(),
            goal=self.goal, explanation=self.explanation)


def check_goal(target_quality: float | None, max_share_large: float | None) -> dict[str, Any]:
    if target_quality is not None and max_share_large is not None:
        raise ConfigError("give --target-quality or --max-share-large, not both",
                          hint="drop one of them")
    if max_share_large is not None:
        return {"max_share_large": check_fraction("--max-share-large", max_share_large)}
    target = 0.99 if target_quality is None else target_quality
    if not 0.0 < target <= 1.5:
        raise ConfigError(f"--target-quality {target:g} is not a quality ratio",
                          hint="give the quality relative to the largest member, e.g. 0.99")
    return {"target_quality": target}


def calibration_items(task: Any, split: str | None, limit: int, seed: int,
                      data_file: str | None = None) -> tuple[str, list[Item]]:
    """``limit`` seeded, labelled items of ``split`` (default: the train split), or of
    the user's ``data_file``."""
    if data_file is not None:
        try:
            items = list(task.items(None, data_file=data_file))
        except DataError as exc:
            if "label" not in exc.message.lower():
                raise
            raise DataError(f"the calibration data {data_file} has no usable labels "
                            f"({exc.message})",
                            hint="calibrate on labelled items: a file with a label column, "
                                 "or --split train") from None
        return f"file:{Path(data_file).name}", sample_labelled(items, data_file, limit, seed)
    split = split or task.train_split
    if split is None:
        raise DataError(f"task {task.name!r} has no train split to calibrate on",
                        hint="name a labelled split with --split")
    if split == task.default_split and task.train_split:
        raise DataError(f"split {split!r} holds the evaluation items of {task.name}",
                        hint=f"calibrate on --split {task.train_split}")
    items = list(task.items(split))
    return split, sample_labelled(items, split, limit, seed)


def sample_labelled(items: list[Item], where: str, limit: int, seed: int) -> list[Item]:
    if not items:
        raise DataError(f"no items in {where}", hint="calibrate on a split with items")
    unlabelled = sum(1 for it in items if it.reference in (None, "", [], ()))
    if unlabelled:
        raise DataError(f"the calibration split {where} has {unlabelled} items without "
                        "labels", hint="calibrate on a labelled split (train or dev)")
    if limit < 10:
        raise DataError(f"{limit} calibration items are too few",
                        hint="calibrate on at least 10 items (--limit)")
    pool = sorted(items, key=lambda it: it.id)
    return sorted(random.Random(seed).sample(pool, min(limit, len(pool))), key=lambda it: it.id)


def cost_matrix(outcomes: list[MemberOutcomes]) -> tuple[np.ndarray, str]:
    """Each member's measured cost of each calibration item (n, m), and its unit.

    Local members only: CPU seconds (the effort, whatever else the machine ran; what
    ``benchmarks/route.py`` compares). Else USD (local members at the machine's hourly
    price for their wall time, remote ones at list price), else wall seconds. A member's
    mean cost is spread over the items by their :attr:`MemberOutcomes.effort`.
    """
    local = all(o.is_local for o in outcomes)
    if local and all(o.cpu_s_per_item is not None for o in outcomes):
        means, unit = [o.cpu_s_per_item for o in outcomes], "cpu_s"
    elif all(o.cost_per_item is not None for o in outcomes):
        means, unit = [o.cost_per_item for o in outcomes], "usd"
    elif all(o.cpu_s_per_item is not None for o in outcomes):
        means, unit = [o.cpu_s_per_item for o in outcomes], "cpu_s"
    else:
        means, unit = [o.wall_s_per_item or 0.0 for o in outcomes], "wall_s"
    n = len(outcomes[0].scores)
    cost = np.stack([float(mu) * (o.effort if o.effort is not None and len(o.effort) == n
                                  else np.ones(n))
                     for mu, o in zip(means, outcomes, strict=True)], axis=1)
    return cost, unit


def _router_heads(method: Any, items: list[Item], scores: np.ndarray, seed: int
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray, float, float]:
    """Cross-validated chances (n, m-1), final coef and intercept, and the encoder's
    wall and CPU seconds per item."""
    sk_lm = require("sklearn.linear_model", package="scikit-learn", extra="hf")
    sk_ms = require("sklearn.model_selection", package="scikit-learn", extra="hf")
    _ = method.encoder  # loaded before the timing: the overhead is its work per item
    cpu_start = cpu_seconds()
    x, wall = method.embed([it.text for it in items])
    cpu = (cpu_seconds() - cpu_start) / max(1, len(items))
    n, m = scores.shape
    chances = np.zeros((n, m - 1))
    coef = np.zeros((m - 1, x.shape[1]))
    intercept = np.zeros(m - 1)
    for j in range(m - 1):
        y = (scores[:, j] >= scores[:, -1] - 1e-12).astype(int)
        rate = float(np.clip(y.mean(), 1e-3, 1 - 1e-3))
        if y.min() == y.max() or min(np.bincount(y)) < 5:  # one class: a constant head
            chances[:, j] = rate
            intercept[j] = float(np.log(rate / (1 - rate)))
            continue
        clf = sk_lm.LogisticRegression(C=1.0, max_iter=2000, random_state=seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            cv = sk_ms.StratifiedKFold(n_splits=5, shuffle=True, random_state=seed)
            chances[:, j] = sk_ms.cross_val_predict(clf, x, y, cv=cv,
                                                    method="predict_proba")[:, 1]
            clf.fit(x, y)
        coef[j], intercept[j] = clf.coef_[0], clf.intercept_[0]
    return chances, coef, intercept, wall, cpu


def calibrate_built(method: Any, items: list[Item], *, split: str,
                    train_items: list[Item], goal: dict[str, Any], store: Store,
                    progress: Progress | None = None) -> CalibrationResult:
    """Calibrate an already built cascade or router on ``items`` and set its thresholds
    (members are fitted on ``train_items`` as :meth:`RoutedMethod.training_items` says)."""
    task, members = method.task, method.members
    method.calibration_ids = {it.id for it in items}
    digest = hashlib.sha256("\n".join(it.id for it in items).encode()).hexdigest()[:12]
    outcomes = collect(store, task, members, items, dataset=f"calibration:{split}@{digest}",
                       training_items=lambda m: method.training_items(m, train_items),
                       progress=progress)
    method._members_fitted = True  # the runner fitted each member
    scores = np.stack([o.scores for o in outcomes], axis=1)
    cost, unit = cost_matrix(outcomes)
    router = None
    overhead = 0.0
    if method.kind == "cascade":
        conf = np.stack([confidences(members[j], items, outcomes[j].predictions)
                         for j in range(len(members) - 1)], axis=1)
    else:
        conf, coef, intercept, wall, cpu = _router_heads(method, items, scores, method.seed)
        method.set_weights(coef, intercept)
        router = RouterWeights(encoder=method.encoder_id, coef=coef.tolist(),
                               intercept=intercept.tolist())
        # the encoder's cost per item, in the members' unit
        overhead = {"usd": local_cost_usd(wall), "cpu_s": cpu}.get(unit, wall)
    curve = sweep(scores, conf, cost, kind=method.kind, overhead=overhead)
    chosen = choose(curve, **goal)
    # just above 1 (every item escalates) stays as it is: no confidence reaches it
    method.thresholds = [chosen.threshold] * (len(members) - 1)
    text = explain(chosen, method.member_names, kind=method.kind)
    return CalibrationResult(split=split, items=items, outcomes=outcomes, curve=curve,
                             chosen=chosen, thresholds=list(method.thresholds),
                             cost_unit=unit, explanation=text, goal=goal, router=router)


def calibrate_here(method: Any, train_items: list[Item]) -> CalibrationResult:
    """Calibrate a ``cascade(...)``/``router(...)`` named without thresholds, when bench
    first fits it: ``n_calib`` seeded train items, members fitted on the rest."""
    items = sample_labelled(train_items, f"the {method.task.name} train split",
                            method.n_calib, method.seed)
    store = open_store()
    try:
        result = calibrate_built(method, items, split=method.task.train_split or "train",
                                 train_items=train_items,
                                 goal=method.goal or {"target_quality": 0.99}, store=store)
    finally:
        store.close()
    method.calibration = result
    return result


def calibrate_policy(*, name: str, task: Any, kind: str, members: list[str],
                     goal: dict[str, Any], split: str | None = None, limit: int = 300,
                     seed: int = 7, data_file: str | None = None, store: Store | None = None,
                     progress: Progress | None = None) -> tuple[Policy, CalibrationResult]:
    """Build the members, calibrate, and save the policy ``name``."""
    from lmscape.route.policy import check_name
    from lmscape.route.system import make_method

    check_name(name)
    split, items = calibration_items(task, split, limit, seed, data_file)
    train = list(task.items(task.train_split)) if task.train_split else []
    method = make_method(kind, task, members, thresholds=None, owner=f"{kind} {name!r}",
                         seed=seed)
    own_store = store is None
    store = store or open_store()
    try:
        result = calibrate_built(method, items, split=split, train_items=train, goal=goal,
                                 store=store, progress=progress)
    finally:
        method.close()
        if own_store:
            store.close()
    policy = Policy(name=name, kind=kind, task=task.name, members=list(members),
                    thresholds=result.thresholds, router=result.router,
                    calibration=result.calibration())
    save_policy(policy)
    return policy, result
