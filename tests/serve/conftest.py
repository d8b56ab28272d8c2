"""Real servers on loopback for the gateway tests: the gateway itself (uvicorn in a
thread) and a small OpenAI-compatible upstream whose behaviour each model name picks.

| upstream model | behaviour                                                        |
|----------------|------------------------------------------------------------------|
| echo           | "echo: <last message>"; usage 10 prompt / 5 completion tokens    |
| fail-500       | always 500                                                        |
| rate           | always 429                                                        |
| flaky          | 500 for the first ``state["flaky"]`` calls, then like echo        |

``state["delay"] = {"echo": 1.0}`` makes a model answer a second late.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections import Counter
from typing import Self

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, StreamingResponse
from starlette.routing import Route

STUB_KEY = "sk-stub-upstream-0123456789abcdef"
PROMPT_TOKENS, COMPLETION_TOKENS = 10, 5


class LiveServer:
    """uvicorn serving ``app`` on a free loopback port, in a daemon thread."""

    def __init__(self, app) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]},
                                       daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Self:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)
        self.sock.close()


def _error(status: int, message: str, kind: str) -> JSONResponse:
    return JSONResponse({"error": {"message": message, "type": kind, "param": None, "code": None}},
                        status_code=status)


def make_upstream(state: dict) -> Starlette:
    """The OpenAI-compatible upstream stub (see the module docstring)."""
    calls: Counter = state.setdefault("calls", Counter())

    def failure(model: str):
        calls[model] += 1
        if model == "fail-500":
            return _error(500, "upstream exploded", "server_error")
        if model == "rate":
            return _error(429, "slow down", "rate_limit_error")
        if model == "flaky" and state.get("flaky", 0) > 0:
            state["flaky"] -= 1
            return _error(500, "flaky upstream", "server_error")
        return None

    async def chat(request: Request):
        body = await request.json()
        state.setdefault("bodies", []).append(body)
        presented = request.headers.get("authorization", "")
        if presented != f"Bearer {STUB_KEY}":  # echoes the key, as some providers do
            return _error(401, f"Incorrect API key provided: {presented[7:]}",
                          "invalid_request_error")
        failed = failure(body["model"])
        if failed is not None:
            return failed
        delay = state.get("delay", {}).get(body["model"])
        if delay:
            await asyncio.sleep(delay)
        content = body["messages"][-1].get("content") or ""
        if isinstance(content, list):  # content parts
            content = "".join(str(part.get("text", "")) for part in content)
        text = "echo: " + str(content)
        usage = {"prompt_tokens": PROMPT_TOKENS, "completion_tokens": COMPLETION_TOKENS,
                 "total_tokens": PROMPT_TOKENS + COMPLETION_TOKENS}
        base = {"id": "chatcmpl-stub", "created": 1, "model": body["model"]}
        if not body.get("stream"):
            return JSONResponse({**base, "object": "chat.completion", "choices": [{
                "index": 0, "message": {"role": "assistant", "content": text},
                "finish_reason": "stop", "logprobs": None}], "usage": usage})

        async def events():
            chunk = {**base, "object": "chat.completion.chunk"}
            pieces = [text[:6], text[6:]]
            yield "data: " + json.dumps({**chunk, "choices": [{"index": 0, "delta": {
                "role": "assistant", "content": ""}, "finish_reason": None}]}) + "\n\n"
            for piece in pieces:
                yield "data: " + json.dumps({**chunk, "choices": [{"index": 0, "delta": {
                    "content": piece}, "finish_reason": None}]}) + "\n\n"
            yield "data: " + json.dumps({**chunk, "choices": [{"index": 0, "delta": {},
                                                                "finish_reason": "stop"}]}) + "\n\n"
            if (body.get("stream_options") or {}).get("include_usage"):
                yield "data: " + json.dumps({**chunk, "choices": [], "usage": usage}) + "\n\n"
            yield "data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    async def completions(request: Request):
        body = await request.json()
        failed = failure(body["model"])
        if failed is not None:
            return failed
        prompts = body["prompt"] if isinstance(body["prompt"], list) else [body["prompt"]]
        return JSONResponse({"id": "cmpl-stub", "object": "text_completion", "created": 1,
                             "model": body["model"], "choices": [
                                 {"index": i, "text": " echo", "finish_reason": "stop",
                                  "logprobs": None} for i, _ in enumerate(prompts)],
                             "usage": {"prompt_tokens": PROMPT_TOKENS,
                                       "completion_tokens": COMPLETION_TOKENS,
                                       "total_tokens": PROMPT_TOKENS + COMPLETION_TOKENS}})

    async def embeddings(request: Request):
        body = await request.json()
        texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
        return JSONResponse({"object": "list", "model": body["model"], "data": [
            {"object": "embedding", "index": i, "embedding": [1.0, 0.0, float(len(t)), 0.5]}
            for i, t in enumerate(texts)], "usage": {"prompt_tokens": 3, "total_tokens": 3}})

    return Starlette(routes=[
        Route("/v1/chat/completions", chat, methods=["POST"]),
        Route("/v1/completions", completions, methods=["POST"]),
        Route("/v1/embeddings", embeddings, methods=["POST"]),
    ])


@pytest.fixture(scope="module")
def upstream():
    """A running upstream stub; ``upstream.state`` steers and records it."""
    state: dict = {}
    with LiveServer(make_upstream(state)) as server:
        server.state = state
        yield server


def upstream_models(url: str, price_in: float = 1.0, price_out: float = 2.0) -> list[dict]:
    """Gateway config entries for the stub's models."""
    opts = {"base_url": f"{url}/v1", "api_key_env": "STUB_UPSTREAM_KEY"}
    price = {"input_per_mtok": price_in, "output_per_mtok": price_out}
    return [
        {"name": name, "backend": "openai", "model": model, "options": opts, "price": price}
        for name, model in (("up-echo", "echo"), ("up-broken", "fail-500"),
                            ("up-rate", "rate"), ("up-flaky", "flaky"))
    ]


@pytest.fixture(autouse=True)
def _stub_key(monkeypatch):
    monkeypatch.setenv("STUB_UPSTREAM_KEY", STUB_KEY)
