"""GoogleBackend against a real local HTTP server speaking the Gemini generateContent
wire protocol (JSON and SSE), driven through the official ``google-genai`` SDK."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from lmscape.backends.base import Request
from lmscape.backends.google_backend import GoogleBackend, to_gemini
from lmscape.errors import AuthenticationError, RateLimitError, UpstreamError

SECRET = "AIzaTESTKEY0123456789abcdefghijSECRET"


def _words(body: dict) -> tuple[list[str], int]:
    last = body["contents"][-1]["parts"][-1]["text"]
    limit = body.get("generationConfig", {}).get("maxOutputTokens", 100)
    return f"echo {last}".split()[:limit], limit


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _json(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _error(self, code: int, status: str, message: str) -> None:
        self._json(code, {"error": {"code": code, "message": message, "status": status}})

    def do_POST(self):
        server = self.server
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        key = self.headers.get("x-goog-api-key", "")
        server.seen.append({"path": self.path, "key": key, "body": body})
        model = self.path.split("/models/")[1].split(":")[0]
        if model == "always-500":
            return self._error(500, "INTERNAL", "boom")
        if model == "rate-limited":
            return self._error(429, "RESOURCE_EXHAUSTED", "quota")
        if model == "bad-key":
            return self._error(403, "PERMISSION_DENIED", f"API key not valid: {key}")
        if model == "flaky" and server.flaky_left > 0:
            server.flaky_left -= 1
            return self._error(503, "UNAVAILABLE", "busy")
        words, limit = _words(body)
        finish = "MAX_TOKENS" if len(words) == limit else "STOP"
        prompt = sum(len(p["text"].split()) for c in body["contents"] for p in c["parts"])
        usage = {"promptTokenCount": prompt, "candidatesTokenCount": len(words),
                 "totalTokenCount": prompt + len(words)}
        if ":streamGenerateContent" not in self.path:
            return self._json(200, {"candidates": [{
                "content": {"role": "model", "parts": [{"text": " ".join(words)}]},
                "finishReason": finish, "index": 0}], "usageMetadata": usage,
                "modelVersion": model})
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("connection", "close")
        self.end_headers()
        for i, word in enumerate(words):
            chunk = {"candidates": [{"content": {"role": "model",
                                                 "parts": [{"text": word if i == 0 else " " + word}]},
                                     "index": 0}], "modelVersion": model}
            if i == len(words) - 1:
                chunk["candidates"][0]["finishReason"] = finish
                chunk["usageMetadata"] = usage
            self.wfile.write(f"data: {json.dumps(chunk)}\r\n\r\n".encode())
            self.wfile.flush()
        self.close_connection = True


@pytest.fixture(scope="module")
def wire():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.seen, server.flaky_left = [], 0
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def make(wire, monkeypatch):
    monkeypatch.setenv("GOOGLE_API_KEY", SECRET)
    monkeypatch.delenv("GEMINI_API_KEY", raising=False)
    wire.seen.clear()

    def build(model: str = "gemini-test", **kw) -> GoogleBackend:
        kw.setdefault("max_retries", 0)
        return GoogleBackend(model, base_url=f"http://127.0.0.1:{wire.server_port}", **kw)

    return build


def test_translation_roles_and_system_instruction():
    system, contents = to_gemini(Request(messages=[
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "a"},
        {"role": "assistant", "content": "b"},
        {"role": "assistant", "content": "c"},
        {"role": "user", "content": "d"},
    ]))
    assert system == "Be brief."
    assert [c["role"] for c in contents] == ["user", "model", "user"]
    assert contents[1]["parts"] == [{"text": "b"}, {"text": "c"}]


def test_generate_batch_over_the_wire(make, wire):
    results = make().generate([
        Request(messages=[{"role": "system", "content": "S"}, {"role": "user", "content": "hi there"}],
                max_tokens=10, stop=("zzz",), seed=7),
        Request(prompt="one two three four", max_tokens=2),
    ])
    assert results[0].text == "echo hi there" and results[0].finish_reason == "stop"
    assert (results[0].usage.prompt_tokens, results[0].usage.completion_tokens) == (2, 3)
    assert results[1].text == "echo one" and results[1].finish_reason == "length"
    seen = next(s for s in wire.seen if s["body"]["contents"][-1]["parts"][0]["text"] == "hi there")
    assert seen["path"].endswith("/models/gemini-test:generateContent")
    assert seen["body"]["systemInstruction"]["parts"][0]["text"] == "S"
    config = seen["body"]["generationConfig"]
    assert config["stopSequences"] == ["zzz"] and config["seed"] == 7
    assert config["maxOutputTokens"] == 10
    assert seen["key"] == SECRET


def test_stream_yields_text_then_usage(make):
    chunks = list(make().stream(Request(messages=[{"role": "user", "content": "a b c"}], max_tokens=9)))
    assert "".join(c.text for c in chunks) == "echo a b c"
    assert len([c for c in chunks if c.text]) == 4
    last = chunks[-1]
    assert last.done and last.finish_reason == "stop"
    assert (last.usage.prompt_tokens, last.usage.completion_tokens) == (3, 4)


def test_errors_map_to_lmscape_tree_and_redact_the_key(make):
    with pytest.raises(UpstreamError):
        make("always-500").generate([Request(prompt="x")])
    with pytest.raises(RateLimitError):
        make("rate-limited").generate([Request(prompt="x")])
    with pytest.raises(AuthenticationError) as info:
        make("bad-key").generate([Request(prompt="x")])
    assert SECRET not in str(info.value)


def test_5xx_is_retried_with_backoff_then_succeeds(make, wire):
    wire.flaky_left = 2
    backend = make("flaky", max_retries=2, backoff_base=0.01)
    result = backend.generate([Request(prompt="ok")])[0]
    assert result.text == "echo ok"
    assert len(wire.seen) == 3
    assert backend.info()["retries"] == 2


def test_missing_key_names_the_variable(monkeypatch):
    for name in ("GOOGLE_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY_FILE", "GEMINI_API_KEY_FILE"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(AuthenticationError) as info:
        GoogleBackend("gemini-test")
    assert "GOOGLE_API_KEY" in info.value.hint


def test_stream_open_is_retried(make, wire):
    wire.flaky_left = 1
    backend = make("flaky", max_retries=1, backoff_base=0.01)
    chunks = list(backend.stream(Request(prompt="x y", max_tokens=5)))
    assert "".join(c.text for c in chunks) == "echo x y"
    assert backend.info()["retries"] == 1
