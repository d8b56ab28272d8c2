"""A run killed with SIGKILL mid-way resumes with nothing lost and nothing duplicated."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import sqlalchemy as sa

from lmscape.store import open_store
from lmscape.store.schema import results, runs

HERE = Path(__file__).parent

SCRIPT = """
import sys, time
from pathlib import Path
from bench_helpers import TinySentiment, Vader, System
from lmscape.bench.runner import Runner, RunSpec
from lmscape.store import open_store

class SlowVader(Vader):
    calls = 0
    hold_after = 0  # > 0: the batch after that many waits until the process is killed

    def predict(self, items):
        SlowVader.calls += 1
        if self.hold_after and SlowVader.calls > self.hold_after:
            time.sleep(3600)
        time.sleep(float(self.params["delay"]))
        return super().predict(items)

db, data, resume, delay = sys.argv[1], sys.argv[2], sys.argv[3] == "1", sys.argv[4]
SlowVader.hold_after = int(sys.argv[5])  # not a parameter: the resumed run is the same run
task = TinySentiment(Path(data))
spec = RunSpec(task=task, items=list(task.items("dev")), dataset="dev", params={"split": "dev"},
               train_items=lambda: list(task.items("train")))
system = System(name="vader", method=SlowVader(task, delay=delay))
out = Runner(open_store(db)).run(system, spec, resume=resume)
print(out.run_id, out.n_resumed, out.n_computed, out.n_cached)
"""


def _run(db, data, resume, delay="0.15", wait=True, hold_after=0):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen([sys.executable, "-c", SCRIPT, db, str(data), "1" if resume else "0",
                             delay, str(hold_after)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    if wait:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        return out.split()
    return proc


def _count(store):
    with store.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(results)).scalar()


def _predictions(store):
    with store.connect() as conn:
        rows = conn.execute(sa.select(results.c.item_id, results.c.prediction,
                                      results.c.scores)).all()
    return sorted((r[0], r[1], r[2]["correct"]) for r in rows)


def test_sigkill_then_resume_loses_and_duplicates_nothing(tmp_path):
    from bench_helpers import write_jsonl

    data = write_jsonl(tmp_path / "d.jsonl", 96)  # 96 items, batches of 8, 0.15 s a batch
    killed_db = f"sqlite:///{tmp_path / 'killed.db'}"
    store = open_store(killed_db)
    # three batches are stored, then the fourth waits: the kill lands half-way however
    # slowly this machine schedules the test
    proc = _run(killed_db, data, resume=False, wait=False, hold_after=3)
    deadline = time.monotonic() + 90
    while _count(store) < 24 and time.monotonic() < deadline:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    stored_at_kill = _count(store)
    assert 24 <= stored_at_kill < 96, "kill the run while it is half done"
    with store.connect() as conn:
        assert conn.execute(sa.select(runs.c.status)).scalar() == "running"

    run_id, n_resumed, n_computed, n_cached = _run(killed_db, data, resume=True)
    assert int(n_resumed) == stored_at_kill
    assert int(n_resumed) + int(n_computed) + int(n_cached) == 96
    with store.connect() as conn:
        ids = [r[0] for r in conn.execute(sa.select(results.c.item_id))]
        status = conn.execute(sa.select(runs.c.status).where(runs.c.id == run_id)).scalar()
    assert len(ids) == len(set(ids)) == 96 and status == "done"

    clean_db = f"sqlite:///{tmp_path / 'clean.db'}"
    _run(clean_db, data, resume=False)
    clean = open_store(clean_db)
    assert _predictions(store) == _predictions(clean)
    store.close()
    clean.close()
