"""Requests-per-minute limits per key: a sliding one-minute window in memory.

Each worker process keeps its own window. With ``N`` workers (``lmscape serve
--workers N``) each enforces ``ceil(rpm / N)``, so the total stays within ``rpm``
when the load balancer spreads requests evenly (the kernel's SO_REUSEPORT / uvicorn
accept loop does, roughly). Budgets, unlike rates, are exact across workers: they live
in the database (see :mod:`lmscape.serve.accounting`).
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque

WINDOW_S = 60.0


class RateLimiter:
    def __init__(self, workers: int = 1, clock=time.monotonic) -> None:
        self._workers = max(1, workers)
        self._clock = clock
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def share(self, rpm: int) -> int:
        """This worker's share of a key's requests per minute."""
        return max(1, math.ceil(rpm / self._workers))

    def check(self, key_id: str, rpm: int | None) -> float | None:
        """Count a request; None if allowed, else the seconds to wait (Retry-After)."""
        if rpm is None:
            return None
        limit = self.share(rpm)
        now = self._clock()
        with self._lock:
            hits = self._hits.setdefault(key_id, deque())
            while hits and now - hits[0] >= WINDOW_S:
                hits.popleft()
            if len(hits) >= limit:
                return max(0.001, WINDOW_S - (now - hits[0]))
            hits.append(now)
            return None
