"""Where batches run: the executor interface and the local executor.

The runner hands an executor a system and a sequence of batches; the executor yields
one :class:`BatchOutcome` per batch *as batches finish* (any order). The runner, in
the calling thread, scores, prices and stores each outcome, so the store is only ever
written from one thread.

``LocalExecutor`` runs batches in this process: inline for local models (they already
use every core), through a thread pool with several batches in flight for remote
endpoints (the time is spent waiting on the network).

How a distributed executor plugs in (Ray, not shipped yet)::

    class RayExecutor(Executor):
        def run(self, system, batches, *, concurrency):
            # One actor per worker; each builds the system once from its name:
            #   SystemActor.remote(system.name, task_name)  ->  build_system(name, task)
            # and returns BatchOutcome(index, predictions, wall_s, cpu_s, rss_peak_bytes)
            # measured on the worker. Items and Predictions are plain dataclasses, so they
            # travel without pickled models; weights load on the workers.
            pool = ray.util.ActorPool(actors)
            yield from pool.map_unordered(lambda a, job: a.predict.remote(*job),
                                          enumerate(batches))

Because a remote executor fills ``cpu_s`` and ``rss_peak_bytes`` itself, the runner
uses those instead of its own process-local measurements; everything else (cache,
resume, store writes, progress) is unchanged.
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

    @abstractmethod
    def run(
        self, system: Any, batches: Sequence[list[Item]], *, concurrency: int = 1
    ) -> Iterator[BatchOutcome]:
        """Yield one :class:`BatchOutcome` per batch, in completion order."""

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
