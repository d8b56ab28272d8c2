"""lmscape: choose, run and prove the right language model for a job.

The public Python API::

    import lmscape

    model = lmscape.get_model("smollm2-135m-instruct")        # any name: see resolve()
    [answer] = model.generate([lmscape.Request(messages=[{"role": "user", "content": "Hi"}])])
    answer.text, answer.usage, answer.timings

    lmscape.resolve("gpt-4o").price                           # facts, nothing loaded

    rec = lmscape.recommend("sentiment", priority="quality=1,cost=1")   # from stored runs
    rec.top.candidate.system, rec.as_dict()

``import lmscape`` is cheap: names load on first use (PEP 562), and heavy backends
(torch, llama_cpp) only when a model of theirs is loaded.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from lmscape._version import __version__

_EXPORTS = {
    # run any model
    "get_model": "lmscape.backends.resolve",
    "resolve": "lmscape.backends.resolve",
    "ResolvedModel": "lmscape.backends.resolve",
    "Backend": "lmscape.backends.base",
    "Request": "lmscape.backends.base",
    "Result": "lmscape.backends.base",
    "StreamChunk": "lmscape.backends.base",
    "Usage": "lmscape.backends.base",
    "Timings": "lmscape.backends.base",
    "LoglikelihoodRequest": "lmscape.backends.base",
    "LoglikelihoodResult": "lmscape.backends.base",
    "EmbedResult": "lmscape.backends.base",
    "ClassifyResult": "lmscape.backends.base",
    # decide
    "recommend": "lmscape.decide.recommendation",
    "breakeven": "lmscape.decide.crossover",
    # errors
    "LmscapeError": "lmscape.errors",
    "ConfigError": "lmscape.errors",
    "NotFoundError": "lmscape.errors",
    "DataError": "lmscape.errors",
    "BackendError": "lmscape.errors",
    "ProviderError": "lmscape.errors",
}
__all__ = [
    "Backend",
    "BackendError",
    "ClassifyResult",
    "ConfigError",
    "DataError",
    "EmbedResult",
    "LmscapeError",
    "LoglikelihoodRequest",
    "LoglikelihoodResult",
    "NotFoundError",
    "ProviderError",
    "Request",
    "ResolvedModel",
    "Result",
    "StreamChunk",
    "Timings",
    "Usage",
    "__version__",
    "breakeven",
    "get_model",
    "recommend",
    "resolve",
]

if TYPE_CHECKING:
    from lmscape.backends.base import (
        Backend,
        ClassifyResult,
        EmbedResult,
        LoglikelihoodRequest,
        LoglikelihoodResult,
        Request,
        Result,
        StreamChunk,
        Timings,
        Usage,
    )
    from lmscape.backends.resolve import ResolvedModel, get_model, resolve
    from lmscape.decide.crossover import breakeven
    from lmscape.decide.recommendation import recommend
    from lmscape.errors import (
        BackendError,
        ConfigError,
        DataError,
        LmscapeError,
        NotFoundError,
        ProviderError,
    )


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'lmscape' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
