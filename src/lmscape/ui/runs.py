"""``/ui/runs``: the stored bench runs (``lmscape runs``), newest first, with their
status and items stored; while a run is running the table refreshes itself every two
seconds (htmx polling of ``/ui/runs/table``) so its progress moves."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from lmscape.bench.results import list_runs, stored_counts
from lmscape.ui.rendering import render

router = APIRouter()
POLL_S = 2


def runs_context(store, task: str | None = None, status: str | None = None) -> dict[str, Any]:
    from lmscape.report.runs_table import RESUME_NOTE, quality_text

    records = list_runs(store, task=task or None, status=status or None)
    counts = stored_counts(store)
    rows = []
    for r in records:
        stored = counts.get(r.id, 0)
        rows.append({"run": r, "stored": stored, "quality": quality_text(r.summary or {}),
                     "items_per_s": (r.summary or {}).get("items_per_s"),
                     "percent": (100.0 * stored / r.n_items) if r.n_items else None})
    all_tasks = sorted({r.task for r in list_runs(store)}) if (task or status) else sorted(
        {r.task for r in records})
    return {"rows": rows, "live": any(r.status == "running" for r in records),
            "resume_note": RESUME_NOTE, "poll_s": POLL_S, "task": task or "",
            "status": status or "", "task_options": all_tasks}


@router.get("/runs")
async def runs_page(request: Request, task: str | None = None,
                    status: str | None = None) -> Response:
    ctx = runs_context(request.app.state.view.store, task, status)
    return render(request, "runs.html.j2", page="runs", title="Runs", **ctx)


@router.get("/runs/table")
async def runs_table(request: Request, task: str | None = None,
                     status: str | None = None) -> Response:
    ctx = runs_context(request.app.state.view.store, task, status)
    return render(request, "_runs_table.html.j2", **ctx)
