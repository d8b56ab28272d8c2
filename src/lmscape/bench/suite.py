"""Plan and run a benchmark: tasks x systems, items loaded and checked before any model.

``lmscape bench`` with no arguments runs :data:`DEFAULT_TASKS`, each with
``methods.registry.default_systems(task)`` on ``default_limit(task)`` items of the
task's default split. Custom runs name a task, systems and optionally a data file.

:func:`run_plans` times every system it builds (:class:`SystemTiming`): the load
(building the system), the training (fitting or calibration, from the run's summary), the
items (predicting, scoring and storing; cache hits are almost free) and the whole,
freeing memory included, in wall seconds and in CPU seconds of the process and its
children. The run's summary keeps ``load_s`` and ``train_s`` too.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import gc
import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from lmscape.bench.breakdown import SystemTiming
from lmscape.bench.executor import Executor
from lmscape.bench.measure import cpu_seconds
from lmscape.bench.runner import Progress, Runner, RunOutcome, RunSpec
from lmscape.errors import ConfigError, DataError, LmscapeError
from lmscape.store.db import Store

DEFAULT_TASKS = ("sentiment", "keywords", "dialogue")


@dataclass(kw_only=True)
class BenchPlan:
    """One task and the systems to run on it."""

    task: Any
    systems: list[str]
    spec: RunSpec
    explicit: bool  # systems named by the user: a failure to build one is an error
    # how another process reads the same items: get_task(task) then load_spec(**rest);
    # None for plans made by hand (those run in this process only)
    source: dict[str, Any] | None = None


@dataclass(kw_only=True)
class BenchResult:
    outcomes: list[RunOutcome] = field(default_factory=list)
    skipped: list[tuple[str, str, str]] = field(default_factory=list)  # task, system, why
    timings: list[SystemTiming] = field(default_factory=list)


def file_digest(path: str | Path) -> str:
    h = hashlib.sha256()
    with Path(path).expanduser().open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:12]


def _dataset_id(task: Any, split: str | None, data_file: str | None) -> str:
    method = getattr(task, "dataset_id", None)
    base = method(split, data_file) if callable(method) else (data_file or split or
                                                              task.default_split)
    if data_file:
        return f"{base}@{file_digest(data_file)}"
    return str(base)


def load_spec(task: Any, *, split: str | None = None, data_file: str | None = None,
              text_col: str | None = None, label_col: str | None = None,
              limit: int | None = None, seed: int = 7) -> RunSpec:
    """Read (and so validate) the items now, before any model is loaded."""
    if data_file is not None and not Path(data_file).expanduser().is_file():
        raise DataError(f"data file {data_file} does not exist",
                        hint="check the path given to --data")
    if limit is not None and limit < 1:
        raise DataError(f"--limit must be at least 1, got {limit}", hint="pass --limit 1 or more")
    items = list(task.items(split, data_file=data_file, text_col=text_col,
                            label_col=label_col, limit=limit, seed=seed))
    where = data_file or f"split {split or task.default_split!r} of {task.name}"
    if not items:
        raise DataError(f"no items in {where}", hint="give a file with at least one data row")
    labels = getattr(task, "labels", None)
    if labels:
        bad = sorted({str(i.reference) for i in items if i.reference not in labels})
        if bad:
            raise DataError(f"labels {', '.join(bad[:5])} in {where} are not in the task's "
                            f"label set ({', '.join(labels)})",
                            hint="map the labels to the task's labels or pick --label-col")
    params = {"split": None if data_file else (split or task.default_split), "limit": limit,
              "seed": seed, "text_col": text_col, "label_col": label_col}
    train = None
    if getattr(task, "train_split", None):
        train_split = task.train_split

        @functools.cache
        def train() -> list[Any]:  # read once, when a method first needs fitting
            return list(task.items(train_split))

    return RunSpec(task=task, items=items, dataset=_dataset_id(task, split, data_file),
                   params=params, train_items=train)


def default_plans(*, limit: int | None = None, seed: int = 7) -> list[BenchPlan]:
    """The default suite; ``limit`` items per task (default: ``default_limit(task)``)."""
    from lmscape.methods.registry import default_limit, default_systems
    from lmscape.tasks.registry import get_task

    plans = []
    for name in DEFAULT_TASKS:
        task = get_task(name)
        n = default_limit(name) if limit is None else limit
        plans.append(BenchPlan(task=task, systems=list(default_systems(name)),
                               spec=load_spec(task, limit=n, seed=seed), explicit=False,
                               source={"task": name, "limit": n, "seed": seed}))
    return plans


def custom_plan(task_name: str, systems: list[str] | None, **spec_args: Any) -> BenchPlan:
    """Items are read (and checked) before the methods registry or any model loads."""
    from lmscape.tasks.registry import get_task

    task = get_task(task_name)
    if spec_args.get("limit") is None and spec_args.get("data_file") is None:
        from lmscape.methods.registry import default_limit

        spec_args["limit"] = default_limit(task_name)
    spec = load_spec(task, **spec_args)
    if systems:
        chosen = systems
    else:
        from lmscape.methods.registry import default_systems

        chosen = list(default_systems(task_name))
        if not chosen:
            raise ConfigError(f"task {task_name!r} has no default systems",
                              hint=f"name them: lmscape bench --task {task_name} --systems "
                                   "MODEL/METHOD,... (see `lmscape tasks` for its methods)")
    return BenchPlan(task=task, systems=chosen, spec=spec, explicit=bool(systems),
                     source={"task": task_name, **spec_args})


def release_memory() -> int:
    """Collect garbage, hand freed heap back to the OS (glibc), return the RSS now."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    return psutil.Process().memory_info().rss


