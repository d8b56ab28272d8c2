"""The gateway on a real loopback port, driven by the official ``openai`` client:
local models (SmolLM2 chat, Gemma completions), a proxied OpenAI-compatible upstream,
streaming, fallbacks, OpenAI-shaped errors, and a client that disconnects mid-stream."""

from __future__ import annotations

import json
import time

import httpx
import openai
import pytest
import sqlalchemy as sa

from lmscape.serve.app import create_app
from lmscape.serve.config import GatewayConfig
from lmscape.serve.tables import gateway_usage
from lmscape.store import open_store

from .conftest import COMPLETION_TOKENS, PROMPT_TOKENS, LiveServer, upstream_models

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def gateway(upstream, tmp_path_factory):
    db = tmp_path_factory.mktemp("gw") / "gw.db"
    config = GatewayConfig.model_validate({
        "models": upstream_models(upstream.url),
        "fallbacks": {"up-broken": ["up-echo"], "up-rate": ["smollm2-135m-instruct"]},
        "limits": {"retries": 1, "usage_flush_s": 0.05},
        "include_catalog": False,
    })
    store = open_store(f"sqlite:///{db}")
    app = create_app(config, store=store)
    with LiveServer(app) as server:
        server.app, server.store = app, store
        yield server


@pytest.fixture
def client(gateway):
    return openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="unused", max_retries=0)


def usage_rows(gateway) -> list[dict]:
    gateway.app.state.gateway.usage.flush()
    with gateway.store.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(sa.select(gateway_usage)
                                                        .order_by(gateway_usage.c.id))]


def test_models_lists_local_and_upstream(client):
    names = {m.id for m in client.models.list()}
    assert {"smollm2-135m-instruct", "gemma-3-270m", "all-minilm-l6-v2", "up-echo"} <= names


def test_local_chat_non_streaming(client, gateway):
    reply = client.chat.completions.create(
        model="smollm2-135m-instruct", temperature=0, max_tokens=12,
        messages=[{"role": "system", "content": "You are terse."},
                  {"role": "user", "content": "Name a colour."}])
    assert reply.object == "chat.completion"
    assert reply.choices[0].message.role == "assistant"
    assert reply.choices[0].message.content.strip()
    assert reply.choices[0].finish_reason in ("stop", "length")
    assert reply.usage.prompt_tokens > 5 and 0 < reply.usage.completion_tokens <= 12
    row = usage_rows(gateway)[-1]
    assert (row["model"], row["served_by"], row["status"]) == (
        "smollm2-135m-instruct", "smollm2-135m-instruct", 200)
    assert row["completion_tokens"] == reply.usage.completion_tokens


def test_local_chat_streaming_with_usage(client):
    stream = client.chat.completions.create(
        model="smollm2-135m-instruct", temperature=0, max_tokens=10, stream=True,
        stream_options={"include_usage": True},
        messages=[{"role": "user", "content": "Say hello."}])
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.strip()
    assert chunks[0].choices[0].delta.role == "assistant"
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes and finishes[-1] in ("stop", "length")
    assert chunks[-1].choices == [] and 0 < chunks[-1].usage.completion_tokens <= 10


def test_local_completions_batch(client):
    reply = client.completions.create(model="gemma-3-270m", prompt=["The sky is", "Water is"],
                                      max_tokens=4, temperature=0)
    assert [c.index for c in reply.choices] == [0, 1]
    assert all(c.text for c in reply.choices)
    assert reply.usage.completion_tokens <= 8


def test_local_completions_stream(client):
    chunks = list(client.completions.create(model="gemma-3-270m", prompt="One, two,",
                                            max_tokens=3, temperature=0, stream=True))
    assert chunks and all(c.object == "text_completion" for c in chunks)
    assert "".join(c.choices[0].text for c in chunks if c.choices)
    assert chunks[-1].choices[0].finish_reason in ("stop", "length")


def test_proxied_upstream_chat_and_stream(client, gateway, upstream):
    reply = client.chat.completions.create(model="up-echo", messages=[{"role": "user", "content": "hi"}])
    assert reply.choices[0].message.content == "echo: hi"
    assert upstream.state["bodies"][-1]["model"] == "echo"  # rewritten to the upstream name
    stream = client.chat.completions.create(model="up-echo", stream=True,
                                            messages=[{"role": "user", "content": "yo"}])
    chunks = list(stream)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "echo: yo"
    assert all(c.choices for c in chunks)  # the usage chunk the gateway asked for is not leaked
    row = usage_rows(gateway)[-1]
    assert (row["prompt_tokens"], row["completion_tokens"], row["stream"]) == (
        PROMPT_TOKENS, COMPLETION_TOKENS, True)
    assert row["cost_nusd"] == 1000 * (PROMPT_TOKENS * 1.0 + COMPLETION_TOKENS * 2.0)


def test_upstream_failure_falls_back(client, gateway, upstream):
    before = upstream.state["calls"]["fail-500"]
    reply = client.chat.completions.create(model="up-broken",
                                           messages=[{"role": "user", "content": "x"}])
    assert reply.choices[0].message.content == "echo: x"
    assert upstream.state["calls"]["fail-500"] - before == 2  # one try + one retry
    row = usage_rows(gateway)[-1]
    assert (row["model"], row["served_by"]) == ("up-broken", "up-echo")


