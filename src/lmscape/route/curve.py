"""The cost–quality curve of a routed system over its threshold, and the choice of
threshold. Pure numpy over per-item outcomes measured on calibration items.

Inputs, for ``n`` calibration items and ``m`` members (cheapest first):

- ``scores[n, m]``: each member's per-item score (1/0 accuracy for classification);
- ``conf[n, m-1]``: each non-last member's confidence (cascade) or predicted chance of
  being right (router);
- ``cost[n, m]``: each member's measured cost of each item (or ``cost[m]``, the same
  for every item), plus ``overhead`` per item (the router's encoder). Per item matters:
  the items a cascade hands on are not average items (harder often means longer).

One threshold ``t`` is swept over every distinct confidence (plus 0 and just above 1).
Each item goes to the first member whose confidence is at least ``t``, else to the last.
A cascade pays for every member up to the one that answered; a router pays its
overhead and the member it chose. Raising ``t`` can only move an item to a later
member, so **cost never decreases as t rises** (the curve is monotone in cost; a test
checks it; for a router, as long as no item costs a later member less than an earlier
one). Quality and cost are reported relative to always using the last member.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lmscape.errors import DataError


@dataclass(frozen=True, kw_only=True)
class CurvePoint:
    threshold: float
    quality: float  # mean score
    cost: float  # per item, same unit as the member costs
    quality_rel: float  # quality / quality of the last member alone
    cost_rel: float  # cost / cost of the last member alone
    shares: tuple[float, ...]  # share of items each member answered

    @property
    def share_large(self) -> float:
        return self.shares[-1]

    def as_dict(self) -> dict:
        return {"threshold": self.threshold, "quality": self.quality, "cost": self.cost,
                "quality_rel": self.quality_rel, "cost_rel": self.cost_rel,
                "shares": list(self.shares)}


def assign(conf: np.ndarray, thresholds: np.ndarray | list[float]) -> np.ndarray:
    """The member index answering each item: the first whose confidence reaches its
    step's threshold, else the last."""
    conf = np.asarray(conf, dtype=float)
    _n, steps = conf.shape
    t = np.asarray(thresholds, dtype=float)
    sure = conf >= t[None, :steps]
    first = np.where(sure.any(axis=1), sure.argmax(axis=1), steps)
    return first.astype(int)


def per_item_cost(cost: np.ndarray, n: int, m: int) -> np.ndarray:
    """``cost`` as an (n, m) array: one row per item (a vector of m is every item's)."""
    cost = np.asarray(cost, dtype=float)
    if cost.shape == (m,):
        return np.broadcast_to(cost, (n, m))
    if cost.shape != (n, m):
        raise DataError(f"calibration costs have shape {cost.shape}, not ({n}, {m}) or ({m},)",
                        hint="give one cost per member, or per item and member")
    return cost


def _paid(cost: np.ndarray, n: int, m: int, *, kind: str,
          overhead: float) -> tuple[np.ndarray, float]:
    """What each item costs when each member answers it (a cascade pays every member up
    to the one that answers, a router only that one and its overhead), and the last
    member's mean cost alone."""
    cost = per_item_cost(cost, n, m)
    paid_by = np.cumsum(cost, axis=1) if kind == "cascade" else cost + overhead
    return paid_by, float(cost[:, -1].mean())


def point(scores: np.ndarray, conf: np.ndarray, cost: np.ndarray, thresholds: list[float],
          *, kind: str, overhead: float = 0.0) -> CurvePoint:
    """Quality, cost and shares at one set of per-step thresholds."""
    scores = np.asarray(scores, dtype=float)
    n, m = scores.shape
    return _point(scores, conf, *_paid(cost, n, m, kind=kind, overhead=overhead), thresholds)


