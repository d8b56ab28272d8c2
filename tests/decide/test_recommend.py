"""recommend() on real bench runs: constraints move the answer the right way, the
priorities pick what they say, and nothing is re-run."""

from __future__ import annotations

import math
import subprocess
import sys

import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st

from lmscape.bench.results import leaderboard
from lmscape.decide.inputs import PRIORITIES
from lmscape.decide.recommendation import recommend
from lmscape.errors import ConfigError, DataError, NotFoundError

pytestmark = pytest.mark.slow  # the session store runs the embedded models

CLOSED_SCORE_CATALOG = """\
version: 1
models:
  - id: test-closed-api
    name: Test Closed API
    developer: Example Corp
    access: closed
    size_class: large
    licence: proprietary (Example API terms)
    architecture: transformer decoder
    price: {input_per_mtok: 0.5, output_per_mtok: 1.5, source: https://example.com/pricing, as_of: 2026-01-01}
    scores:
      - {benchmark: sst2, metric: accuracy, value: 0.97, setting: zero-shot, source: https://example.com/paper, as_of: 2026-01-01}
    run: {backend: openai, model: test-closed-api}
  - id: test-huge-open
    name: Test Huge Open
    developer: Example Lab
    access: open-weight
    size_class: large
    licence: Apache-2.0
    architecture: transformer decoder
    params: {value: 400000000000, source: https://example.com/card, as_of: 2026-01-01}
    scores:
      - {benchmark: sst2, metric: accuracy, value: 0.96, setting: 5-shot, source: https://example.com/paper, as_of: 2026-01-01}
    run: {backend: hf, model: "hf:example/huge"}
"""


@pytest.fixture
def user_catalog(lmscape_home):
    lmscape_home.mkdir(parents=True, exist_ok=True)
    (lmscape_home / "catalog.yaml").write_text(CLOSED_SCORE_CATALOG)


def measured(rec):
    return [r.candidate for r in rec.ranked if r.candidate.kind == "measured"]


def board(store):
    return leaderboard(store, "sentiment")


# -- priorities ---------------------------------------------------------------------------
def test_quality_priority_picks_the_best_measured_system(sst2_store):
    best = max(board(sst2_store).measured, key=lambda r: r.quality)
    rec = recommend("sentiment", store=sst2_store, priority="quality=1")
    assert rec.top.candidate.system == best.system
    assert rec.top.candidate.kind == "measured"


def test_cost_priority_picks_the_cheapest_above_min_quality(sst2_store):
    rows = board(sst2_store).measured
    qualities = sorted({r.quality for r in rows})
    bound = (qualities[0] + qualities[1]) / 2  # excludes the weakest system
    cheapest = min((r for r in rows if r.quality >= bound), key=lambda r: r.cost_usd_per_1k)
    rec = recommend("sentiment", store=sst2_store, priority="cost=1", min_quality=bound)
    assert rec.top.candidate.system == cheapest.system
    weakest = min(rows, key=lambda r: r.quality).system
    assert weakest in {e.candidate.system for e in rec.excluded}


def test_mixes_measured_local_systems_with_reported_closed_models(sst2_store):
    rec = recommend("sentiment", store=sst2_store, priority="quality=1,cost=1")
    kinds = {r.candidate.kind for r in rec.ranked}
    assert {"measured", "reported", "unknown quality"} <= kinds
    closed = [r for r in rec.ranked if r.candidate.access == "closed"]
    assert closed and all(r.candidate.cost is not None for r in closed)  # tokens x list price
    for r in closed:
        assert "measure it with `lmscape bench --task sentiment --systems" in r.reasons[0]
    top = rec.top
    assert top.candidate.kind == "measured" and len(top.reasons) == 8
    assert rec.as_dict()["ranked"][0].keys() == {"system", "kind", "score", "quality",
                                                 "usd_per_1k", "latency_p95_s", "reasons"}
    assert rec.as_dict().keys() == {"ranked", "excluded", "sensitivity"}


# -- constraints --------------------------------------------------------------------------
def test_data_must_stay_local_removes_every_remote_model(sst2_store):
    before = recommend("sentiment", store=sst2_store)
    remote = {r.candidate.system for r in before.ranked if not r.candidate.data_local}
    assert remote
    rec = recommend("sentiment", store=sst2_store, data_must_stay_local=True)
    assert all(r.candidate.data_local for r in rec.ranked)
    why = {e.candidate.system: e.why for e in rec.excluded}
    assert remote <= set(why)
    assert all("--data-must-stay-local" in why[s] for s in remote)


