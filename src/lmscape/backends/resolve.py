"""Model resolution: a name as users type it -> a ready backend.

``get_model(spec, **options)`` accepts, in this order:

| spec                                   | resolves to                                       |
|----------------------------------------|---------------------------------------------------|
| ``BACKEND:MODEL``                      | that registry backend with ``model=MODEL`` (``llamacpp:/m/x.gguf``, ``openai:gpt-4o``, ``hf:/path/dir``) |
| a catalog id or alias                  | ``entry.run``: its backend, ``model=entry.run.model``, ``**entry.run.options`` |
| a ``.gguf`` path or a ``pypi:``/``pypi-call:`` locator | ``llamacpp``                      |
| an existing folder                     | ``hf``                                            |

``options`` override the catalog's options. Unknown names raise NotFoundError with the
closest catalog ids.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lmscape.backends import registry
from lmscape.errors import ConfigError, NotFoundError

LOCATOR_PREFIXES = ("pypi:", "pypi-call:")
FALLBACK_HINT = (
    "run `lmscape models` to list catalog ids, or pass BACKEND:MODEL "
    "(e.g. llamacpp:/path/model.gguf) or a path to a .gguf file"
)


@dataclass(frozen=True)
class Resolved:
    """What a spec resolves to, before anything is loaded."""

    backend: str
    model: str
    model_id: str = ""
    options: dict[str, Any] = field(default_factory=dict)
    source: str = "spec"  # "catalog" | "spec" | "path"


def _direct(spec: str) -> Resolved | None:
    """``BACKEND:MODEL`` where BACKEND is a registered backend name."""
    name, sep, model = spec.partition(":")
    if not sep or not model or name not in registry.available():
        return None
    if (
        name == "hf"
        and not Path(model).expanduser().exists()
        and not model.startswith((*LOCATOR_PREFIXES, "hf:"))
    ):
        model = f"hf:{model}"  # a Hugging Face repo id: look in the local HF cache
    return Resolved(backend=name, model=model, source="spec")


def _looks_like_gguf(spec: str) -> bool:
    return spec.lower().endswith(".gguf") or spec.startswith(LOCATOR_PREFIXES)


def _path(spec: str) -> Resolved | None:
    if _looks_like_gguf(spec):
        return Resolved(backend="llamacpp", model=spec, source="path")
    path = Path(spec).expanduser()
    if path.is_dir():
        return Resolved(backend="hf", model=str(path), source="path")
    if path.is_file():
        return Resolved(backend="llamacpp", model=str(path), source="path")
    return None


def _catalog(spec: str) -> Resolved:
    from lmscape.catalog import load_catalog

    catalog = load_catalog()
    try:
        entry = catalog.get(spec)
    except NotFoundError as exc:
        raise NotFoundError(
            "model", spec, [*exc.suggestions, *catalog.ids()], hint=FALLBACK_HINT
        ) from None
    if entry.run is None:
        raise ConfigError(
            f"catalog model {entry.id!r} has no `run:` recipe (its figures are reported, "
            "not runnable from here)",
            hint=f"add a run: section for {entry.id} to $LMSCAPE_HOME/catalog.yaml, "
            "or pass BACKEND:MODEL",
        )
    return Resolved(
        backend=entry.run.backend,
        model=entry.run.model,
        model_id=entry.id,
        options=dict(entry.run.options),
        source="catalog",
    )


def resolve(spec: str) -> Resolved:
    """Work out backend, model and options for ``spec`` without loading anything."""
    spec = spec.strip()
    if not spec:
        raise NotFoundError("model", spec, hint=FALLBACK_HINT)
    direct = _direct(spec)
    if direct is not None:
        return direct
    if _looks_like_gguf(spec) or Path(spec).expanduser().exists():
        found = _path(spec)
        if found is not None:
            return found
    return _catalog(spec)


def get_model(model_id: str, /, **options: Any):
    """A ready backend for a catalog id, a ``BACKEND:MODEL`` spec or a GGUF path."""
    resolved = resolve(model_id)
    cls = registry.get_backend_class(resolved.backend)
    kwargs: dict[str, Any] = {**resolved.options, **options}
    if resolved.model_id:
        kwargs.setdefault("model_id", resolved.model_id)
    return cls(model=resolved.model, **kwargs)
