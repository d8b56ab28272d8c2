"""Keys, budgets and rate limits on a live gateway (SQLite), through the official
``openai`` client and lmscape's own openai backend pointed at the gateway."""

from __future__ import annotations

import threading

import httpx
import openai
import pytest
import sqlalchemy as sa

from lmscape.backends.base import Request
from lmscape.backends.openai_compat import OpenAIBackend
from lmscape.serve.app import create_app
from lmscape.serve.config import GatewayConfig
from lmscape.serve.keys import create_key, list_keys, revoke_key
from lmscape.serve.tables import gateway_usage
from lmscape.store import open_store

from .conftest import LiveServer, upstream_models


def _config(upstream, **limits) -> GatewayConfig:
    return GatewayConfig.model_validate({
        "models": upstream_models(upstream.url),
        "limits": {"retries": 0, "usage_flush_s": 0.05, "key_cache_ttl_s": 0, **limits},
        "include_catalog": False, "include_embedded": False,
    })


@pytest.fixture
def gateway(upstream, tmp_path):
    store = open_store(f"sqlite:///{tmp_path / 'gw.db'}")
    app = create_app(_config(upstream), store=store, allow_open=True)
    with LiveServer(app) as server:
        server.app, server.store = app, store
        yield server


def _client(gateway, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gateway.url}/v1", api_key=key, max_retries=0)


def _chat(client: openai.OpenAI, model: str = "up-echo", **kw):
    return client.chat.completions.create(model=model, messages=[{"role": "user", "content": "hi"}],
                                          **kw)


def test_open_access_until_a_key_exists(gateway):
    assert _chat(_client(gateway, "EMPTY")).choices[0].message.content == "echo: hi"
    _, secret = create_key(gateway.store, "first")
    with pytest.raises(openai.AuthenticationError) as info:
        _chat(_client(gateway, "EMPTY"))
    assert info.value.body["code"] == "invalid_api_key"
    assert _chat(_client(gateway, secret)).choices[0].message.content == "echo: hi"


def test_require_key_refuses_anonymous_requests(upstream, tmp_path):
    store = open_store(f"sqlite:///{tmp_path / 'gw.db'}")
    with LiveServer(create_app(_config(upstream), store=store, allow_open=False)) as server:
        reply = httpx.post(f"{server.url}/v1/chat/completions", json={
            "model": "up-echo", "messages": [{"role": "user", "content": "x"}]})
        assert reply.status_code == 401
        assert reply.json()["error"]["type"] == "authentication_error"


def test_revoked_and_wrong_keys_get_401(gateway):
    _, secret = create_key(gateway.store, "temp")
    client = _client(gateway, secret)
    assert _chat(client).choices
    revoke_key(gateway.store, "temp")
    with pytest.raises(openai.AuthenticationError) as info:
        _chat(client)
    assert "revoked" in info.value.body["message"]
    with pytest.raises(openai.AuthenticationError):
        _chat(_client(gateway, secret[:-2] + "zz"))


def test_model_allow_list(gateway):
    _, secret = create_key(gateway.store, "narrow", models=["up-echo"])
    client = _client(gateway, secret)
    assert _chat(client).choices
    with pytest.raises(openai.NotFoundError) as info:  # as OpenAI: no hint that it exists
        _chat(client, model="up-flaky")
    assert info.value.body["code"] == "model_not_found"
    assert [m.id for m in client.models.list()] == ["up-echo"]


def test_rate_limit_answers_429_with_retry_after(gateway):
    _, secret = create_key(gateway.store, "slow", rpm=2)
    http = httpx.Client(headers={"Authorization": f"Bearer {secret}"})
    body = {"model": "up-echo", "messages": [{"role": "user", "content": "x"}]}
    codes = [http.post(f"{gateway.url}/v1/chat/completions", json=body) for _ in range(3)]
    assert [r.status_code for r in codes] == [200, 200, 429]
    assert codes[2].json()["error"]["code"] == "rate_limit_exceeded"
    assert 1 <= int(codes[2].headers["retry-after"]) <= 60


