"""Sensitivity: the smallest change in one weight or one constraint that changes the top
choice.

- **Weights.** Scores are ``Σ w·u / Σ w`` with utilities that do not depend on the
  weights, so the order follows the numerators ``N = Σ w·u``. Changing weight ``d`` by
  ``δ`` moves system ``j`` past the top ``t`` (same evidence tier) once
  ``δ·(u_jd − u_td) > N_t − N_j``: the threshold is exact, and checked by re-ranking
  just past it. Size of the change: ``|δ| / Σ w``.
- **Constraints.** A numeric bound tightened just past the top's own figure excludes it;
  a bound that is set, relaxed to the figure of an excluded system, may admit a better
  one; a yes/no constraint toggled (``--data-must-stay-local``, ``--offline``,
  ``--licence commercial``, dropping ``--hardware``). Each is re-decided in full.
  Size: ``|new − old| / |old|`` for a bound that is set, 1 for adding a bound or
  toggling a constraint.

The headline is the change of least size (a weight on ties).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from lmscape.decide.candidates import Candidate
from lmscape.decide.constraints import FLAGS, NUMERIC, Split
from lmscape.decide.inputs import PRIORITIES, Constraints, Priorities
from lmscape.decide.scoring import Scored, rerank

NUDGE = 1e-6


@dataclass(frozen=True)
class Change:
    kind: str  # "weight" | "constraint"
    name: str  # "cost" | "--min-quality"
    before: str
    after: str
    new_top: str | None
    size: float
    text: str
    threshold: float | None = None  # the exact value where the top changes (past it)

    def as_dict(self) -> dict:
        return {"kind": self.kind, "name": self.name, "from": self.before, "to": self.after,
                "threshold": self.threshold, "new_top": self.new_top,
                "size": round(self.size, 6), "text": self.text}


@dataclass
class Sensitivity:
    top: str | None
    changes: list[Change] = field(default_factory=list)
    closest: dict | None = None  # when nothing passes: the constraint closest to being met

    @property
    def smallest(self) -> Change | None:
        if not self.changes:
            return None
        return min(self.changes, key=lambda c: (c.size, c.kind != "weight", c.name))

    def text(self) -> str:
        best = self.smallest
        if best is None:
            return "no change of one weight or one constraint changes the top choice"
        return best.text

    def as_dict(self) -> dict:
        best = self.smallest
        return {"top": self.top, "smallest": best.as_dict() if best else None,
                "text": self.text(), "changes": [c.as_dict() for c in self.changes],
                "closest_constraint": self.closest}


def _g(x: float) -> str:
    return f"{x:.3g}"


def weight_changes(scored: Sequence[Scored], priorities: Priorities) -> list[Change]:
    """Per criterion, the smallest change of its weight alone that changes the top."""
    if len(scored) < 2:
        return []
    top = scored[0]
    rivals = [s for s in scored[1:] if s.candidate.evidence == top.candidate.evidence]
    w = priorities.weights
    numer = {s.system: sum(w[k] * s.utilities[k] for k in PRIORITIES) for s in scored}
    out = []
    for d in PRIORITIES:
        best: float | None = None
        for j in rivals:
            du = j.utilities[d] - top.utilities[d]
            if du == 0:
                continue
            delta = (numer[top.system] - numer[j.system]) / du
            if w[d] + delta < 0 or (du < 0 and delta == 0):
                continue
            if best is None or abs(delta) < abs(best):
                best = delta
        if best is None:
            continue
        step = best + (NUDGE * max(1.0, abs(best)) if best >= 0 else -NUDGE * max(1.0, abs(best)))
        new_w = max(0.0, w[d] + step)
        trial = priorities.with_weight(d, new_w)
        if trial.total <= 0:
            continue
        new_top = rerank(scored, trial)[0].system
        if new_top == top.system:
            continue
        threshold = w[d] + best
        verb = "raising" if best > 0 else "lowering"
        side = "above" if best > 0 else "below"
        out.append(Change(
            kind="weight", name=d, before=_g(w[d]), after=f"{side} {_g(threshold)}",
            new_top=new_top, size=abs(best) / priorities.total, threshold=threshold,
            text=f"{verb} the {d} weight from {_g(w[d])} to {side} {_g(threshold)} makes "
                 f"{new_top} the top choice"))
    return out


Decide = Callable[[Constraints], tuple[list[Scored], Split]]


def _top(decide: Decide, cons: Constraints) -> str | None:
    scored, _ = decide(cons)
    return scored[0].system if scored else None


def _figure(c: Candidate, key: str) -> float | None:
    if key == "max_usd_per_1k":
        return c.cost
    if key == "max_latency_ms":
        return None if c.latency_p95_s is None else c.latency_p95_s * 1000
    return c.quality


def _size(old: float | None, new: float) -> float:
    if old is None:
        return 1.0
    return abs(new - old) / abs(old) if old else abs(new)


def _describe(top: str | None, new_top: str | None) -> str:
    if new_top is None:
        return "leaves no system"
    return f"makes {new_top} the top choice" if top else f"admits {new_top}"


def constraint_changes(decide: Decide, cons: Constraints, scored: Sequence[Scored],
                       split: Split, higher_is_better: bool = True) -> list[Change]:
    top = scored[0] if scored else None
    top_name = top.system if top else None
    out: list[Change] = []
    for key in NUMERIC:
        flag, old = FLAGS[key], getattr(cons, key)
        lower_bound = key == "min_quality" and higher_is_better
        # tighten just past the top's own figure
        value = _figure(top.candidate, key) if top else None
        if value is not None:
            new = value * (1 + NUDGE) + NUDGE if lower_bound else value * (1 - NUDGE)
            new_top = _top(decide, replace(cons, **{key: new}))
            if new_top != top_name:
                side = "above" if lower_bound else "below"
                out.append(Change(kind="constraint", name=flag,
                                  before=_g(old) if old is not None else "not set",
                                  after=f"{side} {value:.4g}", new_top=new_top,
                                  size=_size(old, value), threshold=value,
                                  text=f"{flag} {side} {value:.4g} (top's own figure) "
                                       f"{_describe(top_name, new_top)}"))
        # relax a bound that is set, to admit an excluded system
        if old is None:
            continue
        needed = sorted({v.needed for c, vs in split.excluded for v in vs
                         if v.key == key and v.needed is not None and len(vs) == 1},
                        key=lambda x: abs(x - old))
        for value in needed:
            new_top = _top(decide, replace(cons, **{key: value}))
            if new_top != top_name:
                out.append(Change(kind="constraint", name=flag, before=_g(old),
                                  after=f"{value:.4g}", new_top=new_top, size=_size(old, value),
                                  threshold=value,
                                  text=f"relaxing {flag} from {_g(old)} to {value:.4g} "
                                       f"{_describe(top_name, new_top)}"))
                break
    toggles: list[tuple[str, dict, str]] = [
        ("data_must_stay_local", {"data_must_stay_local": not cons.data_must_stay_local},
         "dropping --data-must-stay-local" if cons.data_must_stay_local
         else "adding --data-must-stay-local"),
        ("offline", {"offline": not cons.offline},
         "dropping --offline" if cons.offline else "adding --offline"),
        ("licence", {"licence": None if cons.licence else "commercial"},
         f"dropping --licence {cons.licence}" if cons.licence else "adding --licence commercial"),
    ]
    if cons.hardware:
        toggles.append(("hardware", {"hardware": None}, f"dropping --hardware {cons.hardware}"))
    for key, change, words in toggles:
        new_top = _top(decide, replace(cons, **change))
        if new_top != top_name:
            out.append(Change(kind="constraint", name=FLAGS[key],
                              before="set" if getattr(cons, key) else "not set",
                              after="not set" if getattr(cons, key) else "set",
                              new_top=new_top, size=1.0,
                              text=f"{words} {_describe(top_name, new_top)}"))
    return out
