"""Pareto plots (quality vs cost / latency / memory) with plotly, for offline HTML.

Measured systems are filled blue circles with 95% interval bars; the Pareto frontier
over measured systems (no other measured system is both better and cheaper/faster/
smaller) is a dashed line through its points; reported catalog models are open orange
diamonds, in their own legend entry. Every headline metric of a board gets its own
plots, its y axis labelled with its direction (perplexity: lower is better) and its
frontier drawn that way; reported scores sit on the primary metric's plots. plotly.js
itself is embedded once per report (:func:`plotly_js`), so the figures here are bare
``<div>`` snippets.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from lmscape.bench.results import BoardMetric, BoardRow, Leaderboard

MEASURED_COLOUR = "#2563eb"
FRONTIER_COLOUR = "#1e3a8a"
REPORTED_COLOUR = "#d97706"


def _memory_mib(row: BoardRow) -> float | None:
    """Added RSS (at least 1 MiB, for the log axis), else peak RSS, else the estimate."""
    if row.rss_added_bytes is not None:
        return max(1.0, row.rss_added_bytes / 2**20)
    value = row.peak_rss_bytes or row.memory_estimate_bytes
    return value / 2**20 if value else None


@dataclass(frozen=True)
class Axis:
    key: str
    title: str
    value: Callable[[BoardRow], float | None]
    log: bool = True
    hover: str = "%{x:.3g}"


AXES = (
    Axis("cost", "cost per 1k items, USD (log)", lambda r: r.cost_usd_per_1k,
         hover="$%{x:.4g}"),
    Axis("latency", "latency p50 per item, s (log)", lambda r: r.latency_p50_s,
         hover="%{x:.3g} s"),
    Axis("memory", "memory added by the system, MiB (log)", _memory_mib,
         hover="%{x:.0f} MiB"),
)


def pareto_front(points: Sequence[tuple[float, float]], *, higher_is_better: bool = True
                 ) -> list[int]:
    """Indices of the points no other point dominates (lower x and better y), by x."""
    sign = 1.0 if higher_is_better else -1.0
    order = sorted(range(len(points)), key=lambda i: (points[i][0], -sign * points[i][1]))
    front, best = [], float("-inf")
    for i in order:
        y = sign * points[i][1]
        if y > best:
            front.append(i)
            best = y
    return front


def _points(rows: Sequence[BoardRow], axis: Axis, metric: str
            ) -> list[tuple[BoardRow, float, float]]:
    out = []
    for row in rows:
        x, y = axis.value(row), row.value(metric)
        if x is None or y is None or (axis.log and x <= 0):
            continue
        out.append((row, float(x), float(y)))
    return out


def _interval(row: BoardRow, metric: str) -> tuple[float | None, float | None]:
    m = row.metrics.get(metric) or {}
    return m.get("low"), m.get("high")


def pareto_figure(board: Leaderboard, axis: Axis, metric: BoardMetric | None = None) -> Any:
    """A plotly Figure of one metric (default: the primary) against one resource axis."""
    import plotly.graph_objects as go

    metric = metric or board.metric_info(board.metric)
    fig = go.Figure()
    measured = _points(board.measured, axis, metric.name)
    if measured:
        fig.add_trace(go.Scatter(
            x=[x for _, x, _ in measured], y=[y for _, _, y in measured],
            mode="markers+text", name="measured",
            text=[r.system for r, _, _ in measured], textposition="top center",
            textfont={"size": 11},
            customdata=[[share_text(r)] for r, _, _ in measured],
            marker={"size": 11, "color": MEASURED_COLOUR, "symbol": "circle",
                    "line": {"width": 1, "color": "white"}},
            error_y={
                "type": "data", "symmetric": False, "thickness": 1.2, "width": 3,
                "color": MEASURED_COLOUR,
                "array": [(hi - y) if (hi := _interval(r, metric.name)[1]) is not None else 0
                          for r, _, y in measured],
                "arrayminus": [(y - lo) if (lo := _interval(r, metric.name)[0]) is not None
                               else 0 for r, _, y in measured],
            },
            hovertemplate=f"<b>%{{text}}</b><br>{metric.name} %{{y:.4g}}<br>"
                          f"{axis.hover}%{{customdata[0]}}<extra>measured</extra>",
        ))
        front = pareto_front([(x, y) for _, x, y in measured],
                             higher_is_better=metric.higher_is_better)
        fig.add_trace(go.Scatter(
            x=[measured[i][1] for i in front], y=[measured[i][2] for i in front],
            mode="lines+markers", name="Pareto frontier",
            line={"color": FRONTIER_COLOUR, "dash": "dash", "width": 1.5, "shape": "hv"},
            marker={"symbol": "circle-open", "size": 19, "color": FRONTIER_COLOUR,
                    "line": {"width": 1.5}},
            hoverinfo="skip",
        ))
    reported = _points(board.reported, axis, metric.name)
    if reported:
        fig.add_trace(go.Scatter(
            x=[x for _, x, _ in reported], y=[y for _, _, y in reported],
            mode="markers+text", name="reported (catalog)",
            text=[r.system for r, _, _ in reported], textposition="bottom center",
            textfont={"size": 11, "color": REPORTED_COLOUR},
            marker={"size": 12, "color": REPORTED_COLOUR, "symbol": "diamond-open",
                    "line": {"width": 2}},
            customdata=[[r.setting or "", r.metric] for r, _, _ in reported],
            hovertemplate="<b>%{text}</b> (reported)<br>%{customdata[1]} %{y:.3f}, "
                          f"%{{customdata[0]}}<br>{axis.hover}<extra>reported</extra>",
        ))
    fig.update_layout(
        template="plotly_white", height=400, margin={"l": 60, "r": 20, "t": 40, "b": 50},
        title={"text": f"{metric.label} vs {axis.key}", "x": 0.02, "font": {"size": 15}},
        legend={"orientation": "h", "yanchor": "bottom", "y": -0.35, "x": 0},
        font={"family": "system-ui, -apple-system, Segoe UI, sans-serif", "size": 12},
    )
    title = axis.title
    if axis.key == "memory" and not any(r.rss_added_bytes is not None for r in board.measured):
        title = "peak RSS, MiB (log)"
    fig.update_xaxes(title=title, type="log" if axis.log else "linear",
                     showgrid=True, gridcolor="#eef0f3", exponentformat="power")
    arrow = "higher is better" if metric.higher_is_better else "lower is better"
    fig.update_yaxes(title=f"{metric.name} ({arrow})", showgrid=True, gridcolor="#eef0f3")
    return fig


def share_text(row: BoardRow) -> str:
    """A routed system's member shares for a hover label (empty for plain systems)."""
    if not row.member_share:
        return ""
    return "<br>" + "<br>".join(f"{share:.0%} answered by {name}"
                                for name, share in row.member_share.items())


