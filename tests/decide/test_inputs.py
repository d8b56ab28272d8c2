"""Reading priorities, constraints, volumes and licences: the forms people type, and one
clear error naming the valid forms for anything else."""

from __future__ import annotations

import pytest

from lmscape.decide.inputs import (
    PRIORITIES,
    parse_constraints,
    parse_priorities,
    parse_volume,
    parse_volume_range,
)
from lmscape.decide.licences import classify
from lmscape.errors import ConfigError


def test_priorities_read_weights_and_default():
    p = parse_priorities("quality=3,cost=2, latency=1,privacy=1,carbon=0.5")
    assert dict(p.weights) == {"quality": 3, "cost": 2, "latency": 1, "privacy": 1, "carbon": 0.5}
    assert p.total == 7.5
    assert dict(parse_priorities(None).weights) == {"quality": 1, "cost": 1, "latency": 0,
                                                    "privacy": 0, "carbon": 0}
    assert parse_priorities({"cost": 1}).weights["cost"] == 1


def test_unknown_priority_names_the_valid_ones():
    with pytest.raises(ConfigError) as err:
        parse_priorities("quality=1,speed=2")
    text = err.value.one_line()
    assert "unknown priority 'speed'" in text
    assert all(name in text for name in PRIORITIES)
    with pytest.raises(ConfigError, match="did you mean 'latency'"):
        parse_priorities("latncy=1")


@pytest.mark.parametrize("text, fragment", [
    ("quality", "has no weight"),
    ("quality=high", "not a number"),
    ("quality=-1", "0 or more"),
    ("quality=0,cost=0", "every priority weight is 0"),
])
def test_bad_weights(text, fragment):
    with pytest.raises(ConfigError, match=fragment):
        parse_priorities(text)


def test_constraint_units():
    c = parse_constraints(max_usd_per_1k="$0.01", max_latency_ms="500ms", min_quality="85%",
                          hardware="H100-80GB", licence="Commercial")
    assert (c.max_usd_per_1k, c.max_latency_ms, c.min_quality) == (0.01, 500, 0.85)
    assert c.hardware == "h100-80gb" and c.licence == "commercial"
    assert c.flags() == ["--max-usd-per-1k 0.01", "--max-latency-ms 500", "--min-quality 0.85",
                         "--hardware h100-80gb", "--licence commercial"]


@pytest.mark.parametrize("given, fragment, fix", [
    ({"max_latency_ms": "0.5s"}, "wrong unit", "write 500 for 0.5 s"),
    ({"max_latency_ms": "fast"}, "not a number", "milliseconds"),
    ({"max_usd_per_1k": "0.01/1M"}, "wrong unit", "USD per 1,000 items"),
    ({"max_usd_per_1k": "-1"}, "0 or more", "positive"),
    ({"min_quality": "0.8 F1"}, "wrong unit", "metric's scale"),
    ({"hardware": "h100"}, "unknown hardware 'h100'", "h100-80gb"),
    ({"licence": "free"}, "unknown licence requirement", "commercial"),
])
def test_constraint_with_the_wrong_unit_names_the_right_form(given, fragment, fix):
    with pytest.raises(ConfigError) as err:
        parse_constraints(**given)
    assert fragment in err.value.message
    assert fix in err.value.hint


def test_volume_units():
    assert parse_volume("50000/day").per_month == pytest.approx(50000 * 730 / 24)
    assert parse_volume("2k/hour").per_month == pytest.approx(2000 * 730)
    assert parse_volume("1.5M/month").per_month == 1.5e6
    assert parse_volume(1000).per_month == 1000
    r = parse_volume_range("1000..10000000/month")
    assert (r.low.per_month, r.high.per_month) == (1000, 1e7)
    assert parse_volume_range("10..1k/day").high.per_month == pytest.approx(1000 * 730 / 24)


@pytest.mark.parametrize("text, fragment", [
    ("50000/week", "wrong unit '/week'"),
    ("50000", "no period"),
    ("lots/day", "not a number"),
    ("0/day", "more than 0"),
])
def test_bad_volume(text, fragment):
    with pytest.raises(ConfigError) as err:
        parse_volume(text)
    assert fragment in err.value.message and "/day" in err.value.hint


@pytest.mark.parametrize("text", ["1000/month", "10..1/month", "1000..10000", "a..b/day"])
def test_bad_volume_range(text):
    with pytest.raises(ConfigError):
        parse_volume_range(text)


@pytest.mark.parametrize("text, klass, commercial", [
    ("Apache-2.0", "permissive", True),
    ("MIT License", "permissive", True),
    ("LGPLv3", "copyleft", True),
    ("proprietary (OpenAI API terms)", "api-terms", True),
    ("proprietary (Google Cloud terms)", "api-terms", True),
    ("Llama 3.1 Community License", "conditional", True),
    ("Gemma Terms of Use", "conditional", True),
    ("Qwen License", "conditional", True),
    ("Qwen Research License", "non-commercial", False),
    ("CC-BY-NC-4.0", "non-commercial", False),
    ("not stated on the model card", "unknown", False),
    (None, "unknown", False),
])
def test_licence_classes(text, klass, commercial):
    lic = classify(text)
    assert lic.klass == klass
    assert lic.allows("commercial") is commercial
    assert lic.allows("permissive") is (klass == "permissive")
    assert lic.allows(None)


def test_every_catalog_licence_is_classified():
    """No built-in model's licence falls through to 'unknown' except the one the catalog
    itself says is not stated."""
    from lmscape.catalog import load_catalog

    unknown = {e.licence for e in load_catalog() if classify(e.licence).klass == "unknown"}
    assert unknown <= {"not stated on the model card"}
