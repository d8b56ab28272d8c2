"""Leaderboards and comparisons as rich tables for the terminal.

A board is printed in the first layout that fits the terminal without wrapping a system
name (see :mod:`.names`):

1. one table, every column, intervals beside the values;
2. three tables (quality, speed, resources), intervals beside the values;
3. the same three with each interval under its value;
4. five narrower tables (quality, latency, throughput, memory, cost);
5. the same with one quality table per headline metric;
6. only when none of those fits with whole names: layouts 3-5 again with the model part
   of the names shortened step by step, longest first (the caption says what each
   short form means).

Each headline metric has its own column with its arrow (↑ higher is better, ↓ lower);
a system without a value for a metric shows "—" in that column only. ``#`` ranks within
a metric's group (see ``bench.results``). Reported catalog rows come after a line,
marked ``*``, and appear in a narrow table only where they have a value.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from rich.table import Table

from lmscape.bench.results import BoardRow, Leaderboard
from lmscape.report import fmt
from lmscape.report.names import FLOOR, Names, display_names, model_part_limits, table_width

WIDE = 150  # the width the old fixed layouts assumed; kept as the default width
SOURCE_MIN = 16  # the source column is shown only where it gets at least this width
METRICS = "metrics"  # stands for the board's headline metric columns


@dataclass(frozen=True)
class Layout:
    groups: tuple[tuple[str, tuple[str, ...]], ...]  # (group name, columns)
    stacked: bool  # interval (and added memory) on a line under the value
    shorten: bool  # may shorten model parts of names
    table_per_metric: bool = False  # one quality table per headline metric


_WIDE = Layout(groups=(("", (METRICS, "p50", "p95", "items/s", "peak RSS", "size", "cost/1k",
                             "gCO2e/1k", "source")),), stacked=False, shorten=False)
_THREE = (("quality", (METRICS, "n", "source")), ("speed", ("p50", "p95", "TTFT", "items/s")),
          ("resources", ("peak RSS", "size", "cost/1k", "gCO2e/1k")))
_FIVE = (("quality", (METRICS, "n", "source")), ("latency", ("p50", "p95")),
         ("throughput", ("TTFT", "items/s")), ("memory", ("peak RSS", "size")),
         ("cost", ("cost/1k", "gCO2e/1k")))
LAYOUTS = (
    _WIDE,
    Layout(groups=_THREE, stacked=False, shorten=False),
    Layout(groups=_THREE, stacked=True, shorten=True),
    Layout(groups=_FIVE, stacked=True, shorten=True),
    Layout(groups=_FIVE, stacked=True, shorten=True, table_per_metric=True),
)


def _candidates(systems: list[str]) -> Iterator[tuple[Layout, Names]]:
    """Names as long as possible first; at each length, the layout with fewest tables."""
    seen: set[tuple[str, ...]] = set()
    for limit in model_part_limits(systems):
        names = display_names(systems, limit)
        labels = tuple(names(s) for s in systems)
        if labels in seen:  # a shorter limit that changes no label
            continue
        seen.add(labels)
        for layout in LAYOUTS:
            if limit is None or layout.shorten:
                yield layout, names


def leaderboard_tables(board: Leaderboard, width: int = WIDE) -> list[Table]:
    """The leaderboard for a terminal ``width`` columns wide."""
    systems = [r.system for r in (*board.measured, *board.reported)]
    for layout, names in _candidates(systems):
        if all(table_width(t) <= width for t in _tables(board, layout, names, source_room=None)):
            return _tables(board, layout, names, source_room=width)
    # Nothing fits: the narrowest layout; rich squeezes the numbers, names stay whole.
    return _tables(board, LAYOUTS[-1], display_names(systems, FLOOR), source_room=width)


def leaderboard_table(board: Leaderboard) -> Table:
    """The whole board as one table (every column, names whole)."""
    systems = [r.system for r in (*board.measured, *board.reported)]
    return _tables(board, _WIDE, display_names(systems), source_room=None)[0]


# -- building --------------------------------------------------------------------------
def _table_columns(board: Leaderboard, layout: Layout, uniform_n: bool
                   ) -> list[tuple[str, list[str]]]:
    """(group, column keys) per table. Headline metrics become ``m:NAME`` columns (or one
    quality table each); ``n`` is left out when it is in the title."""
    metric_keys = [f"m:{m.name}" for m in board.headline_metrics]
    out: list[tuple[str, list[str]]] = []
    for group, columns in layout.groups:
        keys = [k for c in columns for k in (metric_keys if c == METRICS else [c])
                if not (k == "n" and uniform_n)]
        if METRICS in columns and layout.table_per_metric and len(metric_keys) > 1:
            rest = [k for k in keys if not k.startswith("m:")]
            out += [(group, [k, *rest]) for k in metric_keys]
        else:
            out.append((group, keys))
    return out


def _uniform_n(board: Leaderboard) -> int | None:
    ns = {r.n for r in board.measured}
    if len(ns) == 1 and not any(r.n_errors for r in board.measured):
        return next(iter(ns))
    return None


def _tables(board: Leaderboard, layout: Layout, names: Names, *, source_room: int | None
            ) -> list[Table]:
    n = _uniform_n(board)
    digits = {m.name: fmt.digits_for([r.value(m.name) for r in (*board.measured,
                                                                  *board.reported)])
              for m in board.headline_metrics}
    specs = _table_columns(board, layout, n is not None)
    tables = []
    for i, (group, keys) in enumerate(specs):
        wants_source = "source" in keys
        keys = [k for k in keys if k != "source"]
        table = _table(board, keys, names, digits, layout, grouped=len(specs) > 1)
        # the source tells reported rows apart: shown where there are some, if it fits
        if wants_source and source_room is not None and table.row_count > len(board.measured) \
                and table_width(table) + 3 + SOURCE_MIN <= source_room:
            table = _table(board, [*keys, "source"], names, digits, layout,
                           grouped=len(specs) > 1)
        table.title = _title(board, group, first=i == 0, n=n)
        tables.append(table)
    notes = _notes(board, names, shows_reported=any(
        t.row_count > len(board.measured) for t in tables))
    if notes:
        tables[-1].caption = "\n".join(notes)
    return tables


def _title(board: Leaderboard, group: str, *, first: bool, n: int | None) -> str:
    if not first:
        return f"{board.task} — {group}"
    parts = [board.task, board.dataset]
    if n is not None:
        parts.append(f"n={n}")
    parts.append(f"{group} (95% CI)" if group else "95% CI")
    return " — ".join(parts)


def _notes(board: Leaderboard, names: Names, *, shows_reported: bool) -> list[str]:
    notes = []
    groups = [m for m in board.headline_metrics
              if any(r.rank_metric == m.name for r in board.measured)]
    if len(groups) > 1:
        first, *rest = groups
        notes.append(f"#: rank by {first.label}; the next section ranks systems without "
                     f"{first.name} by {', then '.join(m.label for m in rest)}")
    if shows_reported:
        notes.append("*: reported in the catalog (published score or list price), "
                     "not run here, not ranked")
    legend = names.caption()
    if legend:
        notes.append(legend)
    if board.machines:
        notes.append(f"measured on {_machine_line(board.machines)}")
    return notes


def _table(board: Leaderboard, keys: list[str], names: Names, digits: dict[str, int],
           layout: Layout, *, grouped: bool) -> Table:
    table = Table(title_justify="left", caption_justify="left")
    table.add_column("#", justify="right", no_wrap=True)
    table.add_column("system", no_wrap=True)
    for key in keys:
        header = board.metric_info(key[2:]).label if key.startswith("m:") else key
        left = key.startswith("m:") or key == "source"
        table.add_column(header, justify="left" if left else "right",
                         no_wrap=key != "source", overflow="fold")
    previous = None
    for row in board.measured:
        if previous is not None and row.rank_metric != previous:
            table.add_section()
        previous = row.rank_metric
        cells = _cells(row, True, digits, layout.stacked)
        table.add_row(str(row.rank) if row.rank else "", names(row.system),
                      *(cells[k] for k in keys))
    reported = [r for r in board.reported
                if not grouped or any(_cells(r, False, digits, layout.stacked)[k] != "—"
                                      for k in keys if k != "source")]
    if reported:
        table.add_section()
        for row in reported:
            cells = _cells(row, False, digits, layout.stacked)
            table.add_row("*", names(row.system), *(cells[k] for k in keys))
    return table


def _cells(row: BoardRow, measured: bool, digits: dict[str, int], stacked: bool
           ) -> dict[str, str]:
    sep = "\n" if stacked else " "
    out = {f"m:{name}": _metric_cell(row, name, d, sep, measured)
           for name, d in digits.items()}
    if measured:
        out.update({
            "n": f"{row.n}" + (f"{sep}({row.n_errors} err)" if row.n_errors else ""),
            "p50": fmt.seconds(row.latency_p50_s), "p95": fmt.seconds(row.latency_p95_s),
            "TTFT": fmt.seconds(row.ttft_p50_s), "items/s": fmt.rate(row.items_per_s),
            "peak RSS": _rss(row, sep), "size": fmt.size(row.model_size_bytes),
            "cost/1k": fmt.usd(row.cost_usd_per_1k), "gCO2e/1k": fmt.grams(row.gco2e_per_1k),
            "source": _measured_note(row),
        })
        return out
    out.update({
        "n": "—", "p50": "—", "p95": "—", "TTFT": "—", "items/s": "—", "peak RSS": "—",
        "size": "—", "cost/1k": fmt.usd(row.cost_usd_per_1k), "gCO2e/1k": "—",
        "source": f"{row.setting}; {row.source}",
    })
    return out


def _metric_cell(row: BoardRow, name: str, digits: int, sep: str, measured: bool) -> str:
    m = row.metrics.get(name) or {}
    if m.get("value") is None:
        return "—"
    text = fmt.quality(m["value"], m.get("low"), m.get("high"), digits, sep=sep)
    if not measured and row.metric and row.metric != name:
        text += f"{sep}({row.metric})"  # the published metric's own name
    return text


def _rss(row: BoardRow, sep: str) -> str:
    text = fmt.size(row.peak_rss_bytes)
    if row.rss_added_bytes is not None:
        added = fmt.size(row.rss_added_bytes) if row.rss_added_bytes else "0"
        text += f"{sep}+{added}" if sep == "\n" else f" (+{added})"
    return text


def _measured_note(row: BoardRow) -> str:
    note = "measured"
    if row.n_errors:
        note += f", {row.n_errors} errors"
    if row.member_share:
        note += "; answered by " + ", ".join(
            f"{share:.0%} {name}" for name, share in row.member_share.items())
    return note


def _machine_line(machines: list[dict[str, Any]]) -> str:
    parts = []
    for m in machines:
        parts.append(f"{m.get('cpu', '?')}, {m.get('logical_cores', '?')} cores, "
                     f"{m.get('ram_gib', '?')} GiB RAM")
    return "; ".join(parts)


def compare_table(result: dict[str, Any]) -> Table:
    table = Table(title=f"{result['a']} vs {result['b']} on {result['task']} "
                        f"({result['dataset']}, {result['n']} paired items, per-item "
                        f"{result['score']})", title_justify="left")
    for header in ("mean A", "mean B", "A − B", "95% CI", "p-value", "test"):
        table.add_column(header, justify="right")
    table.add_row(f"{result['mean_a']:.3f}", f"{result['mean_b']:.3f}", f"{result['diff']:+.3f}",
                  f"[{result['low']:+.3f}, {result['high']:+.3f}]", f"{result['p_value']:.4f}",
                  str(result["test"]))
    return table
