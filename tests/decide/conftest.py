"""Stores of real bench runs for the decide tests.

``sst2_store``: default sentiment systems (VADER, SmolLM2 zero-shot choice, Gemma 3
few-shot choice) run by the real runner on 40 SST-2 dev items, built once per session in
its own LMSCAPE_HOME (calibration on 24 train items, to stay quick; one llama.cpp thread,
which stays fast on a machine shared with other jobs). ``vader_store``: two VADER
systems on 60 items (no model).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "bench"))

N_ITEMS = 40
SST2_SYSTEMS = {
    "vader": {},
    "smollm2-135m-instruct/zero-shot-choice": {"n_calib": 24},
    "gemma-3-270m/few-shot-choice": {"n_calib": 24},
}


@pytest.fixture(scope="session")
def sst2_db(tmp_path_factory) -> str:
    """A SQLite URL holding finished runs of :data:`SST2_SYSTEMS` on SST-2 dev."""
    from lmscape.backends.resolve import resolve
    from lmscape.bench.runner import Runner
    from lmscape.bench.suite import close_system, load_spec
    from lmscape.methods.registry import build_system, parse_spec
    from lmscape.store import open_store
    from lmscape.tasks.registry import get_task

    root = tmp_path_factory.mktemp("sst2")
    old_home = os.environ.get("LMSCAPE_HOME")
    os.environ["LMSCAPE_HOME"] = str(root / "home")  # calibration files land here
    url = f"sqlite:///{root / 'sst2.db'}"
    store = open_store(url)
    try:
        task = get_task("sentiment")
        spec = load_spec(task, limit=N_ITEMS)
        for name, params in SST2_SYSTEMS.items():
            model_id, _ = parse_spec(name)
            backend = resolve(model_id).load(n_threads=1) if model_id else None
            system = build_system(name, task, backend=backend, **params)
            try:
                outcome = Runner(store).run(system, spec)
            finally:
                close_system(system)
            assert outcome.status == "done", outcome
    finally:
        store.close()
        if old_home is None:
            os.environ.pop("LMSCAPE_HOME", None)
        else:
            os.environ["LMSCAPE_HOME"] = old_home
    return url


@pytest.fixture
def sst2_store(sst2_db):
    from lmscape.store import open_store

    store = open_store(sst2_db)
    yield store
    store.close()


@pytest.fixture
def vader_store(tmp_path):
    from bench_helpers import measure_two_vaders

    from lmscape.store import open_store

    store = open_store(f"sqlite:///{tmp_path / 'vader.db'}")
    measure_two_vaders(store)
    yield store
    store.close()
