"""Per-request usage rows, written in batches by a background thread, and reports.

The request path only appends a :class:`UsageRecord` to a queue; a writer thread
inserts the rows (and settles budget reservations, see :mod:`lmscape.serve.accounting`)
every ``usage_flush_s`` seconds in one transaction per batch, so no response waits on
the database. :meth:`UsageWriter.commit` is the exception, for keys with a budget: it
wakes the writer at once and returns a future that completes when the row and its
settlement are committed (rows queued meanwhile share the transaction). ``flush()``
drains the queue synchronously (tests, shutdown).
"""

from __future__ import annotations

import datetime as dt
import logging
import queue
import threading
import time
from collections import defaultdict
from concurrent.futures import Future
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
    charge_key: bool = True  # False: the key's budget is not charged (budget fallback)
    latency_ms: float = 0.0
    status: int = 200
    error: str | None = None
    stream: bool = False
    route: str | None = None  # routed answers and budget fallbacks (JSON)
    created_at: dt.datetime | None = None
    committed: Future | None = None  # set by UsageWriter.commit

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
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="lmscape-usage", daemon=True)
        self._thread.start()

    def record(self, rec: UsageRecord) -> None:
        if rec.created_at is None:
            rec.created_at = dt.datetime.now(dt.UTC)
        self._queue.put(rec)

    def commit(self, rec: UsageRecord) -> Future:
        """Queue ``rec`` and have it written now; the future completes once it is."""
        rec.committed = Future()
        self.record(rec)
        self._wake.set()
        return rec.committed

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
            if r.key_id is not None and r.charge_key:
                reserved[r.key_id] += r.reserved_nusd
                actual[r.key_id] += r.cost_nusd
        try:
            for attempt in range(5):
                try:
                    with self._store.begin() as conn:
                        conn.execute(gateway_usage.insert(), rows)
                        for key_id, held in reserved.items():
                            settle(conn, key_id, held, actual[key_id])
                    return
                except sa.exc.OperationalError as exc:  # e.g. SQLite busy: retry the batch
                    log.warning("usage write failed (attempt %d): %s", attempt + 1, exc.orig)
                    time.sleep(0.2 * (attempt + 1))
            log.error("dropping %d usage rows after repeated database errors", len(items))
        finally:
            for r in items:  # the requests waiting on them go on either way
                if r.committed is not None and not r.committed.done():
                    r.committed.set_result(None)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self._interval)
            self._wake.clear()
            try:
                self.flush()
            except Exception:
                log.exception("usage writer failed")

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=5)
        self.flush()


Group = Literal["key", "model", "day", "served"]
GROUPS: tuple[Group, ...] = ("key", "model", "day", "served")


def _label(by: str) -> sa.ColumnElement:
    """The group label of a usage row (the key's name needs the join of :data:`_SOURCE`)."""
    u = gateway_usage.c
    if by == "key":
        return sa.func.coalesce(gateway_keys.c.name, sa.literal("(open access)"))
    if by == "model":
        return u.model
    if by == "served":
        return sa.func.coalesce(u.served_by, sa.literal("(none)"))
    if by == "day":
        return sa.func.substr(sa.cast(u.created_at, sa.String), 1, 10)
    raise ConfigError(f"cannot group usage by {by!r}", hint="use --by key, model, day, served or route")


_SOURCE = gateway_usage.outerjoin(gateway_keys, gateway_keys.c.id == gateway_usage.c.key_id)


def _sums() -> list[sa.ColumnElement]:
    u = gateway_usage.c
    return [
        sa.func.count().label("requests"),
        sa.func.coalesce(sa.func.sum(u.prompt_tokens), 0).label("prompt_tokens"),
        sa.func.coalesce(sa.func.sum(u.completion_tokens), 0).label("completion_tokens"),
        sa.func.coalesce(sa.func.sum(u.cost_nusd), 0).label("cost_nusd"),
        sa.func.sum(sa.case((u.status >= 400, 1), else_=0)).label("errors"),
    ]


