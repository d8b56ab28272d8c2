"""Leaderboards as CSV (one row per system, measured and reported, labelled) or JSON.

CSV: the fixed :data:`CSV_COLUMNS` (``quality``/``low``/``high`` are the primary metric;
``rank`` counts within ``rank_metric``'s group), then ``metric_NAME``,
``metric_NAME_low`` and ``metric_NAME_high`` for every metric of every board exported
(empty where a system has no value). JSON: each board with its ``metrics`` (name,
``higher_is_better``, ``primary``) and ``headline`` list; each row with its ``metrics``.
"""

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
    "task", "dataset", "kind", "rank", "rank_metric", "system", "model", "metric", "quality",
    "low", "high", "n", "n_errors", "latency_p50_s", "latency_p95_s", "ttft_p50_s",
    "tokens_per_s", "items_per_s", "peak_rss_bytes", "rss_added_bytes", "model_size_bytes",
    "load_s", "train_s", "predict_s", "cost_usd_per_1k", "cost_basis", "kwh_per_1k",
    "gco2e_per_1k", "source", "setting", "run_id", "machine",
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


def _metric_columns(names: list[str]) -> list[str]:
    return [c for name in names
            for c in (f"metric_{name}", f"metric_{name}_low", f"metric_{name}_high")]


def _row(board: Any, row: BoardRow) -> dict[str, Any]:
    data = row.as_dict()
    data.update(task=board.task, dataset=board.dataset,
                machine=json.dumps(row.machine, sort_keys=True) if row.machine else None)
    out = {k: data.get(k) for k in CSV_COLUMNS}
    for name, m in (row.metrics or {}).items():
        out.update({f"metric_{name}": m.get("value"), f"metric_{name}_low": m.get("low"),
                    f"metric_{name}_high": m.get("high")})
    return out


def to_csv(store: Store, tasks: list[str] | None = None) -> str:
    exported = boards(store, tasks)
    names = list(dict.fromkeys(m.name for b in exported for m in b.metrics))
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=[*CSV_COLUMNS, *_metric_columns(names)],
                            lineterminator="\n", restval="", extrasaction="ignore")
    writer.writeheader()
    for board in exported:
        for row in (*board.measured, *board.reported):
            writer.writerow(_row(board, row))
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
