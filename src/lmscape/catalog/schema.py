"""The catalog schema: pydantic models with ``extra="forbid"``.

Every fact that is a number or a date carries its ``source`` (a URL, or a paper with
the table it comes from) and ``as_of`` (the date the source stated it). A fact without
a source fails validation.

Conventions
-----------
- ``params`` is the parameter count as a plain number (405e9, not "405B").
- Prices are USD per 1M tokens (``input_per_mtok``, ``output_per_mtok``).
- Scores are recorded *as published*, but accuracies and F1 are written on a 0..1 scale
  (a published 93.5% is ``0.935``); ``metric`` says what the number is and ``setting``
  how it was obtained ("5-shot", "zero-shot", "fine-tuned", ...). ``split`` says which
  part of the dataset ("dev", "test") where the paper says so.
- Benchmarks are lowercase dataset ids: ``mmlu``, ``sst2``, ``glue``, ``hellaswag``...
- ``arch`` holds the facts the memory estimate needs (layers, KV heads, head dim);
  they come from the model's ``config.json`` or paper, named in ``arch.source``.
- Hardware entries (``hardware:`` lists) price the configurations ``lmscape fit`` knows:
  ``HostingPrice`` is USD per device-hour on demand, ``Throughput`` a published
  (*reported*) serving rate. Device counts and memory stay in ``catalog/hardware.py``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

T = TypeVar("T")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Sourced(_Strict):
    """Base of every cited fact: ``source`` (URL or paper + table) and ``as_of`` (date)."""

    source: str
    as_of: dt.date

    @field_validator("source")
    @classmethod
    def _check_source(cls, value: str) -> str:
        value = value.strip()
        if len(value) < 8:
            raise ValueError("a source must be a URL or a paper citation (with table)")
        return value


class Fact(_Sourced, Generic[T]):
    """One value with where it comes from."""

    value: T
    note: str | None = None


class Price(_Sourced):
    """List price in USD per 1M tokens."""

    input_per_mtok: float = Field(ge=0)
    output_per_mtok: float = Field(ge=0)
    note: str | None = None


class Score(_Sourced):
    """A published benchmark score (see the module docstring for the conventions)."""

    benchmark: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]*$")
    metric: str
    value: float
    setting: str
    split: str | None = None
    note: str | None = None

    @model_validator(mode="after")
    def _fraction_scale(self) -> Score:
        if self.metric.startswith(("accuracy", "f1", "exact")) and not 0 <= self.value <= 1:
            raise ValueError(
                f"{self.metric} is written on a 0..1 scale (93.5% is 0.935), got {self.value}"
            )
        return self


class Arch(_Sourced):
    """Architecture facts for the memory estimate, all from ``source``.

    ``kind`` is ``decoder`` (keeps a KV cache while generating), ``encoder`` (no KV
    cache) or ``encoder-decoder``. ``sliding_window`` with ``global_layers`` describes
    models whose other layers only attend to the last ``sliding_window`` tokens
    (Gemma 3): their KV cache is capped at that window.
    """

    kind: Literal["decoder", "encoder", "encoder-decoder"]
    layers: int = Field(gt=0)
    hidden_size: int = Field(gt=0)
    attention_heads: int = Field(gt=0)
    kv_heads: int | None = Field(None, gt=0)
    head_dim: int | None = Field(None, gt=0)
    vocab_size: int | None = Field(None, gt=0)
    sliding_window: int | None = Field(None, gt=0)
    global_layers: int | None = Field(None, ge=0)

    @property
    def effective_kv_heads(self) -> int:
        """KV heads; models without grouped-query attention have one per query head."""
        return self.kv_heads or self.attention_heads

    @property
    def effective_head_dim(self) -> int:
        return self.head_dim or self.hidden_size // self.attention_heads


class RunRecipe(_Strict):
    """How to run a model: a backend registry name, a model, constructor options.

    ``model`` is a weights locator for local backends (see ``backends/locate.py``) or
    the provider's model name for remote ones. Options naming an environment variable
    end in ``_env`` (``api_key_env: OPENAI_API_KEY``); the backend reads it. ``serves``
    names the gateway endpoints the model answers (default: what its backend can do);
    whether it runs locally is a fact of the backend, which the resolver
    (``lmscape.backends.resolve``) knows and the catalog does not.
    """

    backend: str = Field(min_length=1)
    model: str = Field(min_length=1)
    options: dict[str, Any] = Field(default_factory=dict)
    serves: list[Literal["chat", "completions", "embeddings"]] | None = None
    note: str | None = None


class Lineage(_Strict):
    """How a model made here came about (written by ``lmscape distill`` / ``export``).

    ``metrics`` are measured on ``heldout`` (quality of the student and, where there is
    one, of its teacher; agreement between them; speed and size)."""

    kind: Literal["distilled", "exported"]
    base: str  # the student's starting model, or the model that was exported
    teacher: str | None = None  # a system name, or "gold" for the data's own labels
    task: str
    strategy: str  # fine-tune | setfit | bio-tagger | onnx | onnx-int8
    data: dict[str, Any] = Field(default_factory=dict)  # train / held-out sources, sizes
    created: dt.datetime
    metrics: dict[str, Any] = Field(default_factory=dict)
    settings: dict[str, Any] = Field(default_factory=dict)


class ModelEntry(_Strict):
    """One model and its cited facts."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9.-]*$")
    name: str
    aliases: list[str] = Field(default_factory=list)
    developer: str
    access: Literal["closed", "open-weight"]
    size_class: Literal["large", "small"]
    licence: str
    architecture: str
    params_fact: Fact[int] | None = Field(None, alias="params")
    context_fact: Fact[int] | None = Field(None, alias="context_window")
    released: Fact[dt.date] | None = None
    retired: dt.date | None = None
    retired_source: str | None = None
    price: Price | None = None
    scores: list[Score] = Field(default_factory=list)
    arch: Arch | None = None
    run: RunRecipe | None = None
    also_runs: list[RunRecipe] = Field(default_factory=list)
    card: str | None = None
    notes: str | None = None
    lineage: Lineage | None = None

    _origin: str = PrivateAttr(default="built-in")

    @field_validator("aliases")
    @classmethod
    def _lower_aliases(cls, v: list[str]) -> list[str]:
        return [a.lower() for a in v]

    @model_validator(mode="after")
    def _consistent(self) -> ModelEntry:
        if self.retired is not None and not self.retired_source:
            raise ValueError("a retired date needs retired_source")
        if self.params_fact is not None and self.params_fact.value <= 0:
            raise ValueError("params must be positive")
        return self

    # --- plain accessors (the contract other packages use) ---------------------------
    @property
    def params(self) -> int | None:
        return self.params_fact.value if self.params_fact else None

    @property
    def context_window(self) -> int | None:
        return self.context_fact.value if self.context_fact else None

    @property
    def release_date(self) -> dt.date | None:
        return self.released.value if self.released else None

    @property
    def origin(self) -> str:
        """Which file this entry came from ("built-in" or a path)."""
        return self._origin

    @property
    def recipes(self) -> list[RunRecipe]:
        """Every run recipe: ``run`` first, then ``also_runs``."""
        return [self.run, *self.also_runs] if self.run else list(self.also_runs)

    def score(self, benchmark: str) -> Score | None:
        """The first published score on ``benchmark`` (lowercase id), if any."""
        return next((s for s in self.scores if s.benchmark == benchmark.lower()), None)


