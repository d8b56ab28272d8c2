"""Number formatting shared by the CLI tables and the HTML report."""

from __future__ import annotations

import math


def quality(value: float | None, low: float | None = None, high: float | None = None) -> str:
    if value is None:
        return "—"
    text = f"{value:.3f}"
    if low is not None and high is not None:
        text += f" [{low:.3f}, {high:.3f}]"
    return text


def seconds(value: float | None) -> str:
    if value is None:
        return "—"
    if value < 1e-3:
        return f"{value * 1e6:.0f} µs"
    if value < 1:
        return f"{value * 1e3:.1f} ms"
    return f"{value:.2f} s"


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
