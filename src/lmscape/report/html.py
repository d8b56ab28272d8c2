"""The self-contained HTML report: leaderboards, Pareto plots, methods, machine; and,
when ``lmscape bench`` writes it, where that command's time went up to that point.

Everything the page needs is inline (plotly.js once, CSS in the template), so it opens
from a file or an e-mail attachment with no network.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

from lmscape.bench.breakdown import Breakdown
from lmscape.bench.compare import compare_systems
from lmscape.bench.results import (
    BoardRow,
    Leaderboard,
    distinct_machines,
    leaderboard,
    tasks_with_runs,
)
from lmscape.errors import DataError, LmscapeError
from lmscape.report import fmt
from lmscape.report.export import write_text
from lmscape.store.db import Store

TEMPLATES = Path(__file__).parent / "templates"


def _keyphrase_protocol() -> str | None:
    """The matching protocol, taken from the metric's own docstring."""
    from lmscape.metrics import keyphrase

    doc = keyphrase.__doc__ or ""
    _, _, protocol = doc.partition("Protocol")
    return protocol.strip() or doc.strip() or None


def _protocol_steps(text: str | None) -> list[str]:
    """The numbered steps of a protocol docstring, as plain sentences."""
    if not text:
        return []
    steps = re.split(r"\n\s*\d+\.\s+", text)[1:]
    return [" ".join(step.split()).replace("**", "").replace("``", "") for step in steps]


def _comparison(store: Store, board: Leaderboard) -> dict[str, Any] | None:
    """Paired test: the top measured system against the runner-up."""
    ranked = [r for r in board.measured if r.quality is not None]
    if len(ranked) < 2:
        return None
    try:
        return compare_systems(store, board.task, ranked[0].system, ranked[1].system,
                               dataset=board.dataset)
    except LmscapeError:
        return None


def metric_cell(row: BoardRow, metric: str, digits: int = 3) -> tuple[str, str]:
    """(value, "[low, high]") of one metric of a row; ("—", "") where it has none."""
    m = row.metrics.get(metric) or {}
    if m.get("value") is None:
        return "—", ""
    value = fmt.quality(m["value"], digits=digits)
    if m.get("low") is None or m.get("high") is None:
        return value, ""
    return value, f"[{m['low']:.{digits}f}, {m['high']:.{digits}f}]"


def build_context(store: Store, tasks: list[str] | None = None, *,
                  compare: tuple[str, str] | None = None,
                  extra_sections: list[dict[str, Any]] | None = None,
                  breakdown: Breakdown | None = None) -> dict[str, Any]:
    """``extra_sections``: ``{"id", "title", "html"}`` sections a higher layer renders
    (the recommendation), shown before the task sections; ``breakdown``: where the time
    of the ``lmscape bench`` that writes the report went."""
    from lmscape._version import __version__
    from lmscape.bench.energy import method_text
    from lmscape.bench.suite import DEFAULT_TASKS
    from lmscape.config import load_settings
    from lmscape.report.plots import plotly_js, task_plots

    order = {name: i for i, name in enumerate(DEFAULT_TASKS)}
    names = list(dict.fromkeys(tasks)) if tasks else sorted(
        tasks_with_runs(store), key=lambda t: (order.get(t, len(order)), t))
    sections = []
    for i, name in enumerate(names):
        try:
            board = leaderboard(store, name)
        except LmscapeError:
            continue
        section: dict[str, Any] = {
            "board": board, "plots": task_plots(board, f"t{i}"),
            "comparison": _comparison(store, board),
            "digits": {m.name: fmt.digits_for([r.value(m.name) for r in
                                               (*board.measured, *board.reported)])
                       for m in board.metrics},
        }
        if compare is not None:
            try:
                section["requested_comparison"] = compare_systems(store, name, *compare)
            except LmscapeError:
                section["requested_comparison"] = None
        sections.append(section)
    if not sections:
        raise DataError("nothing to report: no finished runs"
                        + (f" for {', '.join(names)}" if names else ""),
                        hint="run `lmscape bench` first (or drop --task)")
    settings = load_settings()
    keyphrase = _keyphrase_protocol()
    return {
        "title": "lmscape report",
        "version": __version__,
        "generated": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "sections": sections,
        "machines": distinct_machines(m for s in sections for m in s["board"].machines),
        "energy_method": next((s["board"].energy_method for s in sections
                               if s["board"].energy_method), None) or method_text(settings),
        "usd_per_hour": settings.hardware_usd_per_hour,
        "grid": settings.grid_gco2_per_kwh,
        "keyphrase_steps": _protocol_steps(keyphrase),
        "plotly_js": plotly_js(),
        "fmt": fmt,
        "extra_sections": list(extra_sections or ()),
        "metric_cell": metric_cell,
        "breakdown": breakdown,
    }


def render_report(store: Store, tasks: list[str] | None = None, *,
                  compare: tuple[str, str] | None = None,
                  extra_sections: list[dict[str, Any]] | None = None,
                  breakdown: Breakdown | None = None) -> str:
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    env = Environment(loader=FileSystemLoader(str(TEMPLATES)),
                      autoescape=select_autoescape(["html", "j2"]), trim_blocks=True,
                      lstrip_blocks=True)
    return env.get_template("report.html.j2").render(
        **build_context(store, tasks, compare=compare, extra_sections=extra_sections,
                        breakdown=breakdown))


def write_report(store: Store, out: str | Path, tasks: list[str] | None = None, *,
                 compare: tuple[str, str] | None = None,
                 extra_sections: list[dict[str, Any]] | None = None,
                 breakdown: Breakdown | None = None) -> Path:
    """Write the report; ``breakdown`` (from ``lmscape bench``) adds where that
    command's time went up to now."""
    return write_text(render_report(store, tasks, compare=compare,
                                    extra_sections=extra_sections, breakdown=breakdown), out)
