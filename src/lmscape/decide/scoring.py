"""Scores and ranking: a weighted mean of per-criterion utilities in [0, 1].

For the candidates that pass the constraints:

| criterion | utility (1 = best among them) |
|---|---|
| quality | 1 − (best − q) / span, on the task metric (direction from the task) |
| cost | 1 − (log c − log cheapest) / span: a log scale, as costs span orders of magnitude |
| latency | p95 per item, log scale as cost |
| privacy | 1 if requests stay on machines you run, else 0 |
| carbon | gCO2e per 1k items, log scale as cost |

The best value among the candidates scores 1; ``span`` is the distance from the best to
the worst, but at least 10% of the best quality and at least one decade (a factor of
10) of cost, latency or carbon, so that a small gap (a 3× difference between two
fractions of a cent) is not blown up into a full swing. A figure a system lacks scores
0 on that criterion (the unknown is not assumed good); the reasons say which figures
are unknown. ``score = Σ weight × utility / Σ weight``. Utilities depend on
the candidate set, never on the weights, so raising one weight only ever lifts the
systems that are better on that criterion relative to the rest (a cheaper system can
only gain on a dearer one when the cost weight rises).

Ranking: by evidence first — measured on your data, then reported (a published score,
often on another protocol: BERT's SST-2 figure is after fine-tuning), then unknown
quality — and by score within each; ties go to the cheaper system, then by name.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from lmscape.decide.candidates import Candidate
from lmscape.decide.inputs import PRIORITIES, Priorities

LOG_FLOOR = 1e-12
QUALITY_MIN_SPAN = 0.1  # of the best value: a smaller gap in quality is not a full swing
LOG_MIN_DECADES = 1.0  # nor is less than a factor of 10 in cost, latency or carbon


def _linear(values: Sequence[float | None], higher_is_better: bool, min_span: float
            ) -> list[float]:
    """1 for the best known value, falling linearly over ``max(best − worst, min_span)``."""
    known = [v for v in values if v is not None]
    if not known:
        return [0.0] * len(values)
    lo, hi = min(known), max(known)
    span = max(hi - lo, min_span)
    out = []
    for v in values:
        if v is None:
            out.append(0.0)
        elif span == 0:
            out.append(1.0)
        else:
            out.append(1.0 - ((hi - v) if higher_is_better else (v - lo)) / span)
    return out


def _quality(values: Sequence[float | None], higher_is_better: bool) -> list[float]:
    known = [abs(v) for v in values if v is not None]
    return _linear(values, higher_is_better, QUALITY_MIN_SPAN * max(known, default=0.0))


def _log_lower_better(values: Sequence[float | None]) -> list[float]:
    logs = [None if v is None else math.log10(max(v, LOG_FLOOR)) for v in values]
    return _linear(logs, higher_is_better=False, min_span=LOG_MIN_DECADES)


Utility = Callable[[Sequence[Candidate], bool], list[float]]
UTILITIES: dict[str, Utility] = {
    "quality": lambda cs, higher: _quality([c.quality for c in cs], higher),
    "cost": lambda cs, _: _log_lower_better([c.cost for c in cs]),
    "latency": lambda cs, _: _log_lower_better([c.latency_p95_s for c in cs]),
    "privacy": lambda cs, _: [1.0 if c.data_local else 0.0 for c in cs],
    "carbon": lambda cs, _: _log_lower_better([c.gco2e_per_1k for c in cs]),
}
assert tuple(UTILITIES) == PRIORITIES


@dataclass(frozen=True)
class Scored:
    candidate: Candidate
    utilities: dict[str, float]
    score: float

    @property
    def system(self) -> str:
        return self.candidate.system


def utilities(cands: Sequence[Candidate], higher_is_better: bool = True
              ) -> list[dict[str, float]]:
    columns = {name: fn(cands, higher_is_better) for name, fn in UTILITIES.items()}
    return [{name: columns[name][i] for name in PRIORITIES} for i in range(len(cands))]


def weighted(utils: dict[str, float], priorities: Priorities) -> float:
    w = priorities.weights
    return sum(w[k] * utils[k] for k in PRIORITIES) / priorities.total


def rank_key(s: Scored) -> tuple:
    cost = s.candidate.cost
    return (s.candidate.evidence, -s.score, math.inf if cost is None else cost, s.system)


def rank(cands: Sequence[Candidate], priorities: Priorities, higher_is_better: bool = True
         ) -> list[Scored]:
    """Candidates (already through the constraints), best first."""
    utils = utilities(cands, higher_is_better)
    scored = [Scored(c, u, weighted(u, priorities)) for c, u in zip(cands, utils, strict=True)]
    return sorted(scored, key=rank_key)


def rerank(scored: Sequence[Scored], priorities: Priorities) -> list[Scored]:
    """The same candidates (same utilities) under other weights."""
    again = [Scored(s.candidate, s.utilities, weighted(s.utilities, priorities))
             for s in scored]
    return sorted(again, key=rank_key)
