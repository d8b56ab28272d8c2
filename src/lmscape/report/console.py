"""Leaderboards and comparisons as rich tables for the terminal."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from lmscape.bench.results import BoardRow, Leaderboard
from lmscape.report import fmt


def _machine_line(machines: list[dict[str, Any]]) -> str:
    parts = []
    for m in machines:
        parts.append(f"{m.get('cpu', '?')}, {m.get('logical_cores', '?')} cores, "
                     f"{m.get('ram_gib', '?')} GiB RAM")
    return "; ".join(parts)


def leaderboard_table(board: Leaderboard) -> Table:
    """Measured rows ranked by quality; reported rows below, unranked and labelled."""
    arrow = "↑" if board.higher_is_better else "↓"
    table = Table(
        title=f"{board.task} — {board.dataset} — {board.metric} {arrow} (95% CI)",
        caption=f"measured on {_machine_line(board.machines)}" if board.machines else None,
        title_justify="left", caption_justify="left", show_lines=False,
    )
    for header, justify in (("#", "right"), ("system", "left"), ("quality", "left"),
                            ("p50", "right"), ("p95", "right"), ("items/s", "right"),
                            ("peak RSS", "right"), ("size", "right"), ("cost/1k", "right"),
                            ("gCO2e/1k", "right"), ("source", "left")):
        table.add_column(header, justify=justify, no_wrap=header != "source")
    for rank, row in enumerate(board.measured, 1):
        table.add_row(str(rank), row.system, fmt.quality(row.quality, row.low, row.high),
                      fmt.seconds(row.latency_p50_s), fmt.seconds(row.latency_p95_s),
                      fmt.rate(row.items_per_s), fmt.size(row.peak_rss_bytes),
                      fmt.size(row.model_size_bytes), fmt.usd(row.cost_usd_per_1k),
                      fmt.grams(row.gco2e_per_1k), _measured_note(row))
    if board.reported:
        table.add_section()
        for row in board.reported:
            table.add_row("—", f"{row.system} [magenta](reported)[/]", _reported_quality(row),
                          "—", "—", "—", "—", "—", fmt.usd(row.cost_usd_per_1k), "—",
                          f"reported: {row.setting}; {row.source}")
    return table


def _measured_note(row: BoardRow) -> str:
    note = f"measured, n={row.n}"
    if row.n_errors:
        note += f", {row.n_errors} errors"
    return note


def _reported_quality(row: BoardRow) -> str:
    text = fmt.quality(row.quality)
    return f"{text} ({row.metric})"


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
