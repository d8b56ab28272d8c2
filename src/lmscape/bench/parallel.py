"""Run a benchmark's systems in several processes at once (``lmscape bench --jobs N``).

Small local models do not keep several cores busy: llama.cpp's threads wait for each
other at every step and torch's second thread adds little on short batches, so on a
2-core machine two systems at one thread each finish sooner than one system at a time
on two threads. ``run_parallel`` starts ``jobs`` worker processes (``spawn``: nothing of
this process is copied into them), each running its models on ``cores // jobs``
threads, or on ``LMSCAPE_THREADS`` where it is set (the worker sets ``LMSCAPE_THREADS``
and ``OMP_NUM_THREADS`` to that count). Each worker reads the plans' items again from
their ``source`` (the same seeded items), opens the same store and takes the next system
from a shared queue until none is left: whole systems, so a model loads once, in one
process, and the systems are balanced as they finish. A worker runs its system exactly
as ``run_plans`` does (``suite.run_timed``: cache, resume, timings, store writes), so
results, run ids and the cache are the same as with one process.

The workers send their progress to this process, which draws the bars, and their
results, which are merged in plan order. The first error a worker meets ends the
benchmark, as it would in one process; a worker that dies (killed, out of memory) is an
error too, never a silent gap. Every finished system is already in the store, so
``--resume`` continues from there.
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
import queue
from collections.abc import Callable
from typing import Any

from lmscape.bench.runner import NullProgress, Progress
from lmscape.bench.suite import BenchPlan, BenchResult
from lmscape.errors import ConfigError, LmscapeError

Unit = tuple[int, int, str]  # (unit index, plan index, system spec)


def worker_threads(jobs: int) -> int:
    """Threads for each of ``jobs`` workers: ``LMSCAPE_THREADS`` (threads per local
    model) where it is set, else this machine's cores shared out."""
    from lmscape.config import available_cores, default_threads

    if os.environ.get("LMSCAPE_THREADS"):
        return default_threads()
    return max(1, available_cores() // max(1, jobs))


def units_of(plans: list[BenchPlan]) -> list[Unit]:
    """One unit per (plan, system), in plan order."""
    units = []
    for p, plan in enumerate(plans):
        if plan.source is None:
            raise ConfigError("this benchmark plan was made by hand and cannot be read "
                              "again in a worker process", hint="run it with jobs=1")
        units.extend((len(units), p, name) for name in plan.systems)
    return units


class _QueueProgress:
    """A worker's progress, sent to the parent as events."""

    def __init__(self, events: Any) -> None:
        self.events = events

    def start(self, system: str, total: int, done: int) -> None:
        self.events.put(("start", system, total, done))

    def advance(self, system: str, n: int) -> None:
        self.events.put(("advance", system, n))

    def finish(self, system: str) -> None:
        self.events.put(("finish", system))


def _portable(exc: BaseException) -> BaseException:
    """``exc`` if it survives pickling, else an LmscapeError with its text."""
    try:
        return pickle.loads(pickle.dumps(exc))
    except Exception:  # noqa: BLE001 - any exception that cannot cross processes
        hint = getattr(exc, "hint", None)
        return LmscapeError(f"{type(exc).__name__}: {exc}", hint=hint)


def _worker(sources: list[dict[str, Any]], explicit: list[bool], db_url: str, threads: int,
            units: Any, events: Any, options: dict[str, Any]) -> None:
    os.environ["LMSCAPE_THREADS"] = str(threads)
    os.environ["OMP_NUM_THREADS"] = str(threads)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        from lmscape.bench.runner import Runner
        from lmscape.bench.suite import load_spec, run_timed
        from lmscape.store import open_store
        from lmscape.tasks.registry import get_task

        plans: dict[int, BenchPlan] = {}
        store = open_store(db_url)
    except BaseException as exc:  # noqa: BLE001 - reported to the parent, which stops
        events.put(("error", None, _portable(exc)))
        return
    runner = Runner(store, use_cache=options["use_cache"], progress=_QueueProgress(events))
    build = runner.executor.build

    def skipped(task_name: str, system: str, why: str) -> None:
        events.put(("skip", task_name, system, why))

    try:
        while (unit := units.get()) is not None:
            index, p, name = unit
            result = BenchResult()
            try:
                if p not in plans:
                    source = dict(sources[p])
                    task = get_task(source.pop("task"))
                    plans[p] = BenchPlan(task=task, systems=[],
                                         spec=load_spec(task, **source),
                                         explicit=explicit[p], source=sources[p])
                run_timed(runner, plans[p], name, build, result, resume=options["resume"],
                          on_skip=skipped, base_url=options["base_url"])
            except BaseException as exc:  # noqa: BLE001 - the parent decides
                events.put(("error", index, _portable(exc)))
                return
            events.put(("done", index, result))
    finally:
        store.close()


def run_parallel(store: Any, plans: list[BenchPlan], jobs: int, *, resume: bool = False,
                 use_cache: bool = True, progress: Progress | None = None,
                 on_skip: Callable[[str, str, str], None] | None = None,
                 base_url: str | None = None) -> BenchResult:
    """Like ``suite.run_plans`` with the local executor, ``jobs`` systems at a time."""
    units = units_of(plans)
    jobs = max(1, min(jobs, len(units)))
    progress = progress or NullProgress()
    ctx = multiprocessing.get_context("spawn")
    todo, events = ctx.Queue(), ctx.Queue()
    for unit in units:
        todo.put(unit)
    for _ in range(jobs):
        todo.put(None)
    options = {"resume": resume, "use_cache": use_cache, "base_url": base_url}
    args = ([p.source for p in plans], [p.explicit for p in plans],
            store.engine.url.render_as_string(hide_password=False), worker_threads(jobs),
            todo, events, options)
    workers = [ctx.Process(target=_worker, args=args, daemon=True, name=f"lmscape-bench-{i}")
               for i in range(jobs)]
    for w in workers:
        w.start()
    done: dict[int, BenchResult] = {}
    try:
        while len(done) < len(units):
            try:
                event = events.get(timeout=0.5)
            except queue.Empty:
                dead = [w for w in workers if w.exitcode not in (None, 0)]
                if dead or all(w.exitcode is not None for w in workers):
                    codes = ", ".join(f"{w.name} exit code {w.exitcode}" for w in workers
                                      if w.exitcode is not None)
                    raise LmscapeError(
                        f"a benchmark worker process ended before its systems finished "
                        f"({codes})",
                        hint="run again with --resume (finished systems are stored); "
                             "--jobs 1 runs everything in this process") from None
                continue
            kind = event[0]
            if kind == "start":
                progress.start(*event[1:])
            elif kind == "advance":
                progress.advance(*event[1:])
            elif kind == "finish":
                progress.finish(event[1])
            elif kind == "skip":
                if on_skip:
                    on_skip(*event[1:])
            elif kind == "done":
                done[event[1]] = event[2]
            elif kind == "error":
                raise event[2]
    finally:
        for w in workers:
            if w.is_alive() and len(done) < len(units):
                w.terminate()
        for w in workers:
            w.join(timeout=30)
        todo.close()
        events.close()
    result = BenchResult()
    for index in sorted(done):
        part = done[index]
        result.outcomes.extend(part.outcomes)
        result.skipped.extend(part.skipped)
        result.timings.extend(part.timings)
    return result
