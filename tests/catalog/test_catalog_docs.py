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
