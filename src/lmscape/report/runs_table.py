"""The ``lmscape runs`` table: stored runs, newest first, names whole at any width.

Layouts, widest first (the first that fits is used, see :mod:`.names`): every column;
without dataset and items/s; then the task under the system name and the quality and
start time on two lines; then without the run id; then without the start time. Only
when none fits with whole names are model parts shortened (with a legend).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from rich.table import Table

from lmscape.bench.results import RunRecord
from lmscape.report import fmt
from lmscape.report.names import FLOOR, Names, display_names, model_part_limits, table_width

LAYOUTS: tuple[tuple[tuple[str, ...], bool], ...] = (  # (columns, stacked)
    (("run", "task", "system", "dataset", "status", "items", "quality", "items/s", "started"),
     False),
    (("run", "task", "system", "status", "items", "quality", "started"), False),
    (("run", "system", "status", "items", "quality", "started"), True),
    (("system", "status", "items", "quality", "started"), True),
    (("system", "status", "items", "quality"), True),
)
RESUME_NOTE = ("runs left 'running' (killed) or 'failed' continue where they stopped with "
               "the same `lmscape bench ...` command plus --resume")


def quality_text(summary: dict[str, Any], sep: str = " ") -> str:
    """The run's first metric with a value (primary first), its arrow and value."""
    metrics = summary.get("metrics") or {}
    order = [summary.get("primary_metric"), *(summary.get("metric_order") or []), *metrics]
    lower = set(summary.get("lower_is_better") or ())
    for name in dict.fromkeys(n for n in order if n):
        value = (metrics.get(name) or {}).get("value")
        if value is not None:
            arrow = "↓" if name in lower else "↑"
            return f"{name} {arrow}{sep}{fmt.quality(value, digits=fmt.digits_for([value]))}"
    return "—"


def _candidates(systems: list[str]) -> Iterator[tuple[tuple[str, ...], bool, Names]]:
    seen: set[tuple[str, ...]] = set()
    for limit in model_part_limits(systems):
        names = display_names(systems, limit)
        labels = tuple(names(s) for s in systems)
        if labels in seen:
            continue
        seen.add(labels)
        for columns, stacked in LAYOUTS:
            if limit is None or stacked:
                yield columns, stacked, names


def runs_table(records: list[RunRecord], counts: dict[str, int], width: int) -> Table:
    systems = [r.system for r in records]
    for columns, stacked, names in _candidates(systems):
        table = _table(records, counts, columns, stacked, names)
        if table_width(table) <= width:
            return table
    return _table(records, counts, LAYOUTS[-1][0], True, display_names(systems, FLOOR))


def _table(records: list[RunRecord], counts: dict[str, int], columns: tuple[str, ...],
           stacked: bool, names: Names) -> Table:
    notes = [RESUME_NOTE] if any(r.status != "done" for r in records) else []
    if names.caption():
        notes.append(str(names.caption()))
    table = Table(title=f"runs ({len(records)} shown)", title_justify="left",
                  caption="\n".join(notes) or None, caption_justify="left")
    sep = "\n" if stacked else " "
    for header in columns:
        label = "system / task" if header == "system" and "task" not in columns else header
        table.add_column(label, no_wrap=header != "dataset", overflow="fold",
                         max_width=24 if header == "dataset" else None)
    for r in records:
        s = r.summary or {}
        system = names(r.system) + (f"\n[dim]{r.task}[/]" if "task" not in columns else "")
        cells = {"run": r.id[:8], "task": r.task, "system": system, "dataset": r.dataset,
                 "status": r.status, "items": f"{counts.get(r.id, 0)}/{r.n_items or '?'}",
                 "quality": quality_text(s, sep), "items/s": fmt.rate(s.get("items_per_s")),
                 "started": r.started_at.strftime(f"%m-%d{sep}%H:%M")}
        table.add_row(*(cells[h] for h in columns))
    return table
