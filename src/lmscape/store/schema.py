"""Table definitions (SQLAlchemy Core). Changes are made by adding a migration in
:mod:`lmscape.store.migrations`, never by editing a table that has shipped."""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

migrations_table = sa.Table(
    "lmscape_migrations",
    metadata,
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("applied_at", sa.DateTime(timezone=True), nullable=False),
)

# One benchmark run: one system on one task (version) with fixed parameters.
runs = sa.Table(
    "runs",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),  # deterministic: hash of the run key
    sa.Column("system", sa.String(200), nullable=False),  # e.g. gemma-3-270m/few-shot-choice
    sa.Column("model", sa.String(200), nullable=True),
    sa.Column("method", sa.String(100), nullable=False),
    sa.Column("task", sa.String(100), nullable=False),
    sa.Column("task_version", sa.String(40), nullable=False),
    sa.Column("dataset", sa.String(300), nullable=False),  # split name or data file digest
    sa.Column("params", sa.JSON, nullable=False),
    sa.Column("machine", sa.JSON, nullable=False),
    sa.Column("status", sa.String(20), nullable=False),  # running | done | failed
    sa.Column("n_items", sa.Integer, nullable=True),
    sa.Column("summary", sa.JSON, nullable=True),  # aggregate metrics once done
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
)

# Per-item results: written as items finish, so a killed run resumes without loss.
results = sa.Table(
    "results",
    metadata,
    sa.Column("run_id", sa.String(64), sa.ForeignKey("runs.id", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("item_id", sa.String(200), primary_key=True),
    sa.Column("cache_key", sa.String(64), nullable=False, index=True),
    sa.Column("prediction", sa.JSON, nullable=True),
    sa.Column("reference", sa.JSON, nullable=True),
    sa.Column("scores", sa.JSON, nullable=True),  # per-item metric values
    sa.Column("latency_s", sa.Float, nullable=True),
    sa.Column("ttft_s", sa.Float, nullable=True),
    sa.Column("tokens_per_s", sa.Float, nullable=True),
    sa.Column("prompt_tokens", sa.Integer, nullable=True),
    sa.Column("completion_tokens", sa.Integer, nullable=True),
    sa.Column("cost_usd", sa.Float, nullable=True),
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

# Cache of model outputs keyed by (system, task version, item, parameters).
cache = sa.Table(
    "cache",
    metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.JSON, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)