def summarize(store: Store, by: Group = "model") -> list[dict]:
    """Requests, tokens, cost, mean latency and errors grouped by key, model (as
    requested), day or served (the model that answered, after fallbacks; "(none)" for
    requests refused before any model ran)."""
    label = _label(by)
    query = (
        sa.select(label.label("group"), *_sums(),
                  sa.func.avg(gateway_usage.c.latency_ms).label("mean_latency_ms"))
        .select_from(_SOURCE if by == "key" else gateway_usage)
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


def _fold(conn: sa.Connection, folded: dict[str, dict], after_id: int = 0,
          upto_id: int | None = None) -> int:
    """Add the rows with ``after_id < id <= upto_id``, grouped by every label at once, to
    ``folded``; return how many rows that was."""
    labels = [_label(by).label(by) for by in GROUPS]
    u = gateway_usage.c
    query = (sa.select(*labels, *_sums(), sa.func.sum(u.latency_ms).label("latency_ms"))
             .select_from(_SOURCE).where(u.id > after_id).group_by(*labels))
    if upto_id is not None:
        query = query.where(u.id <= upto_id)
    n = 0
    for r in conn.execute(query).mappings():
        n += int(r["requests"])
        for by in GROUPS:
            acc = folded[by].setdefault(r[by], [0, 0, 0, 0, 0, 0.0])
            acc[0] += int(r["requests"])
            acc[1] += int(r["prompt_tokens"])
            acc[2] += int(r["completion_tokens"])
            acc[3] += int(r["cost_nusd"])
            acc[4] += int(r["errors"] or 0)
            acc[5] += float(r["latency_ms"] or 0.0)
    return n


def _rows(folded: dict[str, dict]) -> dict[Group, list[dict]]:
    return {
        by: [{"group": group, "requests": n, "prompt_tokens": p, "completion_tokens": c,
              "cost_usd": nano_to_usd(cost), "mean_latency_ms": lat / n if n else 0.0,
              "errors": err}
             for group, (n, p, c, cost, err, lat) in sorted(folded[by].items())]
        for by in GROUPS
    }


def summarize_all(store: Store) -> dict[Group, list[dict]]:
    """:func:`summarize` for every grouping, from one scan of the usage rows: the rows
    are grouped by all four labels at once, then folded per grouping. Counts, tokens and
    cost (integer nano-dollars) equal :func:`summarize`'s exactly; the mean latency is the
    same up to floating-point rounding."""
    folded: dict[str, dict] = {by: {} for by in GROUPS}
    with store.connect() as conn:
        _fold(conn, folded)
    return _rows(folded)


class UsageRollup:
    """:func:`summarize_all`, kept up to date by reading only the rows added since the
    last call (the dashboard asks on every view of the gateway page).

    Usage rows are only ever inserted. Each call reads the row count and the largest id;
    if they are unchanged the last answer stands; otherwise the rows with an id above
    the last one read are folded in, and the result is kept only if the old count plus
    the rows folded equals the new count. A row that committed late with a smaller id
    (concurrent writers) breaks that equality and causes a full scan, so the answer is
    always exactly :func:`summarize_all`'s.
    """

    def __init__(self, store: Store) -> None:
        self._store = store
        self._lock = threading.Lock()
        self._folded: dict[str, dict] | None = None
        self._count = 0
        self._max_id = 0

    def get(self) -> dict[Group, list[dict]]:
        u = gateway_usage.c
        with self._lock, self._store.connect() as conn:
            count, max_id = conn.execute(
                sa.select(sa.func.count(), sa.func.coalesce(sa.func.max(u.id), 0))).one()
            if self._folded is not None and (count, max_id) == (self._count, self._max_id):
                return _rows(self._folded)
            if self._folded is not None and max_id > self._max_id:
                folded = {by: {g: list(acc) for g, acc in self._folded[by].items()}
                          for by in GROUPS}
                added = _fold(conn, folded, self._max_id, max_id)
                if self._count + added == count:
                    self._folded, self._count, self._max_id = folded, count, max_id
                    return _rows(folded)
            folded = {by: {} for by in GROUPS}
            count = _fold(conn, folded, 0, max_id)
            self._folded, self._count, self._max_id = folded, count, max_id
            return _rows(folded)
