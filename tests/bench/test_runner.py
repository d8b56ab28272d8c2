import pytest
import sqlalchemy as sa
from bench_helpers import System, TinySentiment, Vader, vader_system, write_jsonl

from lmscape.bench.runner import Runner, RunSpec, run_id_for
from lmscape.errors import ContextLengthError, DataError
from lmscape.store import open_store
from lmscape.store.schema import cache, results, runs


@pytest.fixture
def task(tmp_path):
    return TinySentiment(write_jsonl(tmp_path / "d.jsonl", 40))


@pytest.fixture
def store(tmp_path):
    s = open_store(f"sqlite:///{tmp_path / 'b.db'}")
    yield s
    s.close()


def spec_for(task, limit=None, split="dev"):
    return RunSpec(task=task, items=list(task.items(split, limit=limit)), dataset=split,
                   params={"split": split, "limit": limit},
                   train_items=lambda: list(task.items("train")))


def stored(store, run_id):
    with store.connect() as conn:
        return conn.execute(sa.select(results).where(results.c.run_id == run_id)
                            .order_by(results.c.item_id)).mappings().all()


def test_run_stores_every_item_and_a_summary(task, store):
    system = vader_system(task)
    out = Runner(store).run(system, spec_for(task))
    assert out.status == "done" and out.n_computed == 40 and out.n_cached == 0
    rows = stored(store, out.run_id)
    assert [r["item_id"] for r in rows] == sorted(i.id for i in task.items())
    assert all(r["prediction"] in ("positive", "negative") and r["error"] is None for r in rows)
    assert all(r["scores"]["correct"] in (0.0, 1.0) for r in rows)
    assert all(r["latency_s"] > 0 and r["cost_usd"] > 0 for r in rows)
    # batch-first: 40 items in batches of 8
    assert system.method.calls == 5 and system.method.fitted_on == 13
    s = out.summary
    acc = sum(r["scores"]["correct"] for r in rows) / 40
    assert s["metrics"]["accuracy"]["value"] == pytest.approx(acc)
    assert acc > 0.7  # VADER gets these easy sentences mostly right
    assert s["n"] == 40 and s["n_errors"] == 0
    assert 0 < s["latency_p50_s"] <= s["latency_p95_s"]
    assert s["items_per_s"] > 0 and s["peak_rss_bytes"] > 10 * 2**20
    assert s["cost_usd_per_1k"] > 0 and "USD/hour" in s["cost_basis"]
    assert s["energy"]["gco2e_per_1k"] > 0 and "TDP" in s["energy"]["method"]
    with store.connect() as conn:
        run = conn.execute(sa.select(runs).where(runs.c.id == out.run_id)).mappings().one()
    assert run["status"] == "done" and run["summary"]["n"] == 40
    assert run["machine"]["logical_cores"] >= 1 and run["machine"]["cpu"]


def test_rerun_is_served_from_cache_with_the_original_measurements(task, store):
    first = Runner(store).run(vader_system(task), spec_for(task))
    again_system = vader_system(task)
    again = Runner(store).run(again_system, spec_for(task))
    assert again.run_id == first.run_id
    assert again.n_cached == 40 and again.n_computed == 0
    assert again_system.method.calls == 0 and again_system.method.fitted_on == 0
    a, b = stored(store, first.run_id), stored(store, again.run_id)
    assert [r["prediction"] for r in a] == [r["prediction"] for r in b]
    assert again.summary["latency_p50_s"] == pytest.approx(first.summary["latency_p50_s"])
    assert again.summary["energy"]["kwh"] == pytest.approx(first.summary["energy"]["kwh"])


def test_other_run_parameters_reuse_cached_predictions(task, store):
    small = Runner(store).run(vader_system(task), spec_for(task, limit=16))
    system = vader_system(task)
    big = Runner(store).run(system, spec_for(task, limit=40))
    assert big.run_id != small.run_id
    assert big.n_cached == 16 and big.n_computed == 24
    assert system.method.calls == 3  # only the 24 new items, in batches of 8


def test_method_parameters_change_the_cache_key_and_run_id(task, store):
    a = Runner(store).run(vader_system(task), spec_for(task))
    system = vader_system(task, threshold_note="other")
    b = Runner(store).run(system, spec_for(task))
    assert a.run_id != b.run_id and b.n_cached == 0 and system.method.calls == 5


