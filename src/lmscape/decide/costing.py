"""Monthly cost at a volume: paying per call against hosting on reserved machines.

Two models, used by ``recommend --volume`` and ``breakeven`` alike:

- **per call** (closed APIs, and any remote model with a list price):
  ``monthly(v) = v × cost per item``, cost per item = tokens per item × list price.
- **reserved hosting** (open and small models on machines you rent): machines are billed
  by the hour whether busy or not, so the first one is paid even at zero volume:
  ``machines(v) = max(1, ceil(v / capacity))``, ``capacity = items/s × 3600 × 730`` (a
  month of 730 hours, each machine serving at its measured or reported throughput all
  month), ``monthly(v) = machines(v) × USD/hour × 730``. With no throughput figure the
  capacity is unknown: the cost is one machine's, valid only while it keeps up.

The first volume at which hosting is cheaper than a per-call option is
``floor / cost per item`` (the floor is one machine-month), provided that one machine can
serve that volume; above it, each added machine briefly makes hosting dearer again
until the volume fills it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from lmscape.decide.inputs import HOURS_PER_MONTH


@dataclass(frozen=True, kw_only=True)
class PerCall:
    """Pay per item: ``usd_per_item`` from tokens per item × list price."""

    name: str
    usd_per_item: float
    basis: str
    kind: str = "reported"  # "measured": the tokens (and cost) were counted by a run

    def monthly(self, per_month: float) -> float:
        return per_month * self.usd_per_item

    @property
    def usd_per_1k(self) -> float:
        return 1000 * self.usd_per_item


@dataclass(frozen=True, kw_only=True)
class Reserved:
    """Rent whole machines by the hour: ``hardware`` at ``usd_per_hour`` each."""

    name: str
    hardware: str
    usd_per_hour: float
    items_per_s: float | None  # per machine; None: capacity unknown
    basis: str  # where the throughput comes from
    price_basis: str  # where the hourly price comes from
    kind: str = "measured"  # "measured" (throughput run here) or "reported"

    @property
    def floor(self) -> float:
        """One machine for a month, busy or not."""
        return self.usd_per_hour * HOURS_PER_MONTH

    @property
    def capacity(self) -> float | None:
        """Items one machine serves in a month at its throughput (None if unknown)."""
        if not self.items_per_s:
            return None
        return self.items_per_s * 3600 * HOURS_PER_MONTH

    def machines(self, per_month: float) -> int:
        cap = self.capacity
        if cap is None:
            return 1
        return max(1, math.ceil(per_month / cap - 1e-9))

    def monthly(self, per_month: float) -> float:
        return self.machines(per_month) * self.floor

    @property
    def usd_per_1k_full(self) -> float | None:
        """Cost per 1,000 items with every machine fully busy (the least it can be)."""
        cap = self.capacity
        return None if cap is None else 1000 * self.floor / cap


@dataclass(frozen=True, kw_only=True)
class Crossing:
    """Where hosting ``reserved`` first costs less a month than calling ``per_call``."""

    per_call: str
    reserved: str
    volume: float | None  # items a month; None: hosting is never cheaper
    capacity_known: bool
    why: str

    def as_dict(self) -> dict:
        return {"api": self.per_call, "hosting": self.reserved, "volume_per_month": self.volume,
                "capacity_known": self.capacity_known, "why": self.why}


def crossing(per_call: PerCall, reserved: Reserved) -> Crossing:
    """The break-even volume of one pair (see the module docstring)."""
    name = {"per_call": per_call.name, "reserved": reserved.name}
    if per_call.usd_per_item <= 0:
        return Crossing(**name, volume=None, capacity_known=reserved.capacity is not None,
                        why="the API costs nothing per item")
    volume = reserved.floor / per_call.usd_per_item
    cap = reserved.capacity
    if cap is None:
        return Crossing(**name, volume=volume, capacity_known=False,
                        why="one machine-month equals the API bill here; hosting is cheaper "
                            "above it only if one machine keeps up (throughput unknown)")
    if volume > cap:
        return Crossing(**name, volume=None, capacity_known=True,
                        why=f"never: even fully busy, hosting costs "
                            f"${reserved.usd_per_1k_full:.4g} per 1k items against the API's "
                            f"${per_call.usd_per_1k:.4g}")
    return Crossing(**name, volume=volume, capacity_known=True,
                    why="one machine-month equals the API bill here; hosting is cheaper above")
