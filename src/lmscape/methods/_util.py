"""Helpers shared by methods: summing usage/timings, batching, requiring a model."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any, TypeVar

from lmscape.backends.base import Backend, Timings, Usage
from lmscape.errors import ConfigError

T = TypeVar("T")


def sum_usage(usages: Iterable[Usage]) -> Usage:
    total = Usage()
    for u in usages:
        total.prompt_tokens += u.prompt_tokens
        total.completion_tokens += u.completion_tokens
    return total


def sum_timings(timings: Sequence[Timings]) -> Timings:
    """Total time of several calls made for one item; TTFT of the first one."""
    return Timings(
        total_s=sum(t.total_s for t in timings),
        ttft_s=timings[0].ttft_s if timings else None,
        tokens_per_s=None,
    )


def share_timings(total: Timings, n: int) -> Timings:
    """One item's share of a batched call's time."""
    return Timings(total_s=total.total_s / max(n, 1))


def chunks(seq: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(seq), size):
        yield seq[start : start + size]


def need_model(model: Backend | None, method: str) -> Backend:
    if model is None:
        raise ConfigError(
            f"method {method!r} needs a model",
            hint=f"name a system as MODEL/{method}, e.g. smollm2-135m-instruct/{method}",
        )
    return model


def precision_params(model: Any) -> dict[str, str]:
    """``{"precision": ...}`` for a model that says what it computes in (an ``hf`` encoder
    or classifier: float32, or float32 with bf16 products), else nothing: answers that
    depend on it are cached per precision."""
    precision = getattr(model, "precision", None)
    return {"precision": precision} if isinstance(precision, str) else {}
