"""In-process models: loaded lazily, kept warm, one queue per model, LRU unloading.

Each served model that runs through a lmscape :class:`~lmscape.backends.base.Backend`
(local GGUF / Hugging Face models, and the Anthropic and Google backends) has a slot:

- **lazy load**: the backend is built on the first request, in a worker thread, under
  a per-model lock, so concurrent first requests load it once;
- **queue with a concurrency limit**: an ``asyncio.Semaphore`` lets ``local_concurrency``
  requests (``remote_concurrency`` for remote backends) run at once; up to
  ``queue_size`` more wait; beyond that the gateway answers 503 with Retry-After;
- **continuous batching**: generations (``call(..., generation=True)`` and ``stream``)
  on a backend whose ``concurrent_generations`` is above 1 (llama.cpp: ``n_parallel``)
  go through a second semaphore of that width, so that many requests are inside the
  backend together and share its decode steps: each step decodes one token of every
  running sequence in one batch, and each request streams its own tokens. Sequences
  join and leave between steps. ``limits.batching: false`` turns this off (one
  generation at a time, as before); other operations keep the first queue;
- **keep warm / LRU unload**: after loading, the resident-memory growth is recorded;
  while the local models' total exceeds ``memory_budget_mb`` the least recently used
  idle model is closed. A model in use is never unloaded.

Blocking backend calls run on a dedicated thread pool, never on the event loop.
Streams run their sync iterator in a thread and hand chunks over through an
``asyncio.Queue``; when the client goes away the iterator is closed between tokens,
which stops the generation.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from lmscape.backends.base import Backend, StreamChunk
from lmscape.serve.config import Limits, Route
from lmscape.serve.errors import GatewayError

log = logging.getLogger("lmscape.serve")
T = TypeVar("T")
_DONE = object()


def build_backend(route: Route) -> Backend:
    """A ready backend for ``route``, as the resolver described it."""
    backend = route.resolved.load()
    if not backend.model_id:
        backend.model_id = route.name
    return backend


def _rss() -> int:
    import psutil

    return psutil.Process().memory_info().rss


@dataclass
class Slot:
    route: Route
    limit: int
    backend: Backend | None = None
    mem_bytes: int = 0
    last_used: float = 0.0
    active: int = 0
    waiting: int = 0
    loads: int = 0
    load_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    sem: asyncio.Semaphore | None = None
    batch_sem: asyncio.Semaphore | None = None  # generations sharing the backend's batch

    def __post_init__(self) -> None:
        self.sem = asyncio.Semaphore(self.limit)


class ModelPool:
    """Slots for every Backend-served route. Create inside the running event loop."""

    def __init__(
        self,
        limits: Limits,
        *,
        builder: Callable[[Route], Backend] = build_backend,
        threads: int = 32,
    ) -> None:
        self.limits = limits
        self._builder = builder
        self._slots: dict[str, Slot] = {}
        self._executor = ThreadPoolExecutor(threads, thread_name_prefix="lmscape-model")

    # -- introspection -------------------------------------------------------------------
    def loaded(self) -> list[str]:
        return [name for name, s in self._slots.items() if s.backend is not None]

    def slot(self, route: Route) -> Slot:
        slot = self._slots.get(route.name)
        if slot is None:
            limit = route.max_concurrency or (
                self.limits.local_concurrency if route.is_local else self.limits.remote_concurrency
            )
            slot = self._slots[route.name] = Slot(route=route, limit=limit)
        return slot

    def local_bytes(self) -> int:
        return sum(s.mem_bytes for s in self._slots.values() if s.backend and s.route.is_local)

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.wrap_future(self._executor.submit(fn, *args))

    # -- queue ---------------------------------------------------------------------------
    async def _queue(self, slot: Slot, generation: bool) -> asyncio.Semaphore:
        """The semaphore this call waits on: the batch's for a generation on a backend
        that batches concurrent generations (loading the model to know), else the slot's."""
        assert slot.sem is not None
        if not (generation and self.limits.batching):
            return slot.sem
        if slot.backend is None:
            slot.waiting += 1  # not idle: no other model's load may unload it meanwhile
            try:
                await self._ensure_loaded(slot)
            finally:
                slot.waiting -= 1
        assert slot.backend is not None
        width = slot.backend.concurrent_generations
        if width <= 1:
            return slot.sem
        if slot.batch_sem is None:
            slot.batch_sem = asyncio.Semaphore(width)
        return slot.batch_sem

    async def _acquire(self, route: Route, *,
                       generation: bool = False) -> tuple[Slot, asyncio.Semaphore]:
        slot = self.slot(route)
        sem = await self._queue(slot, generation)
        if sem.locked() and slot.waiting >= self.limits.queue_size:
            raise GatewayError(
                503, f"model {route.name!r} is busy: {slot.waiting} requests already queued",
                type="overloaded_error", code="model_overloaded", headers={"Retry-After": "1"},
            )
        slot.waiting += 1
        try:
            await sem.acquire()
        finally:
            slot.waiting -= 1
        slot.active += 1
        return slot, sem

    def _release(self, slot: Slot, sem: asyncio.Semaphore) -> None:
        slot.active -= 1
        slot.last_used = time.monotonic()
        sem.release()

    def _release_when_done(self, slot: Slot, sem: asyncio.Semaphore, work: Future | None) -> None:
        """Free the slot now, or once the thread still using the backend has finished
        (a cancelled request must not let a second one into a non-thread-safe model)."""
        if work is None or work.done():
            self._release(slot, sem)
            return
        loop = asyncio.get_running_loop()
        work.add_done_callback(lambda _f: loop.call_soon_threadsafe(self._release, slot, sem))

    async def call(self, route: Route, fn: Callable[[Backend], T], *,
                   generation: bool = False) -> T:
        """Run ``fn(backend)`` in a thread, in ``route``'s queue, loading the model first.
        ``generation``: ``fn`` only generates (and scores), so it may share the backend's
        batch with other generations (see the module docstring)."""
        slot, sem = await self._acquire(route, generation=generation)
        work: Future | None = None
        try:
            backend = await self._ensure_loaded(slot)
            work = self._executor.submit(fn, backend)
            return await asyncio.wrap_future(work)
        finally:
            self._release_when_done(slot, sem, work)

    async def _ensure_loaded(self, slot: Slot) -> Backend:
        if slot.backend is not None:
            return slot.backend
        async with slot.load_lock:
            if slot.backend is None:
                before = _rss()
                backend = await self.run(self._builder, slot.route)
                slot.mem_bytes = max(0, _rss() - before) if slot.route.is_local else 0
                slot.backend, slot.loads = backend, slot.loads + 1
                log.info("loaded %s (%.0f MB)", slot.route.name, slot.mem_bytes / 2**20)
                await self._evict(keep=slot)
        return slot.backend

    async def _evict(self, keep: Slot) -> None:
        budget = self.limits.memory_budget_mb * 2**20
        while self.local_bytes() > budget:
            idle = [s for s in self._slots.values()
                    if s.backend is not None and s.route.is_local and s is not keep
                    and s.active == 0 and s.waiting == 0]
            if not idle:
                return
            victim = min(idle, key=lambda s: s.last_used)
            await self.unload(victim.route.name)

    async def unload(self, name: str) -> bool:
        slot = self._slots.get(name)
        if slot is None or slot.backend is None:
            return False
        backend, slot.backend, slot.mem_bytes = slot.backend, None, 0
        await self.run(backend.close)
        log.info("unloaded %s (least recently used)", name)
        return True

    # -- calls ---------------------------------------------------------------------------
    async def stream(
        self, route: Route, open_stream: Callable[[Backend], Iterator[StreamChunk]]
    ) -> AsyncIterator[StreamChunk]:
        """Iterate ``open_stream(backend)`` (e.g. ``lambda b: b.stream(request)``) in a
        thread, in ``route``'s queue; closing this generator (the client went away)
        stops the generation before its next token."""
        slot, sem = await self._acquire(route, generation=True)
        work: Future | None = None
        try:
            backend = await self._ensure_loaded(slot)
            loop = asyncio.get_running_loop()
            queue: asyncio.Queue = asyncio.Queue()
            cancel = threading.Event()

            def put(item: Any) -> None:
                with contextlib.suppress(RuntimeError):  # the loop is gone: nobody listens
                    loop.call_soon_threadsafe(queue.put_nowait, item)

            def produce() -> None:
                iterator: Iterator[StreamChunk] | None = None
                try:
                    iterator = open_stream(backend)
                    for chunk in iterator:
                        if cancel.is_set():
                            break
                        put(chunk)
                except BaseException as exc:  # noqa: BLE001 - handed to the consumer
                    put(exc)
                finally:
                    close = getattr(iterator, "close", None)
                    if close is not None:
                        with contextlib.suppress(Exception):
                            close()
                    put(_DONE)

            work = self._executor.submit(produce)
            try:
                while True:
                    item = await queue.get()
                    if item is _DONE:
                        break
                    if isinstance(item, BaseException):
                        raise item
                    yield item
            finally:
                cancel.set()
        finally:
            self._release_when_done(slot, sem, work)

    async def aclose(self) -> None:
        for name in list(self._slots):
            await self.unload(name)
        self._executor.shutdown(wait=False, cancel_futures=True)