def test_max_cost_leaves_only_what_costs_less(sst2_store):
    """A bound keeps exactly the systems that cost at most that much. Below the cheapest
    API (a list price x the tokens counted here) only local systems are left. Whether a
    local LLM is under a given bound depends on how fast this machine ran it, so the
    test names no LLM; VADER (microseconds per item) is always left."""
    base = recommend("sentiment", store=sst2_store)
    costs = {r.candidate.system: r.candidate.cost for r in base.ranked}
    cheapest_api = min(r.candidate.cost for r in base.ranked
                       if not r.candidate.data_local and r.candidate.cost is not None)
    for bound in (cheapest_api * 0.9, 0.01):
        rec = recommend("sentiment", store=sst2_store, max_usd_per_1k=bound)
        kept = {r.candidate.system for r in rec.ranked}
        assert kept == {s for s, c in costs.items() if c is not None and c <= bound}
        assert "vader" in kept
        for e in rec.excluded:
            assert "--max-usd-per-1k" in e.why or "(retired)" in e.why
    rec = recommend("sentiment", store=sst2_store, max_usd_per_1k=cheapest_api * 0.9)
    assert all(r.candidate.data_local for r in rec.ranked)


def test_min_quality_above_every_local_system_leaves_those_that_reach_it(sst2_store,
                                                                         user_catalog):
    best_local = max(r.quality for r in board(sst2_store).measured)
    bound = max(best_local + 0.01, 0.95)
    rec = recommend("sentiment", store=sst2_store, min_quality=bound)
    assert [r.candidate.system for r in rec.ranked] == ["test-closed-api", "test-huge-open"]
    assert rec.top.candidate.kind == "reported" and rec.top.candidate.access == "closed"
    assert all(r.candidate.quality >= bound for r in rec.ranked)
    none = recommend("sentiment", store=sst2_store, min_quality=0.99)
    assert none.ranked == [] and none.top is None
    assert none.answer.startswith("No system meets every constraint.")
    assert none.sensitivity.closest["constraint"] == "--min-quality"
    assert "test-closed-api has 0.97" in none.sensitivity.closest["text"]


def test_nothing_passes_names_the_closest_constraint(sst2_store):
    rec = recommend("sentiment", store=sst2_store, max_latency_ms="0.000001",
                    data_must_stay_local=True)
    assert rec.top is None
    fastest = min(c.latency_p95_s for c in (e.candidate for e in rec.excluded)
                  if c.latency_p95_s is not None)
    closest = rec.sensitivity.closest
    assert closest["constraint"] == "--max-latency-ms"
    assert f"{fastest * 1000:.4g}" in closest["text"]


def test_hardware_excludes_what_does_not_fit(sst2_store, user_catalog):
    rec = recommend("sentiment", store=sst2_store, hardware="h100-80gb")
    why = {e.candidate.system: e.why for e in rec.excluded}
    assert "test-huge-open" in why and "even at q4" in why["test-huge-open"]
    assert "80.00 GB" in why["test-huge-open"]
    ranked = {r.candidate.system for r in rec.ranked}
    assert {c.system for c in measured(rec)} == {r.system for r in board(sst2_store).measured}
    assert "test-closed-api" in ranked  # an API runs on the provider's hardware
    assert "test-huge-open" in {r.candidate.system for r in recommend(
        "sentiment", store=sst2_store, hardware="8x-h100").ranked}


def test_licence_and_offline(sst2_store):
    rec = recommend("sentiment", store=sst2_store, licence="permissive")
    why = {e.candidate.system: e.why for e in rec.excluded}
    assert "gemma-3-270m/few-shot-choice" in why and "Gemma Terms of Use" in why[
        "gemma-3-270m/few-shot-choice"]
    assert all("proprietary" in why[s] for s in why if s.startswith(("gpt-", "claude")))
    assert {"vader", "smollm2-135m-instruct/zero-shot-choice"} <= {
        r.candidate.system for r in rec.ranked}
    commercial = recommend("sentiment", store=sst2_store, licence="commercial")
    assert "gemma-3-270m/few-shot-choice" in {r.candidate.system for r in commercial.ranked}
    offline = recommend("sentiment", store=sst2_store, offline=True)
    assert {r.candidate.system for r in offline.ranked} == {
        r.system for r in board(sst2_store).measured}  # the reported BERTs' weights are not here
    assert all(e.why.startswith(("--offline", "(retired)")) for e in offline.excluded)


def test_unknown_figures_do_not_pass_a_bound(sst2_store):
    rec = recommend("sentiment", store=sst2_store, max_latency_ms=10_000)
    assert {r.candidate.kind for r in rec.ranked} == {"measured"}
    why = next(e.why for e in rec.excluded if e.candidate.system == "gpt-4o-mini")
    assert "latency not measured" in why and "lmscape bench --task sentiment" in why


