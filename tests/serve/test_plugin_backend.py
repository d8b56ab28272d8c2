"""A third-party backend registered through the ``lmscape.backends`` entry point
declares its facts on its class only, and the gateway serves it as what it is: a local
model (its own queue with local_concurrency, no proxying), not a remote one.

The plugin is a real installed distribution (a ``.dist-info`` with
``entry_points.txt`` on ``sys.path``), run in a fresh interpreter so that the entry
point is discovered the way a user's plugin is.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

PLUGIN = '''
import threading, time
from lmscape.backends.base import Backend, Result, Usage

class SlowEcho(Backend):
    name = "slow-echo"
    can_generate = True
    is_local = True
    running = 0
    peak = 0
    lock = threading.Lock()

    def __init__(self, model, **options):
        self.model_id = model

    def _generate(self, requests):
        with SlowEcho.lock:
            SlowEcho.running += 1
            SlowEcho.peak = max(SlowEcho.peak, SlowEcho.running)
        time.sleep(0.3)
        with SlowEcho.lock:
            SlowEcho.running -= 1
        return [Result(text="plugin says hi", usage=Usage(prompt_tokens=3, completion_tokens=3))
                for _ in requests]
'''

DRIVER = '''
import json, socket, threading, time
from concurrent.futures import ThreadPoolExecutor
import httpx, uvicorn
from lmscape.backends.resolve import resolve
from lmscape.serve.app import create_app
from lmscape.serve.config import GatewayConfig, resolve_routes

spec = resolve("slow-echo:tiny")
config = GatewayConfig.model_validate({"models": [{"name": "plug", "backend": "slow-echo",
                                                   "model": "tiny"}],
                                       "include_embedded": False, "include_catalog": False})
route = resolve_routes(config)["plug"]
app = create_app(config, db_url="sqlite:///" + __import__("sys").argv[1])
sock = socket.socket(); sock.bind(("127.0.0.1", 0)); port = sock.getsockname()[1]
server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True).start()
while not server.started:
    time.sleep(0.02)
body = {"model": "plug", "messages": [{"role": "user", "content": "hi"}]}
url = f"http://127.0.0.1:{port}/v1/chat/completions"
with ThreadPoolExecutor(3) as pool:
    replies = list(pool.map(lambda _: httpx.post(url, json=body, timeout=30), range(3)))
import lmscape_slow_echo
server.should_exit = True
print(json.dumps({
    "spec_local": spec.is_local, "connection": spec.connection is None,
    "route_local": route.is_local, "passthrough": route.passthrough,
    "status": [r.status_code for r in replies],
    "text": replies[0].json()["choices"][0]["message"]["content"],
    "peak": lmscape_slow_echo.SlowEcho.peak,
}))
'''


def test_entry_point_backend_is_served_as_local(tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    (site / "lmscape_slow_echo.py").write_text(textwrap.dedent(PLUGIN))
    dist = site / "lmscape_slow_echo-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: lmscape-slow-echo\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(
        "[lmscape.backends]\nslow-echo = lmscape_slow_echo:SlowEcho\n")
    (tmp_path / "driver.py").write_text(DRIVER)
    env = {"PYTHONPATH": str(site), "LMSCAPE_HOME": str(tmp_path / "home"),
           "HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"}
    proc = subprocess.run([sys.executable, str(tmp_path / "driver.py"), str(tmp_path / "gw.db")],
                          check=False, capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["spec_local"] and out["connection"]  # local: no endpoint, no key
    assert out["route_local"] and not out["passthrough"]
    assert out["status"] == [200, 200, 200] and out["text"] == "plugin says hi"
    assert out["peak"] == 1  # a local model's queue: one request at a time
