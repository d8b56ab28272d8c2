"""Hardware hosting facts: on-demand prices per configuration, reported throughput,
overrides from user catalogs, and errors that name the file, entry and field."""

from __future__ import annotations

import pytest

from lmscape.catalog import HardwareEntry, load_catalog
from lmscape.catalog.hardware import ACCELERATORS
from lmscape.errors import CatalogError, NotFoundError

CHEAP_H100 = """\
version: 1
hardware:
  - id: h100-80gb
    price:
      usd_per_device_hour: 2.10
      provider: Example Cloud
      offer: H100 80GB, reserved 1 year
      source: "contract EX-2026-4"
      as_of: 2026-10-01
"""


def write(path, text: str):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def cat():
    return load_catalog()


def test_builtin_prices_cover_the_fit_configurations(cat):
    priced = {h.id for h in cat.hardware_entries() if h.usd_per_hour is not None}
    # every accelerator `fit` knows, except the L4 (no traceable on-demand price), plus cpu
    assert priced == (set(ACCELERATORS) - {"l4-24gb"}) | {"cpu"}
    h100 = cat.hardware("h100-80gb")
    assert isinstance(h100, HardwareEntry)
    assert (h100.usd_per_hour, h100.price.provider) == (3.49, "RunPod")
    assert h100.price.source == "https://www.runpod.io/pricing"
    assert str(h100.price.as_of) == "2026-09-25"


def test_a_configuration_costs_its_device_price_times_its_devices(cat):
    for hw in cat.hardware_entries():
        count = ACCELERATORS[hw.id].count if hw.id in ACCELERATORS else 1
        assert hw.devices == count
        assert hw.usd_per_hour == pytest.approx(hw.price.usd_per_device_hour * count)
    assert cat.hardware("8x-h100").usd_per_hour == pytest.approx(8 * 3.99)
    assert cat.hardware("8x-a100-80gb").usd_per_hour == pytest.approx(8 * 2.79)
    assert cat.hardware("cpu").usd_per_hour == 0.085 and cat.hardware("cpu").accelerator is None
    assert cat.hardware("H100-80GB").id == "h100-80gb"  # names are case-insensitive


def test_reported_throughput_for_llama_405b(cat):
    rows = cat.reported_throughput("llama-3-405b")  # an alias resolves
    assert rows and {hw.id for hw, _ in rows} == {"8x-h200"}
    best = max(t.output_tokens_per_s for _, t in rows)
    assert best == 463.1
    fact = cat.hardware("8x-h200").throughput_for("llama-3.1-405b")[0]
    assert (fact.precision, fact.input_tokens, fact.output_tokens) == ("fp8", 2048, 128)
    assert fact.source.startswith("https://developer.nvidia.com/blog/")
    assert cat.reported_throughput("gpt-4o") == []


def test_unknown_hardware_name_suggests_close_ones(cat):
    with pytest.raises(NotFoundError) as info:
        cat.hardware("h100-80")
    assert "h100-80gb" in info.value.suggestions


def test_user_catalog_overrides_a_price_and_keeps_the_rest(lmscape_home, tmp_path):
    write(lmscape_home / "catalog.yaml", CHEAP_H100)
    cat = load_catalog()
    h100 = cat.hardware("h100-80gb")
    assert h100.usd_per_hour == 2.10 and h100.origin.endswith("catalog.yaml")
    assert cat.hardware("8x-h100").origin == "built-in"
    assert [h.id for h in cat.hardware_entries()].index("h100-80gb") == 3  # keeps its place
    assert len(cat) >= 50  # a hardware-only file adds no models and removes none
    extra = write(tmp_path / "team.yaml", CHEAP_H100.replace("2.10", "1.80"))
    assert load_catalog([extra]).hardware("h100-80gb").usd_per_hour == 1.80


@pytest.mark.parametrize(
    ("body", "entry", "field", "words"),
    [
        (CHEAP_H100.replace("h100-80gb", "h100"), "h100", "id", "unknown hardware name"),
        (
            CHEAP_H100.replace("usd_per_device_hour", "usd_per_hour"),
            "h100-80gb",
            "price.usd_per_hour",
            "unknown field",
        ),
        (
            CHEAP_H100.replace('      source: "contract EX-2026-4"\n', ""),
            "h100-80gb",
            "price.source",
            "missing",
        ),
        (
            CHEAP_H100.replace("2.10", "-1"),
            "h100-80gb",
            "price.usd_per_device_hour",
            "greater than 0",
        ),
        (CHEAP_H100 + CHEAP_H100.split("hardware:\n")[1], "h100-80gb", "id", "twice"),
        (
            CHEAP_H100 + "    throughput:\n"
            "      - {model: llama-3.1-450b, output_tokens_per_s: 10, precision: fp8,\n"
            "         engine: vLLM, setting: batch 1, source: https://example.org/b, as_of: 2026-01-01}\n",
            "h100-80gb",
            "throughput[0].model",
            "did you mean 'llama-3.1-405b'",
        ),
        (
            CHEAP_H100 + "    throughput:\n"
            "      - {model: llama-3.1-405b, output_tokens_per_s: 10, precision: fp4,\n"
            "         engine: vLLM, setting: batch 1, source: https://example.org/b, as_of: 2026-01-01}\n",
            "h100-80gb",
            "throughput[0].precision",
            "fp16",
        ),
    ],
    ids=[
        "unknown-name",
        "misspelt-field",
        "no-source",
        "negative",
        "duplicate",
        "unknown-model",
        "bad-precision",
    ],
)
def test_malformed_hardware_entries_name_file_entry_and_field(tmp_path, body, entry, field, words):
    path = write(tmp_path / "hw.yaml", body)
    with pytest.raises(CatalogError) as info:
        load_catalog([path])
    err = info.value
    assert (err.file, err.entry, err.field) == (str(path.resolve()), entry, field)
    assert words in str(err)
    assert "\n" not in err.one_line()
