"""Prediction cache in the store's ``cache`` table.

Key: SHA-256 of the canonical JSON of (system, task, task version, item id, item text,
reference, method parameters). Value: the prediction (output, usage, timings, extra) and
the effort it took (wall/CPU seconds, peak RSS), stored as JSON (never pickle), so a
re-run reuses both the output and the measurement it had when it was computed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

import sqlalchemy as sa

from lmscape.backends.base import Timings, Usage
from lmscape.methods.base import Prediction
from lmscape.store.db import Store
from lmscape.store.schema import cache as cache_table
from lmscape.tasks.base import Item


def json_safe(value: Any) -> Any:
    """JSON-safe copy: numpy scalars/arrays, tuples, sets and NaN become plain JSON."""
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [json_safe(v) for v in value]
    if hasattr(value, "tolist"):  # numpy scalar or array
        return json_safe(value.tolist())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def canonical_json(value: Any) -> str:
    return json.dumps(json_safe(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def digest(value: Any, length: int = 64) -> str:
    return hashlib.sha256(canonical_json(value).encode("utf-8")).hexdigest()[:length]


def cache_key(*, system: str, task: str, task_version: str, item: Item,
              params: Mapping[str, Any]) -> str:
    """The cache key of one (system, task version, item, parameters)."""
    return digest({
        "system": system,
        "task": task,
        "task_version": task_version,
        "item": {"id": item.id, "text": item.text, "reference": item.reference},
        "params": dict(params),
    })


@dataclass(kw_only=True)
class CachedPrediction:
    """A prediction and the effort it took when it was computed."""

    prediction: Prediction
    wall_s: float
    cpu_s: float | None = None
    rss_peak_bytes: int | None = None
    rss_added_bytes: int | None = None  # peak minus the RSS before the system was built

    def to_json(self) -> dict[str, Any]:
        p = self.prediction
        return json_safe({
            "output": p.output,
            "usage": asdict(p.usage),
            "timings": asdict(p.timings),
            "extra": p.extra,
            "wall_s": self.wall_s,
            "cpu_s": self.cpu_s,
            "rss_peak_bytes": self.rss_peak_bytes,
            "rss_added_bytes": self.rss_added_bytes,
        })

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CachedPrediction:
        usage = data.get("usage") or {}
        timings = data.get("timings") or {}
        return cls(
            prediction=Prediction(
                output=data.get("output"),
                usage=Usage(prompt_tokens=int(usage.get("prompt_tokens") or 0),
                            completion_tokens=int(usage.get("completion_tokens") or 0)),
                timings=Timings(total_s=float(timings.get("total_s") or 0.0),
                                ttft_s=timings.get("ttft_s"),
                                tokens_per_s=timings.get("tokens_per_s")),
                extra=dict(data.get("extra") or {}),
            ),
            wall_s=float(data.get("wall_s") or 0.0),
            cpu_s=data.get("cpu_s"),
            rss_peak_bytes=data.get("rss_peak_bytes"),
            rss_added_bytes=data.get("rss_added_bytes"),
        )


class PredictionCache:
    """Read and write cached predictions in the store."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def get_many(self, keys: Iterable[str]) -> dict[str, CachedPrediction]:
        keys = list(dict.fromkeys(keys))
        found: dict[str, CachedPrediction] = {}
        with self.store.connect() as conn:
            for start in range(0, len(keys), 500):
                chunk = keys[start:start + 500]
                rows = conn.execute(
                    sa.select(cache_table.c.key, cache_table.c.value)
                    .where(cache_table.c.key.in_(chunk))
                )
                for key, value in rows:
                    found[key] = CachedPrediction.from_json(value)
        return found

    def put_many(self, conn: sa.Connection, entries: Mapping[str, CachedPrediction]) -> None:
        """Insert or replace entries inside the caller's transaction."""
        if not entries:
            return
        now = dt.datetime.now(dt.UTC)
        rows = [{"key": k, "value": v.to_json(), "created_at": now} for k, v in entries.items()]
        upsert(conn, cache_table, rows, index=["key"], update=["value", "created_at"])

    def clear(self) -> int:
        with self.store.begin() as conn:
            return conn.execute(cache_table.delete()).rowcount or 0


def upsert(conn: sa.Connection, table: sa.Table, rows: list[dict[str, Any]], *,
           index: list[str], update: list[str] | None = None) -> None:
    """INSERT rows; on a primary-key clash update ``update`` columns (or do nothing)."""
    dialect = conn.dialect.name
    if dialect in ("sqlite", "postgresql"):
        if dialect == "sqlite":
            from sqlalchemy.dialects.sqlite import insert
        else:
            from sqlalchemy.dialects.postgresql import insert
        stmt = insert(table)
        if update:
            stmt = stmt.on_conflict_do_update(
                index_elements=index, set_={c: stmt.excluded[c] for c in update}
            )
        else:
            stmt = stmt.on_conflict_do_nothing(index_elements=index)
        conn.execute(stmt, rows)
        return
    for row in rows:  # other databases: one statement per row
        where = sa.and_(*(table.c[c] == row[c] for c in index))
        exists = conn.execute(sa.select(sa.literal(1)).select_from(table).where(where)).first()
        if exists is None:
            conn.execute(table.insert().values(**row))
        elif update:
            conn.execute(table.update().where(where).values(**{c: row[c] for c in update}))
