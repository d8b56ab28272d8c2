"""AnthropicBackend against a real local HTTP server speaking the Messages API wire
protocol (JSON and SSE), driven through the official ``anthropic`` SDK."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from lmscape.backends.anthropic_backend import AnthropicBackend, to_anthropic
from lmscape.backends.base import Request
from lmscape.errors import AuthenticationError, RateLimitError, UpstreamError

SECRET = "sk-ant-test-0123456789abcdefSECRET"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):  # keep test output quiet
        pass

    def _json(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        server = self.server
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        # The SDK sends the key as x-api-key (older releases) or a bearer token (newer).
        key = self.headers.get("x-api-key") or self.headers.get("authorization", "")[7:]
        server.seen.append({"path": self.path, "key": key, "body": body})
        model = body["model"]
        if model == "always-500":
            return self._json(500, {"type": "error", "error": {"type": "api_error", "message": "boom"}})
        if model == "rate-limited":
            return self._json(429, {"type": "error", "error": {"type": "rate_limit_error", "message": "slow"}})
        if model == "bad-key":
            msg = f"invalid x-api-key {key}"
            return self._json(401, {"type": "error", "error": {"type": "authentication_error", "message": msg}})
        if model == "flaky" and server.flaky_left > 0:
            server.flaky_left -= 1
            return self._json(503, {"type": "error", "error": {"type": "overloaded_error", "message": "busy"}})
        last = body["messages"][-1]["content"]
        words = f"echo {last}".split()
        words = words[: body["max_tokens"]]
        stop = "max_tokens" if len(words) == body["max_tokens"] else "end_turn"
        usage_in = sum(len(m["content"].split()) for m in body["messages"])
        if not body.get("stream"):
            return self._json(200, {
                "id": "msg_1", "type": "message", "role": "assistant", "model": model,
                "content": [{"type": "text", "text": " ".join(words)}],
                "stop_reason": stop, "stop_sequence": None,
                "usage": {"input_tokens": usage_in, "output_tokens": len(words)},
            })
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("connection", "close")
        self.end_headers()

        def event(kind: str, data: dict) -> None:
            self.wfile.write(f"event: {kind}\ndata: {json.dumps(data)}\n\n".encode())
            self.wfile.flush()

        event("message_start", {"type": "message_start", "message": {
            "id": "msg_2", "type": "message", "role": "assistant", "model": model, "content": [],
            "stop_reason": None, "stop_sequence": None,
            "usage": {"input_tokens": usage_in, "output_tokens": 1}}})
        event("content_block_start", {"type": "content_block_start", "index": 0,
                                      "content_block": {"type": "text", "text": ""}})
        for i, word in enumerate(words):
            piece = word if i == 0 else " " + word
            event("content_block_delta", {"type": "content_block_delta", "index": 0,
                                          "delta": {"type": "text_delta", "text": piece}})
        event("content_block_stop", {"type": "content_block_stop", "index": 0})
        event("message_delta", {"type": "message_delta",
                                "delta": {"stop_reason": stop, "stop_sequence": None},
                                "usage": {"output_tokens": len(words)}})
        event("message_stop", {"type": "message_stop"})
        self.close_connection = True


@pytest.fixture(scope="module")
def wire():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.seen, server.flaky_left = [], 0
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def make(wire, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", SECRET)
    wire.seen.clear()

    def build(model: str = "claude-test", **kw) -> AnthropicBackend:
        kw.setdefault("max_retries", 0)
        return AnthropicBackend(model, base_url=f"http://127.0.0.1:{wire.server_port}", **kw)

    return build


def test_translation_merges_roles_and_lifts_system():
    system, messages = to_anthropic(Request(messages=[
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "a"},
        {"role": "user", "content": "b"},
        {"role": "assistant", "content": "c"},
        {"role": "system", "content": "Be kind."},
        {"role": "user", "content": "d"},
    ]))
    assert system == "Be brief.\n\nBe kind."
    assert messages == [
        {"role": "user", "content": "a\n\nb"},
        {"role": "assistant", "content": "c"},
        {"role": "user", "content": "d"},
    ]


def test_generate_batch_over_the_wire(make, wire):
    backend = make()
    results = backend.generate([
        Request(messages=[{"role": "system", "content": "S"}, {"role": "user", "content": "hi there"}],
                max_tokens=10, temperature=1.7, stop=("zzz",)),
        Request(prompt="one two three four", max_tokens=2),
    ])
    assert results[0].text == "echo hi there"
    assert results[0].finish_reason == "stop"
    assert (results[0].usage.prompt_tokens, results[0].usage.completion_tokens) == (2, 3)
    assert results[1].text == "echo one" and results[1].finish_reason == "length"
    bodies = {tuple(s["body"]["messages"][-1].values()): s for s in wire.seen}
    first = bodies[("user", "hi there")]
    assert first["body"]["system"] == "S"
    assert first["body"]["temperature"] == 1.0  # clamped to Anthropic's range
    assert first["body"]["stop_sequences"] == ["zzz"]
    assert first["key"] == SECRET
    assert first["path"] == "/v1/messages"


def test_stream_yields_text_then_usage(make):
    chunks = list(make().stream(Request(messages=[{"role": "user", "content": "a b c"}], max_tokens=9)))
    assert "".join(c.text for c in chunks) == "echo a b c"
    assert len([c for c in chunks if c.text]) == 4
    last = chunks[-1]
    assert last.done and last.finish_reason == "stop"
    assert (last.usage.prompt_tokens, last.usage.completion_tokens) == (3, 4)
    assert last.timings.ttft_s is not None


def test_errors_map_to_lmscape_tree_and_redact_the_key(make):
    with pytest.raises(UpstreamError):
        make("always-500").generate([Request(prompt="x")])
    with pytest.raises(RateLimitError):
        make("rate-limited").generate([Request(prompt="x")])
    with pytest.raises(AuthenticationError) as info:
        make("bad-key").generate([Request(prompt="x")])
    assert SECRET not in str(info.value) and "[redacted]" in str(info.value)


def test_5xx_is_retried_with_backoff_then_succeeds(make, wire):
    wire.flaky_left = 2
    backend = make("flaky", max_retries=2, backoff_base=0.01)
    result = backend.generate([Request(prompt="ok")])[0]
    assert result.text == "echo ok"
    assert len(wire.seen) == 3
    assert backend.info()["retries"] == 2


def test_missing_key_names_the_variable(monkeypatch):
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    monkeypatch.delenv("ANTHROPIC_API_KEY_FILE", raising=False)
    with pytest.raises(AuthenticationError) as info:
        AnthropicBackend("claude-test")
    assert "ANTHROPIC_API_KEY" in info.value.hint


def test_key_from_secret_file(make, wire, tmp_path, monkeypatch):
    monkeypatch.delenv("ANTHROPIC_API_KEY")
    secret_file = tmp_path / "anthropic.key"
    secret_file.write_text(SECRET + "\n")
    monkeypatch.setenv("ANTHROPIC_API_KEY_FILE", str(secret_file))
    assert make().generate([Request(prompt="k")])[0].text == "echo k"
    assert wire.seen[-1]["key"] == SECRET


def test_stream_open_is_retried(make, wire):
    wire.flaky_left = 1
    backend = make("flaky", max_retries=1, backoff_base=0.01)
    chunks = list(backend.stream(Request(prompt="x y", max_tokens=5)))
    assert "".join(c.text for c in chunks) == "echo x y"
    assert backend.info()["retries"] == 1
