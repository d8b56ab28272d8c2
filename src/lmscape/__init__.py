"""lmscape: choose, run and prove the right language model for a job.

``import lmscape`` is cheap: heavy backends (torch, llama_cpp) load only when a model
of theirs is used.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__", "get_model"]


def get_model(model_id: str, /, **options):
    """Return a ready backend for a catalog model id (or ``backend:model`` spec).

    >>> model = lmscape.get_model("smollm2-135m-instruct")   # doctest: +SKIP
    >>> model.generate([Request(messages=[{"role": "user", "content": "Hi"}])])
    """
    from lmscape.backends.resolve import get_model as _get_model

    return _get_model(model_id, **options)
