"""Per call against reserved hosting: monthly cost and where the two cross."""

from __future__ import annotations

import pytest

from lmscape.decide.costing import PerCall, Reserved, crossing

API = PerCall(name="api", usd_per_item=1e-5, basis="test")  # $0.01 per 1k items


def machine(items_per_s: float | None, usd_per_hour: float = 0.1) -> Reserved:
    return Reserved(name="host", hardware="cpu", usd_per_hour=usd_per_hour,
                    items_per_s=items_per_s, basis="b", price_basis="p")


def test_a_reserved_machine_is_paid_busy_or_not():
    m = machine(1.0)
    assert m.floor == pytest.approx(73.0)  # 0.1 $/h x 730 h
    assert m.capacity == pytest.approx(3600 * 730)
    assert m.monthly(0) == m.monthly(1) == m.monthly(m.capacity) == pytest.approx(73.0)
    assert m.machines(m.capacity * 1.5) == 2
    assert m.monthly(m.capacity * 1.5) == pytest.approx(146.0)
    assert m.usd_per_1k_full == pytest.approx(1000 * 73 / (3600 * 730))


def test_crossing_is_where_one_machine_month_equals_the_api_bill():
    m = machine(10.0)
    x = crossing(API, m)
    assert x.capacity_known and x.volume == pytest.approx(73.0 / 1e-5)
    below, above = x.volume * 0.99, x.volume * 1.01
    assert API.monthly(below) < m.monthly(below) and API.monthly(above) > m.monthly(above)


def test_never_when_hosting_costs_more_per_item_even_fully_busy():
    m = machine(0.001)  # 2,628 items a month for $73
    x = crossing(API, m)
    assert x.volume is None and "never" in x.why
    for v in (1e3, 1e5, 1e7):
        assert API.monthly(v) < m.monthly(v)


def test_unknown_capacity_gives_the_floor_only():
    x = crossing(API, machine(None))
    assert not x.capacity_known and x.volume == pytest.approx(7.3e6)
    assert "throughput unknown" in x.why