def test_rate_limited_upstream_falls_back_to_a_local_model(client, gateway):
    reply = client.chat.completions.create(model="up-rate", max_tokens=4, temperature=0,
                                           messages=[{"role": "user", "content": "hi"}])
    assert reply.choices[0].message.content
    assert usage_rows(gateway)[-1]["served_by"] == "smollm2-135m-instruct"


def test_flaky_upstream_is_retried(client, upstream):
    upstream.state["flaky"] = 1
    reply = client.chat.completions.create(model="up-flaky",
                                           messages=[{"role": "user", "content": "again"}])
    assert reply.choices[0].message.content == "echo: again"


def test_openai_style_errors(client, gateway):
    with pytest.raises(openai.NotFoundError) as info:
        client.chat.completions.create(model="smollm3", messages=[{"role": "user", "content": "x"}])
    assert info.value.body["code"] == "model_not_found"
    assert "smollm2-135m-instruct" in info.value.body["message"]  # did you mean

    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model="up-echo", temperature=7,
                                       messages=[{"role": "user", "content": "x"}])
    assert info.value.body["param"] == "temperature"

    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model="smollm2-135m-instruct", max_tokens=4,
                                       messages=[{"role": "user", "content": "word " * 5000}])
    assert info.value.body["code"] == "context_length_exceeded"

    with pytest.raises(openai.BadRequestError) as info:
        client.embeddings.create(model="smollm2-135m-instruct", input="x")
    assert info.value.body["code"] == "unsupported_operation"

    raw = httpx.post(f"{gateway.url}/v1/chat/completions", content=b"{not json",
                     headers={"content-type": "application/json"})
    assert raw.status_code == 400
    assert raw.json()["error"]["code"] == "invalid_json"
    raw = httpx.post(f"{gateway.url}/v1/chat/completions", json={"model": "up-echo"})
    assert raw.status_code == 400 and raw.json()["error"]["param"] == "messages"
    assert set(raw.json()["error"]) == {"message", "type", "param", "code"}


def test_health_and_openapi(gateway):
    health = httpx.get(f"{gateway.url}/health").json()
    assert health["status"] == "ok" and "smollm2-135m-instruct" in health["loaded"]
    doc = httpx.get(f"{gateway.url}/openapi.json").json()
    assert {"/v1/chat/completions", "/v1/completions", "/v1/embeddings", "/v1/models"} <= set(doc["paths"])


def test_client_disconnect_stops_generation(gateway):
    """Read a few tokens, hang up, and check the model stopped well before max_tokens."""
    body = {"model": "smollm2-135m-instruct", "stream": True, "max_tokens": 1500,
            "temperature": 1.0, "seed": 1,
            "messages": [{"role": "user", "content": "Write a very long story about ships."}]}
    n_before = len(usage_rows(gateway))
    with httpx.Client(timeout=60) as http, http.stream(
        "POST", f"{gateway.url}/v1/chat/completions", json=body
    ) as response:
        seen = 0
        for line in response.iter_lines():
            if line.startswith("data: ") and '"content"' in line:
                seen += 1
            if seen >= 4:
                break
    deadline = time.monotonic() + 20
    rows = []
    while time.monotonic() < deadline:
        rows = usage_rows(gateway)[n_before:]
        if rows:
            break
        time.sleep(0.1)
    assert rows, "the disconnected stream was never accounted"
    assert rows[0]["status"] == 499 and rows[0]["error"] == "client_disconnected"
    assert rows[0]["completion_tokens"] < 400  # stopped, not run to 1500 tokens
    # the model's queue slot is free again: a new request completes
    reply = httpx.post(f"{gateway.url}/v1/chat/completions", timeout=60, json={
        "model": "smollm2-135m-instruct", "max_tokens": 2,
        "messages": [{"role": "user", "content": "hi"}]})
    assert reply.status_code == 200, reply.text


def test_sse_wire_format(gateway):
    body = {"model": "up-echo", "stream": True, "messages": [{"role": "user", "content": "w"}]}
    with httpx.Client(timeout=60) as http, http.stream(
        "POST", f"{gateway.url}/v1/chat/completions", json=body
    ) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = [line for line in response.iter_lines() if line]
    assert lines[-1] == "data: [DONE]"
    assert all(line.startswith("data: ") for line in lines)
    assert json.loads(lines[0][6:])["object"] == "chat.completion.chunk"


def test_local_embeddings_float_and_base64(client, gateway):
    import numpy as np

    texts = ["The cat sat on the mat.", "A cat was sitting on a rug.", "Quarterly tax filing."]
    floats = client.embeddings.create(model="all-minilm-l6-v2", input=texts,
                                      encoding_format="float")
    vectors = np.array([d.embedding for d in floats.data])
    assert vectors.shape == (3, 384) and [d.index for d in floats.data] == [0, 1, 2]
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    assert unit[0] @ unit[1] > unit[0] @ unit[2] + 0.2  # paraphrases are closer
    packed = client.embeddings.create(model="all-minilm-l6-v2", input=texts)  # base64 default
    assert np.allclose(np.array([d.embedding for d in packed.data]), vectors, atol=1e-6)
    assert floats.usage.prompt_tokens > 0
    assert usage_rows(gateway)[-1]["endpoint"] == "embeddings"
