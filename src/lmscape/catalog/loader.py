"""Read catalog YAML files: the built-in ``models.yaml`` and ``hardware.yaml``, then the
user's ``$LMSCAPE_HOME/catalog.yaml``, then any ``--catalog`` files, in that order. Each
file may hold ``models:`` and ``hardware:`` lists; an entry whose id already exists in
its list replaces it whole.

A malformed file raises :class:`~lmscape.errors.CatalogError` naming the file, the
entry and the field (YAML syntax errors: the file and line).
"""

from __future__ import annotations

import difflib
import os
from functools import lru_cache
from importlib.resources import files
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from lmscape.catalog.queries import Catalog
from lmscape.catalog.schema import CatalogFile, HardwareEntry, ModelEntry
from lmscape.errors import CatalogError

BUILTIN = "built-in"
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
SCHEMA_HINT = "see docs/catalog.md for the catalog schema"

_MESSAGES = {
    "extra_forbidden": "unknown field",
    "missing": "missing required field",
}


def builtin_path() -> Path:
    """The ``models.yaml`` shipped inside the package."""
    return Path(str(files("lmscape.catalog").joinpath("models.yaml")))


def builtin_hardware_path() -> Path:
    """The ``hardware.yaml`` (hosting prices, reported throughput) shipped in the package."""
    return Path(str(files("lmscape.catalog").joinpath("hardware.yaml")))


def _read_yaml(path: Path, label: str) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CatalogError(
            "file not found", file=label, hint="check the path given to --catalog"
        ) from None
    except OSError as exc:
        raise CatalogError(f"cannot read it: {exc.strerror}", file=label) from None
    try:
        return yaml.load(text, Loader=_LOADER)  # a safe loader (C or pure Python)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        context = getattr(exc, "context", None)
        cmark = getattr(exc, "context_mark", None)
        if context and cmark is not None and (mark is None or cmark.line != mark.line):
            problem += f" ({context} at line {cmark.line + 1})"
        raise CatalogError(
            f"YAML syntax error at {where}{problem}",
            file=label,
            hint="fix the YAML (indentation, quotes, colons) at that line",
        ) from None


def _field_path(loc: tuple[Any, ...]) -> str:
    parts: list[str] = []
    for part in loc:
        if isinstance(part, int):
            parts[-1:] = [f"{parts[-1]}[{part}]"] if parts else [f"[{part}]"]
        elif part not in ("int", "float", "date", "str") and not str(part).startswith("function-"):
            parts.append(str(part))
    return ".".join(parts)


def _validation_error(exc: ValidationError, label: str, entry: str | None) -> CatalogError:
    errors = exc.errors()
    # A misspelt field also reports the real one as missing: name the misspelling first.
    unknown = [e for e in errors if e["type"] == "extra_forbidden"]
    err = unknown[0] if unknown else errors[0]
    message = _MESSAGES.get(err["type"], err["msg"])
    if unknown:
        missing = [str(e["loc"][-1]) for e in errors if e["type"] == "missing"]
        close = difflib.get_close_matches(str(err["loc"][-1]), missing, n=1)
        if close:
            message += f" (did you mean {close[0]!r}?)"
    if err["type"] not in _MESSAGES and "input" in err and not isinstance(err["input"], dict):
        message += f" (got {err['input']!r})"
    return CatalogError(
        message, file=label, entry=entry, field=_field_path(err["loc"]) or None, hint=SCHEMA_HINT
    )


def _validate_list(raw_entries, model, label: str, what: str) -> list:
    entries: list = []
    seen: set[str] = set()
    for index, raw in enumerate(raw_entries):
        name = str(raw.get("id") or f"#{index + 1}") if isinstance(raw, dict) else f"#{index + 1}"
        try:
            entry = model.model_validate(raw)
        except ValidationError as exc:
            raise _validation_error(exc, label, name) from None
        if entry.id in seen:
            raise CatalogError(
                f"the same id appears twice in this file's {what} list",
                file=label,
                entry=entry.id,
                field="id",
            )
        seen.add(entry.id)
        entry._origin = label
        entries.append(entry)
    return entries


