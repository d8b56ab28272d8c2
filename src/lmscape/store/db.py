"""Open the store: embedded SQLite (WAL) by default, any SQLAlchemy URL via LMSCAPE_DB."""

from __future__ import annotations

import os
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from lmscape.errors import StoreError
from lmscape.store import migrations
from lmscape.store.schema import metadata


class Store:
    """A migrated database. ``store.engine`` is a SQLAlchemy engine; tables are in
    :mod:`lmscape.store.schema`."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.metadata = metadata

    @property
    def url(self) -> str:
        return self.engine.url.render_as_string(hide_password=True)

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    def begin(self):
        return self.engine.begin()

    def connect(self):
        return self.engine.connect()

    def close(self) -> None:
        self.engine.dispose()


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


def _create_private(path: Path) -> None:
    """Create a new SQLite file readable by its owner only (0600): it holds gateway key
    hashes and usage. SQLite gives its -wal and -shm files the same mode."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    except FileExistsError:
        pass  # an existing database keeps the mode its owner gave it


def create_engine(url: str) -> Engine:
    try:
        parsed = sa.engine.make_url(url)
    except sa.exc.ArgumentError:
        raise StoreError(
            f"LMSCAPE_DB={url!r} is not a database URL",
            hint="use e.g. sqlite:///path/lmscape.db or postgresql://user@host/db",
        ) from None
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            _create_private(Path(parsed.database).expanduser())
        engine = sa.create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        sa.event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    try:
        return sa.create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)
    except ImportError as exc:
        raise StoreError(
            f"no database driver for {parsed.get_backend_name()}: {exc}",
            hint="pip install 'lmscape[postgres]'",
        ) from None


def open_store(url: str | None = None) -> Store:
    """Open (and migrate) the store at ``url`` or the configured LMSCAPE_DB."""
    if url is None:
        from lmscape.config import load_settings

        url = load_settings().db_url
    engine = create_engine(url)
    try:
        migrations.apply(engine)
    except sa.exc.OperationalError as exc:
        raise StoreError(
            f"cannot open database {engine.url.render_as_string(hide_password=True)}: "
            f"{exc.orig}",
            hint="check LMSCAPE_DB and that the database server is running",
        ) from None
    return Store(engine)
