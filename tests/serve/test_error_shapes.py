"""Errors that say what happened, and OpenAI's stream shape, on a live gateway: an
upstream that cannot be reached is a 502 ``upstream_unreachable``; invalid fields are
named as the client sent them, with what is wrong; every unreadable body is
``invalid_json``; a remote chat model refuses embeddings locally; SSE chunks carry
``usage: null`` and ``system_fingerprint`` (real uvicorn, the official ``openai``
client, httpx for bodies a client library would refuse to send)."""

from __future__ import annotations

import json
import socket

import httpx
import openai
import pytest

from lmscape.serve.app import create_app
from lmscape.serve.config import GatewayConfig
from lmscape.store import open_store

from .conftest import LiveServer, upstream_models


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def gateway(upstream, tmp_path_factory):
    opts = {"api_key_env": "STUB_UPSTREAM_KEY"}
    config = GatewayConfig.model_validate({
        "models": [
            *upstream_models(upstream.url),
            {"name": "refused", "backend": "openai", "model": "echo",
             "options": {**opts, "base_url": f"http://127.0.0.1:{_closed_port()}/v1"}},
            {"name": "no-dns", "backend": "openai", "model": "echo",
             "options": {**opts, "base_url": "http://no-such-host.invalid/v1"}},
            # a chat model the catalog knows, served by the stub
            {"name": "gpt-4o", "backend": "openai", "model": "gpt-4o",
             "options": {**opts, "base_url": f"{upstream.url}/v1"}},
        ],
        "limits": {"retries": 0, "usage_flush_s": 0.05},
        "include_catalog": False, "include_embedded": False,
    })
    store = open_store(f"sqlite:///{tmp_path_factory.mktemp('shapes') / 'gw.db'}")
    with LiveServer(create_app(config, store=store)) as server:
        yield server


@pytest.fixture
def client(gateway):
    return openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="unused", max_retries=0)


def _post(gateway, path: str, body, **kw) -> httpx.Response:
    if isinstance(body, bytes):
        return httpx.post(f"{gateway.url}{path}", content=body, timeout=30,
                          headers={"content-type": "application/json"}, **kw)
    return httpx.post(f"{gateway.url}{path}", json=body, timeout=30, **kw)


@pytest.mark.parametrize("model", ["refused", "no-dns"])
def test_unreachable_upstream_is_502_not_a_timeout(client, model):
    with pytest.raises(openai.APIStatusError) as info:
        client.chat.completions.create(model=model, messages=[{"role": "user", "content": "x"}])
    assert info.value.status_code == 502
    assert info.value.body["code"] == "upstream_unreachable"
    assert "timed out" not in info.value.body["message"]
    assert "127.0.0.1" not in info.value.body["message"]  # never the upstream's address


def _error(reply: httpx.Response) -> dict:
    assert reply.status_code == 400, reply.text
    error = reply.json()["error"]
    assert "constrained" not in error["message"] and "constrained" not in str(error["param"])
    return error


def test_too_many_inputs_names_input_and_says_why(gateway):
    error = _error(_post(gateway, "/v1/embeddings", {"model": "up-echo", "input": ["a"] * 2049}))
    assert error["param"] == "input"
    assert "2048" in error["message"] and "valid string" not in error["message"]


def test_token_arrays_say_what_is_accepted(gateway):
    error = _error(_post(gateway, "/v1/embeddings", {"model": "up-echo", "input": [[1, 2], [3]]}))
    assert error["param"] == "input"
    assert "a string or a list of strings" in error["message"]
    assert "got a list of lists" in error["message"]


def test_message_content_of_the_wrong_type_names_the_message(gateway):
    error = _error(_post(gateway, "/v1/chat/completions", {
        "model": "up-echo", "messages": [{"role": "user", "content": "ok"},
                                         {"role": "user", "content": 5}]}))
    assert error["param"] == "messages[1].content"
    assert error["code"] == "invalid_type" and "got an integer" in error["message"]


def test_value_errors_keep_the_field_name(gateway):
    error = _error(_post(gateway, "/v1/chat/completions", {
        "model": "up-echo", "temperature": 7, "messages": [{"role": "user", "content": "x"}]}))
    assert error["param"] == "temperature" and "less than or equal to 2" in error["message"]
    error = _error(_post(gateway, "/v1/chat/completions", {"model": "up-echo"}))
    assert error["param"] == "messages" and error["code"] == "missing_required_parameter"


@pytest.mark.parametrize("body", [
    b"{not json",
    b'{"model": "up-echo", "messages": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
    b'{"model": "up-\xff\xfe", "messages": []}',
], ids=["syntax", "deep-nesting", "not-utf8"])
def test_every_unreadable_body_is_invalid_json(gateway, body):
    error = _error(_post(gateway, "/v1/chat/completions", body))
    assert error["code"] == "invalid_json"


def test_remote_chat_model_refuses_embeddings_locally(client, upstream):
    before = len(upstream.state.get("bodies", []))
    with pytest.raises(openai.BadRequestError) as info:
        client.embeddings.create(model="gpt-4o", input="x")
    assert info.value.body["code"] == "unsupported_operation"
    assert len(upstream.state.get("bodies", [])) == before  # nothing was sent upstream
    assert client.chat.completions.create(  # it still chats
        model="gpt-4o", messages=[{"role": "user", "content": "hi"}]).choices


def test_stream_options_without_stream_is_400(gateway):
    error = _error(_post(gateway, "/v1/chat/completions", {
        "model": "up-echo", "messages": [{"role": "user", "content": "x"}],
        "stream_options": {"include_usage": True}}))
    assert error["param"] == "stream_options" and "stream" in error["message"]


def _events(gateway, body: dict) -> list[dict]:
    with httpx.Client(timeout=30) as http, http.stream(
        "POST", f"{gateway.url}/v1/chat/completions", json=body
    ) as response:
        lines = [line[6:] for line in response.iter_lines() if line.startswith("data: ")]
    assert lines[-1] == "[DONE]"
    return [json.loads(line) for line in lines[:-1]]


def test_stream_chunks_carry_usage_null_and_a_fingerprint(gateway):
    body = {"model": "up-echo", "stream": True, "stream_options": {"include_usage": True},
            "messages": [{"role": "user", "content": "shape"}]}
    chunks = _events(gateway, body)
    *content, last = chunks
    assert content and all("usage" in c and c["usage"] is None for c in content)
    assert last["choices"] == [] and last["usage"]["completion_tokens"] == 5
    assert all(c["system_fingerprint"] for c in chunks if c["choices"])
    plain = _events(gateway, {**body, "stream_options": None})
    assert all("usage" not in c for c in plain)  # not asked for: not sent
