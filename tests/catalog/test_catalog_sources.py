"""Every number and date in the built-in catalog carries its source and date.

The schema already requires ``source`` and ``as_of`` on Fact, Price, Score, Arch,
HostingPrice and Throughput. This check walks the raw YAML as well, so a number that
reached the catalog any other way (a new schema field, a number typed where a fact
belongs) fails here, naming the file, the entry and the field. Free-form values are
exempt: text (notes, licences) and backend constructor ``options``.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel

from lmscape.backends.registry import available
from lmscape.catalog import load_catalog
from lmscape.catalog.hardware import ACCELERATORS
from lmscape.catalog.loader import builtin_hardware_path, builtin_path
from lmscape.catalog.schema import HOST_HARDWARE, hardware_names

FILES = {"models.yaml": builtin_path(), "hardware.yaml": builtin_hardware_path()}

# A number or date may stand outside a sourced mapping only here: ``retired`` is paired
# with ``retired_source`` (checked below), ``options`` are backend constructor arguments.
EXEMPT_KEYS = {"options"}
PAIRED_DATES = {"retired": "retired_source"}


def _is_fact_value(value: Any) -> bool:
    return isinstance(value, int | float | dt.date) and not isinstance(value, bool)


def unsourced(node: Any, path: str, sourced: bool, parent: dict | None = None) -> list[str]:
    """Paths of numbers and dates that no enclosing mapping gives a source and date for."""
    found: list[str] = []
    if isinstance(node, dict):
        here = sourced or ({"source", "as_of"} <= node.keys() and bool(node.get("source")))
        for key, value in node.items():
            if key in EXEMPT_KEYS:
                continue
            if key in PAIRED_DATES and node.get(PAIRED_DATES[key]):
                continue
            found += unsourced(value, f"{path}.{key}" if path else str(key), here, node)
    elif isinstance(node, list):
        for i, item in enumerate(node):
            found += unsourced(item, f"{path}[{i}]", sourced, parent)
    elif _is_fact_value(node) and not sourced:
        found.append(path)
    return found


def entries(name: str) -> list[tuple[str, dict]]:
    data = yaml.safe_load(FILES[name].read_text(encoding="utf-8"))
    out = []
    for section in ("models", "hardware"):
        for raw in data.get(section) or []:
            out.append((f"{name}: {section} entry {raw.get('id')!r}", raw))
    return out


@pytest.mark.parametrize("name", sorted(FILES))
def test_every_number_and_date_has_a_source(name):
    problems = []
    for label, raw in entries(name):
        for field in unsourced(raw, "", False):
            problems.append(f"{label}, field {field!r}: a number or date without source/as_of")
    assert not problems, "\n".join(problems)


def test_the_check_catches_an_unsourced_number():
    """The walker itself: a bare number, a fact without as_of, a sourced one, options."""
    raw = {
        "id": "x",
        "params": {"value": 7, "source": "https://example.org/x"},  # no as_of
        "context_window": {
            "value": 512,
            "source": "https://example.org/x",
            "as_of": dt.date(2024, 1, 1),
        },
        "size_gb": 3.5,
        "retired": dt.date(2025, 1, 1),
        "run": {"backend": "hf", "model": "hf:x", "options": {"n_ctx": 2048}},
        "scores": [{"value": 0.9, "as_of": dt.date(2024, 1, 1), "source": ""}],
    }
    assert unsourced(raw, "", False) == [
        "params.value",
        "size_gb",
        "retired",  # a retired date without retired_source
        "scores[0].value",  # an empty source is no source
        "scores[0].as_of",
    ]


def _sourced_models(obj: Any, path: str = ""):
    if isinstance(obj, BaseModel):
        fields = type(obj).model_fields
        if "source" in fields and "as_of" in fields:
            yield path, obj
        for name in fields:
            yield from _sourced_models(getattr(obj, name), f"{path}.{name}")
    elif isinstance(obj, list):
        for i, item in enumerate(obj):
            yield from _sourced_models(item, f"{path}[{i}]")


def test_every_validated_fact_has_a_real_source_and_a_past_date():
    cat = load_catalog()
    today = dt.date(2026, 12, 31)
    checked = 0
    for entry in [*cat, *cat.hardware_entries()]:
        for path, part in _sourced_models(entry):
            assert len(part.source.strip()) >= 8, f"{entry.id}{path}: no real source"
            assert isinstance(part.as_of, dt.date) and part.as_of <= today, f"{entry.id}{path}"
            checked += 1
    assert checked > 190


def test_ids_and_aliases_are_unique():
    cat = load_catalog()
    ids = cat.ids()
    assert len(ids) == len(set(ids))
    owners: dict[str, str] = {}
    for entry in cat:
        for alias in entry.aliases:
            assert alias not in ids or alias == entry.id, f"{entry.id}: alias {alias!r} is an id"
            assert owners.setdefault(alias, entry.id) == entry.id, (
                f"alias {alias!r} of both {owners[alias]!r} and {entry.id!r}"
            )
    hardware = [h.id for h in cat.hardware_entries()]
    assert len(hardware) == len(set(hardware))
    raw = yaml.safe_load(builtin_hardware_path().read_text(encoding="utf-8"))["hardware"]
    assert len(raw) == len(hardware)  # no id listed twice in the file


def test_every_run_backend_is_registered():
    names = set(available())
    for entry in load_catalog():
        for spec in [s for s in (entry.run, *entry.also_runs) if s is not None]:
            assert spec.backend in names, f"{entry.id}: backend {spec.backend!r} not in {names}"


def test_hardware_names_are_the_fit_names():
    assert hardware_names() == [*ACCELERATORS, HOST_HARDWARE]
    for entry in load_catalog().hardware_entries():
        assert entry.id in hardware_names()


def test_builtin_files_are_the_ones_checked():
    assert all(Path(p).is_file() for p in FILES.values())
