"""``lmscape usage --by route``: what routing did, from the usage rows.

For every policy served as ``auto:NAME``: requests, the share each member answered,
the members' billed cost, and the money saved against always using the largest
(last) member. The saving is priced with the member costs measured when the policy
was calibrated (``cost_per_item`` in USD: local members at the machine's hourly price
for their measured time, remote members at list price for their tokens): each
request costs what its members cost (a cascade pays every member it asked; a router
the one it chose), against the largest member's cost for every request. Budget
fallbacks (``--on-budget-exhausted``) are counted per requested model.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from typing import Any

import sqlalchemy as sa

from lmscape.errors import LmscapeError
from lmscape.serve.tables import gateway_usage, nano_to_usd
from lmscape.store import Store


def _member_costs(policy_name: str) -> tuple[dict[str, float], str | None]:
    from lmscape.route.policy import load_policy

    try:
        policy = load_policy(policy_name)
    except LmscapeError:
        return {}, None
    cal = policy.calibration
    # cost_per_item is USD whatever unit the curve was drawn in (local-only policies draw
    # it in CPU seconds); a member without a price leaves the saving unknown
    if cal is None or any(m.get("cost_per_item") is None for m in cal.members):
        return {}, policy.members[-1]
    costs = {m["name"]: float(m["cost_per_item"]) for m in cal.members}
    return costs, policy.members[-1]


def summarize_routes(store: Store) -> list[dict[str, Any]]:
    """One row per policy or budget fallback (see the module docstring)."""
    u = gateway_usage.c
    query = (sa.select(u.model, u.route, u.cost_nusd, u.status)
             .where(u.route.is_not(None)).order_by(u.id))
    with store.connect() as conn:
        rows = conn.execute(query).all()
    groups: dict[str, dict[str, Any]] = defaultdict(lambda: {
        "requests": 0, "errors": 0, "answered": Counter(), "billed_nusd": 0, "paths": []})
    for model, route, cost, status in rows:
        note = json.loads(route)
        key = (f"{note['requested']} (budget fallback)" if note.get("fallback")
               else note.get("policy") or model)
        g = groups[key]
        g["requests"] += 1
        g["billed_nusd"] += int(cost or 0)
        if status >= 400:
            g["errors"] += 1
            continue
        if note.get("fallback"):
            g["answered"][note["served"]] += 1
            continue
        for member in note.get("answered_by_each") or [note.get("answered_by")]:
            g["answered"][member] += 1
        g["paths"].append(note.get("asked") or [note.get("answered_by")])
    out = []
    for key, g in groups.items():
        answered = sum(g["answered"].values()) or 1
        row: dict[str, Any] = {
            "group": key, "requests": g["requests"], "errors": g["errors"],
            "shares": {m: n / answered for m, n in g["answered"].most_common()},
            "billed_usd": nano_to_usd(g["billed_nusd"]),
            "cost_usd": None, "always_largest_usd": None, "saved_usd": None, "saved_share": None,
        }
        if key.startswith("auto:"):
            costs, largest = _member_costs(key.removeprefix("auto:"))
            if costs and largest in costs:
                spent = sum(costs.get(m, 0.0) for path in g["paths"] for m in path)
                baseline = costs[largest] * len(g["paths"])
                row.update(cost_usd=spent, always_largest_usd=baseline,
                           saved_usd=baseline - spent,
                           saved_share=(baseline - spent) / baseline if baseline else None)
        out.append(row)
    return out