HOST_HARDWARE = "cpu"


def hardware_names() -> list[str]:
    """The hardware names the catalog prices: the ``fit`` accelerators, then ``cpu``."""
    from lmscape.catalog.hardware import ACCELERATORS

    return [*ACCELERATORS, HOST_HARDWARE]


class HostingPrice(_Sourced):
    """An on-demand list price in USD per device-hour (per GPU; per VM for ``cpu``).

    A configuration of N devices costs N device-hours per hour; ``offer`` names the
    product as the provider lists it.
    """

    usd_per_device_hour: float = Field(gt=0)
    provider: str = Field(min_length=1)
    offer: str = Field(min_length=1)
    note: str | None = None


class Throughput(_Sourced):
    """A published serving throughput: *reported*, never mixed with what lmscape measures.

    ``model`` is a catalog model id; ``input_tokens``/``output_tokens`` are the request
    shape the source measured (its input and output sequence lengths).
    """

    model: str = Field(min_length=1)
    output_tokens_per_s: float = Field(gt=0)
    precision: str
    engine: str = Field(min_length=1)
    setting: str = Field(min_length=1)
    input_tokens: int | None = Field(None, gt=0)
    output_tokens: int | None = Field(None, gt=0)
    note: str | None = None

    @field_validator("precision")
    @classmethod
    def _known_precision(cls, value: str) -> str:
        from lmscape.catalog.hardware import PRECISION_BYTES

        if value not in PRECISION_BYTES:
            raise ValueError("precision must be one of " + ", ".join(PRECISION_BYTES))
        return value


class HardwareEntry(_Strict):
    """Hosting facts for one hardware configuration ``lmscape fit`` knows.

    The configuration itself (device count, memory per device) lives in
    ``catalog/hardware.py`` (``ACCELERATORS``); an entry adds what it costs and what
    published serving throughput it reached. ``cpu`` is a CPU-only virtual machine.
    """

    id: str
    name: str | None = None
    price: HostingPrice | None = None
    throughput: list[Throughput] = Field(default_factory=list)
    notes: str | None = None

    _origin: str = PrivateAttr(default="built-in")

    @field_validator("id")
    @classmethod
    def _known_hardware(cls, value: str) -> str:
        value = value.strip().lower()
        names = hardware_names()
        if value not in names:
            raise ValueError("unknown hardware name; use one of " + ", ".join(names))
        return value

    @property
    def origin(self) -> str:
        """Which file this entry came from ("built-in" or a path)."""
        return self._origin

    @property
    def accelerator(self):  # -> Accelerator | None (kept untyped: hardware imports lazily)
        """The ``fit`` configuration (count and memory); None for ``cpu``."""
        from lmscape.catalog.hardware import ACCELERATORS

        return ACCELERATORS.get(self.id)

    @property
    def devices(self) -> int:
        """Devices the configuration rents: GPUs, or 1 VM for ``cpu``."""
        acc = self.accelerator
        return acc.count if acc is not None else 1

    @property
    def label(self) -> str:
        if self.name:
            return self.name
        acc = self.accelerator
        return acc.label if acc is not None else "CPU-only virtual machine"

    @property
    def usd_per_hour(self) -> float | None:
        """On-demand USD per hour for the whole configuration (None if not priced)."""
        if self.price is None:
            return None
        return self.price.usd_per_device_hour * self.devices

    def throughput_for(self, model_id: str) -> list[Throughput]:
        """Published throughputs of catalog model ``model_id`` on this configuration."""
        return [t for t in self.throughput if t.model == model_id]


class CatalogFile(_Strict):
    """The top level of a catalog YAML file: ``models`` and/or ``hardware``."""

    version: Literal[1] = 1
    models: list[dict[str, Any]] = Field(default_factory=list)
    hardware: list[dict[str, Any]] = Field(default_factory=list)
