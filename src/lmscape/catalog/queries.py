"""The loaded catalog and the questions asked of it: by id or alias, by provider
model name, filters (access, parameter budget, runs offline here), and the hosting
facts of each hardware configuration (price per hour, reported throughput)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from lmscape.catalog.schema import HardwareEntry, ModelEntry, Throughput
from lmscape.errors import ConfigError, NotFoundError

_SUFFIX = {"": 1, "k": 10**3, "m": 10**6, "b": 10**9, "g": 10**9, "t": 10**12}
_COUNT = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:e[+-]?[0-9]+)?)\s*([kmbgt]?)\s*$", re.IGNORECASE)


def parse_count(text: str | float) -> int:
    """Parse a parameter count: ``1B``, ``500M``, ``1.3b``, ``7e9``, ``125k``, ``66000000``."""
    if isinstance(text, int | float):
        return int(text)
    match = _COUNT.match(text.replace("_", "").replace(",", ""))
    if not match:
        raise ConfigError(
            f"cannot read {text!r} as a parameter count",
            hint="write a number with an optional suffix: 500M, 1.3B, 7e9",
        )
    return round(float(match.group(1)) * _SUFFIX[match.group(2).lower()])


def format_count(n: int | None) -> str:
    """405000000000 -> '405B', 66000000 -> '66M', 14500000 -> '14.5M'."""
    if n is None:
        return "—"
    for div, suffix in ((10**12, "T"), (10**9, "B"), (10**6, "M"), (10**3, "k")):
        if n >= div:
            value = n / div
            text = f"{value:.1f}" if value < 100 else f"{value:.0f}"
            return text.removesuffix(".0") + suffix
    return str(n)


class Catalog:
    """An ordered set of :class:`ModelEntry`, looked up by id or alias, plus the
    :class:`HardwareEntry` of each priced hardware configuration."""

    def __init__(
        self, entries: Iterable[ModelEntry], hardware: Iterable[HardwareEntry] = ()
    ) -> None:
        self._entries: dict[str, ModelEntry] = {}
        for entry in entries:
            self._entries[entry.id] = entry
        self._hardware: dict[str, HardwareEntry] = {h.id: h for h in hardware}
        self._aliases: dict[str, str] = {}
        for entry in self._entries.values():
            for alias in entry.aliases:
                if alias not in self._entries:
                    self._aliases[alias] = entry.id

    def __iter__(self) -> Iterator[ModelEntry]:
        return iter(self._entries.values())

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, model_id: object) -> bool:
        return isinstance(model_id, str) and self._resolve(model_id) is not None

    def ids(self) -> list[str]:
        return list(self._entries)

    def _resolve(self, model_id: str) -> str | None:
        key = model_id.strip().lower()
        if key in self._entries:
            return key
        return self._aliases.get(key)

    def get(self, model_id: str) -> ModelEntry:
        """The entry for an id or alias; unknown ids suggest the closest ones."""
        resolved = self._resolve(model_id)
        if resolved is None:
            raise NotFoundError(
                "model",
                model_id,
                [*self._entries, *self._aliases],
                hint="run `lmscape models` to list them",
            )
        return self._entries[resolved]

    def find_by_recipe(self, backend: str, model: str) -> ModelEntry | None:
        """The entry one of whose run recipes is ``backend`` + ``model``
        (``openai`` + ``gpt-4o-2024-08-06`` -> gpt-4o), else the entry whose id or alias
        is ``model`` and which runs on ``backend`` (``google`` + ``gemini-1.5-pro-002``),
        or None."""
        for entry in self._entries.values():
            if any(r.backend == backend and r.model == model for r in entry.recipes):
                return entry
        named = self._resolve(model)  # an id or alias of an entry that runs on ``backend``
        if named is not None and any(r.backend == backend for r in self._entries[named].recipes):
            return self._entries[named]
        return None

    def filter(
        self,
        *,
        access: str | None = None,
        size_class: str | None = None,
        max_params: int | None = None,
    ) -> list[ModelEntry]:
        """Entries matching every given condition.

        ``max_params`` keeps only entries whose parameter count is published and at most
        that number (closed models that publish none are left out).
        """
        out = []
        for entry in self._entries.values():
            if access is not None and entry.access != access:
                continue
            if size_class is not None and entry.size_class != size_class:
                continue
            if max_params is not None and (entry.params is None or entry.params > max_params):
                continue
            out.append(entry)
        return out

    # --- hardware ---------------------------------------------------------------------
    def hardware_entries(self) -> list[HardwareEntry]:
        """Every hardware entry, in catalog order."""
        return list(self._hardware.values())

    def hardware(self, name: str) -> HardwareEntry:
        """Hosting facts for a ``fit`` hardware name (``h100-80gb``, ``8x-h100``, ``cpu``)."""
        key = name.strip().lower()
        if key in self._hardware:
            return self._hardware[key]
        from lmscape.catalog.schema import hardware_names

        raise NotFoundError(
            "hardware",
            name,
            list(self._hardware) or hardware_names(),
            hint="priced hardware: " + ", ".join(self._hardware),
        )

    def reported_throughput(self, model_id: str) -> list[tuple[HardwareEntry, Throughput]]:
        """(hardware, Throughput) for every published throughput of ``model_id``."""
        resolved = self.get(model_id).id
        return [(h, t) for h in self._hardware.values() for t in h.throughput_for(resolved)]
