"""Leaderboards as CSV (one row per system, measured and reported, labelled) or JSON."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from lmscape.bench.results import BoardRow, leaderboard, tasks_with_runs
from lmscape.errors import DataError, LmscapeError
from lmscape.store.db import Store

CSV_COLUMNS = (
    "task", "dataset", "kind", "rank", "system", "model", "metric", "quality", "low", "high",
    "n", "n_errors", "latency_p50_s", "latency_p95_s", "ttft_p50_s", "tokens_per_s",
    "items_per_s", "peak_rss_bytes", "rss_added_bytes", "model_size_bytes", "cost_usd_per_1k", "cost_basis",
    "kwh_per_1k", "gco2e_per_1k", "source", "setting", "run_id", "machine",
)


def boards(store: Store, tasks: list[str] | None = None) -> list[Any]:
    out = []
    for name in (tasks or tasks_with_runs(store)):
        try:
            out.append(leaderboard(store, name))
        except LmscapeError:
            if tasks:
                raise
    if not out:
        raise DataError("nothing to export: no finished runs",
                        hint="run `lmscape bench` first (or drop --task)")
    return out


def _row(board: Any, row: BoardRow, rank: int | None) -> dict[str, Any]:
    data = row.as_dict()
    data.update(task=board.task, dataset=board.dataset, rank=rank,
                machine=json.dumps(row.machine, sort_keys=True) if row.machine else None)
    return {k: data.get(k) for k in CSV_COLUMNS}


def to_csv(store: Store, tasks: list[str] | None = None) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for board in boards(store, tasks):
        for rank, row in enumerate(board.measured, 1):
            writer.writerow(_row(board, row, rank))
        for row in board.reported:
            writer.writerow(_row(board, row, None))
    return buf.getvalue()


def to_json(store: Store, tasks: list[str] | None = None,
            comparisons: list[dict[str, Any]] | None = None) -> str:
    data: dict[str, Any] = {"leaderboards": [b.as_dict() for b in boards(store, tasks)]}
    if comparisons:
        data["comparisons"] = comparisons
    return json.dumps(data, indent=2, default=str)


def write_text(text: str, out: str | Path) -> Path:
    path = Path(out).expanduser()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path.resolve()
