"""Budgets that bind exactly: a key sending requests one after another gets every one
that fits (reservations settle as each response completes, however slowly the usage
writer batches), and local models cost hardware time (wall time x
LMSCAPE_HARDWARE_USD_PER_HOUR, bench's rule), so a budget binds them too and
``lmscape usage`` shows their spend. Real uvicorn, the official ``openai`` client."""

from __future__ import annotations

import json

import openai
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from lmscape.cli.main import build_app
from lmscape.serve.app import create_app
from lmscape.serve.config import GatewayConfig
from lmscape.serve.keys import create_key, get_key
from lmscape.serve.tables import gateway_usage
from lmscape.store import open_store

from .conftest import LiveServer, upstream_models

COST, RESERVE = 20_000, 28_000  # n$ per "hi" request with max_tokens=5 at 1 / 2 $ per Mtok


def _spent_and_rows(store, key_id: str) -> tuple[int, int, list[int]]:
    u = gateway_usage.c
    with store.connect() as conn:
        total = conn.execute(sa.select(sa.func.coalesce(sa.func.sum(u.cost_nusd), 0))
                             .where(u.key_id == key_id)).scalar_one()
        statuses = [r[0] for r in conn.execute(sa.select(u.status).where(u.key_id == key_id)
                                               .order_by(u.id))]
    return get_key(store, key_id).spent_nusd, total, statuses


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_sequential_requests_get_every_one_that_fits(upstream, tmp_path, stream):
    """Five requests fit a budget of 5 x cost (+ the margin the fifth reservation needs);
    the usage writer flushes only every 30 s, so before settling on completion the
    third request was already refused."""
    config = GatewayConfig.model_validate({
        "models": upstream_models(upstream.url),
        "limits": {"retries": 0, "usage_flush_s": 30, "key_cache_ttl_s": 0},
        "include_catalog": False, "include_embedded": False,
    })
    store = open_store(f"sqlite:///{tmp_path / 'gw.db'}")
    key, secret = create_key(store, "exact", budget_usd=(5 * COST + RESERVE - COST) / 1e9)
    with LiveServer(create_app(config, store=store)) as server:
        client = openai.OpenAI(base_url=f"{server.url}/v1", api_key=secret, max_retries=0)
        outcomes = []
        for _ in range(6):
            try:
                reply = client.chat.completions.create(
                    model="up-echo", max_tokens=5, stream=stream,
                    messages=[{"role": "user", "content": "hi"}])
                if stream:
                    list(reply)
                outcomes.append("ok")
            except openai.RateLimitError as exc:
                assert exc.body["code"] == "insufficient_quota"
                outcomes.append("refused")
        spent, _, _ = _spent_and_rows(store, key.id)  # settled before each response
    _, total, statuses = _spent_and_rows(store, key.id)  # the refusal's row: at shutdown
    assert outcomes == ["ok"] * 5 + ["refused"]
    assert spent == total == 5 * COST
    assert statuses == [200] * 5 + [429]


@pytest.mark.slow
def test_local_model_is_billed_by_wall_time_and_budgets_bind_it(lmscape_home, monkeypatch):
    """At 36 000 $/hour (10 $/s) every local request costs dollars; a 12 $ budget with a
    1 s bound per request (10 $ reserved) runs out after a few requests."""
    monkeypatch.setenv("LMSCAPE_HARDWARE_USD_PER_HOUR", "36000")
    config = GatewayConfig.model_validate({
        "limits": {"usage_flush_s": 30, "key_cache_ttl_s": 0, "request_timeout_s": 1},
        "include_catalog": False,
    })
    store = open_store()
    key, secret = create_key(store, "local", budget_usd=12)
    with LiveServer(create_app(config, store=store)) as server:
        client = openai.OpenAI(base_url=f"{server.url}/v1", api_key=secret, max_retries=0)
        outcomes = []
        for _ in range(30):
            try:
                client.chat.completions.create(model="smollm2-135m-instruct", max_tokens=2,
                                               messages=[{"role": "user", "content": "hi"}])
                outcomes.append("ok")
            except openai.RateLimitError as exc:
                assert exc.body["code"] == "insufficient_quota"
                outcomes.append("refused")
                break
    spent, total, _ = _spent_and_rows(store, key.id)
    assert outcomes[-1] == "refused" and outcomes.count("ok") >= 1
    assert 0 < spent == total <= 12 * 10**9
    assert spent > 2 * 10**9  # reached the point where 10 $ no longer fit
    usage = CliRunner().invoke(build_app(), ["usage", "--by", "model", "--json"])
    assert usage.exit_code == 0, usage.output
    (row,) = [r for r in json.loads(usage.output) if r["group"] == "smollm2-135m-instruct"]
    assert row["cost_usd"] == pytest.approx(spent / 1e9)
