"""Settings read from the environment.

| variable                  | default                       | meaning                                  |
|---------------------------|-------------------------------|------------------------------------------|
| LMSCAPE_HOME              | ~/.lmscape                    | where the database, user catalog, caches live |
| LMSCAPE_DB                | sqlite:///$LMSCAPE_HOME/lmscape.db | any SQLAlchemy URL (PostgreSQL for a shared gateway) |
| LMSCAPE_HARDWARE_USD_PER_HOUR | 0.10                      | cost of this machine's time, for local cost per 1k items |
| LMSCAPE_GRID_GCO2_PER_KWH | 400                           | grid carbon intensity for energy estimates |
| LMSCAPE_CPU_TDP_WATTS     | 15 W per core (max 200)       | power draw used by the TDP-based energy estimate |
| LMSCAPE_THREADS           | the cores this process may use | CPU threads for local models (llama.cpp, torch) |

Defaults are documented where they are used (README "Assumptions").
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from lmscape.errors import ConfigError

DEFAULT_HARDWARE_USD_PER_HOUR = 0.10
DEFAULT_GRID_GCO2_PER_KWH = 400.0
DEFAULT_TDP_WATTS_PER_CORE = 15.0


class Settings(BaseModel):
    """Validated settings; build with :func:`load_settings`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    home: Path
    db_url: str
    hardware_usd_per_hour: float = Field(DEFAULT_HARDWARE_USD_PER_HOUR, ge=0)
    grid_gco2_per_kwh: float = Field(DEFAULT_GRID_GCO2_PER_KWH, ge=0)
    cpu_tdp_watts: float = Field(gt=0)

    @property
    def user_catalog(self) -> Path:
        return self.home / "catalog.yaml"


def _float_env(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError:
        raise ConfigError(
            f"{name}={raw!r} is not a number", hint=f"set {name} to a number, e.g. {default}"
        ) from None


def default_threads() -> int:
    """CPU threads for local models: ``LMSCAPE_THREADS``, else every core this process
    may run on. (On a machine busy with other work, fewer threads than cores is often
    faster: llama.cpp's threads wait for each other at every step.)"""
    raw = os.environ.get("LMSCAPE_THREADS")
    if raw:
        try:
            value = int(raw)
        except ValueError:
            value = 0
        if value < 1:
            raise ConfigError(f"LMSCAPE_THREADS={raw!r} is not a positive whole number",
                              hint="set LMSCAPE_THREADS to 1 or more, or unset it")
        return value
    return available_cores()


def available_cores() -> int:
    """The cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def load_settings() -> Settings:
    """Read settings from the environment (cheap; call it where needed)."""
    home = Path(os.environ.get("LMSCAPE_HOME") or Path.home() / ".lmscape").expanduser()
    db_url = os.environ.get("LMSCAPE_DB") or f"sqlite:///{home / 'lmscape.db'}"
    cores = os.cpu_count() or 1
    try:
        return Settings(
            home=home,
            db_url=db_url,
            hardware_usd_per_hour=_float_env(
                "LMSCAPE_HARDWARE_USD_PER_HOUR", DEFAULT_HARDWARE_USD_PER_HOUR
            ),
            grid_gco2_per_kwh=_float_env("LMSCAPE_GRID_GCO2_PER_KWH", DEFAULT_GRID_GCO2_PER_KWH),
            cpu_tdp_watts=_float_env(
                "LMSCAPE_CPU_TDP_WATTS", min(200.0, DEFAULT_TDP_WATTS_PER_CORE * cores)
            ),
        )
    except ValidationError as exc:
        err = exc.errors()[0]
        raise ConfigError(
            f"invalid setting {err['loc'][0]}: {err['msg']}",
            hint="fix the LMSCAPE_* environment variable",
        ) from None
