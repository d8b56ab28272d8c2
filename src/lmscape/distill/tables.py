"""The teacher-label table and the migration that creates it.

Every answer a teacher gives during distillation is one row, written as its batch
arrives, keyed by (teacher key, text key):

- ``teacher_key``: digest of the teacher system's name, the task and its version, and
  the method's parameters (what changes the teacher's answers);
- ``text_key``: digest of the text, so the same text is never asked twice, whatever
  file or run it came from.

``label`` is the parsed answer (a task label, or a list of keyphrases) or NULL when the
answer could not be parsed (``ok`` false; ``raw`` keeps what the teacher said). Costs
are the bench cost model's, per answer.

:mod:`lmscape.store.migrations` imports this module when a store opens, which
registers the migration below.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from lmscape.store.migrations import migration
from lmscape.store.schema import metadata

teacher_labels = sa.Table(
    "distill_teacher_labels",
    metadata,
    sa.Column("teacher_key", sa.String(64), primary_key=True),
    sa.Column("text_key", sa.String(64), primary_key=True),
    sa.Column("teacher", sa.String(200), nullable=False),  # e.g. gemma-3-270m/few-shot-choice
    sa.Column("task", sa.String(100), nullable=False),
    sa.Column("item_id", sa.String(200), nullable=True),  # id in the file it first came from
    sa.Column("label", sa.JSON, nullable=True),  # NULL: unparseable
    sa.Column("ok", sa.Boolean, nullable=False),
    sa.Column("raw", sa.JSON, nullable=True),  # the raw answer where the method keeps one
    sa.Column("latency_s", sa.Float, nullable=True),
    sa.Column("prompt_tokens", sa.Integer, nullable=True),
    sa.Column("completion_tokens", sa.Integer, nullable=True),
    sa.Column("cost_usd", sa.Float, nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)


@migration("0200_distill_teacher_labels")
def _m0200(conn: Connection) -> None:
    teacher_labels.create(conn, checkfirst=True)
