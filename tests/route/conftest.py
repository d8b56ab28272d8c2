"""Routed systems over the real embedded models. The minilm head and gemma's
calibration are fitted once per session under a shared LMSCAPE_HOME (heads and
calibrations are cached there), so each test does not retrain them; tests that use it
look up their own policies and runs by name."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def shared_home(tmp_path_factory):
    return tmp_path_factory.mktemp("route-home")


@pytest.fixture
def home(shared_home, monkeypatch):
    """Every test that asks for it sees the same LMSCAPE_HOME (and database)."""
    monkeypatch.setenv("LMSCAPE_HOME", str(shared_home))
    return shared_home
