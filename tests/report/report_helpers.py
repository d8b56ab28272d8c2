"""Shared fixtures for report tests: a store with two measured systems on the real
sentiment task (VADER variants), a store with every built-in default system name, and
the skip-or-fail rule for services."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "bench"))


@pytest.fixture
def report_store(tmp_path):
    from bench_helpers import measure_two_vaders

    from lmscape.store import open_store

    store = open_store(f"sqlite:///{tmp_path / 'report.db'}")
    measure_two_vaders(store)
    yield store
    store.close()


@pytest.fixture(scope="module")
def default_names_store(tmp_path_factory):
    """Every built-in default system name, measured by cheap stand-ins on 8 real items
    of each task (see ``bench_helpers.measure_default_system_names``)."""
    from bench_helpers import measure_default_system_names

    from lmscape.store import open_store

    store = open_store(f"sqlite:///{tmp_path_factory.mktemp('names') / 'b.db'}")
    tasks = measure_default_system_names(store, limit=8)
    yield store, tasks
    store.close()


def need_service(name: str, ok: bool, why: str) -> None:
    """As tests/conftest.py: skip with the reason, but fail where CI requires services."""
    if ok:
        return
    if os.environ.get("LMSCAPE_REQUIRE_SERVICES"):
        pytest.fail(f"{name} is required in CI but unavailable: {why}")
    pytest.skip(f"{name} unavailable: {why}")