def test_budget_is_exact_under_concurrent_requests(gateway):
    """Each request reserves 28 000 n$ and costs 20 000 n$; 24 requests race for a
    budget of 100 000 n$: spend never crosses it and equals the usage rows."""
    key, secret = create_key(gateway.store, "budgeted", budget_usd=0.0001)
    client = _client(gateway, secret)
    outcomes: list[str] = []

    def one():
        try:
            _chat(client, max_tokens=5)
            outcomes.append("ok")
        except openai.RateLimitError as exc:
            assert exc.body["code"] == "insufficient_quota"
            assert exc.response.headers.get("retry-after")
            outcomes.append("refused")

    threads = [threading.Thread(target=one) for _ in range(24)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    gateway.app.state.gateway.usage.flush()
    spent = next(k for k in list_keys(gateway.store) if k.id == key.id).spent_nusd
    u = gateway_usage.c
    with gateway.store.connect() as conn:
        total, = conn.execute(sa.select(sa.func.sum(u.cost_nusd)).where(u.key_id == key.id)).one()
        statuses = [r[0] for r in conn.execute(sa.select(u.status).where(u.key_id == key.id))]
    assert spent <= 100_000
    assert spent == total == 20_000 * outcomes.count("ok")
    assert statuses.count(200) == outcomes.count("ok") >= 3
    assert statuses.count(429) == outcomes.count("refused") > 0  # refusals are recorded too


def test_lmscape_openai_backend_through_the_gateway(gateway):
    _, secret = create_key(gateway.store, "bench")
    backend = OpenAIBackend("up-echo", base_url=f"{gateway.url}/v1", api_key=secret,
                            prompt_mode="chat", max_retries=0)
    results = backend.generate([Request(messages=[{"role": "user", "content": "one"}]),
                                Request(messages=[{"role": "user", "content": "two"}])])
    assert [r.text for r in results] == ["echo: one", "echo: two"]
    assert results[0].usage.prompt_tokens == 10
    chunks = list(backend.stream(Request(messages=[{"role": "user", "content": "s"}])))
    assert "".join(c.text for c in chunks) == "echo: s"
    vectors = OpenAIBackend("up-echo", base_url=f"{gateway.url}/v1", api_key=secret).embed(["ab"])
    assert vectors.vectors.shape == (1, 4)


def test_upstream_key_never_reaches_the_client_or_the_store(upstream, tmp_path, monkeypatch):
    wrong = "sk-wrong-upstream-key-0123456789abcdef"
    monkeypatch.setenv("WRONG_UPSTREAM_KEY", wrong)
    config = _config(upstream)
    config.models.append(config.models[0].model_copy(update={
        "name": "up-badkey", "options": {**config.models[0].options,
                                         "api_key_env": "WRONG_UPSTREAM_KEY"}}))
    store = open_store(f"sqlite:///{tmp_path / 'gw.db'}")
    app = create_app(config, store=store)
    with LiveServer(app) as server:
        reply = httpx.post(f"{server.url}/v1/chat/completions", json={
            "model": "up-badkey", "messages": [{"role": "user", "content": "x"}]})
        app.state.gateway.usage.flush()
    assert reply.status_code == 502 and reply.json()["error"]["code"] == "upstream_auth"
    assert wrong not in reply.text and "[redacted]" in reply.text
    with store.connect() as conn:
        rows = conn.execute(sa.select(gateway_usage)).all()
    assert rows and wrong not in repr(rows)


def test_langchain_chat_openai_works_unchanged(gateway):
    from langchain_openai import ChatOpenAI

    _, secret = create_key(gateway.store, "langchain")
    llm = ChatOpenAI(model="up-echo", base_url=f"{gateway.url}/v1", api_key=secret,
                     max_retries=0, temperature=0)
    assert llm.invoke("from langchain").content == "echo: from langchain"
    streamed = "".join(chunk.content for chunk in llm.stream("streamed"))
    assert streamed == "echo: streamed"


def test_upstream_timeout_is_a_504_or_falls_back(upstream, tmp_path):
    # The fallback call shares the 2 s limit: it must not be starved past it on a busy
    # machine, while the late answers (8 s) are always past it.
    config = _config(upstream, request_timeout_s=2.0)
    config.fallbacks = {"up-echo": ["up-flaky"]}
    store = open_store(f"sqlite:///{tmp_path / 'gw.db'}")
    app = create_app(config, store=store)
    upstream.state["delay"] = {"echo": 8.0, "flaky": 8.0}
    try:
        with LiveServer(app) as server:
            body = {"messages": [{"role": "user", "content": "late"}]}
            slow = httpx.post(f"{server.url}/v1/chat/completions", timeout=30,
                              json={**body, "model": "up-flaky"})  # no fallback configured
            assert slow.status_code == 504
            assert slow.json()["error"]["code"] == "upstream_timeout"
            upstream.state["delay"] = {"echo": 8.0}
            saved = httpx.post(f"{server.url}/v1/chat/completions", timeout=30,
                               json={**body, "model": "up-echo"})  # times out, falls back
            assert saved.status_code == 200
            app.state.gateway.usage.flush()
            with store.connect() as conn:
                rows = conn.execute(sa.select(gateway_usage.c.model, gateway_usage.c.served_by,
                                              gateway_usage.c.status)
                                    .order_by(gateway_usage.c.id)).all()
            assert [tuple(r) for r in rows] == [("up-flaky", None, 504),
                                                ("up-echo", "up-flaky", 200)]
    finally:
        upstream.state["delay"] = {}


def test_revoked_budgeted_key_stops_at_once_despite_the_cache(upstream, tmp_path):
    store = open_store(f"sqlite:///{tmp_path / 'gw.db'}")
    app = create_app(_config(upstream, key_cache_ttl_s=3600), store=store)
    _, secret = create_key(store, "cached", budget_usd=1.0)
    with LiveServer(app) as server:
        client = _client(server, secret)
        assert _chat(client).choices  # now cached for an hour
        revoke_key(store, "cached")
        with pytest.raises(openai.AuthenticationError) as info:
            _chat(client)
        assert "revoked" in info.value.body["message"]


def test_revocation_is_immediate_despite_an_hour_long_cache(upstream, tmp_path):
    """An unbudgeted key, cached for an hour, revoked by another process's connection
    (as `lmscape keys revoke` does): the very next request is refused."""
    db = f"sqlite:///{tmp_path / 'gw.db'}"
    store = open_store(db)
    app = create_app(_config(upstream, key_cache_ttl_s=3600), store=store)
    _, secret = create_key(store, "cached-free")
    with LiveServer(app) as server:
        client = _client(server, secret)
        assert _chat(client).choices  # now cached for an hour
        assert _chat(client).choices
        other = open_store(db)  # another connection, as the CLI would open
        revoke_key(other, "cached-free")
        other.close()
        with pytest.raises(openai.AuthenticationError) as info:
            _chat(client)
        assert "revoked" in info.value.body["message"]


def test_open_access_ends_when_another_process_creates_a_key(upstream, tmp_path):
    db = f"sqlite:///{tmp_path / 'gw.db'}"
    app = create_app(_config(upstream, key_cache_ttl_s=3600), store=open_store(db),
                     allow_open=True)
    with LiveServer(app) as server:
        assert _chat(_client(server, "EMPTY")).choices  # open: no keys yet
        other = open_store(db)
        create_key(other, "first")
        other.close()
        with pytest.raises(openai.AuthenticationError):
            _chat(_client(server, "EMPTY"))
