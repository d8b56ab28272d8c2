"""``/ui/recommend``: the ``lmscape recommend`` form (constraints, priorities, volume)
and its ranked, explained answer with the break-even plot, drawn by the report's own
recommendation template (``decide/templates/recommendation.html.j2``) from
:func:`lmscape.decide.recommend` and :func:`lmscape.decide.breakeven`."""

from __future__ import annotations

import shlex
import threading
from collections import OrderedDict
from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from lmscape.bench.results import tasks_with_runs
from lmscape.errors import LmscapeError
from lmscape.ui.rendering import render

router = APIRouter()
SHOWN = 10
CACHED_ANSWERS = 32
_answers: OrderedDict[tuple, str] = OrderedDict()
_breakevens: OrderedDict[tuple, tuple] = OrderedDict()
_answers_lock = threading.Lock()
CONSTRAINTS = ("max_usd_per_1k", "max_latency_ms", "min_quality", "hardware", "licence",
               "volume")


def priority_text(form: dict[str, str]) -> str | None:
    from lmscape.decide.inputs import PRIORITIES

    parts = [f"{name}={form[name].strip()}" for name in PRIORITIES
             if form.get(name, "").strip() not in ("", "0")]
    return ",".join(parts) or None


def command_for(task: str, form: dict[str, str], priority: str | None) -> str:
    """The ``lmscape recommend`` command that gives the same answer."""
    words = ["lmscape", "recommend", "--task", task]
    if priority:
        words += ["--priority", priority]
    for name in CONSTRAINTS:
        value = form.get(name, "").strip()
        if value:
            words += ["--" + name.replace("_", "-"), value]
    for flag in ("data_must_stay_local", "offline"):
        if form.get(flag):
            words.append("--" + flag.replace("_", "-"))
    return shlex.join(words)


def breakeven_part(store, task: str, fingerprint: tuple | None = None) -> tuple:
    """(Breakeven or None, its plot's HTML or None, the error or None): the same for
    every question on ``task`` (it depends on the stored runs and the catalog only), so
    it is kept per task and state of the runs."""
    from lmscape.decide.crossover import breakeven
    from lmscape.decide.plots import breakeven_figure
    from lmscape.report.plots import figure_div

    key = ("breakeven", fingerprint or runs_fingerprint(store), task)
    with _answers_lock:
        if key in _breakevens:
            return _breakevens[key]
    try:
        be = breakeven(task, store=store)
        part = (be, figure_div(breakeven_figure(be), "rec-breakeven"), None)
    except LmscapeError as exc:
        part = (None, None, exc)
    with _answers_lock:
        _breakevens[key] = part
        while len(_breakevens) > CACHED_ANSWERS:
            _breakevens.popitem(last=False)
    return part


def recommend_context(store, form: dict[str, str], fingerprint: tuple | None = None
                      ) -> dict[str, Any]:
    from lmscape.decide.recommendation import recommend

    task = form["task"]
    priority = priority_text(form)
    value = {k: (form.get(k, "").strip() or None) for k in CONSTRAINTS}
    rec = recommend(task, store=store, priority=priority, volume=value["volume"],
                    max_usd_per_1k=value["max_usd_per_1k"],
                    max_latency_ms=value["max_latency_ms"], min_quality=value["min_quality"],
                    hardware=value["hardware"], licence=value["licence"],
                    data_must_stay_local=bool(form.get("data_must_stay_local")),
                    offline=bool(form.get("offline")))
    be, plot, be_error = breakeven_part(store, task, fingerprint)
    return {"rec": rec, "be": be, "plot": plot, "shown": rec.ranked[:SHOWN],
            "command": command_for(task, form, priority), "be_error": be_error}


def runs_fingerprint(store) -> tuple:
    """Changes whenever a run is added, finishes or fails (what recommend reads)."""
    import sqlalchemy as sa

    from lmscape.store.schema import runs

    with store.connect() as conn:
        return tuple(conn.execute(sa.select(
            sa.func.count(), sa.func.max(runs.c.started_at), sa.func.max(runs.c.finished_at),
            sa.func.sum(sa.case((runs.c.status == "done", 1), else_=0)))).one())


def answer_html(store, form: dict[str, str]) -> str:
    """The answer section for ``form``, rendered once per question and state of the
    stored runs (the catalog is loaded once per process)."""
    from lmscape.catalog import load_catalog
    from lmscape.ui.rendering import environment

    fingerprint = runs_fingerprint(store)
    key = (fingerprint, id(load_catalog()), tuple(sorted(form.items())))
    with _answers_lock:
        if key in _answers:
            _answers.move_to_end(key)
            return _answers[key]
    html = environment().get_template("_recommendation.html.j2").render(
        answer=recommend_context(store, form, fingerprint))
    with _answers_lock:
        _answers[key] = html
        while len(_answers) > CACHED_ANSWERS:
            _answers.popitem(last=False)
    return html


@router.get("/recommend")
async def recommend_page(request: Request) -> Response:
    from lmscape.catalog.hardware import ACCELERATORS
    from lmscape.decide.inputs import PRIORITIES

    store = request.app.state.view.store
    form = dict(request.query_params)
    tasks = tasks_with_runs(store)
    ctx: dict[str, Any] = {"answer_html": None, "error": None}
    if form.get("task"):
        try:
            ctx["answer_html"] = answer_html(store, form)
        except LmscapeError as exc:
            ctx["error"] = exc
    else:
        form.setdefault("quality", "1")
        form.setdefault("cost", "1")
    return render(request, "recommend.html.j2", page="recommend", title="Recommend",
                  plotly=True, tasks=tasks, form=form, priorities=PRIORITIES,
                  hardware_options=["cpu", *ACCELERATORS], **ctx)
