"""Remote systems: several batches in flight, priced by tokens x the catalog list price.

The endpoint is a real HTTP server on loopback speaking the OpenAI chat-completions wire
format; the client is lmscape's openai backend (official SDK).
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from lmscape.bench.cost import list_price
from lmscape.bench.runner import Runner
from lmscape.bench.suite import load_spec
from lmscape.store import open_store


class Endpoint:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.in_flight = 0
        self.max_in_flight = 0
        self.requests = 0


@pytest.fixture
def endpoint():
    state = Endpoint()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):  # keep test output clean
            pass

        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            with state.lock:
                state.in_flight += 1
                state.requests += 1
                state.max_in_flight = max(state.max_in_flight, state.in_flight)
            time.sleep(0.05)  # a remote model takes a while
            text = body["messages"][-1]["content"]
            answer = "negative" if any(w in text for w in ("bad", "dull", "worst", "not")) \
                else "positive"
            payload = json.dumps({
                "id": "cmpl-1", "object": "chat.completion", "created": 0, "model": body["model"],
                "choices": [{"index": 0, "finish_reason": "stop",
                             "message": {"role": "assistant", "content": answer}}],
                "usage": {"prompt_tokens": 50, "completion_tokens": 1, "total_tokens": 51},
            }).encode()
            with state.lock:
                state.in_flight -= 1
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.base_url = f"http://127.0.0.1:{server.server_port}/v1"
    yield state
    server.shutdown()
    server.server_close()


def test_remote_system_runs_batches_concurrently_and_is_priced_by_tokens(endpoint, tmp_path):
    from lmscape.backends.openai_compat import OpenAIBackend
    from lmscape.methods.registry import build_system
    from lmscape.tasks.registry import get_task

    task = get_task("sentiment")
    backend = OpenAIBackend("gpt-4o", model_id="gpt-4o", base_url=endpoint.base_url,
                            api_key="sk-test", concurrency=1, max_retries=0,
                            measure_ttft=False)
    assert not backend.is_local
    system = build_system("gpt-4o/prompted", task, backend=backend)
    store = open_store(f"sqlite:///{tmp_path / 'remote.db'}")
    spec = load_spec(task, limit=32)
    out = Runner(store, remote_concurrency=4).run(system, spec)
    assert out.n_computed == 32 and out.summary["n"] == 32 and out.summary["n_errors"] == 0
    assert endpoint.requests == 32
    # one request at a time per batch (backend concurrency=1): overlap comes from the runner
    assert 2 <= endpoint.max_in_flight <= 4
    assert out.summary["concurrency"] == 4 and out.summary["is_local"] is False
    price = list_price("gpt-4o")
    expected = 1000 * (50 * price.input_per_mtok + 1 * price.output_per_mtok) / 1e6
    assert out.summary["cost_usd_per_1k"] == pytest.approx(expected)
    assert "list price" in out.summary["cost_basis"]
    assert out.summary["energy"] is None  # the provider's servers are not measured
    assert out.summary["metrics"]["accuracy"]["value"] > 0.3
    store.close()
