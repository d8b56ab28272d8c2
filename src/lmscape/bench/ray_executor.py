"""The Ray executor: one system's batches run on the workers of a Ray cluster.

``lmscape bench --executor ray [--address auto|ray://HOST:10001] [--workers N]
[--chunk-size K]``, or ``Runner(store, executor=RayExecutor(...))`` with systems from
``executor.build(name, task)``. For each system:

1. **Build by name.** ``build`` starts one worker, a Ray actor holding a
   :class:`~lmscape.bench.worker.SystemWorker`, which builds the system from its
   :class:`~lmscape.bench.worker.SystemRecipe` (task name, ``MODEL/METHOD``, method
   parameters, ``--base-url``): weights come from the worker's packages, catalog,
   Hugging Face cache or endpoint, never from the driver. Its description (name, method
   parameters, batch size, model facts) becomes a :class:`RemoteSystem`; the driver
   loads no model, and run ids and cache keys are those of the local executor.
2. **Fit once per worker.** When the method trains something (a head, a calibration)
   the training items go to the object store once; the first worker fits, then the
   other workers start and train on the same items (what the first one cached in a shared
   ``$LMSCAPE_HOME`` is read, not recomputed).
3. **Chunks.** The runner's batches (same size and order as with the local executor,
   so every batch holds the same items and scores come out identical) are grouped into
   chunks of consecutive batches: ``--chunk-size`` items, rounded to whole batches, or
   by default enough for four chunks per worker. A worker holds two chunks (one running,
   one queued) for a local model, or ``concurrency`` chunks on threads for a remote
   endpoint.
4. **Stream back.** A chunk's outcomes, measured on its worker (wall and CPU seconds,
   peak RSS, RSS added by the system), are yielded to the runner as soon as the chunk
   returns; the runner stores each batch in the driver's thread, in one transaction.
5. **Lost workers.** A worker that dies (killed, out of memory, node gone) loses only
   the chunks it had not returned: each goes back to the front of the queue for another
   worker, and a replacement worker starts (at most ``workers`` replacements per
   system). A chunk that takes ``max_chunk_tries`` workers down with it fails the run
   with an error naming its first item.
6. **Close.** Closing the system kills its workers.

Guarantees: *nothing lost*: every chunk that did not come back is run again, and what
came back is stored before the next chunk is awaited; *nothing twice*: an outcome
reaches the runner only from a chunk that returned, and a chunk returns at most once
(its retry is sent only after its first attempt failed), on top of the store's primary
key (run id, item id). Workers belong to the driver's Ray job: a killed driver takes
them with it, its stored items stay, and ``--resume`` continues with either executor.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections import Counter, deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from lmscape.bench.executor import BatchOutcome, Executor
from lmscape.bench.worker import SystemRecipe, SystemWorker, WorkerInfo
from lmscape.errors import BackendError, ConfigError, LmscapeError, require
from lmscape.methods.base import Prediction
from lmscape.tasks.base import Item

CHUNKS_PER_WORKER = 4  # default chunking: enough chunks to even out the workers' loads
LOCAL_DEPTH = 2  # chunks held by a worker of a local model: one running, one queued
START_TIMEOUT_S = 600.0  # the first worker of a system must have built it by then


def plan_chunks(n_batches: int, *, batch_size: int, workers: int,
                chunk_items: int | None = None) -> list[range]:
    """Consecutive batch indexes per chunk: ``chunk_items`` items rounded to whole
    batches (at least one), or by default ``CHUNKS_PER_WORKER`` chunks per worker."""
    if chunk_items:
        per = max(1, round(chunk_items / max(1, batch_size)))
    else:
        per = max(1, n_batches // (max(1, workers) * CHUNKS_PER_WORKER))
    return [range(i, min(n_batches, i + per)) for i in range(0, n_batches, per)]


@dataclass(frozen=True)
class RemoteModel:
    """A model loaded on the workers as the driver sees it: its facts, not its weights."""

    model_id: str
    is_local: bool
    facts: dict[str, Any] = field(default_factory=dict)

    def info(self) -> dict[str, Any]:
        return dict(self.facts)


class RemoteMethod:
    """The method of a :class:`RemoteSystem`: what the runner reads of a method, with
    ``train`` and ``predict`` done by the workers."""

    def __init__(self, pool: WorkerPool, info: WorkerInfo) -> None:
        self._pool = pool
        self.name = info.method
        self.preferred_batch_size = info.batch_size
        self._params = dict(info.cache_params)
        self.model = None
        if info.model is not None:
            self.model = RemoteModel(model_id=str(info.model.get("model") or ""),
                                     is_local=bool(info.model.get("is_local", True)),
                                     facts=info.model)

    def cache_params(self) -> dict[str, Any]:
        return dict(self._params)

    def train(self, train_items: list[Item]) -> None:
        self._pool.train(train_items)

    def predict(self, items: list[Item]) -> list[Prediction]:
        outcome = self._pool.predict_one(items)
        if outcome.error is not None:
            raise outcome.error
        assert outcome.predictions is not None
        return outcome.predictions

    def close(self) -> None:
        self._pool.close()


class RemoteSystem:
    """A system built on Ray workers (see :meth:`RayExecutor.build`)."""

    def __init__(self, pool: WorkerPool, info: WorkerInfo, resolved: Any) -> None:
        self.pool = pool
        self.info = info
        self.name = info.name
        self.model_id = info.model_id
        self.endpoint = info.endpoint
        self.resolved = resolved  # the driver's resolver answer (prices, connection)
        self.method = RemoteMethod(pool, info)

    @property
    def model(self) -> RemoteModel | None:
        return self.method.model

    def cache_params(self) -> dict[str, Any]:
        """As the worker's ``System.cache_params()`` said: the same as a local build's."""
        return dict(self.info.cache_params)

    def close(self) -> None:
        self.pool.close()


class RayExecutor(Executor):
    """Runs each system's batches on Ray actors that build the system by name.

    ``address``: ``None`` starts a local Ray instance (or uses the one this process is
    already connected to); ``"auto"`` joins the cluster started on this node with
    ``ray start``; ``"ray://HOST:10001"`` connects through Ray Client. ``workers``: actors
    per system (default: the cluster's CPUs / ``worker_cpus``); ``worker_cpus``: CPUs
    each actor reserves, and the threads its local model uses; ``chunk_size``: items per
    chunk (rounded to whole batches); ``concurrency``: chunks in flight per actor for
    remote endpoints.
    """

    name = "ray"

    def __init__(self, address: str | None = None, *, workers: int | None = None,
                 chunk_size: int | None = None, worker_cpus: int = 1, concurrency: int = 4,
                 max_chunk_tries: int = 3) -> None:
        for label, value in (("--workers", workers), ("--chunk-size", chunk_size),
                             ("--worker-cpus", worker_cpus), ("concurrency", concurrency),
                             ("max_chunk_tries", max_chunk_tries)):
            if value is not None and value < 1:
                raise ConfigError(f"{label} must be at least 1, got {value}",
                                  hint=f"pass {label} 1 or more")
        self.ray = require("ray", extra="ray")
        self.address = address
        self.workers = workers
        self.chunk_size = chunk_size
        self.worker_cpus = worker_cpus
        self.concurrency = concurrency
        self.max_chunk_tries = max_chunk_tries
        self._started_ray = False
        self._connect()
        self.n_workers()  # too many workers for the cluster: say so before any build
        self.actor_class = self.ray.remote(SystemWorker)

    # -- the cluster -----------------------------------------------------------------
    def _connect(self) -> None:
        ray = self.ray
        if ray.is_initialized():  # this process already joined one (a notebook, tests)
            return
        options: dict[str, Any] = {"log_to_driver": False, "logging_level": logging.WARNING}
        if self.address is None:  # a new local instance with room for every worker
            need = (self.workers or 0) * self.worker_cpus
            options.update(num_cpus=max(os.cpu_count() or 1, need), include_dashboard=False)
        try:
            ray.init(address=self.address, **options)
        except (ConnectionError, ValueError, RuntimeError) as exc:
            why = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            if self.address is None:
                raise ConfigError(f"cannot start a local Ray instance: {why}",
                                  hint="run `ray start --head` and pass --address auto, "
                                  "or use --executor local") from None
            raise ConfigError(
                f"cannot reach the Ray cluster at {self.address}: {why}",
                hint="start it with `ray start --head` on the head node, then pass "
                "--address auto there or --address ray://HEAD:10001 elsewhere",
            ) from None
        self._started_ray = True

    def n_workers(self) -> int:
        """Actors per system: ``workers``, or as many as the cluster's CPUs allow."""
        cpus = int(self.ray.cluster_resources().get("CPU", 0))
        room = max(1, cpus // self.worker_cpus)
        if self.workers is None:
            return room
        if self.workers > room:
            raise ConfigError(
                f"{self.workers} workers of {self.worker_cpus} CPU need "
                f"{self.workers * self.worker_cpus} CPUs; the Ray cluster has {cpus}",
                hint=f"pass --workers {room} or fewer, or add nodes to the cluster",
            )
        return self.workers

    # -- the executor interface ------------------------------------------------------
    def build(self, spec: str, task: Any, **options: Any) -> RemoteSystem:
        """Build ``spec`` for ``task`` on a worker; raise what a local build would."""
        from lmscape.backends.resolve import resolve
        from lmscape.methods.registry import parse_spec

        base_url = options.pop("base_url", None)
        model_id, _ = parse_spec(spec)
        resolved = None
        if model_id is not None:
            # Facts only (price, connection, local or remote); nothing is loaded here. A
            # model only the workers know (a path on their disks) resolves there.
            with contextlib.suppress(LmscapeError):
                resolved = resolve(model_id, base_url=base_url)
        recipe = SystemRecipe(task=task.name, system=spec, params=options, base_url=base_url,
                              env=connection_env(resolved))
        exclusive = resolved is None or resolved.is_local
        pool = WorkerPool(self, recipe, exclusive=exclusive)
        info = pool.start()
        return RemoteSystem(pool, info, resolved)

    def run(self, system: Any, batches: Sequence[list[Item]], *, concurrency: int = 1
            ) -> Iterator[BatchOutcome]:
        if not isinstance(system, RemoteSystem) or system.pool.executor is not self:
            raise ConfigError(
                f"the Ray executor runs systems its workers built, not {system.name!r} "
                "built here",
                hint="build it with executor.build(name, task) (lmscape bench and "
                "run_plans do)",
            )
        yield from system.pool.run(batches, concurrency=concurrency)

    def facts(self) -> dict[str, Any]:
        return {"executor": self.name, "ray_address": self.address,
                "workers": self.n_workers(), "worker_cpus": self.worker_cpus,
                "chunk_size": self.chunk_size}

    def close(self) -> None:
        if self._started_ray and self.ray.is_initialized():
            self.ray.shutdown()
        self._started_ray = False


def connection_env(resolved: Any) -> dict[str, str]:
    """The driver's values of the variables that name a remote model's endpoint and key
    (``LMSCAPE_VLLM_BASE_URL``, ``OPENAI_API_KEY``, ``OPENAI_BASE_URL``...), so that
    workers reach the endpoint the driver would."""
    conn = getattr(resolved, "connection", None)
    if conn is None or resolved.is_local:
        return {}
    names = list(conn.key_env)
    if conn.base_url_from.startswith("env:"):
        names.append(conn.base_url_from.split(":", 1)[1])
    if conn.sdk_base_url_env:
        names.append(conn.sdk_base_url_env)
    return {name: os.environ[name] for name in names if os.environ.get(name)}


class WorkerPool:
    """The actors of one system: starting, fitting, scheduling chunks, replacing the
    dead. Used from the driver's thread only."""

    def __init__(self, executor: RayExecutor, recipe: SystemRecipe, *, exclusive: bool) -> None:
        self.executor = executor
        self.ray = executor.ray
        self.recipe = recipe
        self.exclusive = exclusive  # one batch at a time per worker (local models)
        self.size = executor.n_workers()
        self.replacements_left = self.size
        self.ready: list[Any] = []  # actors whose system is built
        self.starting: dict[Any, Any] = {}  # describe() ref -> actor still building
        self.train_ref: Any = None  # training items in the object store, once fitted
        self.info: WorkerInfo | None = None
        self.pids: dict[Any, int] = {}  # actor -> worker process id
        self.lost: set[Any] = set()  # workers found dead

    # -- actors ----------------------------------------------------------------------
    def _spawn(self) -> Any:
        options: dict[str, Any] = {"num_cpus": self.executor.worker_cpus, "max_restarts": 0}
        if not self.exclusive:
            options["max_concurrency"] = self.executor.concurrency
        actor = self.executor.actor_class.options(**options).remote(
            self.recipe, threads=self.executor.worker_cpus, exclusive=self.exclusive,
            train_items=self.train_ref,
        )
        self.starting[actor.describe.remote()] = actor
        return actor

    def _kill(self, actor: Any) -> None:
        with contextlib.suppress(Exception):
            self.ray.kill(actor)

    def _on_started(self, ref: Any) -> None:
        """A worker answered describe(): ready, or its build failed (raise that)."""
        actor = self.starting.pop(ref)
        try:
            info: WorkerInfo = self.ray.get(ref)
        except self.ray.exceptions.RayActorError:
            self._lost(actor)
            return
        if info.error is not None:
            self.close()
            raise info.error
        self.pids[actor] = info.pid
        self.ready.append(actor)

    def _lost(self, actor: Any) -> None:
        """Forget a dead worker; start a replacement while the budget allows (once per
        worker, however many of its chunks come back failed)."""
        if actor in self.lost:
            return
        self.lost.add(actor)
        if actor in self.ready:
            self.ready.remove(actor)
        self.pids.pop(actor, None)
        self._kill(actor)
        if self.replacements_left > 0:
            self.replacements_left -= 1
            self._spawn()

    def start(self) -> WorkerInfo:
        """Start the first worker and wait for its build: the system's description."""
        actor = self._spawn()
        ref = next(r for r, a in self.starting.items() if a is actor)
        try:
            info: WorkerInfo = self.ray.get(ref, timeout=START_TIMEOUT_S)
        except self.ray.exceptions.GetTimeoutError:
            self.close()
            raise ConfigError(
                f"no Ray worker built {self.recipe.system} within {START_TIMEOUT_S:g} s",
                hint="check that the cluster has a free CPU (`ray status`) and that "
                "lmscape is installed on its nodes",
            ) from None
        except self.ray.exceptions.RayActorError as exc:
            self.close()
            raise BackendError(f"the Ray worker building {self.recipe.system} died: "
                               f"{_why(exc)}",
                               hint="check that every node has the same lmscape installed; "
                               "the worker's log: `ray logs`") from None
        self.starting.pop(ref)
        if info.error is not None:
            self.close()
            raise info.error
        self.info = info
        self.pids[actor] = info.pid
        self.ready.append(actor)
        return info

    def fill(self, most: int | None = None) -> None:
        """Start workers up to the pool's size (or ``most``, when fewer chunks are left)."""
        target = self.size if most is None else max(1, min(self.size, most))
        while len(self.ready) + len(self.starting) < target:
            self._spawn()

    def worker_pids(self) -> list[int]:
        """Process ids of the ready workers (for operators and tests)."""
        return [self.pids[a] for a in self.ready if a in self.pids]

    # -- train and predict -------------------------------------------------------------
    def train(self, train_items: list[Item]) -> None:
        """Fit the started workers; the items stay in the object store, and every worker
        started later (``run``, replacements) fits on them before its first chunk."""
        if self.info is None or not self.info.trains:
            return
        self.train_ref = self.ray.put(train_items)
        for actor in list(self.ready):
            _, error = self.ray.get(actor.train.remote(self.train_ref))
            if error is not None:
                raise error

    def predict_one(self, items: list[Item]) -> BatchOutcome:
        """One batch on a ready worker (the runner retries over-long items this way)."""
        while True:
            while not self.ready:
                if not self.starting:
                    raise self._all_lost()
                ready, _ = self.ray.wait(list(self.starting), num_returns=1)
                self._on_started(ready[0])
            actor = self.ready[0]
            try:
                [outcome] = self.ray.get(actor.predict_chunk.remote([(0, items)]))
            except self.ray.exceptions.RayActorError:
                self._lost(actor)
                continue
            outcome.items = items
            return outcome

    def run(self, batches: Sequence[list[Item]], *, concurrency: int = 1
            ) -> Iterator[BatchOutcome]:
        """Yield every batch's outcome as its chunk returns (see the module docstring)."""
        ray = self.ray
        size = len(batches[0]) if batches else 1
        chunks = plan_chunks(len(batches), batch_size=size, workers=self.size,
                             chunk_items=self.executor.chunk_size)
        self.fill(most=len(chunks))
        depth = LOCAL_DEPTH if self.exclusive else max(1, min(concurrency,
                                                              self.executor.concurrency))
        queue = deque(range(len(chunks)))
        tries: Counter[int] = Counter()
        held: Counter[Any] = Counter()  # chunks in flight per actor
        in_flight: dict[Any, tuple[Any, int]] = {}  # ref -> (actor, chunk number)
        try:
            while queue or in_flight:
                for actor in list(self.ready):
                    while queue and held[actor] < depth:
                        number = queue.popleft()
                        job = [(i, batches[i]) for i in chunks[number]]
                        in_flight[actor.predict_chunk.remote(job)] = (actor, number)
                        held[actor] += 1
                waiting = [*in_flight, *self.starting]
                if not waiting:
                    raise self._all_lost()
                [ref], _ = ray.wait(waiting, num_returns=1)
                if ref in self.starting:
                    self._on_started(ref)
                    continue
                actor, number = in_flight.pop(ref)
                held[actor] -= 1
                try:
                    outcomes: list[BatchOutcome] = ray.get(ref)
                except ray.exceptions.RayActorError as exc:
                    tries[number] += 1
                    if tries[number] >= self.executor.max_chunk_tries:
                        first = batches[chunks[number][0]][0].id
                        raise BackendError(
                            f"a chunk of {self.recipe.system} (from item {first!r}) took "
                            f"{tries[number]} Ray workers down with it: {_why(exc)}",
                            hint="look at the workers' logs (`ray logs`); out of memory? "
                            "give each worker more (--worker-cpus) or use smaller chunks",
                        ) from None
                    queue.appendleft(number)
                    self._lost(actor)
                    continue
                for outcome in outcomes:
                    outcome.items = batches[outcome.index]
                    yield outcome
        finally:
            for ref in in_flight:  # the runner stopped early: drop what is queued
                with contextlib.suppress(Exception):
                    ray.cancel(ref)

    def _all_lost(self) -> BackendError:
        return BackendError(
            f"every Ray worker of {self.recipe.system} died and no replacement is left",
            hint="look at the workers' logs (`ray logs`); then rerun with --resume",
        )

    def close(self) -> None:
        for actor in [*self.ready, *self.starting.values()]:
            self._kill(actor)
        self.ready.clear()
        self.starting.clear()
        self.pids.clear()


def _why(exc: BaseException) -> str:
    """Ray's error in one line: its first line, and its last (the cause) if different."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    if not lines:
        return type(exc).__name__
    return lines[0] if len(lines) == 1 else f"{lines[0]} ... {lines[-1]}"
