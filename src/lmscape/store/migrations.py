"""Named migrations, recorded in ``lmscape_migrations`` and applied on open.

A migration is a function ``(connection) -> None`` registered with :func:`migration`
under a unique name. Names are applied in registration order, each once; applying
twice changes nothing.

Components own their tables: a module that defines tables registers their migrations
when it is imported, and names itself under the ``lmscape.tables`` entry-point group
(in ``pyproject.toml``), which :func:`apply` loads, so every component's tables exist
whichever command opens the store. The store knows no component by name::

    [project.entry-points."lmscape.tables"]
    gateway = "lmscape.serve.tables"
"""

from __future__ import annotations

import datetime as dt
import importlib
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


ENTRY_POINT_GROUP = "lmscape.tables"


def _load_components() -> None:
    """Import every module named under ``lmscape.tables`` (each registers its own
    migrations on import; a component that is not installed is skipped)."""
    from importlib.metadata import entry_points

    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            importlib.import_module(ep.value.split(":", 1)[0])
        except ModuleNotFoundError as exc:
            if not ep.value.startswith(str(exc.name)):
                raise


def applied(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        if not sa.inspect(conn).has_table(schema.migrations_table.name):
            return []
        rows = conn.execute(sa.select(schema.migrations_table.c.name))
        return [r[0] for r in rows]


def apply(engine: Engine) -> list[str]:
    """Apply every pending migration; return the names applied now."""
    _load_components()
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
