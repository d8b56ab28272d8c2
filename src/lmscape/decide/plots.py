"""The break-even plot: monthly cost against items a month, both on log axes.

APIs are straight lines (cost ∝ volume); hosting options are steps (one more machine
each time the volume passes what the machines serve), dashed where the throughput is
reported rather than measured, with a flat line where it is unknown. The cheapest APIs
and the dearest are drawn; the others are one click away in the legend.
"""

from __future__ import annotations

import math
from typing import Any

from lmscape.report.plots import MEASURED_COLOUR, REPORTED_COLOUR

API_COLOURS = ("#64748b", "#0f766e", "#7c3aed", "#be123c", "#4d7c0f", "#0369a1", "#a16207")
SHOWN_APIS = 4  # the cheapest three and the dearest are visible at first
POINTS = 240
MAX_STEPS = 400


def _volumes(be: Any) -> list[float]:
    lo, hi = math.log10(be.low), math.log10(be.high)
    xs = {10 ** (lo + (hi - lo) * i / (POINTS - 1)) for i in range(POINTS)}
    for h in be.hosting:
        cap = h.capacity
        if cap:
            k = max(1, math.ceil(be.low / cap))
            while k * cap <= be.high and k < MAX_STEPS:  # both sides of every step
                xs.update({k * cap, k * cap * (1 + 1e-9)})
                k += 1
    for x in be.crossings:
        if x.volume is not None and be.low <= x.volume <= be.high:
            xs.add(x.volume)
    return sorted(v for v in xs if be.low <= v <= be.high)


def breakeven_figure(be: Any) -> Any:
    import plotly.graph_objects as go

    xs = _volumes(be)
    fig = go.Figure()
    visible = {a.name for a in be.apis[:SHOWN_APIS - 1]} | {be.apis[-1].name} if be.apis else set()
    for i, a in enumerate(be.apis):
        fig.add_trace(go.Scatter(
            x=xs, y=[a.monthly(v) for v in xs], mode="lines", name=f"{a.name} (API)",
            line={"color": API_COLOURS[i % len(API_COLOURS)], "width": 1.6},
            visible=True if a.name in visible else "legendonly",
            hovertemplate=f"<b>{a.name}</b> API<br>%{{x:,.0f}} items/month<br>"
                          "$%{y:,.2f}/month<extra></extra>"))
    for h in be.hosting:
        colour = MEASURED_COLOUR if h.kind == "measured" else REPORTED_COLOUR
        label = f"{h.name} (hosted, {h.kind}{', capacity unknown' if not h.capacity else ''})"
        fig.add_trace(go.Scatter(
            x=xs, y=[h.monthly(v) for v in xs], mode="lines", name=label,
            line={"color": colour, "width": 2.4, "shape": "hv",
                  "dash": "solid" if h.kind == "measured" else "dash"},
            hovertemplate=f"<b>{h.name}</b> hosted on {h.hardware}<br>%{{x:,.0f}} items/month"
                          "<br>$%{y:,.2f}/month<extra></extra>"))
    fig.update_layout(
        template="plotly_white", height=460, margin={"l": 70, "r": 20, "t": 40, "b": 50},
        title={"text": f"monthly cost vs volume — {be.task}", "x": 0.02, "font": {"size": 15}},
        legend={"orientation": "v", "x": 1.01, "y": 1, "font": {"size": 11}},
        font={"family": "system-ui, -apple-system, Segoe UI, sans-serif", "size": 12},
    )
    fig.update_xaxes(title="items per month (log)", type="log", showgrid=True,
                     gridcolor="#eef0f3", exponentformat="power")
    fig.update_yaxes(title="USD per month (log)", type="log", showgrid=True,
                     gridcolor="#eef0f3", exponentformat="power")
    return fig
