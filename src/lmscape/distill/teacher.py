"""Ask a teacher system for labels; store every answer as it arrives.

1. The teacher is built by the same code bench uses (``methods.registry.build_system``):
   any system name works (a local model + method, ``openai:MODEL/prompted`` for a remote
   API or a gateway, a routed policy once it is a system).
2. Texts are keyed by a digest of the text and the teacher by a digest of (system,
   task, task version, method parameters). Answers already in the store are reused,
   so an interrupted run resumes without asking the teacher twice, and a text that
   occurs twice is asked once.
3. The method is fitted once on the task's train split (calibration, shots), as bench
   does, and only when something is left to ask.
4. The rest goes in batches through the bench executor (several in flight for remote
   teachers); each finished batch is written in one transaction before the next is
   looked at, so a failure loses at most the batches in flight.
5. An answer that cannot be parsed (no label, a label outside the task's set, an empty
   keyphrase list) is stored with ``ok = false`` and counted; it is not fatal.
6. Each answer is priced by the bench cost model (list price for remote teachers, this
   machine's time for local ones).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from lmscape.bench.cache import digest, json_safe, upsert
from lmscape.bench.cost import CostModel
from lmscape.bench.executor import LocalExecutor
from lmscape.distill.tables import teacher_labels
from lmscape.store.db import Store
from lmscape.tasks.base import Item, Task

REMOTE_CONCURRENCY = 4
_IN_CHUNK = 500


def text_key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:40]


def teacher_key(system: Any, task: Task) -> str:
    return digest({"system": system.name, "task": task.name, "task_version": task.version,
                   "method_params": system.method.cache_params()}, 40)


@dataclass(kw_only=True)
class TeacherLabels:
    """What the teacher said about each text (None: unparseable)."""

    teacher: str
    labels: dict[str, Any] = field(default_factory=dict)  # text key -> label | None
    n_asked: int = 0  # answers computed in this call
    n_reused: int = 0  # answers found in the store
    n_unparseable: int = 0
    cost_usd: float = 0.0  # all stored answers for these texts
    cost_basis: str = ""
    wall_s: float = 0.0  # teacher time of all stored answers for these texts
    unparseable_examples: list[str] = field(default_factory=list)

    def label_of(self, item: Item) -> Any:
        return self.labels.get(text_key(item.text))

    def labelled(self, items: list[Item]) -> list[Item]:
        """``items`` with the teacher's label as reference; unparseable ones dropped."""
        out = []
        for it in items:
            label = self.label_of(it)
            if label is not None:
                out.append(Item(id=it.id, text=it.text, reference=label, meta=it.meta))
        return out


def parse_answer(task: Task, output: Any, extra: dict[str, Any]) -> Any:
    """The label a prediction states, or None when it states none the task accepts."""
    if extra.get("parsed") is False or output is None:
        return None
    if task.labels:
        return output if output in task.labels else None
    if isinstance(output, list | tuple):
        phrases = [str(p).strip() for p in output if str(p).strip()]
        return phrases or None
    return None


def _stored(store: Store, tkey: str, keys: list[str]) -> dict[str, dict[str, Any]]:
    t = teacher_labels
    out: dict[str, dict[str, Any]] = {}
    with store.connect() as conn:
        for start in range(0, len(keys), _IN_CHUNK):
            chunk = keys[start:start + _IN_CHUNK]
            rows = conn.execute(
                sa.select(t.c.text_key, t.c.label, t.c.ok, t.c.raw, t.c.cost_usd, t.c.latency_s)
                .where((t.c.teacher_key == tkey) & t.c.text_key.in_(chunk))
            ).mappings()
            out.update({r["text_key"]: dict(r) for r in rows})
    return out


def label_texts(store: Store, system: Any, task: Task, items: list[Item], *,
                train_items: Callable[[], list[Item]] | None = None,
                on_start: Callable[[int, int], None] | None = None,
                on_batch: Callable[[int], None] | None = None) -> TeacherLabels:
    """Teacher labels for the texts of ``items`` (see the module docstring)."""
    tkey = teacher_key(system, task)
    first_item: dict[str, Item] = {}
    for it in items:
        first_item.setdefault(text_key(it.text), it)
    keys = list(first_item)
    stored = _stored(store, tkey, keys)
    todo = [first_item[k] for k in keys if k not in stored]
    result = TeacherLabels(teacher=system.name, n_reused=len(stored))
    cost = CostModel.for_system(system)
    result.cost_basis = cost.basis
    if on_start:
        on_start(len(keys), len(stored))
    if todo:
        train = getattr(system.method, "train", None)
        if train is not None and train_items is not None and task.train_split:
            train(train_items())
        size = max(1, int(system.method.preferred_batch_size))
        batches = [todo[i:i + size] for i in range(0, len(todo), size)]
        concurrency = 1 if cost.is_local else REMOTE_CONCURRENCY
        for outcome in LocalExecutor().run(system, batches, concurrency=concurrency):
            if outcome.error is not None:
                raise outcome.error
            n = len(outcome.items)
            now = dt.datetime.now(dt.UTC)
            rows = []
            for item, pred in zip(outcome.items, outcome.predictions or [], strict=True):
                label = parse_answer(task, pred.output, pred.extra)
                wall = pred.timings.total_s if pred.timings.total_s > 0 else outcome.wall_s / n
                rows.append({
                    "teacher_key": tkey, "text_key": text_key(item.text), "teacher": system.name,
                    "task": task.name, "item_id": item.id, "label": json_safe(label),
                    "ok": label is not None,
                    "raw": json_safe(pred.extra.get("raw", pred.output)),
                    "latency_s": wall, "prompt_tokens": pred.usage.prompt_tokens,
                    "completion_tokens": pred.usage.completion_tokens,
                    "cost_usd": cost.item_cost(wall_s=outcome.wall_s / n,
                                               prompt_tokens=pred.usage.prompt_tokens,
                                               completion_tokens=pred.usage.completion_tokens),
                    "created_at": now,
                })
            with store.begin() as conn:
                upsert(conn, teacher_labels, rows, index=["teacher_key", "text_key"])
            for row in rows:
                stored[row["text_key"]] = row
            result.n_asked += n
            if on_batch:
                on_batch(n)
    for key in keys:
        row = stored[key]
        result.labels[key] = row["label"] if row["ok"] else None
        result.cost_usd += row["cost_usd"] or 0.0
        result.wall_s += row["latency_s"] or 0.0
        if not row["ok"]:
            result.n_unparseable += 1
            if len(result.unparseable_examples) < 3:
                result.unparseable_examples.append(str(row["raw"])[:80])
    return result
