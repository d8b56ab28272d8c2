"""Continuous batching in the gateway: concurrent chat requests for one local llama.cpp
model share its decode batch, each streams its own tokens, and greedy texts equal the
one-at-a-time ones. The gateway runs on a real loopback port, driven by the official
``openai`` client."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import openai
import pytest

from lmscape.serve.app import create_app
from lmscape.serve.config import GatewayConfig
from lmscape.store import open_store

from .conftest import LiveServer

pytestmark = pytest.mark.slow

MODEL = "smollm2-135m-instruct"
PROMPTS = ("Why is the sky blue?", "Name three fruits.", "What is a verb?",
           "Describe a cat in one sentence.")


def _gateway(tmp_path, batching: bool) -> LiveServer:
    config = GatewayConfig.model_validate({
        "include_catalog": False, "include_embedded": False,
        "models": [{"name": MODEL, "catalog": MODEL, "options": {"n_parallel": len(PROMPTS)}}],
        "limits": {"batching": batching, "usage_flush_s": 0.05},
    })
    app = create_app(config, store=open_store(f"sqlite:///{tmp_path}/gw-{batching}.db"))
    server = LiveServer(app)
    server.app = app
    return server


def _chat(url: str, prompt: str, *, stream: bool = False) -> str:
    client = openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0)
    kw = {"model": MODEL, "messages": [{"role": "user", "content": prompt}], "max_tokens": 24,
          "temperature": 0}
    if not stream:
        return client.chat.completions.create(**kw).choices[0].message.content
    return "".join(c.choices[0].delta.content or "" for c in client.chat.completions.create(
        stream=True, **kw) if c.choices)


def _decoder(server: LiveServer):
    pool = server.app.state.gateway.pool
    return pool._slots[MODEL].backend._decoder


def test_concurrent_requests_share_a_batch_and_give_the_sequential_texts(tmp_path):
    with _gateway(tmp_path, batching=True) as server:
        sequential = [_chat(server.url, p) for p in PROMPTS]
        assert _decoder(server).max_rows == 1  # one request at a time: one row per step
        with ThreadPoolExecutor(len(PROMPTS)) as ex:
            concurrent = list(ex.map(lambda p: _chat(server.url, p), PROMPTS))
            streamed = list(ex.map(lambda p: _chat(server.url, p, stream=True), PROMPTS))
        rows = _decoder(server).max_rows
    assert all(sequential)
    assert concurrent == sequential
    assert streamed == sequential
    assert rows > 1  # several sequences were decoded in one llama_decode step


def test_batching_off_runs_one_generation_at_a_time(tmp_path):
    with _gateway(tmp_path, batching=False) as server:
        with ThreadPoolExecutor(len(PROMPTS)) as ex:
            texts = list(ex.map(lambda p: _chat(server.url, p), PROMPTS))
        assert _decoder(server).max_rows == 1
    assert all(texts)