def test_no_cache_recomputes_and_refreshes(task, store):
    Runner(store).run(vader_system(task), spec_for(task))
    system = vader_system(task)
    out = Runner(store, use_cache=False).run(system, spec_for(task))
    assert out.n_cached == 0 and out.n_computed == 40 and system.method.calls == 5
    with store.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(cache)).scalar() == 40


def test_resume_skips_stored_items_and_restart_does_not(task, store):
    spec = spec_for(task)
    # A run that stored its first two batches (16 items) and then died.
    with pytest.raises(RuntimeError):
        Runner(store).run(System(name="vader", method=Broken(task)), spec)
    with store.begin() as conn:
        conn.execute(cache.delete())  # so resumed items cannot come from the cache
    resumed_system = vader_system(task)
    out = Runner(store).run(resumed_system, spec, resume=True)
    assert out.run_id == run_id_for(resumed_system, spec)
    assert out.n_resumed == 16 and out.n_items == 40 and out.n_cached == 0
    assert resumed_system.method.calls == 3  # the 24 items left, in batches of 8
    assert len(stored(store, out.run_id)) == 40 and out.summary["n"] == 40
    # Without --resume the run starts again (served from the cache now).
    fresh = Runner(store).run(vader_system(task), spec)
    assert fresh.n_resumed == 0 and fresh.n_cached == 24 and fresh.n_computed == 16


def test_duplicate_item_ids_are_a_data_error(task, store):
    items = list(task.items())
    spec = RunSpec(task=task, items=items + items[:1], dataset="dev")
    with pytest.raises(DataError, match="more than once"):
        Runner(store).run(vader_system(task), spec)


class TooLongOnce(Vader):
    """Raises ContextLengthError for any batch holding the item marked too long."""

    preferred_batch_size = 4

    def predict(self, items):
        if any("(3)" in it.text for it in items):
            raise ContextLengthError(9000, 2048, model="test")
        return super().predict(items)


def test_a_too_long_item_fails_alone(task, store):
    system = System(name="vader-strict", method=TooLongOnce(task))
    out = Runner(store).run(system, spec_for(task))
    rows = {r["item_id"]: r for r in stored(store, out.run_id)}
    assert len(rows) == 40 and out.summary["n_errors"] == 1 and out.summary["n"] == 39
    assert "context window" in rows["s003"]["error"] and rows["s003"]["prediction"] is None
    assert all(r["error"] is None for k, r in rows.items() if k != "s003")
    assert "context window" in out.summary["errors"][0]


class Broken(Vader):
    def predict(self, items):
        if self.calls >= 2:
            raise RuntimeError("backend exploded")
        return super().predict(items)


def test_other_errors_fail_the_run_and_keep_what_was_stored(task, store):
    system = System(name="vader-broken", method=Broken(task))
    with pytest.raises(RuntimeError, match="exploded"):
        Runner(store).run(system, spec_for(task))
    with store.connect() as conn:
        status = conn.execute(sa.select(runs.c.status)).scalar()
        n = conn.execute(sa.select(sa.func.count()).select_from(results)).scalar()
    assert status == "failed" and n == 16


def test_suite_records_the_memory_each_system_added(task, store):
    from lmscape.bench.suite import BenchPlan, run_plans

    plan = BenchPlan(task=task, systems=["vader", "vader-again"], spec=spec_for(task),
                     explicit=True)
    result = run_plans(store, [plan], build=lambda name, t: System(name=name, method=Vader(t)))
    assert [o.system for o in result.outcomes] == ["vader", "vader-again"]
    for outcome in result.outcomes:
        s = outcome.summary
        assert s["rss_added_bytes"] is not None and 0 <= s["rss_added_bytes"] < s["peak_rss_bytes"]
    # served from the cache, the memory figures are the ones measured when computed
    again = run_plans(store, [plan], build=lambda name, t: System(name=name, method=Vader(t)))
    assert again.outcomes[0].n_cached == 40
    assert again.outcomes[0].summary["rss_added_bytes"] == result.outcomes[0].summary["rss_added_bytes"]
