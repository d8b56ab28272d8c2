"""breakeven() on real bench runs: APIs priced by measured tokens, hosting by the
catalog's hourly prices and measured or reported throughput."""

from __future__ import annotations

import pytest

from lmscape.bench.results import leaderboard, typical_tokens
from lmscape.catalog import load_catalog
from lmscape.decide.crossover import breakeven
from lmscape.errors import ConfigError, DataError

pytestmark = pytest.mark.slow


def test_api_against_a_measured_local_system(sst2_store):
    be = breakeven("sentiment", store=sst2_store, volume="1000..10000000/month")
    board = leaderboard(sst2_store, "sentiment")
    prompt, output = typical_tokens(board.measured)
    price = load_catalog().get("gpt-4o-mini").price
    api = next(a for a in be.apis if a.name == "gpt-4o-mini")
    per_item = (round(prompt) * price.input_per_mtok + round(output) * price.output_per_mtok) / 1e6
    assert api.usd_per_item == pytest.approx(per_item)
    row = next(r for r in board.measured if r.system == "smollm2-135m-instruct/zero-shot-choice")
    host = next(h for h in be.hosting if h.name == row.system)
    cpu = load_catalog().hardware("cpu")
    assert host.kind == "measured" and host.hardware == "cpu"
    assert host.usd_per_hour == cpu.usd_per_hour and host.items_per_s == row.items_per_s
    x = be.crossing("gpt-4o-mini", row.system)
    assert x.volume == pytest.approx(cpu.usd_per_hour * 730 / per_item)
    assert x.capacity_known
    # every closed, priced, current model is an API here; none that is retired
    names = {a.name for a in be.apis}
    assert {"gpt-4o-mini", "claude-3-haiku", "gemini-1.5-flash"} <= names
    assert "claude-2" not in names


def test_llama_405b_uses_the_published_h200_throughput_and_borrows_none_for_h100(sst2_store):
    be = breakeven("sentiment", store=sst2_store)
    h200 = next(h for h in be.hosting if h.name == "llama-3.1-405b@8x-h200")
    assert h200.kind == "reported" and h200.items_per_s == pytest.approx(463.1 / 128)
    assert "2048 in / 128 out" in h200.basis and "reported" in h200.basis
    assert h200.usd_per_hour == pytest.approx(8 * 4.59)
    h100 = next(h for h in be.hosting if h.name == "llama-3.1-405b@8x-h100")
    assert h100.items_per_s is None and h100.capacity is None
    assert "not borrowed" in h100.basis and "fits 640 GB" in h100.basis
    x = be.crossing("gpt-4o", "llama-3.1-405b@8x-h100")
    assert not x.capacity_known and x.volume == pytest.approx(h100.floor / next(
        a for a in be.apis if a.name == "gpt-4o").usd_per_item)


def test_host_pairs_and_their_errors(sst2_store):
    be = breakeven("sentiment", store=sst2_store, hosts=["llama-3.1-70b@4x-h100"])
    extra = next(h for h in be.hosting if h.name == "llama-3.1-70b@4x-h100")
    assert extra.capacity is None and extra.usd_per_hour == pytest.approx(4 * 3.49)
    with pytest.raises(ConfigError, match="weights are not published"):
        breakeven("sentiment", store=sst2_store, hosts=["gpt-4o@8x-h100"])
    with pytest.raises(ConfigError, match="does not fit h100-80gb"):
        breakeven("sentiment", store=sst2_store, hosts=["llama-3.1-405b@h100-80gb"])
    with pytest.raises(ConfigError, match="MODEL@HARDWARE"):
        breakeven("sentiment", store=sst2_store, hosts=["llama-3.1-70b"])


def test_hardware_prices_come_from_the_catalog_and_can_be_overridden(sst2_store, lmscape_home):
    lmscape_home.mkdir(parents=True, exist_ok=True)
    (lmscape_home / "catalog.yaml").write_text(
        "version: 1\nhardware:\n  - id: cpu\n    price: {usd_per_device_hour: 1.0, "
        "provider: Example, offer: big VM, source: https://example.com/prices, "
        "as_of: 2026-01-01}\n")
    be = breakeven("sentiment", store=sst2_store)
    host = next(h for h in be.hosting if h.kind == "measured")
    assert host.usd_per_hour == 1.0 and host.floor == pytest.approx(730.0)
    assert "https://example.com/prices" in host.price_basis


def test_no_token_counts_means_no_api_price_and_says_what_to_run(vader_store):
    with pytest.raises(DataError) as err:
        breakeven("sentiment", store=vader_store)
    assert "counted tokens" in err.value.message
    assert "lmscape bench --task sentiment --systems smollm2-135m-instruct/" in err.value.hint
