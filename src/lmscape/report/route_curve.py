"""Routing policies in the terminal and the HTML report: the cost–quality curve of a
calibrated cascade or router, the chosen threshold and its one-sentence meaning.

Works on the plain calibration data a policy stores (``Policy.calibration`` dumped
to a dict), so the report layer needs nothing from the routing layer; ``lmscape
route`` and ``lmscape report`` pass the policies in.
"""

from __future__ import annotations

from typing import Any

from rich.table import Table

MAX_ROWS = 14


def _rows(curve: list[dict[str, Any]], chosen: dict[str, Any]) -> list[dict[str, Any]]:
    """At most MAX_ROWS points, spread along the curve, always with the chosen one."""
    if len(curve) <= MAX_ROWS:
        return curve
    step = (len(curve) - 1) / (MAX_ROWS - 1)
    picked = {round(i * step) for i in range(MAX_ROWS)}
    out = [p for i, p in enumerate(curve) if i in picked]
    if chosen not in out:
        out.append(chosen)
        out.sort(key=lambda p: (p["cost"], p["threshold"]))
    return out


def curve_table(calibration: dict[str, Any], members: list[str], *, width: int = 100) -> Table:
    """The curve as a table: threshold, quality and cost relative to the last member,
    and the share each member answers; the chosen row marked."""
    chosen = calibration["chosen"]
    unit = calibration.get("cost_unit", "")
    table = Table(title=f"cost–quality curve on {calibration['n']} {calibration['split']} "
                        f"items (relative to always {members[-1]}; cost in {unit})",
                  title_justify="left")
    table.add_column("", no_wrap=True)
    table.add_column("threshold", justify="right")
    table.add_column("quality", justify="right")
    table.add_column("rel. quality", justify="right")
    table.add_column("rel. cost", justify="right")
    for j, name in enumerate(members):
        table.add_column(f"→ {name}" if width >= 120 else f"→ #{j + 1}", justify="right")
    for p in _rows(calibration["curve"], chosen):
        mark = "◀ chosen" if p == chosen else ""
        t = "all →" if p["threshold"] > 1.0 else f"{p['threshold']:.3f}"
        table.add_row(mark, t, f"{p['quality']:.3f}", f"{p['quality_rel']:.1%}",
                      f"{p['cost_rel']:.1%}", *(f"{s:.0%}" for s in p["shares"]))
    if width < 120:
        table.caption = "  ".join(f"#{j + 1} {name}" for j, name in enumerate(members))
        table.caption_justify = "left"
    return table


def curve_figure(calibration: dict[str, Any], title: str) -> Any:
    """The curve as a plotly figure: relative quality against relative cost."""
    import plotly.graph_objects as go

    curve, chosen = calibration["curve"], calibration["chosen"]
    fig = go.Figure()
    fig.add_trace(go.Scatter(
        x=[p["cost_rel"] for p in curve], y=[p["quality_rel"] for p in curve],
        mode="lines+markers", name="thresholds", line={"shape": "hv", "color": "#2563eb"},
        customdata=[[p["threshold"], p["shares"][-1]] for p in curve],
        hovertemplate="threshold %{customdata[0]:.3f}<br>cost %{x:.1%}<br>quality %{y:.1%}"
                      "<br>last member %{customdata[1]:.0%}<extra></extra>"))
    fig.add_trace(go.Scatter(
        x=[chosen["cost_rel"]], y=[chosen["quality_rel"]], mode="markers+text",
        name="chosen", text=[f"t={chosen['threshold']:.2f}"], textposition="top left",
        marker={"size": 14, "color": "#d97706", "symbol": "star"}))
    fig.update_layout(template="plotly_white", height=380, title={"text": title, "x": 0.02},
                      margin={"l": 60, "r": 20, "t": 40, "b": 50})
    fig.update_xaxes(title="cost relative to always the last member", tickformat=".0%")
    fig.update_yaxes(title="quality relative to the last member", tickformat=".0%")
    return fig


def routing_section(policies: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The report's "Routing policies" section (``{"id", "title", "html"}``), one curve
    per calibrated policy; None if there is none."""
    from html import escape

    from lmscape.report.plots import figure_div

    parts = []
    for i, p in enumerate(policies):
        cal = p.get("calibration")
        if not cal:
            continue
        name = f"auto:{p['name']}"
        fig = curve_figure(cal, f"{name}: {p['kind']} on {p['task']}")
        parts.append(
            f"<h3>{escape(name)}</h3><p>{escape(' → '.join(p['members']))}; thresholds "
            f"{escape(', '.join(f'{t:.3f}' for t in p['thresholds']))}; calibrated on "
            f"{cal['n']} {escape(cal['split'])} items ({escape(cal['date'][:10])}).</p>"
            f"<p><b>{escape(cal['explanation'])}</b></p>" + figure_div(fig, f"route-{i}"))
    if not parts:
        return None
    return {"id": "routing", "title": "Routing policies", "html": "".join(parts)}
