"""docs/catalog.md is checked against the code: accelerator table and worked example."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from lmscape.catalog import load_catalog
from lmscape.catalog.hardware import ACCELERATORS, estimate_memory

DOC = Path(__file__).resolve().parents[2] / "docs" / "catalog.md"


@pytest.fixture(scope="module")
def text() -> str:
    return DOC.read_text(encoding="utf-8")


def test_accelerator_table_matches_code(text):
    rows = dict(re.findall(r"^\| `([a-z0-9-]+)` \| (\d+ × \d+ GB)", text, flags=re.MULTILINE))
    assert rows == {
        name: f"{acc.count} × {acc.memory_gb:g} GB" for name, acc in ACCELERATORS.items()
    }


def test_worked_example_matches_the_estimate(text):
    llama = load_catalog().get("llama-3.1-405b")
    for line in estimate_memory(llama, "fp16", 4096).formula.splitlines():
        figure = line.rsplit("=", 1)[1].strip()  # e.g. "810.00 GB"
        assert figure in text, figure
    for precision in ("int8", "q4"):
        total = estimate_memory(llama, precision, 4096).total_bytes / 1e9
        assert f"{total:.1f} GB needed" in text


def _money(value: float) -> str:
    return f"${value:,.2f}" if value >= 0.1 else f"${value:g}"


def test_hosting_price_table_matches_the_catalog(text):
    rows = re.findall(
        r"^\| `([a-z0-9-]+)` \| (\d+) \| (\$[0-9.,]+) \| (\$[0-9.,]+) \|", text, flags=re.MULTILINE
    )
    cat = load_catalog()
    priced = [h for h in cat.hardware_entries() if h.price is not None]
    assert [r[0] for r in rows] == [h.id for h in priced]
    for name, devices, per_device, per_hour in rows:
        hw = cat.hardware(name)
        assert int(devices) == hw.devices, name
        assert per_device == _money(hw.price.usd_per_device_hour), name
        assert per_hour == _money(hw.usd_per_hour), name
        assert hw.price.source.split(" ")[0] in text, name


def test_model_count_matches_the_builtin_file(text):
    from lmscape.catalog.loader import builtin_path, parse_file

    count = len(parse_file(builtin_path()))
    assert f"\n{count} models." in text
    readme = (DOC.parents[1] / "README.md").read_text(encoding="utf-8")
    assert f"catalog lists {count} models" in readme
    assert f"${load_catalog().hardware('8x-h100').usd_per_hour:,.2f}/h" in readme
