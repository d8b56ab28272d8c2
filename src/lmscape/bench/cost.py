"""Cost per item and per 1k items.

- models that run on this machine (local backends, and OpenAI-compatible servers on
  loopback without a list price): the wall time the item took x this machine's price
  (``LMSCAPE_HARDWARE_USD_PER_HOUR``, default 0.10 USD/hour, roughly a small cloud VM);
- remote models: tokens x the list price the resolver found for the model
  (``prompt_tokens x input_per_mtok + completion_tokens x output_per_mtok) / 1e6``).
"""

from __future__ import annotations

from typing import Any

from lmscape.backends.resolve import TokenPrice, resolve
from lmscape.config import load_settings
from lmscape.errors import LmscapeError


def local_cost_usd(wall_s: float, usd_per_hour: float | None = None) -> float:
    rate = load_settings().hardware_usd_per_hour if usd_per_hour is None else usd_per_hour
    return max(0.0, wall_s) * rate / 3600.0


def list_price(model_spec: str | None) -> TokenPrice | None:
    """The list price of a model name (catalog id, ``openai:gpt-4o-...``), if known."""
    if not model_spec:
        return None
    try:
        return resolve(model_spec).price
    except LmscapeError:  # unknown name, or a broken user catalog: no price, not a failure
        return None


class CostModel:
    """Prices one item of one system: by wall time if it runs here, else by tokens."""

    def __init__(self, *, is_local: bool, price: TokenPrice | None, usd_per_hour: float,
                 runs_here: bool | None = None) -> None:
        self.is_local = is_local  # the backend is local (one call at a time)
        self.runs_here = is_local if runs_here is None else runs_here
        self.price = price
        self.usd_per_hour = usd_per_hour

    @classmethod
    def for_system(cls, system: Any) -> CostModel:
        model = getattr(getattr(system, "method", None), "model", None)
        is_local = model is None or bool(getattr(model, "is_local", True))
        if is_local:
            return cls(is_local=True, price=None,
                       usd_per_hour=load_settings().hardware_usd_per_hour)
        resolved = getattr(system, "resolved", None)
        if resolved is None:
            try:
                resolved = resolve(getattr(system, "model_id", None) or "")
            except LmscapeError:
                resolved = None
        if resolved is None:
            return cls(is_local=False, price=None, runs_here=False,
                       usd_per_hour=load_settings().hardware_usd_per_hour)
        return cls.for_resolved(resolved)

    @classmethod
    def for_resolved(cls, resolved: Any) -> CostModel:
        """The cost rule for a resolved model (the gateway bills its requests by it):
        local backends, and servers on loopback without a list price, by wall time."""
        price, runs_here = None, resolved.is_local
        if not resolved.is_local:
            price = resolved.price
            conn = resolved.connection
            runs_here = price is None and conn is not None and conn.loopback
        return cls(is_local=resolved.is_local, price=price, runs_here=runs_here,
                   usd_per_hour=load_settings().hardware_usd_per_hour)

    @property
    def basis(self) -> str:
        if self.runs_here:
            where = "local" if self.is_local else "server on this machine"
            return (f"{where}: wall time x {self.usd_per_hour:g} USD/hour "
                    "(LMSCAPE_HARDWARE_USD_PER_HOUR)")
        if self.price is None:
            return "remote: no list price in the catalog"
        return (f"remote: tokens x list price ({self.price.input_per_mtok:g} in / "
                f"{self.price.output_per_mtok:g} out USD per 1M tokens)")

    def item_cost(self, *, wall_s: float, prompt_tokens: int, completion_tokens: int
                  ) -> float | None:
        if self.runs_here:
            return local_cost_usd(wall_s, self.usd_per_hour)
        if self.price is None:
            return None
        return self.price.cost_usd(prompt_tokens, completion_tokens)
