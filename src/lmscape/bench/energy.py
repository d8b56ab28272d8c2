"""Energy and carbon estimates for measured runs.

These machines expose no RAPL power counters, so lmscape uses a documented TDP-based
estimate of the energy the benchmark *process* drew on the CPU::

    utilisation = process CPU seconds / (wall seconds x logical cores)
    kWh         = utilisation x LMSCAPE_CPU_TDP_WATTS x wall seconds / 3.6e6
                = process CPU seconds / cores x TDP / 3.6e6
    gCO2e       = kWh x LMSCAPE_GRID_GCO2_PER_KWH

Memory, disk, idle power and (for remote systems) the provider's servers are not
counted; remote systems therefore get no energy figure. The method string is stored
with every run and printed in reports.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from typing import Any

from lmscape.config import Settings, load_settings


@dataclass(frozen=True, kw_only=True)
class EnergyEstimate:
    kwh: float
    gco2e: float
    cpu_s: float
    wall_s: float
    utilisation: float  # 0..1 of all logical cores
    method: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def method_text(settings: Settings | None = None, cores: int | None = None) -> str:
    """One sentence stating how energy was estimated, with the numbers used."""
    s = settings or load_settings()
    n = cores or os.cpu_count() or 1
    return (
        "TDP-based estimate (no RAPL counters): process CPU time / "
        f"({n} logical cores x wall time) x {s.cpu_tdp_watts:g} W CPU TDP "
        f"(LMSCAPE_CPU_TDP_WATTS) x wall time; carbon at {s.grid_gco2_per_kwh:g} gCO2e/kWh "
        "(LMSCAPE_GRID_GCO2_PER_KWH). CPU only: memory, idle power and remote servers "
        "are not counted."
    )


def estimate(
    cpu_s: float, wall_s: float, *, settings: Settings | None = None, cores: int | None = None
) -> EnergyEstimate:
    """Energy drawn by ``cpu_s`` process CPU seconds spread over ``wall_s`` seconds."""
    s = settings or load_settings()
    n = cores or os.cpu_count() or 1
    cpu_s = max(0.0, cpu_s)
    utilisation = min(1.0, cpu_s / (wall_s * n)) if wall_s > 0 else 0.0
    kwh = utilisation * s.cpu_tdp_watts * wall_s / 3.6e6
    return EnergyEstimate(
        kwh=kwh,
        gco2e=kwh * s.grid_gco2_per_kwh,
        cpu_s=cpu_s,
        wall_s=wall_s,
        utilisation=utilisation,
        method=method_text(s, n),
    )
