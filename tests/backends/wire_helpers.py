"""The base of the provider wire fakes (Anthropic, Google) and the loop that serves
one on loopback for a test module."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class WireHandler(BaseHTTPRequestHandler):
    """Base of a provider's wire fake: quiet, HTTP/1.1, with a JSON reply helper."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:  # keep test output quiet
        pass

    def _json(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def serve_wire(handler: type[WireHandler]) -> Iterator[ThreadingHTTPServer]:
    """``handler`` served on 127.0.0.1 (``seen`` records requests, ``flaky_left`` counts
    503s still to send); for a module-scoped fixture to yield from."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.seen, server.flaky_left = [], 0  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()
