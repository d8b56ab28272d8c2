"""What a decision is asked with: priorities, hard constraints and a volume, read from
the forms people type (``quality=3,cost=1``, ``500ms``, ``$0.01``, ``50000/day``,
``1000..10M/month``). Bad input raises :class:`~lmscape.errors.ConfigError` whose hint
names the valid forms.

Units
-----
- ``max_usd_per_1k``: USD per 1,000 items (``0.01``, ``$0.01``).
- ``max_latency_ms``: milliseconds, compared with the p95 latency per item (``500``,
  ``500ms``).
- ``min_quality``: the task's primary metric on its own scale (``0.85``; ``85%`` is 0.85).
- volume: items per ``hour``, ``day`` or ``month`` (``50000/day``, ``2k/hour``); a month
  is 730 hours (8,760 / 12), the same month hosting is billed by.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from lmscape.errors import ConfigError

PRIORITIES = ("quality", "cost", "latency", "privacy", "carbon")
DEFAULT_PRIORITIES = "quality=1,cost=1"
HOURS_PER_MONTH = 730.0
PER_MONTH = {"hour": HOURS_PER_MONTH, "day": HOURS_PER_MONTH / 24, "month": 1.0}
UNIT_ALIASES = {"h": "hour", "hr": "hour", "hour": "hour", "hours": "hour",
                "d": "day", "day": "day", "days": "day",
                "mo": "month", "month": "month", "months": "month"}
LICENCE_CHOICES = ("commercial", "permissive")
VOLUME_FORMS = "ITEMS/hour, ITEMS/day or ITEMS/month, e.g. 50000/day or 2M/month"

_NUMBER = r"([0-9]*\.?[0-9]+(?:e[+-]?[0-9]+)?)"
_SCALE = {"": 1.0, "k": 1e3, "m": 1e6, "b": 1e9}


def _suggest(name: str, choices: tuple[str, ...]) -> str:
    close = difflib.get_close_matches(name, choices, n=1, cutoff=0.5)
    return f"; did you mean {close[0]!r}?" if close else ""


# -- priorities -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Priorities:
    """Non-negative weights per criterion (:data:`PRIORITIES`); at least one positive."""

    weights: Mapping[str, float] = field(
        default_factory=lambda: MappingProxyType(parse_priority_weights(DEFAULT_PRIORITIES)))

    def __post_init__(self) -> None:
        object.__setattr__(self, "weights", MappingProxyType(
            {name: float(self.weights.get(name, 0.0)) for name in PRIORITIES}))

    @property
    def total(self) -> float:
        return sum(self.weights.values())

    def with_weight(self, name: str, value: float) -> Priorities:
        return Priorities({**self.weights, name: value})

    def text(self) -> str:
        return ",".join(f"{k}={_g(v)}" for k, v in self.weights.items() if v)


def _g(value: float) -> str:
    return f"{value:g}"


def parse_priority_weights(text: str) -> dict[str, float]:
    weights: dict[str, float] = {}
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        name, sep, raw = part.partition("=")
        name = name.strip().lower()
        if name not in PRIORITIES:
            raise ConfigError(
                f"unknown priority {name!r}{_suggest(name, PRIORITIES)}",
                hint="priorities are " + ", ".join(PRIORITIES)
                + "; write --priority quality=3,cost=2,latency=1")
        if not sep:
            raise ConfigError(f"priority {name!r} has no weight",
                              hint=f"write {name}=WEIGHT, e.g. --priority {name}=1")
        try:
            value = float(raw)
        except ValueError:
            raise ConfigError(f"weight of {name!r} is {raw.strip()!r}, not a number",
                              hint=f"write {name}=2 (a number of 0 or more)") from None
        if not 0 <= value < float("inf"):  # also rejects nan
            raise ConfigError(f"weight of {name!r} must be 0 or more, got {raw.strip()}",
                              hint=f"write {name}=0 to ignore it")
        weights[name] = value
    if not any(weights.values()):
        raise ConfigError("every priority weight is 0 (or none was given)",
                          hint="give at least one positive weight, e.g. --priority quality=1")
    return weights


def parse_priorities(value: str | Mapping[str, float] | Priorities | None) -> Priorities:
    """``"quality=3,cost=1"``, a mapping, or None (the default ``quality=1,cost=1``)."""
    if isinstance(value, Priorities):
        return value
    if value is None:
        return Priorities()
    if isinstance(value, Mapping):
        text = ",".join(f"{k}={v}" for k, v in value.items())
        return Priorities(parse_priority_weights(text))
    return Priorities(parse_priority_weights(str(value)))


# -- constraints ----------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class Constraints:
    """Hard constraints: a system that breaks one is excluded (and listed with why)."""

    max_usd_per_1k: float | None = None
    max_latency_ms: float | None = None
    min_quality: float | None = None
    hardware: str | None = None
    data_must_stay_local: bool = False
    licence: str | None = None
    offline: bool = False

    def flags(self) -> list[str]:
        """The constraints as the command-line options that state them."""
        out = []
        if self.max_usd_per_1k is not None:
            out.append(f"--max-usd-per-1k {_g(self.max_usd_per_1k)}")
        if self.max_latency_ms is not None:
            out.append(f"--max-latency-ms {_g(self.max_latency_ms)}")
        if self.min_quality is not None:
            out.append(f"--min-quality {_g(self.min_quality)}")
        if self.hardware:
            out.append(f"--hardware {self.hardware}")
        if self.data_must_stay_local:
            out.append("--data-must-stay-local")
        if self.licence:
            out.append(f"--licence {self.licence}")
        if self.offline:
            out.append("--offline")
        return out


def _number(text: str, option: str, unit_hint: str, *, allowed_suffixes: tuple[str, ...] = (),
            prefix: str = "") -> tuple[float, str]:
    raw = text.strip()
    body = raw.lower().replace(" ", "")
    if prefix and body.startswith(prefix):
        body = body[len(prefix):]
    match = re.fullmatch("(-?" + _NUMBER[1:] + r"([a-z%/$.0-9]*)", body)
    if not match:
        raise ConfigError(f"{option} {raw!r} is not a number", hint=unit_hint)
    value, suffix = float(match.group(1)), match.group(2)
    if suffix and suffix not in allowed_suffixes:
        raise ConfigError(f"{option} {raw!r} has the wrong unit", hint=unit_hint)
    return value, suffix


def parse_usd_per_1k(value: str | float | None) -> float | None:
    if value is None or isinstance(value, int | float):
        return _non_negative(value, "--max-usd-per-1k")
    hint = ("--max-usd-per-1k is USD per 1,000 items: write a number such as 0.01 or $0.01 "
            "(not a price per token or per month)")
    number, _ = _number(value, "--max-usd-per-1k", hint, allowed_suffixes=("usd", "$"),
                        prefix="$")
    return _non_negative(number, "--max-usd-per-1k")


def parse_latency_ms(value: str | float | None) -> float | None:
    if value is None or isinstance(value, int | float):
        return _non_negative(value, "--max-latency-ms")
    number, suffix = _number(value, "--max-latency-ms",
                             "--max-latency-ms is milliseconds (p95 per item): write 500 or "
                             "500ms", allowed_suffixes=("ms", "s"))
    if suffix == "s":
        raise ConfigError(f"--max-latency-ms {value.strip()!r} has the wrong unit",
                          hint=f"--max-latency-ms is milliseconds: write {_g(number * 1000)} "
                               f"for {_g(number)} s")
    return _non_negative(number, "--max-latency-ms")


def parse_quality(value: str | float | None) -> float | None:
    if value is None or isinstance(value, int | float):
        return value if value is None else float(value)
    number, suffix = _number(value, "--min-quality",
                             "--min-quality is on the task metric's scale: write 0.85 "
                             "(or 85%)", allowed_suffixes=("%",))
    return number / 100 if suffix == "%" else number


def parse_licence(value: str | None) -> str | None:
    if value is None or value == "":
        return None
    key = value.strip().lower()
    if key not in LICENCE_CHOICES:
        raise ConfigError(f"unknown licence requirement {value!r}{_suggest(key, LICENCE_CHOICES)}",
                          hint="use --licence " + " or --licence ".join(LICENCE_CHOICES))
    return key


def parse_hardware(value: str | None) -> str | None:
    if value is None or value == "":
        return None
    from lmscape.catalog.hardware import ACCELERATORS, HOST
    from lmscape.catalog.schema import HOST_HARDWARE

    key = value.strip().lower()
    names = (*ACCELERATORS, HOST_HARDWARE, HOST)
    if key not in names:
        raise ConfigError(f"unknown hardware {value!r}{_suggest(key, names)}",
                          hint="use a `lmscape fit` name: " + ", ".join(names))
    return key


def _non_negative(value: float | None, option: str) -> float | None:
    if value is None:
        return None
    if value < 0:
        raise ConfigError(f"{option} must be 0 or more, got {_g(value)}",
                          hint=f"drop {option} or give a positive bound")
    return float(value)


def parse_constraints(**given) -> Constraints:
    """Constraints from keyword arguments as the CLI and ``recommend()`` take them."""
    return Constraints(
        max_usd_per_1k=parse_usd_per_1k(given.get("max_usd_per_1k")),
        max_latency_ms=parse_latency_ms(given.get("max_latency_ms")),
        min_quality=parse_quality(given.get("min_quality")),
        hardware=parse_hardware(given.get("hardware")),
        data_must_stay_local=bool(given.get("data_must_stay_local")),
        licence=parse_licence(given.get("licence")),
        offline=bool(given.get("offline")),
    )


# -- volume ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Volume:
    """Items per month, with the form it was given in."""

    per_month: float
    text: str

    @property
    def per_second(self) -> float:
        return self.per_month / (HOURS_PER_MONTH * 3600)


def _count(text: str, what: str) -> float:
    match = re.fullmatch(_NUMBER + r"([kmb]?)", text.strip().lower().replace(",", "")
                         .replace("_", ""))
    if not match:
        raise ConfigError(f"{what} {text.strip()!r} is not a number of items",
                          hint="write " + VOLUME_FORMS)
    return float(match.group(1)) * _SCALE[match.group(2)]


def _unit(text: str, raw: str) -> float:
    unit = UNIT_ALIASES.get(text.strip().lower())
    if unit is None:
        raise ConfigError(f"volume {raw!r} has the wrong unit {('/' + text.strip())!r}",
                          hint="write " + VOLUME_FORMS)
    return PER_MONTH[unit]


def parse_volume(value: str | float | Volume | None) -> Volume | None:
    """``50000/day`` -> 1,520,833 items a month; a bare number is items per month."""
    if value is None or isinstance(value, Volume):
        return value
    if isinstance(value, int | float):
        return Volume(per_month=_positive_volume(float(value), str(value)), text=f"{value:g}/month")
    raw = value.strip()
    count, sep, unit = raw.partition("/")
    if not sep:
        raise ConfigError(f"volume {raw!r} has no period", hint="write " + VOLUME_FORMS)
    per_month = _count(count, "volume") * _unit(unit, raw)
    return Volume(per_month=_positive_volume(per_month, raw), text=raw)


def _positive_volume(per_month: float, raw: str) -> float:
    if per_month <= 0:
        raise ConfigError(f"volume {raw!r} must be more than 0", hint="write " + VOLUME_FORMS)
    return per_month


@dataclass(frozen=True)
class VolumeRange:
    low: Volume
    high: Volume


def parse_volume_range(value: str) -> VolumeRange:
    """``1000..10000000/month`` (the unit applies to both ends)."""
    raw = value.strip()
    span, sep, unit = raw.partition("/")
    low, dots, high = span.partition("..")
    if not dots or not sep:
        raise ConfigError(f"volume range {raw!r} is not LOW..HIGH/PERIOD",
                          hint="write e.g. --volume 1000..10000000/month (or /day, /hour)")
    scale = _unit(unit, raw)
    lo, hi = _count(low, "volume"), _count(high, "volume")
    if not 0 < lo < hi:
        raise ConfigError(f"volume range {raw!r} needs 0 < LOW < HIGH",
                          hint="write e.g. --volume 1000..10000000/month")
    u = unit.strip()
    return VolumeRange(Volume(lo * scale, f"{low.strip()}/{u}"),
                       Volume(hi * scale, f"{high.strip()}/{u}"))
