"""Where batches run: the executor interface, the local executor, and how to pick one.

The runner hands an executor a system and a sequence of batches; the executor yields
one :class:`BatchOutcome` per batch *as batches finish* (any order). The runner, in
the calling thread, scores, prices and stores each outcome, so the store is only ever
written from one thread.

An executor also builds the systems it runs (:meth:`Executor.build`): the local
executor builds them here with ``methods.registry.build_system``; the Ray executor
(:mod:`lmscape.bench.ray_executor`) has its workers build them by name and hands the
runner a description, so no model loads on the driver.

``LocalExecutor`` runs batches in this process: inline for local models (they already
use every core), through a thread pool with several batches in flight for remote
endpoints (the time is spent waiting on the network).

An executor whose batches run elsewhere measures them there: it fills ``cpu_s``,
``rss_peak_bytes`` and ``rss_added_bytes`` and its ``wall_s`` is the worker's time in
``method.predict``; the runner then uses those instead of its own process-local
measurements. Everything else (cache, resume, store writes, progress) is unchanged.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

from lmscape.methods.base import Prediction
from lmscape.tasks.base import Item


@dataclass(kw_only=True)
class BatchOutcome:
    """One finished batch: predictions in item order, or the exception it raised."""

    index: int
    items: list[Item]
    predictions: list[Prediction] | None = None
    error: BaseException | None = None
    wall_s: float = 0.0  # time inside method.predict for this batch
    cpu_s: float | None = None  # set by executors that measure CPU where the batch ran
    rss_peak_bytes: int | None = None  # likewise for memory
    rss_added_bytes: int | None = None  # peak minus that process's RSS before the build


def predict_batch(system: Any, index: int, items: list[Item]) -> BatchOutcome:
    """Run ``system.method.predict`` on one batch and time it."""
    start = time.perf_counter()
    try:
        predictions = system.method.predict(items)
    except Exception as exc:  # noqa: BLE001 - handed to the runner, which decides
        return BatchOutcome(index=index, items=items, error=exc,
                            wall_s=time.perf_counter() - start)
    wall = time.perf_counter() - start
    if len(predictions) != len(items):
        return BatchOutcome(
            index=index, items=items, wall_s=wall,
            error=RuntimeError(
                f"method {system.method.name!r} returned {len(predictions)} predictions "
                f"for {len(items)} items"
            ),
        )
    return BatchOutcome(index=index, items=items, predictions=predictions, wall_s=wall)


class Executor(ABC):
    """Runs batches of one system; yields outcomes as they finish."""

    name: str = "executor"

    def build(self, spec: str, task: Any, **options: Any) -> Any:
        """The system named ``spec`` for ``task``, ready for :meth:`run` (``options``:
        ``base_url`` and method parameters, as ``build_system`` takes them)."""
        from lmscape.methods.registry import build_system

        return build_system(spec, task, **options)

    @abstractmethod
    def run(
        self, system: Any, batches: Sequence[list[Item]], *, concurrency: int = 1
    ) -> Iterator[BatchOutcome]:
        """Yield one :class:`BatchOutcome` per batch, in completion order."""

    def facts(self) -> dict[str, Any]:
        """What a run's summary records about where it ran."""
        return {"executor": self.name}

    def close(self) -> None:
        """Release workers."""


class LocalExecutor(Executor):
    """This process: inline when ``concurrency == 1``, else a bounded thread pool."""

    name = "local"

    def run(
        self, system: Any, batches: Sequence[list[Item]], *, concurrency: int = 1
    ) -> Iterator[BatchOutcome]:
        if concurrency <= 1:
            for index, items in enumerate(batches):
                yield predict_batch(system, index, items)
            return
        with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="bench") as pool:
            pending: set[Future[BatchOutcome]] = set()
            jobs = iter(enumerate(batches))
            try:
                for index, items in jobs:
                    pending.add(pool.submit(predict_batch, system, index, items))
                    if len(pending) >= concurrency:
                        done, pending = wait(pending, return_when=FIRST_COMPLETED)
                        for future in done:
                            yield future.result()
                while pending:
                    done, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for future in done:
                        yield future.result()
            finally:
                for future in pending:
                    future.cancel()


EXECUTORS = ("local", "ray")


def make_executor(kind: str = "local", **options: Any) -> Executor:
    """An executor by name: ``local`` (no options) or ``ray`` (see ``RayExecutor``)."""
    from lmscape.errors import ConfigError, NotFoundError

    if kind == "local":
        given = sorted(k for k, v in options.items() if v is not None)
        if given:
            raise ConfigError(f"{', '.join(given)} only apply to the ray executor",
                              hint="add --executor ray, or drop those options")
        return LocalExecutor()
    if kind == "ray":
        from lmscape.bench.ray_executor import RayExecutor

        return RayExecutor(**{k: v for k, v in options.items() if v is not None})
    raise NotFoundError("executor", kind, EXECUTORS, hint="use --executor local or ray")