def test_volume_prices_local_systems_as_reserved_machines(sst2_store):
    from lmscape.catalog import load_catalog

    cpu = load_catalog().hardware("cpu").usd_per_hour
    rec = recommend("sentiment", store=sst2_store, volume="50000/day")
    per_month = 50000 * 730 / 24
    for r in rec.ranked:
        c = r.candidate
        if c.kind == "measured":
            machines = math.ceil(per_month / (c.row.items_per_s * 3600 * 730))
            assert c.monthly_usd == pytest.approx(machines * cpu * 730)
        elif c.per_call is not None:
            assert c.monthly_usd == pytest.approx(per_month * c.per_call.usd_per_item)
    assert "reserved machines billed by the hour whether busy or not" in rec.cost_model


# -- priorities as a property -------------------------------------------------------------
weights = st.fixed_dictionaries({name: st.floats(0, 5) for name in PRIORITIES}).filter(
    lambda w: sum(w.values()) > 0.01)


@pytest.fixture(scope="module")
def sst2_board(sst2_db):
    from lmscape.store import open_store

    store = open_store(sst2_db)
    yield leaderboard(store, "sentiment")
    store.close()


@settings(max_examples=60, deadline=None, derandomize=True)
@given(w=weights, more=st.floats(0.01, 10))
def test_raising_the_cost_weight_never_lifts_a_dearer_system_over_a_cheaper_one(
        sst2_board, w, more):
    """For every pair with the cheaper one ranked first, it stays first when the cost
    weight rises (the equal-quality case included: the closed models of unknown quality)."""
    from lmscape.catalog import load_catalog
    from lmscape.decide.inputs import Constraints, Priorities
    from lmscape.decide.recommendation import decide

    catalog = load_catalog()
    before = decide(sst2_board, catalog, Priorities(w), Constraints(), None)
    after = decide(sst2_board, catalog, Priorities({**w, "cost": w["cost"] + more}),
                   Constraints(), None)
    pos = {r.candidate.system: i for i, r in enumerate(after.ranked)}
    order = [r.candidate for r in before.ranked]
    equal_quality_pairs = 0
    for i, a in enumerate(order):
        for b in order[i + 1:]:
            if a.cost is not None and b.cost is not None and a.cost < b.cost:
                assert pos[a.system] < pos[b.system], (a.system, b.system)
                equal_quality_pairs += a.quality == b.quality
    assert equal_quality_pairs > 0


def test_sensitivity_change_does_change_the_top(sst2_store):
    rec = recommend("sentiment", store=sst2_store, priority="quality=1,cost=1")
    changes = [c for c in rec.sensitivity.changes if c.kind == "weight"]
    assert changes
    for change in changes:
        up = change.after.startswith("above")
        nudged = change.threshold + (1e-6 if up else -1e-6) * max(1.0, change.threshold)
        weights = {**rec.priorities.weights, change.name: nudged}
        again = recommend("sentiment", store=sst2_store, priority=weights)
        assert again.top.candidate.system == change.new_top != rec.top.candidate.system
    smallest = rec.sensitivity.smallest
    assert smallest is not None and rec.sensitivity.text() == smallest.text


# -- inputs and the store ----------------------------------------------------------------
def test_run_id_gives_the_task_and_dataset(sst2_store):
    from lmscape.bench.results import list_runs

    run = list_runs(sst2_store, task="sentiment")[0]
    rec = recommend(run=run.id[:8], store=sst2_store)
    assert (rec.task, rec.dataset, rec.run_id) == ("sentiment", run.dataset, run.id)
    with pytest.raises(NotFoundError, match="unknown run 'zzzz'"):
        recommend(run="zzzz", store=sst2_store)


def test_a_task_with_no_results_says_which_bench_to_run(sst2_store):
    with pytest.raises(DataError) as err:
        recommend("keywords", store=sst2_store)
    assert "lmscape bench --task keywords" in err.value.hint
    with pytest.raises(NotFoundError) as err:
        recommend("sentimnt", store=sst2_store)
    assert "did you mean 'sentiment'" in err.value.message


def test_min_quality_off_the_metric_scale(sst2_store):
    with pytest.raises(ConfigError) as err:
        recommend("sentiment", store=sst2_store, min_quality=85)
    assert "0.85" in err.value.hint


def test_recommend_reads_the_store_and_runs_nothing(sst2_db, tmp_path):
    from lmscape.store import open_store
    from lmscape.store.schema import results, runs

    def counts():
        store = open_store(sst2_db)
        with store.connect() as conn:
            n = (conn.execute(sa.select(sa.func.count()).select_from(runs)).scalar(),
                 conn.execute(sa.select(sa.func.count()).select_from(results)).scalar())
        store.close()
        return n

    before = counts()
    code = ("import sys, lmscape; from lmscape.store import open_store; "
            f"s = open_store({sst2_db!r}); r = lmscape.recommend('sentiment', store=s, "
            "volume='1000/day'); assert r.top; print(sorted(m for m in ('torch', 'llama_cpp', "
            "'transformers', 'sentence_transformers') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]"
    assert counts() == before
