"""Cost per item and per 1k items.

- remote systems: tokens x the catalog's list price
  (``prompt_tokens x input_per_mtok + completion_tokens x output_per_mtok) / 1e6``;
- local systems: the wall time the item took x this machine's price
  (``LMSCAPE_HARDWARE_USD_PER_HOUR``, default 0.10 USD/hour, roughly a small cloud VM).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lmscape.config import load_settings


@dataclass(frozen=True, kw_only=True)
class Price:
    """List price in USD per million tokens, with where it came from."""

    input_per_mtok: float
    output_per_mtok: float
    source: str = ""


def catalog_entry(model_id: str | None) -> Any | None:
    """The catalog entry for ``model_id`` (an id or alias), or None if it is unknown."""
    if not model_id:
        return None
    from lmscape.catalog import load_catalog

    try:
        return load_catalog().get(model_id)
    except Exception:  # noqa: BLE001 - NotFoundError, or a broken user catalog must not stop a benchmark
        return None


def catalog_price(model_id: str | None) -> Price | None:
    entry = catalog_entry(model_id)
    price = entry.price if entry is not None else None
    if price is None:
        return None
    return Price(input_per_mtok=price.input_per_mtok, output_per_mtok=price.output_per_mtok,
                 source=price.source or "")


def token_cost_usd(prompt_tokens: int, completion_tokens: int, price: Price) -> float:
    return (prompt_tokens * price.input_per_mtok + completion_tokens * price.output_per_mtok) / 1e6


def local_cost_usd(wall_s: float, usd_per_hour: float | None = None) -> float:
    rate = load_settings().hardware_usd_per_hour if usd_per_hour is None else usd_per_hour
    return max(0.0, wall_s) * rate / 3600.0


class CostModel:
    """Prices one item of one system: by tokens if remote and priced, else by wall time."""

    def __init__(self, *, is_local: bool, price: Price | None, usd_per_hour: float) -> None:
        self.is_local = is_local
        self.price = price
        self.usd_per_hour = usd_per_hour

    @classmethod
    def for_system(cls, system: Any) -> CostModel:
        model = getattr(getattr(system, "method", None), "model", None)
        is_local = model is None or bool(getattr(model, "is_local", True))
        price = None if is_local else catalog_price(getattr(system, "model_id", None))
        return cls(is_local=is_local, price=price,
                   usd_per_hour=load_settings().hardware_usd_per_hour)

    @property
    def basis(self) -> str:
        if self.is_local:
            return f"local: wall time x {self.usd_per_hour:g} USD/hour (LMSCAPE_HARDWARE_USD_PER_HOUR)"
        if self.price is None:
            return "remote: no list price in the catalog"
        return (f"remote: tokens x list price ({self.price.input_per_mtok:g} in / "
                f"{self.price.output_per_mtok:g} out USD per 1M tokens)")

    def item_cost(self, *, wall_s: float, prompt_tokens: int, completion_tokens: int) -> float | None:
        if self.is_local:
            return local_cost_usd(wall_s, self.usd_per_hour)
        if self.price is None:
            return None
        return token_cost_usd(prompt_tokens, completion_tokens, self.price)
