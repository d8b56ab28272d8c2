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


WIDE = 150  # terminals at least this wide get one table; narrower ones get three


def leaderboard_tables(board: Leaderboard, width: int = WIDE) -> list[Table]:
    """The leaderboard for a terminal ``width`` columns wide."""
    if width >= WIDE:
        return [leaderboard_table(board)]
    groups = (
        ("quality", ("quality", "n", "source")),
        ("speed", ("p50", "p95", "TTFT", "items/s")),
        ("resources", ("peak RSS", "size", "cost/1k", "gCO2e/1k")),
    )
    tables = []
    for i, (name, columns) in enumerate(groups):
        table = _board_table(board, columns, fold=True)
        table.title = f"{_title(board)} — {name}" if i == 0 else f"{board.task} — {name}"
        if i < len(groups) - 1:
            table.caption = None
        tables.append(table)
    return tables


def _title(board: Leaderboard) -> str:
    arrow = "↑" if board.higher_is_better else "↓"
    return f"{board.task} — {board.dataset} — {board.metric} {arrow} (95% CI)"


def leaderboard_table(board: Leaderboard) -> Table:
    """Measured rows ranked by quality; reported rows below, unranked and labelled."""
    return _board_table(board, ("quality", "p50", "p95", "items/s", "peak RSS", "size",
                                "cost/1k", "gCO2e/1k", "source"), fold=False)


def _cells(row: BoardRow, measured: bool) -> dict[str, str]:
    if measured:
        return {
            "quality": fmt.quality(row.quality, row.low, row.high), "n": str(row.n),
            "p50": fmt.seconds(row.latency_p50_s), "p95": fmt.seconds(row.latency_p95_s),
            "TTFT": fmt.seconds(row.ttft_p50_s), "items/s": fmt.rate(row.items_per_s),
            "peak RSS": _rss(row), "size": fmt.size(row.model_size_bytes),
            "cost/1k": fmt.usd(row.cost_usd_per_1k), "gCO2e/1k": fmt.grams(row.gco2e_per_1k),
            "source": _measured_note(row),
        }
    return {
        "quality": _reported_quality(row), "n": "—", "p50": "—", "p95": "—", "TTFT": "—",
        "items/s": "—", "peak RSS": "—", "size": "—",
        "cost/1k": fmt.usd(row.cost_usd_per_1k), "gCO2e/1k": "—",
        "source": f"reported: {row.setting}; {row.source}",
    }


def _board_table(board: Leaderboard, columns: tuple[str, ...], *, fold: bool) -> Table:
    table = Table(
        title=_title(board),
        caption=f"measured on {_machine_line(board.machines)}" if board.machines else None,
        title_justify="left", caption_justify="left",
    )
    table.add_column("#", justify="right")
    table.add_column("system", overflow="fold", no_wrap=not fold, max_width=30 if fold else None)
    for header in columns:
        left = header in ("quality", "source")
        table.add_column(header, justify="left" if left else "right",
                         no_wrap=header not in ("source", "quality"), overflow="fold")
    for rank, row in enumerate(board.measured, 1):
        cells = _cells(row, True)
        table.add_row(str(rank), row.system, *(cells[c] for c in columns))
    if board.reported:
        table.add_section()
        for row in board.reported:
            cells = _cells(row, False)
            table.add_row("—", f"{row.system} [magenta](reported)[/]", *(cells[c] for c in columns))
    return table


def _rss(row: BoardRow) -> str:
    text = fmt.size(row.peak_rss_bytes)
    if row.rss_added_bytes is not None:
        text += f" (+{fmt.size(row.rss_added_bytes) if row.rss_added_bytes else '0'})"
    return text


def _measured_note(row: BoardRow) -> str:
    note = f"measured, n={row.n}"
    if row.n_errors:
        note += f", {row.n_errors} errors"
    return note


def _reported_quality(row: BoardRow) -> str:
    if row.quality is None:
        return "— (list price only)"
    return f"{fmt.quality(row.quality)} ({row.metric})"


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
