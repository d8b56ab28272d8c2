"""``lmscape bench --jobs N``: systems in worker processes give the same stored runs as one
process, report in plan order, and fail the way one process would."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from tests.cli_output import one_error_line
from typer.testing import CliRunner

from lmscape.bench.breakdown import Breakdown, Phase, SystemTiming, running_phase
from lmscape.bench.parallel import run_parallel, units_of, worker_threads
from lmscape.bench.suite import BenchPlan, custom_plan, load_spec, run_plans
from lmscape.cli.main import build_app
from lmscape.errors import ConfigError, NotFoundError
from lmscape.store import open_store
from lmscape.store.schema import results
from lmscape.tasks.registry import get_task


@pytest.fixture
def store(tmp_path):
    s = open_store(f"sqlite:///{tmp_path / 'p.db'}")
    yield s
    s.close()


def stored(store) -> list[tuple]:
    with store.connect() as conn:
        rows = conn.execute(sa.select(results.c.run_id, results.c.item_id,
                                      results.c.prediction)).all()
    return sorted(tuple(map(str, r)) for r in rows)


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple] = []

    def start(self, system, total, done):
        self.events.append(("start", system, total, done))

    def advance(self, system, n):
        self.events.append(("advance", system, n))

    def finish(self, system):
        self.events.append(("finish", system))


def test_two_workers_store_what_one_process_stores_and_report_in_plan_order(store, tmp_path):
    the_plans = [custom_plan("sentiment", ["vader"], limit=8),
                 custom_plan("keywords", ["yake"], limit=3),
                 custom_plan("sentiment", ["sentiment-lexicon-missing/zero-shot-choice"],
                             limit=8)]
    the_plans[2].explicit = False  # the suite skips systems it cannot build
    progress, skips = Recorder(), []
    result = run_parallel(store, the_plans, 2, progress=progress,
                          on_skip=lambda *a: skips.append(a))
    assert [t.system for t in result.timings] == [
        "vader", "yake", "sentiment-lexicon-missing/zero-shot-choice"]
    assert [t.status for t in result.timings] == ["done", "done", "skipped"]
    assert [o.system for o in result.outcomes] == ["vader", "yake"]
    assert len(skips) == 1 and skips[0][1] == "sentiment-lexicon-missing/zero-shot-choice"
    advanced = {}
    for event in progress.events:
        if event[0] == "advance":
            advanced[event[1]] = advanced.get(event[1], 0) + event[2]
    assert advanced == {"vader": 8, "yake": 3}

    one = open_store(f"sqlite:///{tmp_path / 'one.db'}")
    try:
        sequential = run_plans(one, [custom_plan("sentiment", ["vader"], limit=8),
                                     custom_plan("keywords", ["yake"], limit=3)])
        assert [o.run_id for o in sequential.outcomes] == [o.run_id for o in result.outcomes]
        assert stored(one) == stored(store)
    finally:
        one.close()
    # a second parallel run is served from the cache the first one filled
    again = run_parallel(store, the_plans[:2], 2)
    assert [t.n_cached for t in again.timings] == [8, 3]


def test_an_error_in_a_worker_ends_the_run_with_that_error(store):
    plan = custom_plan("sentiment", ["vader", "no-such-model-anywhere/zero-shot-choice"],
                       limit=4)
    with pytest.raises(NotFoundError, match="no-such-model-anywhere"):
        run_parallel(store, [plan], 2)


def test_plans_made_by_hand_cannot_go_to_workers():
    task = get_task("sentiment")
    plan = BenchPlan(task=task, systems=["vader"], spec=load_spec(task, limit=2),
                     explicit=True)
    with pytest.raises(ConfigError, match="made by hand") as caught:
        units_of([plan])
    assert "jobs=1" in (caught.value.hint or "")


def test_workers_share_the_cores_unless_threads_are_set(monkeypatch):
    from lmscape.config import available_cores

    monkeypatch.delenv("LMSCAPE_THREADS", raising=False)
    cores = available_cores()
    assert [worker_threads(j) for j in (1, 2, 3, 64)] == [
        cores, max(1, cores // 2), max(1, cores // 3), 1]
    monkeypatch.setenv("LMSCAPE_THREADS", "3")  # threads per local model, as asked
    assert [worker_threads(j) for j in (1, 2, 8)] == [3, 3, 3]


def test_the_breakdown_of_a_parallel_run_counts_the_systems_once():
    systems = [SystemTiming(task="sentiment", system=s, status="done", load_s=1.0,
                            items_s=5.0, total_s=6.0) for s in ("a", "b")]
    phases = [Phase(name=running_phase(2), wall_s=6.5, cpu_s=12.0)]
    assert Breakdown(systems=systems, phases=phases, jobs=2).accounted_s == 6.5
    assert Breakdown(systems=systems, phases=[], jobs=1).accounted_s == 12.0


def test_jobs_with_the_ray_executor_is_one_clear_error():
    result = CliRunner().invoke(build_app(), ["bench", "--task", "sentiment", "--systems",
                                              "vader", "--jobs", "2", "--executor", "ray"])
    line = one_error_line(result)
    assert "--jobs 2" in line and "--executor local" in line


def test_cli_runs_a_named_task_in_two_jobs(tmp_path):
    out = tmp_path / "r.html"
    result = CliRunner().invoke(build_app(), ["bench", "--task", "keywords", "--systems",
                                              "yake,all-minilm-l6-v2/keybert-mmr", "-n", "3",
                                              "--jobs", "2", "-o", str(out)],
                                env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert running_phase(2) in result.output and out.exists()
    assert "yake" in result.stdout and "keybert-mmr" in result.stdout
