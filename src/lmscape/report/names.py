"""System names for narrow terminals: whole, or with the model part abbreviated.

A system is ``MODEL/METHOD`` (or a method alone). Tables never cut a name into pieces;
when a table would not fit, the *model* part is shortened by one deterministic rule and
the table's caption says what each short form stands for:

1. a path keeps only its last component (``…/model.gguf``);
2. whole words (split after ``-``, ``_``, ``.``, ``:``) are kept from the start while
   they fit in the limit with a trailing ``…`` (``smollm2-135m-instruct`` at 14 ->
   ``smollm2-135m…``); a first word longer than the limit is cut to it;
3. two models that would share a short form keep more of their name until they differ
   (or stay whole).

The method part is never shortened: it names what was done.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

ELLIPSIS = "…"
FLOOR = 8  # no model part is cut shorter than this


def split_system(name: str) -> tuple[str | None, str]:
    """``"MODEL/METHOD"`` -> (MODEL, METHOD); ``"yake"`` -> (None, "yake")."""
    if "/" not in name:
        return None, name
    model, _, method = name.rpartition("/")
    return model, method


def abbreviate(model: str, limit: int | None) -> str:
    """``model`` in at most ``limit`` characters (rules 1-2 of the module docstring)."""
    if limit is None or len(model) <= limit:
        return model
    limit = max(limit, 2)
    if "/" in model.rstrip("/"):
        tail = ELLIPSIS + "/" + model.rstrip("/").rpartition("/")[2]
        if len(tail) <= limit:
            return tail
        model = tail[2:]
    words = re.split(r"(?<=[-_.:])", model)
    out = ""
    for word in words:
        if len(out) + len(word.rstrip("-_.:")) + 1 > limit:  # the separator makes way for …
            break
        out += word
    out = out.rstrip("-_.:") or model[:limit - 1]
    return out + ELLIPSIS


@dataclass
class Names:
    """Display labels for a set of system names at one model-part limit."""

    limit: int | None = None
    labels: dict[str, str] = field(default_factory=dict)
    legend: dict[str, str] = field(default_factory=dict)  # short model -> full model

    def __call__(self, system: str) -> str:
        return self.labels.get(system, system)

    def caption(self) -> str | None:
        if not self.legend:
            return None
        return "… shortened: " + "; ".join(f"{short} = {full}"
                                           for short, full in self.legend.items())


def display_names(systems: Iterable[str], limit: int | None = None) -> Names:
    """Labels for ``systems`` with each model part at most ``limit`` characters."""
    systems = list(dict.fromkeys(systems))
    models = sorted({m for m in (split_system(s)[0] for s in systems) if m})
    short = {m: abbreviate(m, limit) for m in models}
    # rule 3: models that collide keep more of their name until they differ
    grow = limit or 0
    while limit is not None and len(set(short.values())) < len(short):
        grow += 1
        counts: dict[str, int] = {}
        for s in short.values():
            counts[s] = counts.get(s, 0) + 1
        short = {m: abbreviate(m, grow) if counts[s] > 1 else s for m, s in short.items()}
    names = Names(limit=limit)
    for system in systems:
        model, method = split_system(system)
        if model is None or short[model] == model:
            names.labels[system] = system
            continue
        names.labels[system] = f"{short[model]}/{method}"
        names.legend[short[model]] = model
    names.legend = dict(sorted(names.legend.items()))
    return names


def label_within(system: str, width: int) -> str:
    """``system`` in at most ``width`` characters, the model part shortened first (for
    one-line labels such as progress bars); a method longer than that is cut."""
    model, method = split_system(system)
    if len(system) <= width or model is None:
        return system if len(system) <= width else system[:width - 1] + ELLIPSIS
    label = f"{abbreviate(model, max(FLOOR, width - len(method) - 1))}/{method}"
    return label if len(label) <= width else label[:width - 1] + ELLIPSIS


def model_part_limits(systems: Iterable[str]) -> list[int | None]:
    """The limits worth trying, loosest first: none, then one shorter each step down
    to :data:`FLOOR`."""
    longest = max((len(m) for m in (split_system(s)[0] for s in systems) if m), default=0)
    return [None, *range(longest - 1, FLOOR - 1, -1)]


def table_width(renderable: Any) -> int:
    """The width a renderable takes when nothing has to wrap (its natural width)."""
    from rich.console import Console

    console = Console(width=100_000, file=io.StringIO(), color_system=None)
    return console.measure(renderable).maximum


def within_width(build: Callable[[Names], Sequence[Any]], systems: Iterable[str], width: int
        ) -> tuple[Sequence[Any], Names] | None:
    """The renderables ``build(names)`` gives at the loosest model-part limit at which
    every one of them fits in ``width`` columns, or None when none does."""
    systems = list(systems)
    for limit in model_part_limits(systems):
        names = display_names(systems, limit)
        out = build(names)
        if all(table_width(r) <= width for r in out):
            return out, names
    return None

