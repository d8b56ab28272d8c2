"""Real servers on loopback for the backend tests.

* ``llama_server`` (in ``tests/conftest.py``, shared with the bench tests):
  llama-cpp-python's OpenAI-compatible server running the embedded SmolLM2-135M-Instruct
  GGUF.
* ``http_server``: a tiny real HTTP server (``ThreadingHTTPServer``) whose answers a
  test scripts, for behaviour a healthy server never shows (429, 401, 5xx, 404).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

# -- scripted HTTP server ------------------------------------------------------------


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


# handler(seen, n) -> (status, json_body[, headers[, delay_s]])
Handler = Callable[[Seen, int], tuple]


class ScriptedServer:
    """A real HTTP server on 127.0.0.1 whose replies come from ``handler(seen, n)``
    (``n`` counts requests from 0), which returns ``(status, json_body)`` optionally
    followed by ``headers`` and a ``delay_s`` to wait before answering. A body that is
    a list is sent as server-sent events, one ``data:`` line per item, then ``[DONE]``.
    Records every request and the most requests it ever had in flight at once."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.seen: list[Seen] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        server = self

        class _H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:  # quiet
                pass

            def _serve(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    body = raw.decode("utf-8", "replace")
                headers = {k.lower(): v for k, v in self.headers.items()}
                seen = Seen(self.command, self.path, headers, body)
                with server._lock:
                    n = len(server.seen)
                    server.seen.append(seen)
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                try:
                    reply = tuple(server.handler(seen, n))
                    status, body = reply[0], reply[1]
                    headers = reply[2] if len(reply) > 2 else {}
                    delay_s = reply[3] if len(reply) > 3 else 0.0
                    if delay_s:
                        time.sleep(delay_s)
                finally:
                    with server._lock:
                        server.in_flight -= 1
                if isinstance(body, list):  # a list of events: answer as a stream (SSE)
                    events = [f"data: {json.dumps(e)}\n\n" for e in body]
                    payload = ("".join(events) + "data: [DONE]\n\n").encode()
                    ctype = "text/event-stream"
                else:
                    payload = json.dumps(body if body is not None else {}).encode()
                    ctype = "application/json"
                self.send_response(status)
                self.send_header("content-type", ctype)
                self.send_header("content-length", str(len(payload)))
                for k, v in headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = _serve

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _H)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def http_server() -> Iterator[Callable[[Handler], ScriptedServer]]:
    """Factory: ``http_server(handler)`` starts a ScriptedServer, closed after the test."""
    started: list[ScriptedServer] = []

    def start(handler: Handler) -> ScriptedServer:
        srv = ScriptedServer(handler)
        started.append(srv)
        return srv

    yield start
    for srv in started:
        srv.close()
