"""The local-model pool: lazy loading (once, under concurrent first requests), a
per-model queue with a concurrency limit, 503 when the queue is full, and
least-recently-used unloading under a memory budget measured from resident memory.

The backend here is a small real one registered for the test: it holds a 64 MB
buffer (so the pool measures real resident-memory growth) and sleeps while
"generating" (so overlapping calls can be counted)."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import ClassVar

import numpy as np
import pytest

from lmscape.backends import registry
from lmscape.backends.base import Backend, Request, Result, StreamChunk
from lmscape.serve.config import Limits, Route
from lmscape.serve.errors import GatewayError
from lmscape.serve.pool import ModelPool

BUFFER_MB = 64


class BufferBackend(Backend):
    name = "test-buffer"
    can_generate = True
    can_stream = True
    is_local = True
    loads = 0
    streamed = 0
    running = 0
    peak = 0
    closed: ClassVar[list[str]] = []
    lock = threading.Lock()

    def __init__(self, model: str, *, delay: float = 0.2, **_: object) -> None:
        time.sleep(0.1)  # loading takes a moment: concurrent first requests overlap it
        self.model_id, self.delay = model, delay
        self.weights = np.ones(BUFFER_MB * 2**20 // 8)  # touched pages: real RSS
        with BufferBackend.lock:
            BufferBackend.loads += 1

    def _generate(self, requests: list[Request]) -> list[Result]:
        with BufferBackend.lock:
            BufferBackend.running += 1
            BufferBackend.peak = max(BufferBackend.peak, BufferBackend.running)
        time.sleep(self.delay)
        with BufferBackend.lock:
            BufferBackend.running -= 1
        return [Result(text=f"{self.model_id}:{r.prompt}") for r in requests]

    def _stream(self, request: Request):
        for i in range(1000):
            time.sleep(0.005)
            BufferBackend.streamed += 1
            yield StreamChunk(text=str(i))
        yield StreamChunk(done=True, finish_reason="length")

    def close(self) -> None:
        BufferBackend.closed.append(self.model_id)
        self.weights = None


@pytest.fixture(autouse=True)
def _registered():
    registry.register("test-buffer", BufferBackend)
    BufferBackend.loads = BufferBackend.running = BufferBackend.peak = BufferBackend.streamed = 0
    BufferBackend.closed = []


def route(name: str, **kw) -> Route:
    return Route.of(name, "test-buffer", name, **kw)


def gen(backend: Backend, prompt: str = "p") -> list[Result]:
    return backend.generate([Request(prompt=prompt)])


def test_lazy_load_once_and_concurrency_limit():
    async def main():
        pool = ModelPool(Limits(local_concurrency=2))
        r = route("a")
        results = await asyncio.gather(*(pool.call(r, gen) for _ in range(8)))
        await pool.aclose()
        return results

    results = asyncio.run(main())
    assert [res[0].text for res in results] == ["a:p"] * 8
    assert BufferBackend.loads == 1  # eight concurrent first requests, one load
    assert BufferBackend.peak == 2  # never more than local_concurrency at once


def test_full_queue_answers_503():
    async def main():
        pool = ModelPool(Limits(local_concurrency=1, queue_size=2))
        r = route("q", options={"delay": 0.3})
        outcomes = await asyncio.gather(*(pool.call(r, gen) for _ in range(5)),
                                        return_exceptions=True)
        await pool.aclose()
        return outcomes

    outcomes = asyncio.run(main())
    errors = [o for o in outcomes if isinstance(o, GatewayError)]
    assert len(errors) == 2 and all(e.status == 503 and e.headers["Retry-After"] for e in errors)
    assert sum(1 for o in outcomes if isinstance(o, list)) == 3


def test_lru_unload_under_memory_budget():
    async def main():
        pool = ModelPool(Limits(memory_budget_mb=BUFFER_MB * 1.5))
        a, b, c = route("a"), route("b"), route("c")
        await pool.call(a, gen)
        await pool.call(b, gen)  # a + b exceed the budget: a (least recent) goes
        first = (pool.loaded(), list(BufferBackend.closed))
        await pool.call(c, gen)
        second = (pool.loaded(), list(BufferBackend.closed))
        await pool.call(a, gen)  # reloaded on demand
        loads = BufferBackend.loads
        await pool.aclose()
        return first, second, loads

    (loaded1, closed1), (loaded2, closed2), loads = asyncio.run(main())
    assert loaded1 == ["b"] and closed1 == ["a"]
    assert loaded2 == ["c"] and closed2 == ["a", "b"]
    assert loads == 4


def test_closing_a_stream_stops_the_backend_and_frees_the_slot():
    async def main():
        pool = ModelPool(Limits(local_concurrency=1))
        r = route("s")
        seen = []
        stream = pool.stream(r, lambda backend: backend.stream(Request(prompt="x")))
        async for chunk in stream:
            seen.append(chunk.text)
            if len(seen) == 3:
                break
        await stream.aclose()
        # concurrency 1: this call starts only once the stream's thread has let go
        after = await pool.call(r, gen)
        streamed = BufferBackend.streamed
        await pool.aclose()
        return seen, after, streamed

    seen, after, streamed = asyncio.run(main())
    assert seen == ["0", "1", "2"]
    assert after[0].text == "s:p"
    assert streamed < 1000  # stopped once the client let go (5 ms a chunk), not run to the end
