"""What runs on a distributed worker: build a system by name, train it, predict chunks.

A :class:`SystemRecipe` names a system the way a user does: task name, ``MODEL/METHOD``,
method parameters and ``--base-url`` (plus, for a remote model, the driver's values of
the variables naming its endpoint and key), all plain values that travel to another
machine.
There :meth:`SystemRecipe.build` asks the resolver and the method registry, so weights
load from the worker's own packages, catalog, Hugging Face cache or endpoint; a model is
never shipped as pickled bytes.

:class:`SystemWorker` builds one system when it starts and keeps it for its lifetime. It
knows nothing of Ray: the Ray executor wraps it as an actor (``ray.remote(SystemWorker)``)
and it runs the same in this process. Every batch comes back as a
:class:`~lmscape.bench.executor.BatchOutcome` measured on the worker: wall and CPU
seconds, peak RSS, and the RSS added since before the system was built. Failures come
back as values (``error`` fields), never as exceptions raised across the process
boundary, so the driver sees lmscape's own error with its hint.
"""

from __future__ import annotations

import inspect
import os
import pickle
import socket
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import psutil

from lmscape.bench.executor import BatchOutcome, predict_batch
from lmscape.bench.measure import RssSampler, model_size_bytes
from lmscape.errors import ConfigError
from lmscape.tasks.base import Item

PLAIN = (str, int, float, bool, type(None))


@dataclass(frozen=True, kw_only=True)
class SystemRecipe:
    """Everything a worker needs to build a system: names and plain parameters."""

    task: str  # a registered task name
    system: str  # "MODEL/METHOD" or a model-free method ("yake")
    params: Mapping[str, Any] = field(default_factory=dict)  # method parameters
    base_url: str | None = None  # --base-url for a remote model
    # The driver's endpoint and key variables of a remote model (LMSCAPE_VLLM_BASE_URL,
    # OPENAI_API_KEY...), set on the worker before it builds; never printed.
    env: Mapping[str, str] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        for key, value in self.params.items():
            if not _plain(value):
                raise ConfigError(
                    f"method parameter {key}={type(value).__name__} cannot be sent to a "
                    "worker",
                    hint="pass plain values; name models by id (judge=gpt-4o), workers "
                    "load them",
                )

    def build(self, *, threads: int | None = None) -> Any:
        """Build the system here. ``threads`` pins a local model to that many threads
        (llama.cpp's ``n_threads``; torch through ``OMP_NUM_THREADS``)."""
        from lmscape.backends.resolve import resolve
        from lmscape.methods.registry import build_system, parse_spec
        from lmscape.tasks.registry import get_task

        os.environ.update(self.env)
        if threads:
            os.environ["OMP_NUM_THREADS"] = str(threads)  # read when torch is imported
        task = get_task(self.task)
        model_id, _ = parse_spec(self.system)
        backend = None
        if threads and model_id:
            resolved = resolve(model_id, base_url=self.base_url)
            if resolved.is_local and _accepts(resolved.backend_class, "n_threads"):
                backend = resolved.load(n_threads=threads)
        try:
            system = build_system(self.system, task, backend=backend,
                                  base_url=self.base_url, **dict(self.params))
        except BaseException:
            if backend is not None:
                backend.close()
            raise
        if threads and "torch" in sys.modules:
            sys.modules["torch"].set_num_threads(threads)
        return system


@dataclass(kw_only=True)
class WorkerInfo:
    """What the driver needs to know of a system built on a worker."""

    pid: int
    host: str
    error: BaseException | None = None  # the build failed: this is why
    name: str = ""
    model_id: str | None = None
    method: str = ""
    batch_size: int = 1
    cache_params: dict[str, Any] = field(default_factory=dict)
    trains: bool = False  # the method learns something in train()
    model: dict[str, Any] | None = None  # model.info() and its size, read on the worker
    endpoint: str | None = None


