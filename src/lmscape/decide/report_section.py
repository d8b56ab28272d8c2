"""The HTML report's "Recommendation" section: the question asked, the answer, the
reasons and the break-even plot, one per task with something to recommend (a measured
system with a quality score). ``lmscape report`` and ``lmscape bench`` pass these to
``report.html.write_report(..., sections=...)``; the report itself knows nothing of
decide."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lmscape.bench.results import tasks_with_runs
from lmscape.errors import LmscapeError
from lmscape.store.db import Store

TEMPLATES = Path(__file__).parent / "templates"
SHOWN = 10


def _render(**context: Any) -> str:
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    env = Environment(loader=FileSystemLoader(str(TEMPLATES)),
                      autoescape=select_autoescape(["html", "j2"]), trim_blocks=True,
                      lstrip_blocks=True)
    return env.get_template("recommendation.html.j2").render(**context)


def recommendation_section(store: Store, task: str, *, priority: str | None = None,
                           prefix: str = "rec") -> dict[str, Any] | None:
    """One task's section (``{"id", "title", "html"}``), or None when there is nothing
    to recommend."""
    from lmscape.decide.crossover import breakeven
    from lmscape.decide.plots import breakeven_figure
    from lmscape.decide.recommendation import recommend
    from lmscape.report import fmt
    from lmscape.report.plots import figure_div

    try:
        rec = recommend(task, store=store, priority=priority)
    except LmscapeError:
        return None
    if not any(r.candidate.kind == "measured" for r in rec.ranked):
        return None
    try:
        be = breakeven(task, store=store)
    except LmscapeError:
        be = None
    plot = figure_div(breakeven_figure(be), f"{prefix}-breakeven") if be else None
    command = f"lmscape recommend --task {task} --priority {rec.priorities.text()}"
    html = _render(rec=rec, be=be, plot=plot, shown=rec.ranked[:SHOWN], fmt=fmt,
                   command=command)
    return {"id": f"recommendation-{task}", "title": f"Recommendation — {task}", "html": html}


def recommendation_sections(store: Store, tasks: list[str] | None = None) -> list[dict[str, Any]]:
    """Sections for ``tasks`` (default: every task with finished runs)."""
    names = list(dict.fromkeys(tasks)) if tasks else tasks_with_runs(store)
    out = []
    for i, name in enumerate(names):
        section = recommendation_section(store, name, prefix=f"rec{i}")
        if section is not None:
            out.append(section)
    return out
