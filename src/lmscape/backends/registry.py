"""Backend registry: built-ins by lazy ``"module:attr"`` strings, plugins by entry points.

``import lmscape`` imports nothing heavy; a backend's module (and torch or llama_cpp)
loads only when :func:`get_backend_class` is asked for it. Third-party backends register
under the ``lmscape.backends`` entry-point group::

    [project.entry-points."lmscape.backends"]
    mybackend = "my_package.backend:MyBackend"
"""

from __future__ import annotations

import importlib
from functools import cache
from importlib.metadata import entry_points

from lmscape.errors import NotFoundError

ENTRY_POINT_GROUP = "lmscape.backends"

BUILTINS: dict[str, str] = {
    "llamacpp": "lmscape.backends.llamacpp:LlamaCppBackend",
    "hf": "lmscape.backends.hf:HFBackend",
    "openai": "lmscape.backends.openai_compat:OpenAIBackend",
    "anthropic": "lmscape.backends.anthropic_backend:AnthropicBackend",
    "google": "lmscape.backends.google_backend:GoogleBackend",
    "onnx": "lmscape.backends.onnx_backend:OnnxBackend",
}

_registered: dict[str, str | type] = {}


def register(name: str, target: str | type) -> None:
    """Register a backend class (or a ``"module:attr"`` string) under ``name``."""
    _registered[name] = target


@cache
def _plugins() -> dict[str, object]:
    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def available() -> list[str]:
    """Every backend name that can be asked for."""
    return sorted({*BUILTINS, *_registered, *_plugins()})


def _load(target: str) -> type:
    module_name, _, attr = target.partition(":")
    module = importlib.import_module(module_name)
    return getattr(module, attr)


def get_backend_class(name: str) -> type:
    """The backend class for ``name``; unknown names suggest the closest ones."""
    if name in _registered:
        target = _registered[name]
        return target if isinstance(target, type) else _load(target)
    if name in BUILTINS:
        return _load(BUILTINS[name])
    plugin = _plugins().get(name)
    if plugin is not None:
        return plugin.load()  # type: ignore[attr-defined]
    raise NotFoundError(
        "backend", name, available(), hint="run `lmscape backends` to list them"
    )
