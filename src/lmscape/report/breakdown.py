"""Where a bench invocation's time went, as a terminal table and a closing line.

One row per system (grouped by task): seconds to load it, fit it, run its items, in
all, and CPU seconds; then the one-off phases (start-up, reading items, leaderboards,
report) and whatever is left (``other``), so the rows add up to the wall time of the
process. The closing line holds the process's own wall time, CPU time (user + system,
process and ended children) and peak RSS: the figures to quote for a run.
"""

from __future__ import annotations

from rich import box
from rich.table import Table

from lmscape.bench.breakdown import Breakdown
from lmscape.report import fmt
from lmscape.report.names import FLOOR, Names, display_names, within_width

CAPTION = ("load: building the system (model load) · train: training or calibration · "
           "items: predicting, scoring and storing the items (cache hits are nearly free) · "
           "total: all of it plus closing the model · CPU: user + system seconds of the "
           "process and its ended children")


def _s(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}"


def breakdown_table(breakdown: Breakdown, width: int = 150) -> Table:
    """The time breakdown for a terminal ``width`` columns wide (names kept whole)."""
    systems = [s.system for s in breakdown.systems]
    found = within_width(lambda names: [_table(breakdown, names)], systems, width)
    return found[0][0] if found else _table(breakdown, display_names(systems, FLOOR))


def _table(b: Breakdown, names: Names) -> Table:
    n_items = sum(s.n_computed + s.n_cached + s.n_resumed for s in b.systems)
    computed = sum(s.n_computed for s in b.systems)
    title = (f"where the time went (seconds): {len(b.systems)} system(s), {n_items} "
             f"predictions ({computed} computed, {n_items - computed} from the cache or "
             f"earlier runs)")
    table = Table(title=title, title_justify="left", caption_justify="left",
                  box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    table.add_column("system / one-off work", no_wrap=True)
    for header in ("load", "train", "items", "total", "CPU"):
        table.add_column(header, justify="right", no_wrap=True)
    task = None
    for s in b.systems:
        if s.task != task:
            if task is not None:
                table.add_section()
            task = s.task
            table.add_row(f"[bold]{task}:[/]", "", "", "", "", "")
        items = _s(s.items_s) if s.status == "done" else s.status
        table.add_row(names(s.system), _s(s.load_s), _s(s.train_s), items,
                      _s(s.total_s), _s(s.cpu_s))
    table.add_section()
    for p in b.phases:
        table.add_row(p.name, "", "", "", _s(p.wall_s), _s(p.cpu_s))
    if b.other_s is not None:
        table.add_row("other (store, set-up)", "", "", "", _s(b.other_s), "")
    table.add_section()
    fits = [s.train_s for s in b.systems if s.train_s is not None]
    table.add_row("[bold]all[/]", _s(sum(s.load_s for s in b.systems)),
                  _s(sum(fits)) if fits else "—", _s(sum(s.items_s for s in b.systems)),
                  _s(b.usage.wall_s if b.usage else b.accounted_s),
                  _s(b.usage.cpu_s) if b.usage else "")
    legend = names.caption()
    caption = CAPTION
    if b.jobs > 1:
        caption += (f"\nsystems ran {b.jobs} at a time, each in a worker process: their rows "
                    "overlap in time, and the 'systems' row is their wall time together; a "
                    "system's CPU is its worker's")
    table.caption = caption + (f"\n{legend}" if legend else "")
    return table


def usage_line(breakdown: Breakdown) -> str:
    """``bench: 13 min 28 s wall, 25 min 48 s CPU (user+sys, incl. children), 904.0 MiB
    peak RSS``."""
    u = breakdown.usage
    if u is None:
        return ""
    line = (f"bench: {fmt.duration(u.wall_s)} wall, {fmt.duration(u.cpu_s)} CPU "
            f"(user+sys, incl. children), {fmt.size(u.peak_rss_bytes)} peak RSS")
    if u.children_peak_rss_bytes:
        line += f" ({fmt.size(u.children_peak_rss_bytes)} in the largest child process)"
    return line
