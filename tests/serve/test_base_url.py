"""Pointing ``openai:MODEL`` at one's own OpenAI-compatible server, three ways: the
spec (``openai:MODEL@URL``), ``--base-url`` on run/bench, and the SDK's own
``OPENAI_BASE_URL``. The server is the local upstream stub (a real HTTP server)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from lmscape.backends.resolve import resolve
from lmscape.cli.main import build_app
from lmscape.store import open_store

from .conftest import STUB_KEY

runner = CliRunner()


@pytest.fixture(autouse=True)
def _stub_openai_key(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", STUB_KEY)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)


def invoke(*args: str, **env: str):
    return runner.invoke(build_app(), list(args), env={"COLUMNS": "200", **env})


def _chat_calls(upstream) -> int:
    return upstream.state["calls"]["echo"] if "calls" in upstream.state else 0


def test_the_resolver_takes_the_base_url_from_each_place(upstream, monkeypatch):
    url = f"{upstream.url}/v1"
    assert resolve(f"openai:echo@{url}").connection.base_url == url
    assert resolve("openai:echo", base_url=url).connection.base_url == url
    assert resolve("openai:echo").connection.base_url == "https://api.openai.com/v1"
    monkeypatch.setenv("OPENAI_BASE_URL", url)
    conn = resolve("openai:echo").connection
    assert (conn.base_url, conn.base_url_from) == (url, "env:OPENAI_BASE_URL")
    assert conn.loopback and conn.ready() == (True, "")


def test_run_with_the_spec_and_with_base_url(upstream):
    url = f"{upstream.url}/v1"
    first = invoke("run", f"openai:echo@{url}", "hello there", "-n", "8")
    assert first.exit_code == 0, first.output
    assert "echo: hello there" in first.stdout
    second = invoke("run", "openai:echo", "second call", "--base-url", url)
    assert second.exit_code == 0, second.output
    assert "echo: second call" in second.stdout


def test_bench_reaches_the_server_named_by_openai_base_url(upstream, lmscape_home):
    before = _chat_calls(upstream)
    result = invoke("bench", "--task", "sentiment", "--systems", "openai:echo/prompted",
                    "--limit", "4", "--out", str(lmscape_home / "r.html"),
                    OPENAI_BASE_URL=f"{upstream.url}/v1")
    assert result.exit_code == 0, result.output
    assert _chat_calls(upstream) - before == 4  # every item went to the local server
    store = open_store()
    with store.connect() as conn:
        rows = conn.exec_driver_sql("SELECT system, summary FROM runs").all()
    store.close()
    (system, summary), = rows
    summary = json.loads(summary) if isinstance(summary, str) else summary
    assert system == "openai:echo/prompted" and summary["n"] == 4
    # an unpriced model on this machine is costed like a local one: by wall time
    assert summary["cost_basis"].startswith("server on this machine")


def test_bench_base_url_is_part_of_the_run_identity(upstream, lmscape_home):
    args = ("bench", "--task", "sentiment", "--systems", "openai:echo/prompted", "--limit", "2",
            "--out", str(lmscape_home / "r.html"))
    url = f"{upstream.url}/v1"
    assert invoke(*args, "--base-url", url).exit_code == 0
    assert invoke(*args, "--base-url", url.replace("127.0.0.1", "localhost")).exit_code == 0
    store = open_store()
    with store.connect() as conn:
        n_runs = conn.exec_driver_sql("SELECT count(*) FROM runs").scalar_one()
    store.close()
    assert n_runs == 2  # two endpoints, two runs: predictions are never mixed up
