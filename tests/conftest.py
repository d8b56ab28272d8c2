"""Shared fixtures. Every test gets its own LMSCAPE_HOME and database; model hubs are
never contacted (HF_HUB_OFFLINE=1)."""

from __future__ import annotations

import os
import socket

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# One thread per local model: these tests check behaviour, not speed (benchmarks/ do),
# and on a machine busy with other work llama.cpp's threads stall waiting for each other.
os.environ.setdefault("LMSCAPE_THREADS", "1")

POSTGRES_URL = os.environ.get("LMSCAPE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
REQUIRE_SERVICES = bool(os.environ.get("LMSCAPE_REQUIRE_SERVICES"))


@pytest.fixture(autouse=True)
def lmscape_home(tmp_path, monkeypatch):
    home = tmp_path / "lmscape-home"
    monkeypatch.setenv("LMSCAPE_HOME", str(home))
    monkeypatch.delenv("LMSCAPE_DB", raising=False)
    return home


def _port_open(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


def need_service(name: str, ok: bool, why: str) -> None:
    """Skip (with the reason) where a service is absent; fail in CI, where it must run."""
    if ok:
        return
    if REQUIRE_SERVICES:
        pytest.fail(f"{name} is required in CI but unavailable: {why}")
    pytest.skip(f"{name} unavailable: {why}")


@pytest.fixture
def postgres_url():
    need_service("PostgreSQL", _port_open("127.0.0.1", 5432), "nothing listens on 127.0.0.1:5432")
    import sqlalchemy as sa

    engine = sa.create_engine(POSTGRES_URL)
    try:
        with engine.connect():
            pass
    except Exception as exc:  # noqa: BLE001
        need_service("PostgreSQL", False, str(exc).splitlines()[0])
    finally:
        engine.dispose()
    return POSTGRES_URL


@pytest.fixture
def fresh_postgres(postgres_url):
    """A PostgreSQL URL whose lmscape tables are dropped before and after the test."""
    import sqlalchemy as sa

    def wipe():
        engine = sa.create_engine(postgres_url)
        with engine.begin() as conn:
            conn.execute(sa.text("DROP SCHEMA IF EXISTS lmscape_test CASCADE"))
            conn.execute(sa.text("CREATE SCHEMA lmscape_test"))
        engine.dispose()

    wipe()
    url = postgres_url + "?options=-csearch_path%3Dlmscape_test"
    yield url
    wipe()
