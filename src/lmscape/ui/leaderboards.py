"""``/ui/leaderboards``: per task, the measured rows and the reported rows (kept
apart and labelled), the report's own Pareto plots, filters by access and method,
and a paired test between any two measured systems.

The board is :func:`lmscape.bench.results.leaderboard` (what ``lmscape report``
reads); the plots are :func:`lmscape.report.plots.task_plots` on the filtered board;
the test is :func:`lmscape.bench.compare.compare_systems` (``lmscape report --compare``).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from fastapi import APIRouter, Query
from starlette.requests import Request
from starlette.responses import Response

from lmscape.bench.results import BoardRow, Leaderboard, leaderboard, tasks_with_runs
from lmscape.errors import LmscapeError
from lmscape.ui.rendering import render

router = APIRouter()

ACCESS = ("closed", "open-weight", "small", "no model")


def access_class(access: str | None, size_class: str | None) -> str:
    """closed, open-weight (large), small (open or closed small models), or no model
    (classic baselines such as yake)."""
    if access is None:
        return "no model"
    if access == "closed":
        return "closed"
    return "small" if size_class == "small" else "open-weight"


def method_of(row: BoardRow) -> str:
    """The method part of a system name ("gemma-3-270m/few-shot-choice" -> few-shot-choice)."""
    if row.model and row.system.startswith(row.model + "/"):
        return row.system[len(row.model) + 1:]
    return row.system.rsplit("/", 1)[-1]


def _classify(board: Leaderboard) -> dict[str, str]:
    """system -> access class, from the catalog (measured) or the row (reported)."""
    from lmscape.catalog import load_catalog

    catalog = load_catalog()
    out = {}
    for row in board.measured:
        entry = None
        if row.model and row.model in catalog:
            entry = catalog.get(row.model)
        out[row.system] = access_class(entry.access if entry else None,
                                       entry.size_class if entry else None)
    for row in board.reported:
        out[row.system] = access_class(row.access, row.size_class)
    return out


def filtered(board: Leaderboard, classes: dict[str, str], access: list[str],
             methods: list[str]) -> Leaderboard:
    """The board with only the rows that pass the filters (reported rows have no method:
    a method filter keeps them out)."""
    def keep(row: BoardRow, measured: bool) -> bool:
        if access and classes.get(row.system) not in access:
            return False
        return not methods or (measured and method_of(row) in methods)

    return replace(board, measured=[r for r in board.measured if keep(r, True)],
                   reported=[r for r in board.reported if keep(r, False)])


def board_context(store, task: str | None, access: list[str], methods: list[str]) -> dict[str, Any]:
    from lmscape.bench.suite import DEFAULT_TASKS
    from lmscape.report.plots import task_plots

    order = {name: i for i, name in enumerate(DEFAULT_TASKS)}  # as the report orders them
    tasks = sorted(tasks_with_runs(store), key=lambda t: (order.get(t, len(order)), t))
    if not tasks:
        return {"tasks": [], "task": None}
    task = task if task in tasks else tasks[0]
    board = leaderboard(store, task)
    classes = _classify(board)
    shown = filtered(board, classes, access, methods)
    return {
        "tasks": tasks, "task": task, "board": shown, "full": board, "classes": classes,
        "access_options": ACCESS, "access": access, "methods": methods,
        "method_options": sorted({method_of(r) for r in board.measured}),
        "method_of": method_of,
        "plots": task_plots(shown, "lb"),
        "systems": [r.system for r in board.measured],
    }


@router.get("/leaderboards")
async def leaderboards_page(request: Request, task: str | None = None,
                            access: list[str] = Query(default=[]),  # noqa: B008
                            method: list[str] = Query(default=[])) -> Response:  # noqa: B008
    store = request.app.state.view.store
    ctx = board_context(store, task, [a for a in access if a in ACCESS], method)
    template = ("_board.html.j2" if request.headers.get("hx-target") == "board"
                else "leaderboards.html.j2")
    return render(request, template, page="leaderboards", title="Leaderboards",
                  plotly=True, **ctx)


@router.get("/leaderboards/compare")
async def compare(request: Request, task: str, a: str, b: str) -> Response:
    from lmscape.bench.compare import compare_systems

    store = request.app.state.view.store
    result, error = None, None
    if a == b:
        error = "Pick two different systems."
    else:
        try:
            result = compare_systems(store, task, a, b)
        except LmscapeError as exc:
            error = f"{exc} ({exc.hint})" if getattr(exc, "hint", None) else str(exc)
    return render(request, "_compare.html.j2", result=result, error=error)
