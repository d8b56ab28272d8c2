"""Anthropic and Google models served through the gateway: the official ``openai``
client talks OpenAI to the gateway, which talks the Messages API / generateContent
(through the official SDKs) to local servers that speak those wire protocols.
Messages, system prompts, streaming and usage are translated both ways."""

from __future__ import annotations

import importlib.util
import threading
from http.server import ThreadingHTTPServer
from pathlib import Path

import openai
import pytest

from lmscape.serve.app import create_app
from lmscape.serve.config import GatewayConfig
from lmscape.store import open_store

from .conftest import LiveServer

pytestmark = pytest.mark.slow


def _wire_module(name: str):
    """The wire-protocol server defined beside the backend's own tests."""
    path = Path(__file__).parents[1] / "backends" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"_wire_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


anthropic_wire = _wire_module("test_anthropic_backend")
google_wire = _wire_module("test_google_backend")


def _serve(handler) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.seen, server.flaky_left = [], 0
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    patch = pytest.MonkeyPatch()
    patch.setenv("ANTHROPIC_API_KEY", anthropic_wire.SECRET)
    patch.setenv("GOOGLE_API_KEY", google_wire.SECRET)
    claude, gemini = _serve(anthropic_wire._Handler), _serve(google_wire._Handler)
    a_opts = {"base_url": f"http://127.0.0.1:{claude.server_port}", "max_retries": 0}
    g_opts = {"base_url": f"http://127.0.0.1:{gemini.server_port}", "max_retries": 0}
    price = {"input_per_mtok": 3.0, "output_per_mtok": 15.0}
    config = GatewayConfig.model_validate({
        "models": [
            {"name": "claude", "backend": "anthropic", "model": "claude-test", "options": a_opts,
             "price": price},
            {"name": "claude-down", "backend": "anthropic", "model": "always-500",
             "options": a_opts},
            {"name": "claude-badkey", "backend": "anthropic", "model": "bad-key",
             "options": a_opts},
            {"name": "gemini", "backend": "google", "model": "gemini-test", "options": g_opts},
        ],
        "fallbacks": {"claude-down": ["gemini"]},
        "limits": {"usage_flush_s": 0.05},
        "include_catalog": False, "include_embedded": False,
    })
    store = open_store(f"sqlite:///{tmp_path_factory.mktemp('prov') / 'gw.db'}")
    app = create_app(config, store=store)
    with LiveServer(app) as server:
        server.claude, server.gemini = claude, gemini
        yield server
    for wire in (claude, gemini):
        wire.shutdown()
        wire.server_close()
    patch.undo()


@pytest.fixture
def client(gateway):
    return openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="unused", max_retries=0)


MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi there"}]


@pytest.mark.parametrize("model", ["claude", "gemini"])
def test_chat_round_trip(client, gateway, model):
    reply = client.chat.completions.create(model=model, messages=MESSAGES, max_tokens=20)
    assert reply.choices[0].message.content == "echo hi there"
    assert reply.choices[0].finish_reason == "stop"
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens) == (2, 3)
    seen = (gateway.claude if model == "claude" else gateway.gemini).seen[-1]["body"]
    if model == "claude":
        assert seen["system"] == "Be brief." and seen["max_tokens"] == 20
    else:
        assert seen["systemInstruction"]["parts"][0]["text"] == "Be brief."
        assert seen["generationConfig"]["maxOutputTokens"] == 20


@pytest.mark.parametrize("model", ["claude", "gemini"])
def test_streaming_round_trip(client, model):
    chunks = list(client.chat.completions.create(
        model=model, messages=MESSAGES, max_tokens=2, stream=True,
        stream_options={"include_usage": True}))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "echo hi"
    finish = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finish == ["length"]
    assert (chunks[-1].usage.prompt_tokens, chunks[-1].usage.completion_tokens) == (2, 2)


def test_completions_endpoint_on_a_chat_provider(client):
    reply = client.completions.create(model="claude", prompt="a b", max_tokens=5)
    assert reply.choices[0].text == "echo a b"


def test_failing_provider_falls_back_to_another(client):
    reply = client.chat.completions.create(model="claude-down", messages=MESSAGES)
    assert reply.choices[0].message.content == "echo hi there"


def test_provider_key_is_redacted_from_errors(client):
    with pytest.raises(openai.APIStatusError) as info:
        client.chat.completions.create(model="claude-badkey", messages=MESSAGES)
    assert info.value.status_code == 502
    assert info.value.body["code"] == "upstream_auth"
    assert anthropic_wire.SECRET not in str(info.value.body)
