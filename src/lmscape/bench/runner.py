"""The benchmark runner: one system on one task's items, resumable and cached.

For each system the runner

1. derives the run id from (system, task, task version, dataset id, run parameters,
   method parameters) and creates or reopens the run row;
2. on ``resume`` skips items already stored for that run (primary key
   ``(run_id, item_id)``, so nothing is stored twice); otherwise starts the run afresh;
3. answers items from the prediction cache where it can (key: system, task version,
   item, method parameters), so re-runs are free;
4. calls ``method.train(train_items)`` once if the task has a train split and something is
   left to predict, then sends the rest in batches of ``method.preferred_batch_size``
   through an :class:`~lmscape.bench.executor.Executor` (several batches in flight for
   remote models; chunks of batches on Ray workers, which also do the fitting);
5. scores, prices and writes each batch to ``results`` and ``cache`` in one transaction
   as it finishes, so a killed run loses at most the batches in flight;
6. aggregates metrics and efficiency into ``runs.summary`` (see :mod:`.summary`).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import sqlalchemy as sa

from lmscape.bench.cache import (
    CachedPrediction,
    PredictionCache,
    cache_key,
    digest,
    json_safe,
    upsert,
)
from lmscape.bench.cost import CostModel
from lmscape.bench.executor import BatchOutcome, Executor, LocalExecutor, predict_batch
from lmscape.bench.measure import CpuClock, RssSampler, machine_info, model_size_bytes
from lmscape.bench.summary import summarise_run
from lmscape.errors import ContextLengthError, DataError
from lmscape.methods.base import Prediction
from lmscape.store.db import Store
from lmscape.store.schema import results as results_table
from lmscape.store.schema import runs as runs_table
from lmscape.tasks.base import Item, Task

REMOTE_CONCURRENCY = 4


class SystemLike(Protocol):
    """What the runner needs of a system (see ``methods.registry.build_system``)."""

    name: str
    model_id: str | None
    method: Any


class Progress(Protocol):
    def start(self, system: str, total: int, done: int) -> None: ...
    def advance(self, system: str, n: int) -> None: ...
    def finish(self, system: str) -> None: ...


class NullProgress:
    def start(self, system: str, total: int, done: int) -> None:
        pass

    def advance(self, system: str, n: int) -> None:
        pass

    def finish(self, system: str) -> None:
        pass


@dataclass(kw_only=True)
class RunSpec:
    """The items of one task to run, and how they were chosen.

    ``dataset`` is the split name or ``file:<name>@<digest>``; ``params`` are the run
    parameters (split, limit, seed, columns) that go into the run id. ``train_items`` is
    called only when a method needs fitting and something is left to predict.
    """

    task: Task
    items: list[Item]
    dataset: str
    params: dict[str, Any] = field(default_factory=dict)
    train_items: Callable[[], list[Item]] | None = None


@dataclass(kw_only=True)
class RunOutcome:
    run_id: str
    system: str
    status: str
    n_items: int
    n_resumed: int = 0
    n_cached: int = 0
    n_computed: int = 0
    n_errors: int = 0
    summary: dict[str, Any] = field(default_factory=dict)


def run_id_for(system: SystemLike, spec: RunSpec) -> str:
    """Deterministic run id: hash of (system, task, task version, dataset, parameters)."""
    return digest({
        "system": system.name,
        "task": spec.task.name,
        "task_version": spec.task.version,
        "dataset": spec.dataset,
        "params": spec.params,
        "method_params": _cache_params(system),
    }, 32)


class Runner:
    """Runs systems on a :class:`RunSpec`, writing every item to the store as it finishes."""

    def __init__(
        self,
        store: Store,
        *,
        executor: Executor | None = None,
        use_cache: bool = True,
        progress: Progress | None = None,
        remote_concurrency: int = REMOTE_CONCURRENCY,
    ) -> None:
        self.store = store
        self.executor = executor or LocalExecutor()
        self.use_cache = use_cache
        self.cache = PredictionCache(store)
        self.progress = progress or NullProgress()
        self.remote_concurrency = max(1, remote_concurrency)
        self._rss_baseline: int | None = None

    # -- run rows --------------------------------------------------------------------
    def _open_run(self, run_id: str, system: SystemLike, spec: RunSpec, resume: bool) -> set[str]:
        """Create or reopen the run row; return the ids of items already stored."""
        now = dt.datetime.now(dt.UTC)
        with self.store.begin() as conn:
            exists = conn.execute(
                sa.select(runs_table.c.id).where(runs_table.c.id == run_id)
            ).first()
            if exists is None:
                conn.execute(runs_table.insert().values(
                    id=run_id, system=system.name, model=system.model_id,
                    method=system.method.name, task=spec.task.name,
                    task_version=spec.task.version, dataset=spec.dataset,
                    params={**spec.params, "method_params": _cache_params(system)},
                    machine=machine_info(), status="running", n_items=len(spec.items),
                    summary=None, started_at=now, finished_at=None,
                ))
                return set()
            if resume:
                # Items that failed are retried; items stored without error are kept.
                conn.execute(results_table.delete().where(
                    (results_table.c.run_id == run_id) & results_table.c.error.is_not(None)
                ))
            else:
                conn.execute(results_table.delete().where(results_table.c.run_id == run_id))
            conn.execute(runs_table.update().where(runs_table.c.id == run_id).values(
                status="running", n_items=len(spec.items), machine=machine_info(),
                started_at=now, finished_at=None,
            ))
            rows = conn.execute(
                sa.select(results_table.c.item_id).where(results_table.c.run_id == run_id)
            )
            return {r[0] for r in rows}

    def _set_status(self, run_id: str, status: str, summary: dict[str, Any] | None = None) -> None:
        values: dict[str, Any] = {"status": status,
                                  "finished_at": dt.datetime.now(dt.UTC)}
        if summary is not None:
            values["summary"] = summary
        with self.store.begin() as conn:
            conn.execute(runs_table.update().where(runs_table.c.id == run_id).values(**values))

    # -- writing ---------------------------------------------------------------------
    def _write(self, run_id: str, task: Task, system: SystemLike, cost: CostModel,
               entries: Sequence[tuple[Item, str, CachedPrediction | None, str | None]],
               *, to_cache: bool) -> int:
        """Score and store (item, key, cached prediction | None, error | None) rows."""
        now = dt.datetime.now(dt.UTC)
        rows, fresh, errors = [], {}, 0
        for item, key, cp, error in entries:
            row: dict[str, Any] = {
                "run_id": run_id, "item_id": item.id, "cache_key": key,
                "reference": _json_ref(item.reference), "created_at": now, "error": error,
                "prediction": None, "scores": None, "latency_s": None, "ttft_s": None,
                "tokens_per_s": None, "prompt_tokens": None, "completion_tokens": None,
                "cost_usd": None,
            }
            if cp is None:
                errors += 1
            else:
                p = cp.prediction
                scores = task.score(item, p.output)
                row.update(
                    prediction=json_safe(p.output),  # what to_json() stores, without the rest
                    scores={k: float(v) for k, v in scores.items()},
                    latency_s=p.timings.total_s if p.timings.total_s > 0 else cp.wall_s,
                    ttft_s=p.timings.ttft_s,
                    tokens_per_s=p.timings.tokens_per_s,
                    prompt_tokens=p.usage.prompt_tokens,
                    completion_tokens=p.usage.completion_tokens,
                    cost_usd=_item_cost(cost, cp),
                )
                if to_cache:
                    fresh[key] = cp
            rows.append(row)
        if rows:
            with self.store.begin() as conn:
                upsert(conn, results_table, rows, index=["run_id", "item_id"])
                self.cache.put_many(conn, fresh)
        return errors

    # -- the run ---------------------------------------------------------------------
    def run(self, system: SystemLike, spec: RunSpec, *, resume: bool = False,
            rss_baseline: int | None = None, load_s: float | None = None) -> RunOutcome:
        """Run ``system`` on ``spec``. ``rss_baseline`` is the process RSS measured before
        the system was built; with it, results also record the memory the system added.
        ``load_s`` is the time the caller took to build the system (model load); it is
        kept in the summary beside ``train_s``."""
        self._rss_baseline = rss_baseline
        task = spec.task
        ids = [item.id for item in spec.items]
        if len(set(ids)) != len(ids):
            dup = next(i for i in ids if ids.count(i) > 1)
            raise DataError(f"item id {dup!r} appears more than once in {spec.dataset}",
                            hint="give every row a unique id (or drop the id column)")
        run_id = run_id_for(system, spec)
        stored = self._open_run(run_id, system, spec, resume)
        method_params = _cache_params(system)
        todo = [item for item in spec.items if item.id not in stored]
        keys = {item.id: cache_key(system=system.name, task=task.name,
                                   task_version=task.version, item=item, params=method_params)
                for item in todo}
        cost = CostModel.for_system(system)
        outcome = RunOutcome(run_id=run_id, system=system.name, status="running",
                             n_items=len(spec.items), n_resumed=len(spec.items) - len(todo))
        self.progress.start(system.name, len(spec.items), outcome.n_resumed)
        train_s: float | None = None
        try:
            hits = self.cache.get_many(keys.values()) if self.use_cache and todo else {}
            cached = [(item, keys[item.id], hits[keys[item.id]], None)
                      for item in todo if keys[item.id] in hits]
            for start in range(0, len(cached), 256):
                chunk = cached[start:start + 256]
                self._write(run_id, task, system, cost, chunk, to_cache=False)
                self.progress.advance(system.name, len(chunk))
            outcome.n_cached = len(cached)
            left = [item for item in todo if keys[item.id] not in hits]
            if left:
                train_s = self._train(system, spec)
                outcome.n_errors = self._predict(run_id, system, spec, cost, left, keys)
                outcome.n_computed = len(left)
        except BaseException:
            self._set_status(run_id, "failed")
            self.progress.finish(system.name)
            raise
        summary = summarise_run(
            self.store, run_id, task, {item.id: item for item in spec.items},
            extra={
                "load_s": load_s,
                "train_s": train_s,
                "model_size_bytes": model_size_bytes(getattr(system.method, "model", None)),
                "is_local": cost.is_local,
                "cost_basis": cost.basis,
                **self.executor.facts(),
                "batch_size": int(system.method.preferred_batch_size),
                "concurrency": 1 if cost.is_local else self.remote_concurrency,
                "n_cached_now": outcome.n_cached,
                "n_computed_now": outcome.n_computed,
            },
        )
        outcome.summary = summary
        outcome.status = "done"
        self._set_status(run_id, "done", summary)
        self.progress.finish(system.name)
        return outcome

    def _train(self, system: SystemLike, spec: RunSpec) -> float | None:
        if spec.task.train_split is None or spec.train_items is None:
            return None
        train = getattr(system.method, "train", None)
        if train is None:
            return None
        start = time.perf_counter()
        train(spec.train_items())
        return time.perf_counter() - start

    def _predict(self, run_id: str, system: SystemLike, spec: RunSpec, cost: CostModel,
                 items: list[Item], keys: dict[str, str]) -> int:
        size = max(1, int(system.method.preferred_batch_size))
        batches = [items[i:i + size] for i in range(0, len(items), size)]
        concurrency = 1 if cost.is_local else self.remote_concurrency
        errors = 0
        clock = CpuClock()
        with RssSampler() as sampler:
            clock.mark()
            for result in self.executor.run(system, batches, concurrency=concurrency):
                lap_wall, lap_cpu = clock.lap()
                rss = sampler.take_peak()
                entries = self._entries(system, result, keys, lap_wall, lap_cpu, rss)
                errors += self._write(run_id, spec.task, system, cost, entries, to_cache=True)
                self.progress.advance(system.name, len(result.items))
                clock.mark()  # the store write is the runner's, not the method's
        return errors

    def _entries(self, system: SystemLike, result: BatchOutcome, keys: dict[str, str],
                 lap_wall: float, lap_cpu: float, rss: int
                 ) -> list[tuple[Item, str, CachedPrediction | None, str | None]]:
        if result.error is not None:
            if not isinstance(result.error, ContextLengthError):
                raise result.error
            if len(result.items) == 1:
                item = result.items[0]
                return [(item, keys[item.id], None, result.error.one_line())]
            # One item is too long: retry item by item so only that item fails.
            entries = []
            for item in result.items:
                single = predict_batch(system, result.index, [item])
                entries += self._entries(system, single, keys, single.wall_s, 0.0, rss)
            return entries
        n = len(result.items)
        if result.cpu_s is not None:  # measured where the batch ran (a remote worker)
            lap_wall, lap_cpu = result.wall_s, result.cpu_s
        peak = result.rss_peak_bytes if result.rss_peak_bytes is not None else rss
        baseline = self._rss_baseline
        added = max(0, peak - baseline) if baseline is not None else None
        if result.rss_added_bytes is not None:
            added = result.rss_added_bytes
        assert result.predictions is not None
        return [
            (item, keys[item.id],
             CachedPrediction(prediction=_check(pred), wall_s=lap_wall / n, cpu_s=lap_cpu / n,
                              rss_peak_bytes=peak, rss_added_bytes=added),
             None)
            for item, pred in zip(result.items, result.predictions, strict=True)
        ]


def _cache_params(system: SystemLike) -> dict[str, Any]:
    """What identifies a system's outputs besides its name (a plain method's parameters
    for systems that do not say more)."""
    own = getattr(system, "cache_params", None)
    return own() if callable(own) else system.method.cache_params()


def _item_cost(cost: CostModel, cp: CachedPrediction) -> float | None:
    """The item's cost: the price the prediction carries (a routed system prices each
    member it ran), else the system's cost model."""
    own = cp.prediction.extra.get("cost_usd", ...)
    if own is not ...:
        return None if own is None else float(own)
    p = cp.prediction
    return cost.item_cost(wall_s=cp.wall_s, prompt_tokens=p.usage.prompt_tokens,
                          completion_tokens=p.usage.completion_tokens)


def _check(pred: Any) -> Prediction:
    if not isinstance(pred, Prediction):
        raise TypeError(f"method returned {type(pred).__name__}, expected Prediction")
    return pred


def _json_ref(reference: Any) -> Any:
    if isinstance(reference, tuple | set | frozenset):
        return list(reference)
    return reference
