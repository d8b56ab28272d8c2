"""Tell every gateway worker at once that the keys changed (one was revoked or created).

The authenticator caches keys in memory (see :mod:`lmscape.serve.auth`); a
:class:`KeyWatch` gives it a *generation* number that changes whenever another process
(``lmscape keys revoke``, another worker) may have changed the keys, and the cache is
dropped when it does. How the change is seen depends on the database:

| database   | how                                                    | revocation takes effect |
|------------|--------------------------------------------------------|-------------------------|
| SQLite     | ``PRAGMA data_version`` on a private connection, per authentication (a read of the WAL index, a few microseconds); when it moved, one ``count(*)`` of keys and revoked keys | at the next request: immediate |
| PostgreSQL | ``LISTEN lmscape_gateway_keys`` in a thread; ``keys.py`` sends ``NOTIFY`` in the transaction that revokes or creates a key | when the notification arrives (milliseconds); while the listener reconnects, within ``key_cache_ttl_s`` |
| other      | nothing                                                | within ``key_cache_ttl_s`` |

Keys with a budget are also checked by their reservation, which reads ``revoked_at`` in
the database on every request (:mod:`lmscape.serve.accounting`).
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from typing import Any

import sqlalchemy as sa

from lmscape.store import Store

log = logging.getLogger("lmscape.serve")

CHANNEL = "lmscape_gateway_keys"


class KeyWatch:
    """No watching: the cache's TTL is the bound (databases other than the two below)."""

    def generation(self) -> int:
        return 0

    def close(self) -> None:
        pass


class SQLiteWatch(KeyWatch):
    """``PRAGMA data_version`` moves when another connection commits; then the key
    counts say whether the keys (not just usage rows) changed."""

    def __init__(self, path: str) -> None:
        self._conn = sqlite3.connect(path, check_same_thread=False, timeout=30)
        self._lock = threading.Lock()
        self._version = self._data_version()
        self._counts = self._key_counts()
        self._generation = 0

    def _data_version(self) -> int:
        return self._conn.execute("PRAGMA data_version").fetchone()[0]

    def _key_counts(self) -> tuple[int, int]:
        try:
            row = self._conn.execute(
                "SELECT count(*), count(revoked_at) FROM gateway_keys").fetchone()
        except sqlite3.OperationalError:  # not migrated yet
            return (-1, -1)
        return row[0], row[1]

    def generation(self) -> int:
        with self._lock:
            version = self._data_version()
            if version != self._version:
                self._version = version
                counts = self._key_counts()
                if counts != self._counts:
                    self._counts = counts
                    self._generation += 1
            return self._generation

    def close(self) -> None:
        with self._lock:
            self._conn.close()


class PostgresWatch(KeyWatch):
    """A thread that ``LISTEN``\\ s on :data:`CHANNEL` (psycopg 3) and bumps the
    generation on every notification, and whenever it had to reconnect."""

    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine
        self._generation = 0
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lmscape-keywatch", daemon=True)
        self._thread.start()
        self._ready.wait(5)

    def generation(self) -> int:
        return self._generation

    def _listen(self) -> None:
        raw = self._engine.raw_connection()
        raw.detach()  # a connection of its own, never returned to the pool
        conn: Any = raw.dbapi_connection
        try:
            conn.autocommit = True
            conn.execute(f"LISTEN {CHANNEL}")
            self._generation += 1  # anything may have changed while not listening
            self._ready.set()
            while not self._stop.is_set():
                for _note in conn.notifies(timeout=0.5, stop_after=1):
                    self._generation += 1
        finally:
            conn.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._listen()
            except Exception as exc:  # noqa: BLE001 - reconnect; the TTL bounds the gap
                log.warning("key revocation listener: %s; reconnecting", exc)
                self._ready.set()
                self._stop.wait(1.0)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)


def watch(store: Store) -> KeyWatch:
    """The best watch ``store``'s database allows (see the module docstring)."""
    engine = store.engine
    if engine.dialect.name == "sqlite":
        path = engine.url.database
        if path and path != ":memory:":
            return SQLiteWatch(path)
    elif engine.dialect.name == "postgresql" and engine.dialect.driver == "psycopg":
        return PostgresWatch(engine)
    return KeyWatch()


def notify(conn: sa.Connection) -> None:
    """Tell the other processes' watches that the keys changed (inside the transaction
    that changes them; PostgreSQL delivers it at commit). SQLite needs no message."""
    if conn.dialect.name == "postgresql":
        conn.execute(sa.select(sa.func.pg_notify(CHANNEL, "keys")))

