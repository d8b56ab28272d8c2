"""Hard constraints: which candidates pass, which are excluded and by what.

A figure a constraint needs but the system does not have (no measured latency under
``--max-latency-ms``, no quality score under ``--min-quality``, no price under
``--max-usd-per-1k``) excludes it: an unknown cannot be shown to meet the bound, and
the reason names the ``lmscape bench`` command that would measure it. A retired model
is always excluded.

``--hardware NAME`` concerns systems that run on your machines: a measured local system
must fit in NAME's memory with the memory it was measured to use; a model not run here
must fit at some precision by the ``fit`` estimate (512-token context). Remote APIs run
on the provider's hardware and are not affected.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from lmscape.decide.candidates import Candidate
from lmscape.decide.inputs import Constraints

NUMERIC = ("max_usd_per_1k", "max_latency_ms", "min_quality")
FLAGS = {
    "max_usd_per_1k": "--max-usd-per-1k", "max_latency_ms": "--max-latency-ms",
    "min_quality": "--min-quality", "hardware": "--hardware",
    "data_must_stay_local": "--data-must-stay-local", "licence": "--licence",
    "offline": "--offline", "retired": "(retired)",
}


@dataclass(frozen=True)
class Violation:
    key: str  # a field of Constraints, or "retired"
    why: str
    needed: float | None = None  # the bound that would admit it (numeric constraints)

    @property
    def flag(self) -> str:
        return FLAGS[self.key]


def _gb(n: float) -> str:
    return f"{n / 1e9:,.2f} GB"


def _measure_hint(c: Candidate) -> str:
    return f"; measure it: `{c.bench_command}`" if c.bench_command else ""


def _cost(c: Candidate, bound: float) -> Violation | None:
    if c.cost is None:
        return Violation("max_usd_per_1k", f"no cost figure ({c.cost_note or 'no list price'})")
    if c.cost > bound:
        return Violation("max_usd_per_1k", f"costs ${c.cost:.4g} per 1k items, over "
                         f"--max-usd-per-1k {bound:g}", c.cost)
    return None


def _latency(c: Candidate, bound_ms: float) -> Violation | None:
    if c.latency_p95_s is None:
        return Violation("max_latency_ms", "latency not measured here (p95 unknown)"
                         + _measure_hint(c))
    ms = c.latency_p95_s * 1000
    if ms > bound_ms:
        return Violation("max_latency_ms", f"p95 latency {ms:,.1f} ms, over --max-latency-ms "
                         f"{bound_ms:g}", ms)
    return None


def _quality(c: Candidate, bound: float, higher: bool) -> Violation | None:
    if c.quality is None:
        return Violation("min_quality", f"no {c.metric or 'quality'} score for this task"
                         + _measure_hint(c))
    if (c.quality < bound) if higher else (c.quality > bound):
        return Violation("min_quality", f"{c.metric} {c.quality:.3f} ({c.kind}), "
                         f"{'under' if higher else 'over'} --min-quality {bound:g}", c.quality)
    return None


def _hardware(c: Candidate, name: str) -> Violation | None:
    if not c.data_local and c.access != "open-weight":
        return None  # runs on the provider's hardware
    from lmscape.catalog.hardware import (
        estimate_memory,
        get_target,
        precisions_that_fit,
    )

    target = get_target(name)
    where = f"{name} ({target.label}, {_gb(target.total_bytes)})"
    if c.kind == "measured" and c.data_local:
        if c.memory_bytes is not None and c.memory_bytes > target.total_bytes:
            return Violation("hardware", f"measured to use {_gb(c.memory_bytes)}, more than "
                             f"{where}")
        return None
    entry = c.entry
    if entry is None or entry.params is None:
        return None  # no figures to judge by; the reasons say memory is unknown
    if precisions_that_fit(entry, target, context=512):
        return None
    q4 = estimate_memory(entry, "q4", context=512)
    return Violation("hardware", f"needs {_gb(q4.total_bytes)} even at q4 (fit estimate), "
                     f"more than {where}")


def violations(c: Candidate, cons: Constraints, *, higher_is_better: bool = True
               ) -> list[Violation]:
    """Every constraint ``c`` breaks (empty: it passes)."""
    out: list[Violation] = []
    if c.retired:
        out.append(Violation("retired", f"retired on {c.retired}: no longer offered"))
    if cons.max_usd_per_1k is not None and (v := _cost(c, cons.max_usd_per_1k)):
        out.append(v)
    if cons.max_latency_ms is not None and (v := _latency(c, cons.max_latency_ms)):
        out.append(v)
    if cons.min_quality is not None and (v := _quality(c, cons.min_quality, higher_is_better)):
        out.append(v)
    if cons.hardware and (v := _hardware(c, cons.hardware)):
        out.append(v)
    if cons.data_must_stay_local and not c.data_local:
        out.append(Violation("data_must_stay_local",
                             f"sends your data to {c.developer or 'a remote'} API"))
    if cons.licence and not c.licence.allows(cons.licence):
        out.append(Violation("licence", f"licence {c.licence.describe()} does not meet "
                             f"--licence {cons.licence}"))
    if cons.offline:
        ok, why = c.offline
        if not ok:
            out.append(Violation("offline", f"cannot run offline: {why}"))
    return out


@dataclass(frozen=True)
class Split:
    passed: list[Candidate]
    excluded: list[tuple[Candidate, list[Violation]]]


def apply(cands: list[Candidate], cons: Constraints, *, higher_is_better: bool = True) -> Split:
    passed, excluded = [], []
    for c in cands:
        found = violations(c, cons, higher_is_better=higher_is_better)
        if found:
            excluded.append((c, found))
        else:
            passed.append(c)
    return Split(passed, excluded)


@dataclass(frozen=True)
class Closest:
    """The constraint that comes closest to being met when no system meets them all."""

    flag: str
    text: str

    def as_dict(self) -> dict:
        return {"constraint": self.flag, "text": self.text}


def _relative_gap(needed: float, bound: float) -> float:
    return abs(needed - bound) / abs(bound) if bound else abs(needed - bound)


def closest(split: Split, cons: Constraints) -> Closest | None:
    """Among systems that break exactly one constraint: the one a numeric bound misses by
    the smallest relative margin, else a yes/no constraint whose dropping admits most.
    With no such system: the constraint that excludes the fewest."""
    if split.passed or not split.excluded:
        return None
    single = [(c, vs[0]) for c, vs in split.excluded if len(vs) == 1 and vs[0].key != "retired"]
    numeric = [(c, v) for c, v in single if v.key in NUMERIC and v.needed is not None]
    if numeric:
        c, v = min(numeric, key=lambda cv: _relative_gap(cv[1].needed,
                                                          getattr(cons, cv[1].key)))
        bound = getattr(cons, v.key)
        gap = _relative_gap(v.needed, bound)
        return Closest(v.flag, f"{v.flag} {bound:g} comes closest to being met: {c.system} "
                               f"has {v.needed:.4g} ({gap:.1%} away); {v.flag} {v.needed:.4g} "
                               f"would admit it")
    if single:
        counts = Counter(v.key for _, v in single)
        key, n = counts.most_common(1)[0]
        names = [c.system for c, v in single if v.key == key][:3]
        return Closest(FLAGS[key], f"{FLAGS[key]} comes closest to being met: dropping it alone "
                                   f"would admit {n} system(s) ({', '.join(names)})")
    counts = Counter(v.key for _, vs in split.excluded for v in vs if v.key != "retired")
    if not counts:
        return None
    key, n = min(counts.items(), key=lambda kv: kv[1])
    return Closest(FLAGS[key], f"no constraint relaxed alone admits a system; {FLAGS[key]} "
                               f"excludes the fewest ({n})")
