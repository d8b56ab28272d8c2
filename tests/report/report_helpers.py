"""Shared fixtures for report tests: a store with two measured systems on the real
sentiment task (VADER variants), and the skip-or-fail rule for services."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "bench"))


@pytest.fixture
def report_store(tmp_path):
    from bench_helpers import System, Vader

    from lmscape.bench.runner import Runner
    from lmscape.bench.suite import load_spec
    from lmscape.store import open_store
    from lmscape.tasks.registry import get_task

    task = get_task("sentiment")
    store = open_store(f"sqlite:///{tmp_path / 'report.db'}")
    spec = load_spec(task, limit=60)
    for name, threshold in (("vader", 0.0), ("vader-strict", 0.5)):
        method = Vader(task, threshold=threshold)
        method.threshold = threshold
        Runner(store).run(System(name=name, method=method), spec)
    yield store
    store.close()


def need_service(name: str, ok: bool, why: str) -> None:
    """As tests/conftest.py: skip with the reason, but fail where CI requires services."""
    if ok:
        return
    if os.environ.get("LMSCAPE_REQUIRE_SERVICES"):
        pytest.fail(f"{name} is required in CI but unavailable: {why}")
    pytest.skip(f"{name} unavailable: {why}")
