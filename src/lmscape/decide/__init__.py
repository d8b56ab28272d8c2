"""Decide: turn stored measurements, the catalog and a user's constraints into a choice.

    import lmscape

    rec = lmscape.recommend("sentiment", priority="quality=3,cost=1",
                            max_usd_per_1k=0.01, volume="50000/day")
    rec.top.candidate.system, rec.as_dict()          # ranked, excluded, sensitivity

    be = lmscape.decide.breakeven("sentiment", volume="1000..10M/month")
    be.crossing("gpt-4o-mini", "gemma-3-270m/few-shot-choice").volume

| module | what it does |
|---|---|
| ``inputs`` | priorities, constraints and volumes from the forms people type |
| ``licences`` | licence text -> class (permissive, conditional, api-terms, ...) |
| ``candidates`` | measured, reported and unknown-quality systems with their facts |
| ``costing`` | per call vs reserved hosting, monthly, and where they cross |
| ``constraints`` | hard constraints: pass, or excluded with why |
| ``scoring`` | utilities and weighted scores; ranking by evidence, then score |
| ``reasons`` | one line of reasons per system |
| ``sensitivity`` | the smallest change of one weight or constraint that changes the top |
| ``recommendation`` | ``recommend()`` |
| ``crossover`` | ``breakeven()`` |
| ``tables``, ``plots``, ``report_section`` | terminal tables, the break-even plot, the report's section |

Nothing here runs a model: everything is read from the store and the catalog.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "recommend": "lmscape.decide.recommendation",
    "Recommendation": "lmscape.decide.recommendation",
    "breakeven": "lmscape.decide.crossover",
    "Breakeven": "lmscape.decide.crossover",
    "Priorities": "lmscape.decide.inputs",
    "Constraints": "lmscape.decide.inputs",
    "PRIORITIES": "lmscape.decide.inputs",
}
__all__ = [
    "PRIORITIES",
    "Breakeven",
    "Constraints",
    "Priorities",
    "Recommendation",
    "breakeven",
    "recommend",
]

if TYPE_CHECKING:
    from lmscape.decide.crossover import Breakeven, breakeven
    from lmscape.decide.inputs import PRIORITIES, Constraints, Priorities
    from lmscape.decide.recommendation import Recommendation, recommend


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'lmscape.decide' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
