"""Retries with exponential backoff and jitter, shared by every remote backend.

Remote backends turn off their SDK's own retries and wrap each call in
:func:`call_with_retries`, so the retries that happen are the ones lmscape counts and
logs. The caller supplies ``classify``: given an exception it returns a
:class:`RetryDecision` (retry, and after how long the server asked us to wait) or
``None`` for "do not retry, re-raise".

    delay(attempt) = min(max_delay, base_delay * 2**attempt) * (1 + jitter * U[-1, 1])

A ``Retry-After`` the server sent wins over the computed delay (capped at
``max_retry_after``) so that a server saying "0" is retried at once and one saying
"20" is not hammered.
"""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")

RETRYABLE_STATUS = frozenset({408, 409, 429}) | frozenset(range(500, 600))


@dataclass(frozen=True, kw_only=True)
class RetryPolicy:
    """How often and how long to retry. ``max_retries`` counts retries, not attempts."""

    max_retries: int = 4
    base_delay: float = 0.5
    max_delay: float = 30.0
    jitter: float = 0.25
    max_retry_after: float = 60.0

    def __post_init__(self) -> None:
        if self.max_retries < 0:
            raise ValueError("max_retries must be >= 0")
        if self.base_delay < 0 or self.max_delay < 0:
            raise ValueError("delays must be >= 0")
        if not 0 <= self.jitter <= 1:
            raise ValueError("jitter must be within [0, 1]")

    def delay(
        self, attempt: int, retry_after: float | None = None, rng: random.Random | None = None
    ) -> float:
        """Seconds to wait before retry number ``attempt + 1`` (``attempt`` counts from 0)."""
        if retry_after is not None:
            return max(0.0, min(retry_after, self.max_retry_after))
        raw = min(self.max_delay, self.base_delay * (2**attempt))
        spread = (rng or random).uniform(-1.0, 1.0) * self.jitter
        return max(0.0, raw * (1.0 + spread))


@dataclass(frozen=True)
class RetryDecision:
    """``classify``'s answer for a retryable failure."""

    retry_after: float | None = None
    reason: str = ""


def is_retryable_status(status: int | None) -> bool:
    """429, request timeouts, lock conflicts and every 5xx are worth another try."""
    return status is not None and status in RETRYABLE_STATUS


def parse_retry_after(headers: Mapping[str, str] | None) -> float | None:
    """Seconds from ``retry-after-ms`` or ``Retry-After`` (seconds or an HTTP date)."""
    if not headers:
        return None
    lowered = {k.lower(): v for k, v in headers.items()}
    ms = lowered.get("retry-after-ms")
    if ms is not None:
        try:
            return max(0.0, float(ms) / 1000.0)
        except ValueError:
            pass
    value = lowered.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - time.time())


@dataclass
class RetryStats:
    """Counters a backend keeps across calls (shown in ``info()``)."""

    calls: int = 0
    retries: int = 0
    slept_s: float = 0.0


OnRetry = Callable[[int, BaseException, float], None]


def call_with_retries(
    fn: Callable[[], T],
    *,
    policy: RetryPolicy,
    classify: Callable[[BaseException], RetryDecision | None],
    on_retry: OnRetry | None = None,
    stats: RetryStats | None = None,
    sleep: Callable[[float], None] = time.sleep,
    rng: random.Random | None = None,
) -> T:
    """Call ``fn`` until it succeeds, ``classify`` says stop, or retries run out.

    The last exception is re-raised unchanged; callers map it to lmscape errors.
    ``on_retry(attempt, exc, delay)`` is called before each sleep.
    """
    attempt = 0
    if stats is not None:
        stats.calls += 1
    while True:
        try:
            return fn()
        except Exception as exc:
            decision = classify(exc)
            if decision is None or attempt >= policy.max_retries:
                raise
            wait = policy.delay(attempt, decision.retry_after, rng)
            if on_retry is not None:
                on_retry(attempt, exc, wait)
            if stats is not None:
                stats.retries += 1
                stats.slept_s += wait
            sleep(wait)
            attempt += 1
