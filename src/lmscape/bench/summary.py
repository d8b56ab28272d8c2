"""Aggregate one stored run into ``runs.summary``: quality and efficiency.

Everything is computed from the stored per-item rows (and the effort recorded with each
cached prediction), so a resumed or cache-served run gets the same summary as one that
ran start to finish:

- quality: ``task.aggregate`` over items that produced a prediction (errors are counted
  in ``n_errors`` and listed, never silently dropped);
- latency p50/p95 per item (the method's own per-item time; for methods that process a
  whole batch at once, batch time / batch size), TTFT p50 and output tokens/s for
  generation;
- items/s: items / wall seconds spent predicting (after model load and training);
- peak RSS of the process while predicting, and (when the suite measured the RSS before
  building the system) the memory the system added: model load, training and prediction;
  model size on disk;
- cost per 1k items (see :mod:`.cost`), energy and carbon per 1k items (see :mod:`.energy`);
- for systems made of other systems (cascades, routers), ``member_share``: the share
  of items each member answered (from ``extra["answered_by"]`` of each prediction);
- which way each metric points (``lower_is_better``: the task's ``lower_is_better`` names,
  plus the primary metric when the task says lower is better) and the task's metric order,
  so leaderboards can show every metric with its arrow.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from lmscape.bench.cache import CachedPrediction
from lmscape.bench.energy import estimate
from lmscape.bench.measure import mean, percentile
from lmscape.store.db import Store
from lmscape.store.schema import cache as cache_table
from lmscape.store.schema import results as results_table
from lmscape.tasks.base import Item, Task


def lower_is_better(task: Task) -> list[str]:
    """The task's metrics where a lower value is better, sorted."""
    names = set(getattr(task, "lower_is_better", ()) or ())
    if not task.higher_is_better:
        names.add(task.primary_metric)
    return sorted(names)


def metric_order(task: Task, metrics: dict[str, Any]) -> list[str]:
    """The primary metric, then the task definition's metrics, then any others."""
    definition = getattr(task, "definition", None)
    declared = list(getattr(definition, "metrics", ()) or ())
    return list(dict.fromkeys([task.primary_metric, *declared, *metrics]))


def summarise_run(store: Store, run_id: str, task: Task, items_by_id: dict[str, Item],
                  extra: dict[str, Any] | None = None) -> dict[str, Any]:
    r, c = results_table, cache_table
    with store.connect() as conn:
        rows = conn.execute(
            sa.select(r, c.c.value.label("effort"))
            .select_from(r.outerjoin(c, c.c.key == r.c.cache_key))
            .where(r.c.run_id == run_id)
            .order_by(r.c.item_id)
        ).mappings().all()
    ok = [row for row in rows if row["error"] is None and row["item_id"] in items_by_id]
    items = [items_by_id[row["item_id"]] for row in ok]
    outputs = [row["prediction"] for row in ok]
    scores = [row["scores"] or {} for row in ok]
    metrics = task.aggregate(items, outputs, scores) if ok else {}

    efforts = [CachedPrediction.from_json(row["effort"]) for row in ok if row["effort"]]
    wall = sum(e.wall_s for e in efforts)
    cpu_known = [e.cpu_s for e in efforts if e.cpu_s is not None]
    cpu = sum(cpu_known)
    rss = [e.rss_peak_bytes for e in efforts if e.rss_peak_bytes]
    added = [e.rss_added_bytes for e in efforts if e.rss_added_bytes is not None]
    n = len(ok)
    costs = [row["cost_usd"] for row in ok if row["cost_usd"] is not None]
    summary: dict[str, Any] = {
        "task": task.name,
        "task_version": task.version,
        "primary_metric": task.primary_metric,
        "higher_is_better": task.higher_is_better,
        "lower_is_better": lower_is_better(task),
        "metric_order": metric_order(task, metrics),
        "metrics": {name: m.as_dict() for name, m in metrics.items()},
        "n": n,
        "n_errors": len(rows) - len(ok),
        "errors": sorted({row["error"] for row in rows if row["error"]})[:5],
        "latency_p50_s": percentile((row["latency_s"] for row in ok), 50),
        "latency_p95_s": percentile((row["latency_s"] for row in ok), 95),
        "ttft_p50_s": percentile((row["ttft_s"] for row in ok), 50),
        "tokens_per_s": mean(row["tokens_per_s"] for row in ok),
        "prompt_tokens_mean": mean(row["prompt_tokens"] for row in ok),
        "completion_tokens_mean": mean(row["completion_tokens"] for row in ok),
        "wall_s": wall,
        "cpu_s": cpu if cpu_known else None,
        "items_per_s": n / wall if wall > 0 else None,
        "peak_rss_bytes": max(rss) if rss else None,
        "rss_added_bytes": max(added) if added else None,
        "cost_usd_per_1k": 1000 * sum(costs) / len(costs) if costs else None,
        "energy": None,
    }
    answered = [e.prediction.extra.get("answered_by") for e in efforts]
    if any(answered):
        counts: dict[str, int] = {}
        for name in answered:
            if name:
                counts[name] = counts.get(name, 0) + 1
        summary["member_share"] = {k: v / len(efforts) for k, v in counts.items()}
    extra = dict(extra or {})
    if cpu_known and wall > 0 and extra.get("is_local", True):
        e = estimate(cpu, wall)
        summary["energy"] = {
            "kwh": e.kwh, "gco2e": e.gco2e, "utilisation": e.utilisation,
            "kwh_per_1k": 1000 * e.kwh / n, "gco2e_per_1k": 1000 * e.gco2e / n,
            "method": e.method,
        }
    summary.update(extra)
    return summary