def parse_catalog_file(
    path: str | Path, *, label: str | None = None
) -> tuple[list[ModelEntry], list[HardwareEntry]]:
    """Validate one catalog file; return its model and hardware entries (with origin)."""
    path = Path(path).expanduser()
    label = label or str(path)
    data = _read_yaml(path, label)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise CatalogError(
            "the top level must be a mapping with a `models:` (or `hardware:`) list",
            file=label,
            hint=SCHEMA_HINT,
        )
    try:
        doc = CatalogFile.model_validate(data)
    except ValidationError as exc:
        raise _validation_error(exc, label, None) from None
    models = _validate_list(doc.models, ModelEntry, label, "models")
    hardware = _validate_list(doc.hardware, HardwareEntry, label, "hardware")
    return models, hardware


def parse_file(path: str | Path, *, label: str | None = None) -> list[ModelEntry]:
    """Validate one catalog file and return its model entries (each remembers its origin)."""
    return parse_catalog_file(path, label=label)[0]


def _check_aliases(entries: list[ModelEntry]) -> None:
    ids = {e.id: e for e in entries}
    owner: dict[str, str] = {}
    for entry in entries:
        for alias in entry.aliases:
            if alias in ids and alias != entry.id:
                raise CatalogError(
                    f"alias {alias!r} is already the id of another model",
                    file=entry.origin,
                    entry=entry.id,
                    field="aliases",
                    hint="remove the alias or rename one of the entries",
                )
            if owner.setdefault(alias, entry.id) != entry.id:
                raise CatalogError(
                    f"alias {alias!r} is also an alias of {owner[alias]!r}",
                    file=entry.origin,
                    entry=entry.id,
                    field="aliases",
                    hint="an alias must name one model",
                )


def _user_catalog() -> Path:
    home = os.environ.get("LMSCAPE_HOME") or str(Path.home() / ".lmscape")
    return Path(home).expanduser() / "catalog.yaml"


def _stamp(path: Path) -> int:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return -1


def _check_throughput_models(hardware: list[HardwareEntry], models: dict[str, ModelEntry]) -> None:
    for entry in hardware:
        for index, fact in enumerate(entry.throughput):
            if fact.model not in models:
                close = difflib.get_close_matches(fact.model, list(models), n=1)
                raise CatalogError(
                    f"unknown model {fact.model!r}"
                    + (f" (did you mean {close[0]!r}?)" if close else ""),
                    file=entry.origin,
                    entry=entry.id,
                    field=f"throughput[{index}].model",
                    hint="name a catalog model id (`lmscape models` lists them)",
                )


_BUILTIN_FILES = 2  # models.yaml, hardware.yaml


@lru_cache(maxsize=32)
def _load(key: tuple[tuple[str, int], ...]) -> Catalog:
    merged: dict[str, ModelEntry] = {}
    merged_hw: dict[str, HardwareEntry] = {}
    for index, (name, stamp) in enumerate(key):
        if index == _BUILTIN_FILES and stamp == -1:
            continue  # no user catalog in $LMSCAPE_HOME
        label = BUILTIN if index < _BUILTIN_FILES else name
        models, hardware = parse_catalog_file(Path(name), label=label)
        for entry in models:
            merged[entry.id] = entry  # an override keeps the position of the entry it replaces
        for hw in hardware:
            merged_hw[hw.id] = hw
    entries = list(merged.values())
    _check_aliases(entries)
    _check_throughput_models(list(merged_hw.values()), merged)
    return Catalog(entries, merged_hw.values())


def load_catalog(extra_files: list[str | Path] | tuple[str | Path, ...] = ()) -> Catalog:
    """The built-in catalog (models and hardware), extended by
    ``$LMSCAPE_HOME/catalog.yaml`` (if present) and ``extra_files`` in order. Cached per
    arguments and file modification times."""
    paths = [
        builtin_path(),
        builtin_hardware_path(),
        _user_catalog(),
        *(Path(p).expanduser() for p in extra_files),
    ]
    key = tuple((str(p.resolve()) if p.exists() else str(p), _stamp(p)) for p in paths)
    return _load(key)


def clear_cache() -> None:
    """Forget loaded catalogs (the next load reads the files again)."""
    _load.cache_clear()