def close_system(system: Any) -> None:
    """Close every model the system loaded (its own, a judge, a similarity encoder)."""
    with contextlib.suppress(Exception):  # closing must not hide the run's result
        system.close()
    release_memory()


def run_plans(store: Store, plans: list[BenchPlan], *, resume: bool = False,
              use_cache: bool = True, progress: Progress | None = None,
              build: Callable[..., Any] | None = None,
              on_skip: Callable[[str, str, str], None] | None = None,
              base_url: str | None = None, executor: Executor | None = None) -> BenchResult:
    """Build each system, run it, close it. Default-suite systems that cannot be built
    here (weights missing, extra not installed) are skipped with the reason.
    ``base_url`` points every remote model at that endpoint (``--base-url``).
    ``executor`` runs the batches (default: this process); it also builds the systems
    unless ``build`` is given (Ray workers build theirs by name)."""
    runner = Runner(store, executor=executor, use_cache=use_cache, progress=progress)
    if build is None:
        build = runner.executor.build
    result = BenchResult()
    for plan in plans:
        for spec_name in plan.systems:
            run_timed(runner, plan, spec_name, build, result, resume=resume, on_skip=on_skip,
                      base_url=base_url)
    return result


def run_timed(runner: Runner, plan: BenchPlan, spec_name: str, build: Callable[..., Any],
              result: BenchResult, *, resume: bool,
              on_skip: Callable[[str, str, str], None] | None,
              base_url: str | None = None) -> None:
    """Build, run and close one system of ``plan``; its outcome, skip and timing go into
    ``result`` (the timing even when it raises)."""
    timing = SystemTiming(task=plan.task.name, system=spec_name, status="failed", load_s=0.0)
    result.timings.append(timing)
    start, cpu_start = time.perf_counter(), cpu_seconds()
    try:
        _run_one(runner, plan, spec_name, build, timing, result, resume=resume,
                 on_skip=on_skip, base_url=base_url)
    finally:
        timing.total_s = time.perf_counter() - start
        timing.cpu_s = cpu_seconds() - cpu_start


def _run_one(runner: Runner, plan: BenchPlan, spec_name: str, build: Callable[..., Any],
             timing: SystemTiming, result: BenchResult, *, resume: bool,
             on_skip: Callable[[str, str, str], None] | None,
             base_url: str | None = None) -> None:
    baseline = release_memory()
    built = time.perf_counter()
    try:
        system = (build(spec_name, plan.task, base_url=base_url) if base_url
                  else build(spec_name, plan.task))
    except LmscapeError as exc:
        timing.status, timing.load_s = "skipped", time.perf_counter() - built
        if plan.explicit:
            raise
        result.skipped.append((plan.task.name, spec_name, exc.one_line()))
        if on_skip:
            on_skip(plan.task.name, spec_name, exc.one_line())
        return
    timing.load_s, timing.system = time.perf_counter() - built, system.name
    try:
        outcome = runner.run(system, plan.spec, resume=resume, rss_baseline=baseline,
                             load_s=timing.load_s)
        result.outcomes.append(outcome)
        timing.status, timing.train_s = "done", outcome.summary.get("train_s")
        timing.items_s = time.perf_counter() - built - timing.load_s - (timing.train_s or 0.0)
        timing.n_computed, timing.n_cached = outcome.n_computed, outcome.n_cached
        timing.n_resumed = outcome.n_resumed
    finally:
        close_system(system)
