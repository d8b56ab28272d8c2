"""`lmscape serve` as users start it: no configuration, loopback open access said at
startup, refusal to expose an unauthenticated gateway, several worker processes."""

from __future__ import annotations

import os
import subprocess
import sys

import httpx
import pytest
import yaml
from tests.net import free_port, wait_ready
from typer.testing import CliRunner

from lmscape.cli.main import build_app

from .conftest import STUB_KEY, upstream_models

pytestmark = pytest.mark.slow


def _serve(args: list[str], home, log) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**os.environ, "LMSCAPE_HOME": str(home), "STUB_UPSTREAM_KEY": STUB_KEY}
    for name in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GOOGLE_API_KEY", "GEMINI_API_KEY"):
        env.pop(name, None)
    env.pop("LMSCAPE_DB", None)
    proc = subprocess.Popen([sys.executable, "-m", "lmscape.cli.main", "serve", "--port", str(port),
                             *args], env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)
    return proc, f"http://127.0.0.1:{port}"


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    proc.wait(timeout=20)


def test_refuses_a_public_address_without_keys(lmscape_home):
    result = CliRunner().invoke(build_app(), ["serve", "--host", "0.0.0.0"])
    assert result.exit_code == 2
    assert "refusing to serve on 0.0.0.0" in result.output and "keys create" in result.output


def test_starts_with_no_configuration(tmp_path):
    log = tmp_path / "serve.log"
    proc, url = _serve([], tmp_path / "home", log)
    try:
        wait_ready(proc, url, log)
        names = {m["id"] for m in httpx.get(f"{url}/v1/models").json()["data"]}
        assert {"smollm2-135m-instruct", "gemma-3-270m", "all-minilm-l6-v2"} <= names
        assert httpx.get(f"{url}/health").json()["loaded"] == []  # loaded lazily
    finally:
        _stop(proc)
    text = log.read_text()
    assert "unauthenticated access is allowed on loopback" in text
    assert "smollm2-135m-instruct" in text


def test_several_workers_serve_one_endpoint(tmp_path, upstream):
    config = tmp_path / "gw.yaml"
    config.write_text(yaml.safe_dump({"models": upstream_models(upstream.url),
                                      "include_catalog": False, "include_embedded": False}))
    log = tmp_path / "serve.log"
    proc, url = _serve(["--workers", "2", "--config", str(config)], tmp_path / "home", log)
    try:
        wait_ready(proc, url, log)
        replies = [httpx.post(f"{url}/v1/chat/completions", json={
            "model": "up-echo", "messages": [{"role": "user", "content": f"n{i}"}]})
            for i in range(6)]
        assert [r.json()["choices"][0]["message"]["content"] for r in replies] == [
            f"echo: n{i}" for i in range(6)]
    finally:
        _stop(proc)
    assert "2 worker(s)" in log.read_text()


def test_access_log_redacts_credentials(tmp_path, upstream):
    config = tmp_path / "gw.yaml"
    config.write_text(yaml.safe_dump({"models": upstream_models(upstream.url),
                                      "include_catalog": False, "include_embedded": False}))
    log = tmp_path / "serve.log"
    proc, url = _serve(["--access-log", "--config", str(config)], tmp_path / "home", log)
    secret = "lms-" + "A1b2" * 8
    try:
        wait_ready(proc, url, log)
        httpx.get(f"{url}/v1/models?api_key={secret}&key=hunter2secret&limit=3")
        httpx.get(f"{url}/v1/models", headers={"Authorization": f"Bearer {secret}"})
        httpx.get(f"{url}/v1/models/{secret}")
    finally:
        _stop(proc)
    text = log.read_text()
    assert "GET /v1/models?api_key=[redacted]&key=[redacted]&limit=3" in text
    assert secret not in text and "hunter2secret" not in text
    assert "/v1/models/[redacted]" in text
