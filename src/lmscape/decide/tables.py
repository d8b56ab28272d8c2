"""Rich tables for ``lmscape recommend`` and ``lmscape breakeven`` (the CLI prints them)."""

from __future__ import annotations

from typing import Any

from rich.table import Table
from rich.text import Text

from lmscape.decide.reasons import line
from lmscape.report import fmt

KIND_STYLE = {"measured": "blue", "reported": "magenta", "unknown quality": "yellow"}


def recommendation_view(rec: Any, limit: int | None = 10) -> list[Any]:
    """Question, answer, ranked table, excluded table, sensitivity, cost model."""
    out: list[Any] = [Text.assemble(("Question: ", "bold"), rec.question),
                      Text.assemble(("Answer: ", "bold green" if rec.top else "bold red"),
                                    rec.answer)]
    shown = rec.ranked if not limit else rec.ranked[:limit]
    if shown:
        table = Table(title=f"{rec.task} — ranked ({len(rec.ranked)} pass the constraints)",
                      title_justify="left", caption_justify="left")
        table.add_column("#", justify="right")
        table.add_column("system", overflow="fold")
        table.add_column("evidence", no_wrap=True)
        table.add_column("score", justify="right")
        table.add_column(rec.metric, justify="right")
        table.add_column("$/month" if rec.volume else "$/1k items", justify="right")
        table.add_column("p95", justify="right")
        for i, r in enumerate(shown, 1):
            c = r.candidate
            cost = c.monthly_usd if rec.volume else c.cost
            table.add_row(str(i), c.system, f"[{KIND_STYLE[c.kind]}]{c.kind}[/]",
                          f"{r.scored.score:.3f}", fmt.quality(c.quality), fmt.usd(cost),
                          fmt.seconds(c.latency_p95_s))
        hidden = len(rec.ranked) - len(shown)
        if hidden:
            table.caption = (f"{hidden} more (mostly of unknown quality) not shown: "
                             "--limit 0 shows all, --json lists all")
        out.append(table)
        out.append(Text("Reasons:", style="bold"))
        for i, r in enumerate(shown, 1):
            out.append(Text.assemble(f"{i:>2}. ", (r.candidate.system, "bold"), ": ",
                                     line(r.reasons)))
    if rec.excluded:
        ex = Table(title=f"excluded ({len(rec.excluded)})", title_justify="left")
        ex.add_column("system", overflow="fold", max_width=28)
        ex.add_column("evidence", no_wrap=True)
        ex.add_column("why", overflow="fold", ratio=1)
        for e in rec.excluded:
            ex.add_row(e.candidate.system, e.candidate.kind, e.why)
        out.append(ex)
    sens = rec.sensitivity
    if rec.top is None and sens.closest:
        out.append(Text.assemble(("No system meets every constraint. ", "bold red"),
                                 sens.closest["text"]))
    out.append(Text.assemble(("Sensitivity: ", "bold"), sens.text()))
    out.append(Text(f"Cost: {rec.cost_model}.", style="dim"))
    for note in rec.notes:
        out.append(Text(f"Note: {note}.", style="dim"))
    return out


def _volume(v: float | None) -> str:
    if v is None:
        return "—"
    for div, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if v >= div:
            return f"{v / div:.3g}{suffix}"
    return f"{v:.3g}"


def breakeven_view(be: Any) -> list[Any]:
    """Hosting options, API options, and the crossing volumes as a matrix."""
    out: list[Any] = [Text.assemble(("Break-even: ", "bold"), be.question),
                      Text(f"Hosting: {be.hosting_model}", style="dim")]
    hosts = Table(title="hosting (reserved machines)", title_justify="left")
    for header in ("option", "evidence", "hardware", "$/hour", "items/s per machine",
                   "$/month floor", "$/1k at full use", "basis"):
        hosts.add_column(header, overflow="fold",
                         justify="left" if header in ("option", "basis", "evidence",
                                                      "hardware") else "right")
    for h in be.hosting:
        hosts.add_row(h.name, h.kind, h.hardware, f"${h.usd_per_hour:,.3g}",
                      fmt.rate(h.items_per_s) if h.items_per_s else "unknown",
                      fmt.usd(h.floor), fmt.usd(h.usd_per_1k_full), h.basis)
    out.append(hosts)
    apis = Table(title="APIs (pay per call: tokens per item × list price)", title_justify="left")
    for header in ("api", "evidence", "$/1k items", f"$/month at {be.range_text}", "list price"):
        apis.add_column(header, overflow="fold",
                        justify="left" if header in ("api", "list price", "evidence")
                        else "right")
    for a in be.apis:
        apis.add_row(a.name, a.kind, fmt.usd(a.usd_per_1k),
                     f"{fmt.usd(a.monthly(be.low))} – {fmt.usd(a.monthly(be.high))}", a.basis)
    out.append(apis)
    if be.hosting and be.apis:
        grid = Table(title="items/month above which hosting costs less than the API "
                           "(— never; * only if one machine keeps up: throughput unknown)",
                     title_justify="left")
        grid.add_column("api \\ hosting", overflow="fold")
        for h in be.hosting:
            grid.add_column(h.name, justify="right", overflow="fold")
        for a in be.apis:
            cells = []
            for h in be.hosting:
                x = be.crossing(a.name, h.name)
                text = _volume(x.volume) + ("" if x.capacity_known or x.volume is None else "*")
                if x.volume is not None and not be.low <= x.volume <= be.high:
                    text = f"[dim]{text}[/]"
                cells.append(text)
            grid.add_row(a.name, *cells)
        grid.caption = (f"dim: outside the range asked ({be.range_text}); "
                        "each added machine is briefly dearer until the volume fills it")
        grid.caption_justify = "left"
        out.append(grid)
    for note in be.notes:
        out.append(Text(f"Note: {note}", style="dim"))
    return out