class SystemWorker:
    """One built system, its measurements, and nothing else (one per worker process).

    ``exclusive``: the worker runs one batch at a time (local models), so each batch
    gets this process's CPU seconds and its own peak-RSS window. Otherwise (remote
    models, several batches in flight on threads) a batch gets its thread's CPU seconds
    and the process's peak RSS so far.
    """

    def __init__(self, recipe: SystemRecipe, *, threads: int | None = None,
                 exclusive: bool = True, train_items: list[Item] | None = None) -> None:
        self.pid = os.getpid()
        self.exclusive = exclusive
        self.baseline = psutil.Process().memory_info().rss
        self.sampler = RssSampler().start()
        self.system: Any = None
        self.error: BaseException | None = None
        try:
            self.system = recipe.build(threads=threads)
        except Exception as exc:  # noqa: BLE001 - handed to the driver as a value
            self.error = portable(exc)
            return
        if train_items is not None:
            _, self.error = self.train(train_items)

    def describe(self) -> WorkerInfo:
        info = WorkerInfo(pid=self.pid, host=socket.gethostname(), error=self.error)
        system = self.system
        if system is None:
            return info
        method = system.method
        model = getattr(method, "model", None)
        facts = None
        if model is not None:
            facts = dict(model.info())
            facts["size_bytes"] = model_size_bytes(model)
        cache_params = getattr(system, "cache_params", None)
        info.name = system.name
        info.model_id = system.model_id
        info.method = method.name
        info.batch_size = int(method.preferred_batch_size)
        info.cache_params = cache_params() if callable(cache_params) else method.cache_params()
        info.trains = _overrides_train(method)
        info.model = facts
        info.endpoint = getattr(system, "endpoint", None)
        return info

    def train(self, train_items: list[Item]) -> tuple[float, BaseException | None]:
        """Fit the method on ``train_items``: (seconds, error or None)."""
        if self.error is not None:
            return 0.0, self.error
        start = time.perf_counter()
        try:
            self.system.method.train(train_items)
        except Exception as exc:  # noqa: BLE001 - handed to the driver as a value
            return time.perf_counter() - start, portable(exc)
        return time.perf_counter() - start, None

    def predict_chunk(self, chunk: list[tuple[int, list[Item]]]) -> list[BatchOutcome]:
        """Predict each (batch index, items) of a chunk, in order. The outcomes carry no
        items (the driver has them) and are measured here."""
        return [self._predict(index, items) for index, items in chunk]

    def _predict(self, index: int, items: list[Item]) -> BatchOutcome:
        if self.error is not None:
            return BatchOutcome(index=index, items=[], error=self.error)
        clock = time.process_time if self.exclusive else time.thread_time
        if self.exclusive:
            self.sampler.take_peak()  # a new window for this batch
        start = clock()
        outcome = predict_batch(self.system, index, items)
        outcome.cpu_s = clock() - start
        peak = self.sampler.take_peak() if self.exclusive else self.sampler.peak
        outcome.rss_peak_bytes = peak
        outcome.rss_added_bytes = max(0, peak - self.baseline)
        outcome.items = []
        if outcome.error is not None:
            outcome.error = portable(outcome.error)
        return outcome

    def close(self) -> None:
        if self.system is not None:
            self.system.close()
            self.system = None
        self.sampler.stop()


def portable(exc: BaseException) -> BaseException:
    """``exc`` if it survives pickling, else a RuntimeError that keeps its type and text."""
    try:
        pickle.loads(pickle.dumps(exc))
    except Exception:  # noqa: BLE001 - any failure means it cannot travel
        return RuntimeError(f"{type(exc).__name__}: {exc}")
    return exc


def _plain(value: Any) -> bool:
    if isinstance(value, PLAIN):
        return True
    if isinstance(value, list | tuple):
        return all(_plain(v) for v in value)
    if isinstance(value, Mapping):
        return all(isinstance(k, str) and _plain(v) for k, v in value.items())
    return False


def _accepts(cls: type, parameter: str) -> bool:
    try:
        return parameter in inspect.signature(cls).parameters
    except (TypeError, ValueError):
        return False


def _overrides_train(method: Any) -> bool:
    from lmscape.methods.base import Method

    return getattr(type(method), "train", Method.train) is not Method.train
