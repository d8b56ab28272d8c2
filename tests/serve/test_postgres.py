"""Two real gateway processes (`lmscape serve`) sharing one PostgreSQL database:
keys work on both, and a budget stays exact under concurrent requests from both —
total spend never exceeds it and equals the sum of the usage rows."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest
import sqlalchemy as sa
import yaml
from tests.net import free_port, wait_ready

from lmscape.serve.keys import create_key, list_keys, revoke_key
from lmscape.serve.tables import gateway_usage
from lmscape.store import open_store

from .conftest import STUB_KEY, upstream_models

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


@contextlib.contextmanager
def _two_workers(db_url: str, upstream_url: str, tmp: Path, limits: dict
                 ) -> Iterator[list[tuple[str, Path]]]:
    """Two `lmscape serve --require-key` processes on one database, each on a free port
    with its own home and log; yields (url, log) of each once both answer /health."""
    config = tmp / "gateway.yaml"
    config.write_text(yaml.safe_dump({
        "models": upstream_models(upstream_url), "limits": {"retries": 0, **limits},
        "include_catalog": False, "include_embedded": False,
    }))
    env = {**os.environ, "LMSCAPE_DB": db_url, "STUB_UPSTREAM_KEY": STUB_KEY}
    procs = []
    try:
        for i in range(2):
            port, log = free_port(), tmp / f"gw{i}.log"
            proc = subprocess.Popen(
                [sys.executable, "-m", "lmscape.cli.main", "serve", "--port", str(port),
                 "--config", str(config), "--require-key", "--log-level", "warning"],
                env={**env, "LMSCAPE_HOME": str(tmp / f"home{i}")}, stdout=log.open("w"),
                stderr=subprocess.STDOUT)
            procs.append((proc, f"http://127.0.0.1:{port}", log))
        for proc, url, log in procs:
            wait_ready(proc, url, log)
        yield [(url, log) for _, url, log in procs]
    finally:
        for proc, _, _ in procs:
            proc.terminate()
        for proc, _, _ in procs:
            proc.wait(timeout=20)


def test_two_workers_share_keys_and_an_exact_budget(fresh_postgres, upstream, tmp_path):
    store = open_store(fresh_postgres)
    key, secret = create_key(store, "shared", budget_usd=0.0002)  # 200 000 n$
    try:
        with _two_workers(fresh_postgres, upstream.url, tmp_path,
                          {"usage_flush_s": 0.05}) as workers:
            assert "requests need" in workers[0][1].read_text()  # startup: keys are required
            clients = [openai.OpenAI(base_url=f"{url}/v1", api_key=secret, max_retries=0)
                       for url, _ in workers]
            with pytest.raises(openai.AuthenticationError):
                openai.OpenAI(base_url=f"{workers[1][0]}/v1", api_key="lms-wrong", max_retries=0) \
                    .models.list()
            outcomes: list[str] = []
            barrier = threading.Barrier(32)

            def one(i: int) -> None:
                barrier.wait()
                try:
                    clients[i % 2].chat.completions.create(
                        model="up-echo", max_tokens=5, messages=[{"role": "user", "content": "hi"}])
                    outcomes.append("ok")
                except openai.RateLimitError as exc:
                    assert exc.body["code"] == "insufficient_quota"
                    outcomes.append("refused")

            threads = [threading.Thread(target=one, args=(i,)) for i in range(32)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            n_ok = outcomes.count("ok")
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:  # the workers write usage in the background
                with store.connect() as conn:
                    total, n = conn.execute(
                        sa.select(sa.func.coalesce(sa.func.sum(gateway_usage.c.cost_nusd), 0),
                                  sa.func.count()).where(gateway_usage.c.key_id == key.id,
                                                         gateway_usage.c.status == 200)).one()
                spent = list_keys(store)[0].spent_nusd
                if n == n_ok and spent == total:
                    break
                time.sleep(0.2)
            assert spent <= 200_000
            assert spent == total == 20_000 * n_ok
            assert n == n_ok >= 7 and "refused" in outcomes  # 200 000 / 28 000 reserve: >= 7 fit
    finally:
        store.close()


def test_revocation_reaches_both_workers_long_before_the_cache_expires(fresh_postgres, upstream,
                                                                     tmp_path):
    """Keys cached for an hour; `keys revoke` in this process: both gateway processes
    refuse the key once PostgreSQL's NOTIFY reaches them (waited for up to 10 s)."""
    store = open_store(fresh_postgres)
    _, secret = create_key(store, "revoked-soon")  # no budget: no reservation check
    try:
        with _two_workers(fresh_postgres, upstream.url, tmp_path,
                          {"key_cache_ttl_s": 3600}) as workers:
            body = {"model": "up-echo", "messages": [{"role": "user", "content": "hi"}]}
            headers = {"Authorization": f"Bearer {secret}"}
            for url, _ in workers:  # cached now, in both
                assert httpx.post(f"{url}/v1/chat/completions", json=body, headers=headers,
                                  timeout=30).status_code == 200
            revoke_key(store, "revoked-soon")
            for url, _ in workers:
                deadline, status = time.monotonic() + 10, 200
                while status == 200 and time.monotonic() < deadline:
                    status = httpx.post(f"{url}/v1/chat/completions", json=body, headers=headers,
                                        timeout=30).status_code
                assert status == 401
    finally:
        store.close()
