"""Gateway tables (keys and usage) and the migration that creates them.

Money is stored as integer **nano-dollars** (1e-9 USD) so that sums are exact in
SQLite and PostgreSQL alike: ``spent`` always equals the sum of the usage rows once
in-flight requests have settled, with no floating-point drift.

:mod:`lmscape.store.migrations` imports this module when a store opens, which
registers the migration below.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from lmscape.store.migrations import migration
from lmscape.store.schema import metadata

NANO = 1_000_000_000  # nano-dollars per dollar


def usd_to_nano(usd: float) -> int:
    return round(usd * NANO)


def nano_to_usd(nano: int | None) -> float:
    return (nano or 0) / NANO


gateway_keys = sa.Table(
    "gateway_keys",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False, unique=True),
    sa.Column("key_hash", sa.String(64), nullable=False, unique=True),  # sha256 hex
    sa.Column("prefix", sa.String(32), nullable=False),  # shown in lists: "lms-ab12cd34"
    sa.Column("budget_nusd", sa.BigInteger, nullable=True),  # None: no budget
    sa.Column("spent_nusd", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("rpm", sa.Integer, nullable=True),  # requests per minute; None: unlimited
    sa.Column("models", sa.JSON, nullable=True),  # allowed model names; None: all
    # a local model that serves the key once its budget is spent (None: refuse)
    sa.Column("on_budget_exhausted", sa.String(200), nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("admin", sa.Boolean, nullable=False, server_default=sa.false()),  # 0101
)

gateway_usage = sa.Table(
    "gateway_usage",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, index=True),
    sa.Column("key_id", sa.String(32), nullable=True, index=True),  # None: open access
    sa.Column("endpoint", sa.String(40), nullable=False),  # chat | completions | embeddings
    sa.Column("model", sa.String(200), nullable=False),  # as requested
    sa.Column("served_by", sa.String(200), nullable=True),  # after fallbacks
    sa.Column("prompt_tokens", sa.Integer, nullable=False, server_default="0"),
    sa.Column("completion_tokens", sa.Integer, nullable=False, server_default="0"),
    sa.Column("cost_nusd", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("latency_ms", sa.Float, nullable=False),
    sa.Column("status", sa.Integer, nullable=False),  # HTTP status returned
    sa.Column("error", sa.String(200), nullable=True),  # error type, never provider secrets
    sa.Column("stream", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("route", sa.Text, nullable=True),  # routed answers / budget fallbacks: JSON
)


@migration("0100_gateway_keys_usage")
def _m0100(conn: Connection) -> None:
    gateway_keys.create(conn, checkfirst=True)
    gateway_usage.create(conn, checkfirst=True)


@migration("0101_gateway_keys_admin")
def _m0101(conn: Connection) -> None:
    """Admin keys (``lmscape keys create --admin``) may use the dashboard at /ui."""
    if "admin" not in {c["name"] for c in sa.inspect(conn).get_columns("gateway_keys")}:
        conn.execute(sa.text("ALTER TABLE gateway_keys ADD COLUMN admin BOOLEAN NOT NULL "
                             "DEFAULT FALSE"))


def _add_column(conn: Connection, table: sa.Table, name: str) -> None:
    """Add ``table.c[name]`` to a table created before the column existed."""
    present = {c["name"] for c in sa.inspect(conn).get_columns(table.name)}
    if name not in present:
        column = table.c[name]
        kind = column.type.compile(dialect=conn.dialect)
        conn.execute(sa.text(f'ALTER TABLE {table.name} ADD COLUMN "{name}" {kind}'))


@migration("0102_gateway_routing")
def _m0102(conn: Connection) -> None:
    _add_column(conn, gateway_usage, "route")
    _add_column(conn, gateway_keys, "on_budget_exhausted")
