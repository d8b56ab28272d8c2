"""What a caller without the right key can do and learn: nothing beyond a 401 or a
liveness answer. Keys are checked from the headers before the body is read; large
bodies are refused from Content-Length or while they stream; an allow-listed key sees
only its own models (real uvicorn on loopback, the official ``openai`` client, raw
sockets where the client must misbehave)."""

from __future__ import annotations

import socket

import httpx
import openai
import pytest

from lmscape.serve.app import create_app
from lmscape.serve.config import GatewayConfig
from lmscape.serve.keys import create_key
from lmscape.store import open_store

from .conftest import LiveServer, upstream_models


@pytest.fixture
def gateway(upstream, tmp_path):
    config = GatewayConfig.model_validate({
        "models": upstream_models(upstream.url),
        "limits": {"retries": 0, "usage_flush_s": 0.05, "max_body_mb": 1},
        "include_catalog": False, "include_embedded": False,
    })
    store = open_store(f"sqlite:///{tmp_path / 'gw.db'}")
    app = create_app(config, store=store, allow_open=True)
    with LiveServer(app) as server:
        server.app, server.store = app, store
        _, server.secret = create_key(store, "owner")
        yield server


def _raw(server, head: bytes, body_parts: list[bytes] = ()) -> bytes:
    """Send ``head`` then ``body_parts`` on a raw socket; return what the server answered
    (it may answer, and close, before the body was sent in full)."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(head)
        try:
            for part in body_parts:
                sock.sendall(part)
        except OSError:  # the server already answered and closed
            pass
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
        return answer


def test_missing_key_is_401_before_the_body_is_validated(gateway):
    reply = httpx.post(f"{gateway.url}/v1/chat/completions", json={"model": "x"})
    assert reply.status_code == 401
    assert reply.json()["error"]["code"] == "invalid_api_key"
    wrong = httpx.post(f"{gateway.url}/v1/embeddings", content=b"{not json",
                       headers={"Authorization": "Bearer lms-wrong"})
    assert wrong.status_code == 401


def test_401_is_sent_without_reading_a_declared_300_mb_body(gateway):
    head = (b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
            b"content-length: 300000000\r\n\r\n")
    answer = _raw(gateway, head, [b"{" + b" " * 1000])
    assert answer.startswith(b"HTTP/1.1 401")


def test_oversized_body_is_413_from_content_length(gateway):
    head = (b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
            b"authorization: Bearer " + gateway.secret.encode() +
            b"\r\ncontent-length: 300000000\r\n\r\n")
    answer = _raw(gateway, head, [b"{" + b" " * 1000])
    assert answer.startswith(b"HTTP/1.1 413")
    assert b"request_too_large" in answer or b"content-length" in answer.lower()


def test_oversized_chunked_body_is_413_while_it_streams(gateway):
    head = (b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
            b"authorization: Bearer " + gateway.secret.encode() +
            b"\r\ntransfer-encoding: chunked\r\n\r\n")
    piece = b" " * 65536
    chunk = f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
    answer = _raw(gateway, head, [chunk] * 20)  # 1.25 MiB against a 1 MiB limit; no end
    assert answer.startswith(b"HTTP/1.1 413")


def test_chunked_body_under_the_limit_is_served(gateway):
    body = b'{"model": "up-echo", "messages": [{"role": "user", "content": "chunked"}]}'

    def parts():
        yield body[:10]
        yield body[10:]

    reply = httpx.post(f"{gateway.url}/v1/chat/completions", content=parts(),
                       headers={"Authorization": f"Bearer {gateway.secret}",
                                "content-type": "application/json"})
    assert reply.status_code == 200, reply.text
    assert reply.json()["choices"][0]["message"]["content"] == "echo: chunked"


def test_401_hint_names_the_header_to_send(gateway):
    reply = httpx.get(f"{gateway.url}/v1/models")
    message = reply.json()["error"]["message"]
    assert "Authorization: Bearer lms-..." in message
    assert "[redacted]" not in message


def test_allow_listed_key_sees_only_its_models(gateway):
    _, secret = create_key(gateway.store, "narrow", models=["up-echo"])
    client = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key=secret, max_retries=0)
    for name in ("up-flaky", "up-flaky2"):  # outside the list; similar to one outside it
        with pytest.raises(openai.NotFoundError) as info:
            client.models.retrieve(name)
        assert "up-flaky" not in info.value.body["message"].replace(repr(name), "")
    with pytest.raises(openai.NotFoundError) as info:
        client.chat.completions.create(model="up-flaky",
                                       messages=[{"role": "user", "content": "x"}])
    assert info.value.body["code"] == "model_not_found"
    assert "up-broken" not in info.value.body["message"]
    with pytest.raises(openai.NotFoundError) as info:  # a typo: suggests its own model
        client.chat.completions.create(model="up-ech", messages=[{"role": "user", "content": "x"}])
    assert "up-echo" in info.value.body["message"]
    assert [m.id for m in client.models.list()] == ["up-echo"]


def test_health_is_liveness_only_for_anonymous_callers(gateway):
    anonymous = httpx.get(f"{gateway.url}/health")
    assert anonymous.status_code == 200 and anonymous.json() == {"status": "ok"}
    wrong = httpx.get(f"{gateway.url}/health", headers={"Authorization": "Bearer lms-nope"})
    assert wrong.json() == {"status": "ok"}
    _, narrow = create_key(gateway.store, "narrow-health", models=["up-echo"])
    seen = httpx.get(f"{gateway.url}/health", headers={"Authorization": f"Bearer {narrow}"})
    assert seen.json()["models"] == 1 and seen.json()["open_access"] is False
