"""Number formatting shared by the CLI tables and the HTML report."""

from __future__ import annotations

import math
from collections.abc import Iterable


def quality(value: float | None, low: float | None = None, high: float | None = None,
            digits: int = 3, *, sep: str = " ") -> str:
    """``0.812 [0.760, 0.865]``: the value and its interval, ``digits`` decimals;
    ``sep="\n"`` puts the interval on a line of its own."""
    if value is None:
        return "—"
    text = f"{value:.{digits}f}"
    if low is not None and high is not None:
        text += f"{sep}[{low:.{digits}f}, {high:.{digits}f}]"
    return text


def digits_for(values: Iterable[float | None]) -> int:
    """Decimals for a column of metric values: 3 while every value is below 10
    (0.812), 1 below 1000 (chrF 20.1, perplexity 123.4), else none."""
    top = max((abs(v) for v in values if v is not None), default=0.0)
    if top < 10:
        return 3
    return 1 if top < 1000 else 0


def seconds(value: float | None) -> str:
    if value is None:
        return "—"
    if value < 1e-3:
        return f"{value * 1e6:.0f} µs"
    if value < 1:
        return f"{value * 1e3:.1f} ms"
    return f"{value:.2f} s"


def duration(value: float | None) -> str:
    """``0.42 s``, ``12.3 s``, ``4 min 41 s``, ``1 h 02 min``."""
    if value is None:
        return "—"
    if value < 1:
        return f"{value:.2f} s"
    if value < 60:
        return f"{value:.1f} s"
    minutes, seconds = divmod(round(value), 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def rate(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:,.0f}" if value >= 100 else f"{value:.1f}" if value >= 1 else f"{value:.2f}"


def size(value: float | None) -> str:
    if not value:
        return "—"
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if value >= scale:
            return f"{value / scale:.1f} {unit}"
    return f"{value:.0f} B"


def usd(value: float | None) -> str:
    if value is None:
        return "—"
    if value == 0:
        return "$0"
    if value < 0.01:
        digits = -math.floor(math.log10(abs(value))) + 1  # two significant digits
        return f"${value:.{digits}f}"
    return f"${value:.3f}" if value < 10 else f"${value:,.2f}"


def grams(value: float | None) -> str:
    if value is None:
        return "—"
    if 0 < value < 0.01:
        return f"{value:.{-math.floor(math.log10(value)) + 1}f} g"
    return f"{value:.3f} g" if value < 10 else f"{value:.1f} g"
