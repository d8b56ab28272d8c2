"""Named migrations, recorded in ``lmscape_migrations`` and applied on open.

A migration is a function ``(connection) -> None`` registered with :func:`migration`
under a unique name. Names are applied in registration order, each once; applying
twice changes nothing. Later capabilities (gateway keys and usage) add their own.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from lmscape.store import schema

Migration = Callable[[Connection], None]
MIGRATIONS: list[tuple[str, Migration]] = []


def migration(name: str) -> Callable[[Migration], Migration]:
    def register(fn: Migration) -> Migration:
        if any(existing == name for existing, _ in MIGRATIONS):
            raise ValueError(f"duplicate migration name {name!r}")
        MIGRATIONS.append((name, fn))
        return fn

    return register


def _create(conn: Connection, *tables: sa.Table) -> None:
    for table in tables:
        table.create(conn, checkfirst=True)


@migration("0001_runs_results_cache")
def _m0001(conn: Connection) -> None:
    _create(conn, schema.runs, schema.results, schema.cache)


def _load_extensions() -> None:
    """Import modules that register their own migrations (kept lazy and optional)."""
    import importlib

    for module in ("lmscape.serve.tables", "lmscape.distill.tables"):
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise


def applied(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        if not sa.inspect(conn).has_table(schema.migrations_table.name):
            return []
        rows = conn.execute(sa.select(schema.migrations_table.c.name))
        return [r[0] for r in rows]


def apply(engine: Engine) -> list[str]:
    """Apply every pending migration; return the names applied now."""
    _load_extensions()
    done_now: list[str] = []
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            # Serialise concurrent openers (several gateway workers) on one lock.
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(7421001)"))
        schema.migrations_table.create(conn, checkfirst=True)
        seen = {r[0] for r in conn.execute(sa.select(schema.migrations_table.c.name))}
        for name, fn in MIGRATIONS:
            if name in seen:
                continue
            fn(conn)
            conn.execute(
                schema.migrations_table.insert().values(
                    name=name, applied_at=dt.datetime.now(dt.UTC)
                )
            )
            done_now.append(name)
    return done_now
