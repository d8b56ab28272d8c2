"""What routing adds to a gateway request, not counting the members' own time.

    LMSCAPE_THREADS=1 python benchmarks/route_overhead.py            # 60 requests
    python benchmarks/route_overhead.py --requests 200 --home ~/.lmscape

Serves a two-step cascade policy (``--small`` -> ``--large``, fixed threshold) as
``auto:overhead`` from a real gateway (uvicorn on loopback, in this process) and sends
``--requests`` sequential chat requests with the official ``openai`` client, after a
warm-up that loads the members. For every request the gateway records, in the usage
row's ``route``, the milliseconds spent inside the members (their predict calls and
confidence scoring) and the rest of its routed path (policy lookup, thread hand-off,
cascade bookkeeping, answer and header); this prints the p50 / p95 of each, and the
client-side latency beside them.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import tempfile
import threading
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

TEXTS = ["a gorgeous , witty , seductive movie .", "the plot is nothing but boilerplate",
         "it 's a bit of a mess but i liked it", "an utterly charming film",
         "two hours of my life i will never get back", "fitfully funny but mostly dull"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=60)
    ap.add_argument("--small", default="smollm2-135m-instruct/zero-shot-choice")
    ap.add_argument("--large", default="gemma-3-270m/zero-shot-choice")
    ap.add_argument("--threshold", type=float, default=0.8)
    ap.add_argument("--home", default=None, help="LMSCAPE_HOME (default: a temporary one)")
    args = ap.parse_args()
    os.environ["LMSCAPE_HOME"] = args.home or tempfile.mkdtemp(prefix="lmscape-overhead-")
    os.environ.pop("LMSCAPE_DB", None)

    import numpy as np
    import openai
    import sqlalchemy as sa
    import uvicorn

    from lmscape.route.policy import Policy, save_policy
    from lmscape.serve.app import create_app
    from lmscape.serve.config import GatewayConfig
    from lmscape.serve.tables import gateway_usage
    from lmscape.store import open_store

    save_policy(Policy(name="overhead", kind="cascade", task="sentiment",
                       members=[args.small, args.large], thresholds=[args.threshold]))
    store = open_store()
    config = GatewayConfig.model_validate({"include_catalog": False, "include_embedded": False,
                                           "limits": {"usage_flush_s": 0.05}})
    app = create_app(config, store=store, allow_open=True)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    client = openai.OpenAI(base_url=f"http://127.0.0.1:{sock.getsockname()[1]}/v1",
                           api_key="x", max_retries=0, timeout=600)

    def ask(i: int) -> float:
        start = time.perf_counter()
        client.chat.completions.create(model="auto:overhead", messages=[
            {"role": "user", "content": TEXTS[i % len(TEXTS)]}])
        return (time.perf_counter() - start) * 1000

    print("warming up (loads and calibrates the members)...", file=sys.stderr)
    for i in range(3):
        ask(i)
    app.state.gateway.usage.flush()
    with store.connect() as conn:
        first_id = conn.execute(sa.select(sa.func.max(gateway_usage.c.id))).scalar_one()
    client_ms = [ask(i) for i in range(args.requests)]
    app.state.gateway.usage.flush()
    with store.connect() as conn:
        notes = [json.loads(r[0]) for r in conn.execute(
            sa.select(gateway_usage.c.route).where(gateway_usage.c.id > first_id))]
    server.should_exit = True
    thread.join(timeout=15)
    routing = np.array([n["routing_ms"] for n in notes])
    members = np.array([n["member_ms"] for n in notes])
    shares = {m: sum(n["answered_by"] == m for n in notes) / len(notes)
              for m in (args.small, args.large)}
    print(f"auto:overhead = cascade({args.small}, {args.large}, threshold={args.threshold}); "
          f"{len(notes)} requests, sequential")
    print(f"{'':28}{'p50 ms':>10}{'p95 ms':>10}")
    for label, values in (("routing (not members)", routing), ("members' own time", members),
                          ("client latency", np.array(client_ms))):
        print(f"{label:28}{np.percentile(values, 50):>10.3f}{np.percentile(values, 95):>10.3f}")
    print("answered by: " + ", ".join(f"{s:.0%} {m}" for m, s in shares.items()))
    p50 = float(np.percentile(routing, 50))
    print(f"routing overhead p50 {p50:.3f} ms (target <= 1 ms): "
          f"{'met' if p50 <= 1.0 else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