def figure_div(fig: Any, div_id: str) -> str:
    """The figure as an HTML ``<div>`` + script that expects plotly.js already loaded."""
    import plotly.io as pio

    return pio.to_html(fig, full_html=False, include_plotlyjs=False, div_id=div_id,
                       config={"displaylogo": False, "responsive": True})


def plotly_js() -> str:
    """plotly.js source, embedded inline once per report (no network needed)."""
    from plotly.offline import get_plotlyjs

    return get_plotlyjs()


def task_plots(board: Leaderboard, prefix: str) -> list[dict[str, Any]]:
    """One plot per headline metric and axis that has at least one point, as
    template-ready dicts (ids: ``PREFIX-AXIS`` for the primary metric,
    ``PREFIX-METRIC-AXIS`` for the others)."""
    plots = []
    for metric in board.headline_metrics:
        for axis in AXES:
            n_measured = len(_points(board.measured, axis, metric.name))
            n_reported = len(_points(board.reported, axis, metric.name))
            if n_measured + n_reported == 0:
                continue
            plot_id = (f"{prefix}-{axis.key}" if metric.primary
                       else f"{prefix}-{_slug(metric.name)}-{axis.key}")
            plots.append({
                "axis": axis.key, "metric": metric.name, "id": plot_id,
                "html": figure_div(pareto_figure(board, axis, metric), plot_id),
                "n_measured": n_measured, "n_reported": n_reported,
                "missing_reported": (len(board.reported) - n_reported) if metric.primary else 0,
            })
    return plots


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "metric"
