"""Per-request usage rows, written in batches by a background thread, and reports.

The request path only appends a :class:`UsageRecord` to a queue; a writer thread
inserts the rows (and settles budget reservations, see :mod:`lmscape.serve.accounting`)
every ``usage_flush_s`` seconds in one transaction per batch, so no response waits on
the database. ``flush()`` drains the queue synchronously (tests, shutdown).
"""

from __future__ import annotations

import datetime as dt
import logging
import queue
import threading
from collections import defaultdict
from dataclasses import dataclass
from typing import Literal

import sqlalchemy as sa

from lmscape.errors import ConfigError
from lmscape.serve.accounting import settle
from lmscape.serve.tables import gateway_keys, gateway_usage, nano_to_usd
from lmscape.store import Store

log = logging.getLogger("lmscape.serve")


@dataclass(kw_only=True)
class UsageRecord:
    key_id: str | None
    endpoint: str
    model: str
    served_by: str | None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_nusd: int = 0
    reserved_nusd: int = 0
    latency_ms: float = 0.0
    status: int = 200
    error: str | None = None
    stream: bool = False
    route: str | None = None  # routed answers and budget fallbacks (JSON)
    created_at: dt.datetime | None = None

    def row(self) -> dict:
        return {
            "created_at": self.created_at or dt.datetime.now(dt.UTC),
            "key_id": self.key_id,
            "endpoint": self.endpoint,
            "model": self.model[:200],
            "served_by": self.served_by,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "cost_nusd": self.cost_nusd,
            "latency_ms": self.latency_ms,
            "status": self.status,
            "error": (self.error or None) and self.error[:200],
            "stream": self.stream,
            "route": self.route,
        }


class UsageWriter:
    """Background batch writer of usage rows and budget settlements."""

    def __init__(self, store: Store, *, interval_s: float = 0.2, batch: int = 1000) -> None:
        self._store = store
        self._interval = interval_s
        self._batch = batch
        self._queue: queue.Queue[UsageRecord] = queue.Queue()
        self._lock = threading.Lock()  # one batch write at a time
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="lmscape-usage", daemon=True)
        self._thread.start()

    def record(self, rec: UsageRecord) -> None:
        if rec.created_at is None:
            rec.created_at = dt.datetime.now(dt.UTC)
        self._queue.put(rec)

    def _drain(self) -> list[UsageRecord]:
        items: list[UsageRecord] = []
        while len(items) < self._batch:
            try:
                items.append(self._queue.get_nowait())
            except queue.Empty:
                break
        return items

    def flush(self) -> int:
        """Write everything queued now; return the number of rows written."""
        written = 0
        with self._lock:
            while True:
                items = self._drain()
                if not items:
                    return written
                self._write(items)
                written += len(items)

    def _write(self, items: list[UsageRecord]) -> None:
        rows = [r.row() for r in items]
        # one settlement per key per batch, not one UPDATE per row
        reserved: dict[str, int] = defaultdict(int)
        actual: dict[str, int] = defaultdict(int)
        for r in items:
            if r.key_id is not None:
                reserved[r.key_id] += r.reserved_nusd
                actual[r.key_id] += r.cost_nusd
        for attempt in range(5):
            try:
                with self._store.begin() as conn:
                    conn.execute(gateway_usage.insert(), rows)
                    for key_id, held in reserved.items():
                        settle(conn, key_id, held, actual[key_id])
                return
            except sa.exc.OperationalError as exc:  # e.g. SQLite busy: retry the batch
                log.warning("usage write failed (attempt %d): %s", attempt + 1, exc.orig)
                self._stop.wait(0.2 * (attempt + 1))
        log.error("dropping %d usage rows after repeated database errors", len(items))

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self.flush()
            except Exception:
                log.exception("usage writer failed")

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.flush()


Group = Literal["key", "model", "day"]


def summarize(store: Store, by: Group = "model") -> list[dict]:
    """Requests, tokens, cost, mean latency and errors grouped by key, model or day."""
    u = gateway_usage.c
    if by == "key":
        label = sa.func.coalesce(gateway_keys.c.name, sa.literal("(open access)"))
        source = gateway_usage.outerjoin(gateway_keys, gateway_keys.c.id == u.key_id)
    elif by == "model":
        label, source = u.model, gateway_usage
    elif by == "day":
        label = sa.func.substr(sa.cast(u.created_at, sa.String), 1, 10)
        source = gateway_usage
    else:
        raise ConfigError(f"cannot group usage by {by!r}", hint="use --by key, model or day")
    query = (
        sa.select(
            label.label("group"),
            sa.func.count().label("requests"),
            sa.func.coalesce(sa.func.sum(u.prompt_tokens), 0).label("prompt_tokens"),
            sa.func.coalesce(sa.func.sum(u.completion_tokens), 0).label("completion_tokens"),
            sa.func.coalesce(sa.func.sum(u.cost_nusd), 0).label("cost_nusd"),
            sa.func.avg(u.latency_ms).label("mean_latency_ms"),
            sa.func.sum(sa.case((u.status >= 400, 1), else_=0)).label("errors"),
        )
        .select_from(source)
        .group_by(label)
        .order_by(label)
    )
    with store.connect() as conn:
        rows = conn.execute(query).mappings().all()
    return [
        {
            "group": r["group"],
            "requests": int(r["requests"]),
            "prompt_tokens": int(r["prompt_tokens"]),
            "completion_tokens": int(r["completion_tokens"]),
            "cost_usd": nano_to_usd(int(r["cost_nusd"])),
            "mean_latency_ms": float(r["mean_latency_ms"] or 0.0),
            "errors": int(r["errors"] or 0),
        }
        for r in rows
    ]