def _point(scores: np.ndarray, conf: np.ndarray, paid_by: np.ndarray, c_large: float,
           thresholds: list[float]) -> CurvePoint:
    """Quality, cost and shares at one set of per-step thresholds. ``paid_by[i, j]`` is
    what item ``i`` costs when member ``j`` answers it; ``c_large`` the last member's
    mean cost alone."""
    n, m = scores.shape
    chosen = assign(conf, thresholds)
    rows = np.arange(n)
    quality = float(scores[rows, chosen].mean())
    q_large = float(scores[:, -1].mean())
    shares = tuple(float(np.mean(chosen == j)) for j in range(m))
    c = float(paid_by[rows, chosen].mean())
    return CurvePoint(threshold=float(thresholds[0]), quality=quality, cost=c,
                      quality_rel=quality / q_large if q_large > 0 else float("nan"),
                      cost_rel=c / c_large if c_large > 0 else float("nan"), shares=shares)


def sweep(scores: np.ndarray, conf: np.ndarray, cost: np.ndarray, *, kind: str,
          overhead: float = 0.0) -> list[CurvePoint]:
    """The curve: one point per distinct threshold, thresholds rising (cost rising)."""
    scores, conf = np.asarray(scores, dtype=float), np.asarray(conf, dtype=float)
    if scores.ndim != 2 or scores.shape[1] < 2 or conf.shape != (scores.shape[0],
                                                                 scores.shape[1] - 1):
        raise DataError("calibration outcomes have the wrong shape",
                        hint="give one score per member and one confidence per step")
    if scores.shape[0] == 0:
        raise DataError("no calibration items", hint="calibrate on a split with items")
    n, m = scores.shape
    paid_by, c_large = _paid(cost, n, m, kind=kind, overhead=overhead)  # once, not per point
    steps = conf.shape[1]
    grid = np.unique(np.concatenate([[0.0], np.clip(conf.ravel(), 0.0, 1.0),
                                     [np.nextafter(1.0, 2.0)]]))
    return [_point(scores, conf, paid_by, c_large, [float(t)] * steps) for t in grid]


def smoothed(curve: list[CurvePoint]) -> list[float]:
    """Relative quality averaged over the neighbouring thresholds (a window of 1/10 of
    the curve), so that a threshold that is merely lucky on the calibration items (a
    single item tipping the count) is not taken for a good one."""
    q = np.array([p.quality_rel for p in curve], dtype=float)
    w = max(1, len(q) // 20)
    return [float(q[max(0, i - w): i + w + 1].mean()) for i in range(len(q))]


def choose(curve: list[CurvePoint], *, target_quality: float | None = None,
           max_share_large: float | None = None) -> CurvePoint:
    """The cheapest point whose relative quality, and its average over the neighbouring
    thresholds (:func:`smoothed`), both reach ``target_quality``; or, with
    ``max_share_large``, the best quality sending at most that share to the last member
    (ties: the cheaper). Default: ``target_quality=0.99``. When no point reaches the
    target, the best quality there is."""
    if max_share_large is not None:
        ok = [p for p in curve if p.share_large <= max_share_large + 1e-12]
        if not ok:
            return curve[0]
        return max(ok, key=lambda p: (p.quality, -p.cost))
    target = 0.99 if target_quality is None else target_quality
    smooth = smoothed(curve)
    ok = [p for p, s in zip(curve, smooth, strict=True)
          if min(p.quality_rel, s) >= target - 1e-12]
    if not ok:
        return max(curve, key=lambda p: (p.quality, -p.cost))
    return min(ok, key=lambda p: (p.cost, -p.quality))


def explain(p: CurvePoint, members: list[str], *, kind: str) -> str:
    """One sentence: what the threshold means on the calibration items."""
    first = members[0]
    what = "confidence" if kind == "cascade" else "predicted chance of being right"
    later = "the next member" if len(members) > 2 else members[-1]
    sent = 1.0 - p.shares[0]
    tail = "" if len(members) == 2 else (
        f"; {p.share_large:.0%} end at {members[-1]}")
    return (f"items whose {first} {what} is below {p.threshold:.2f} go to {later}: "
            f"{sent:.0%} of calibration items{tail}")
