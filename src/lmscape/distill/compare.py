"""Student against teacher on the held-out items: the DistilBERT table, measured here.

Both systems run through the bench runner (:class:`lmscape.bench.runner.Runner`) on the
same held-out items, so every number is the one ``lmscape bench`` would report and the
runs land in the store (``lmscape report`` shows them): quality (the task's primary
metric with its 95% interval), items/s, p50 latency, size on disk, peak RSS and cost
per 1k items. Agreement is the student's primary metric scored against the teacher's
answers instead of the gold ones (for sentiment: the share of identical labels).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import sqlalchemy as sa

from lmscape.bench.runner import Runner, RunSpec
from lmscape.bench.suite import close_system, release_memory
from lmscape.store.db import Store
from lmscape.store.schema import results as results_table
from lmscape.tasks.base import Item, Task


@dataclass(kw_only=True)
class Row:
    role: str  # teacher | student | export
    system: str
    quality: float | None
    quality_low: float | None
    quality_high: float | None
    agreement: float | None
    items_per_s: float | None
    latency_p50_s: float | None
    size_bytes: int | None
    peak_rss_bytes: int | None
    cost_per_1k_usd: float | None
    n: int
    run_id: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def stored_predictions(store: Store, run_id: str) -> dict[str, Any]:
    r = results_table
    with store.connect() as conn:
        rows = conn.execute(sa.select(r.c.item_id, r.c.prediction)
                            .where((r.c.run_id == run_id) & r.c.error.is_(None)))
        return {row[0]: row[1] for row in rows}


def agreement(task: Task, items: list[Item], student: dict[str, Any],
              teacher: dict[str, Any]) -> float | None:
    """The student's primary metric with the teacher's answers as the reference."""
    values = []
    for item in items:
        if item.id in student and teacher.get(item.id) is not None:
            ref = Item(id=item.id, text=item.text, reference=teacher[item.id])
            values.append(task.score(ref, student[item.id]).get(_item_metric(task), 0.0))
    return sum(values) / len(values) if values else None


def _item_metric(task: Task) -> str:
    return "correct" if task.labels else task.primary_metric


def run_system(store: Store, system_name: str, task: Task, items: list[Item], dataset: str,
               role: str, progress: Any = None, train_items: Any = None) -> tuple[Row, dict]:
    """Build ``system_name``, run it on ``items`` through the bench runner, close it."""
    from lmscape.methods.registry import build_system

    baseline = release_memory()
    system = build_system(system_name, task)
    spec = RunSpec(task=task, items=items, dataset=dataset,
                   params={"split": dataset, "limit": None, "seed": None},
                   train_items=train_items)
    try:
        outcome = Runner(store, progress=progress).run(system, spec, resume=True,
                                                        rss_baseline=baseline)
    finally:
        close_system(system)
    s = outcome.summary
    metric = (s.get("metrics") or {}).get(task.primary_metric) or {}
    row = Row(role=role, system=system_name, quality=metric.get("value"),
              quality_low=metric.get("low"), quality_high=metric.get("high"), agreement=None,
              items_per_s=s.get("items_per_s"), latency_p50_s=s.get("latency_p50_s"),
              size_bytes=s.get("model_size_bytes"), peak_rss_bytes=s.get("peak_rss_bytes"),
              cost_per_1k_usd=s.get("cost_usd_per_1k"), n=int(s.get("n") or 0),
              run_id=outcome.run_id)
    return row, stored_predictions(store, outcome.run_id)


def compare(store: Store, task: Task, items: list[Item], dataset: str, *, student: str,
            teacher: str | None, extra_students: list[tuple[str, str]] = (),
            progress: Any = None, train_items: Any = None) -> list[Row]:
    """Rows for the teacher (unless gold) and the student(s), agreement filled in."""
    rows: list[Row] = []
    teacher_preds: dict[str, Any] | None = None
    if teacher is not None:
        row, teacher_preds = run_system(store, teacher, task, items, dataset, "teacher",
                                        progress, train_items)
        rows.append(row)
    for role, name in [("student", student), *extra_students]:
        row, preds = run_system(store, name, task, items, dataset, role, progress)
        if teacher_preds is not None:
            row.agreement = agreement(task, items, preds, teacher_preds)
        rows.append(row)
    return rows
