"""Plumbing shared by the hosted-provider backends (Anthropic, Google).

A subclass calls :meth:`RemoteBackend._setup` from its constructor and supplies
``_one`` (one request), ``_retry_decision`` (which SDK failures to retry) and
``_translate`` (SDK exception -> lmscape error). Batches then run ``concurrency``
requests at once, every SDK call is retried by :mod:`lmscape.backends.retry`, and
``info()["retries"]`` counts the retries.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any, ClassVar

from lmscape.backends.base import Backend, Request, Result
from lmscape.backends.retry import RetryDecision, RetryPolicy, RetryStats, call_with_retries
from lmscape.errors import BackendError


class RemoteBackend(Backend):
    """A hosted model behind a provider SDK: retried calls, batches on a thread pool."""

    can_generate: ClassVar[bool] = True
    can_stream: ClassVar[bool] = True
    is_local: ClassVar[bool] = False

    def _setup(
        self,
        model: str,
        model_id: str,
        *,
        max_retries: int,
        backoff_base: float,
        concurrency: int,
        context_window: int | None,
    ) -> None:
        self.model = model
        self.model_id = model_id or model
        self._context_window = context_window
        self._concurrency = max(1, concurrency)
        self.policy = RetryPolicy(max_retries=max_retries, base_delay=backoff_base)
        self.retry_stats = RetryStats()

    @property
    def context_length(self) -> int | None:
        return self._context_window

    def info(self) -> dict[str, Any]:
        return {**super().info(), "retries": self.retry_stats.retries}

    def _one(self, request: Request) -> Result:
        raise NotImplementedError

    def _generate(self, requests: list[Request]) -> list[Result]:
        if len(requests) == 1 or self._concurrency == 1:
            return [self._one(r) for r in requests]
        with ThreadPoolExecutor(min(self._concurrency, len(requests))) as pool:
            return list(pool.map(self._one, requests))

    def _call(self, fn):
        """``fn()`` with counted retries; failures become lmscape errors."""
        try:
            return call_with_retries(fn, policy=self.policy, classify=self._retry_decision,
                                     stats=self.retry_stats)
        except Exception as exc:  # noqa: BLE001 - translated
            raise self._translate(exc) from None

    def _retry_decision(self, exc: BaseException) -> RetryDecision | None:
        raise NotImplementedError

    def _translate(self, exc: Exception) -> BackendError:
        raise NotImplementedError
