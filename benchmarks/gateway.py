"""Gateway overhead, side by side: direct upstream vs lmscape vs LiteLLM's proxy.

One fast local upstream stub (a raw-asyncio OpenAI-compatible server returning a fixed
chat completion) is called three ways:

    direct     client -> stub
    lmscape    client -> `lmscape serve` (a remote openai-compatible model -> stub)
    litellm    client -> `litellm --config` proxy (model routed to the same stub)

Every server is its own process; the load generator is a lean keep-alive HTTP/1.1
client on asyncio (so client overhead is the same, and small, for all three).

1. latency: ``--requests`` sequential requests on one connection after a warm-up;
   p50 / p99, and the latency *added* over calling the stub directly;
2. throughput: closed-loop load at concurrency 1, 2, 4, ... for ``--seconds`` each
   (bounded; stops by itself); the highest request rate reached with no errors and
   p99 under ``--max-p99-ms`` is the rate the target *sustains*.

    .venv/bin/python benchmarks/gateway.py                  # all three
    .venv/bin/python benchmarks/gateway.py --litellm PATH   # a litellm binary elsewhere

LiteLLM is looked for as ``litellm`` next to this Python, on PATH, or via --litellm
(install: ``pip install 'litellm[proxy]'``; a separate virtualenv avoids its pins).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHAT_BODY = json.dumps({
    "model": "bench",
    "messages": [{"role": "user", "content": "Say hello."}],
    "max_tokens": 16,
}).encode()

STUB_RESPONSE = json.dumps({
    "id": "chatcmpl-stub", "object": "chat.completion", "created": 1, "model": "stub",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello!"},
                 "finish_reason": "stop", "logprobs": None}],
    "usage": {"prompt_tokens": 9, "completion_tokens": 2, "total_tokens": 11},
}).encode()


# -- the upstream stub (runs in its own process) -----------------------------------------------
async def _stub_conn(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    head = (b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: "
            + str(len(STUB_RESPONSE)).encode() + b"\r\n\r\n" + STUB_RESPONSE)
    try:
        while True:
            header = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in header.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            if length:
                await reader.readexactly(length)
            if header.startswith(b"GET"):
                body = b'{"object":"list","data":[{"id":"bench","object":"model"}]}'
                writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                             b"content-length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
            else:
                writer.write(head)
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


def run_stub(port: int) -> None:
    async def main() -> None:
        server = await asyncio.start_server(_stub_conn, "127.0.0.1", port, backlog=1024)
        async with server:
            await server.serve_forever()

    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass


# -- a lean keep-alive HTTP/1.1 client ---------------------------------------------------------
class Conn:
    def __init__(self, port: int, path: str, headers: dict[str, str]) -> None:
        self.port = port
        extra = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        self.request = (f"POST {path} HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\n"
                        f"content-type: application/json\r\n{extra}"
                        f"content-length: {len(CHAT_BODY)}\r\n\r\n").encode() + CHAT_BODY
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)

    async def call(self) -> int:
        """One request; returns the status code (reconnects after a closed connection)."""
        if self.writer is None:
            await self.open()
        assert self.reader is not None and self.writer is not None
        self.writer.write(self.request)
        header = await self.reader.readuntil(b"\r\n\r\n")
        status = int(header[9:12])
        length, chunked, close = 0, False, False
        for line in header.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding" and b"chunked" in value.lower():
                chunked = True
            elif name == b"connection" and b"close" in value.lower():
                close = True
        if chunked:
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).strip(), 16)
                await self.reader.readexactly(size + 2)
                if size == 0:
                    break
        elif length:
            await self.reader.readexactly(length)
        if close:
            self.writer.close()
            self.writer = None
        return status

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


async def latency(port: int, path: str, headers: dict[str, str], n: int, warmup: int) -> list[float]:
    conn = Conn(port, path, headers)
    for _ in range(warmup):
        status = await conn.call()
        if status != 200:
            raise RuntimeError(f"warm-up request answered {status}")
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        status = await conn.call()
        samples.append(time.perf_counter() - start)
        if status != 200:
            raise RuntimeError(f"request answered {status}")
    conn.close()
    return samples


async def load(port: int, path: str, headers: dict[str, str], concurrency: int,
               seconds: float) -> dict:
    stop = time.perf_counter() + seconds
    ok = errors = 0
    samples: list[float] = []

    async def worker() -> None:
        nonlocal ok, errors
        conn = Conn(port, path, headers)
        while time.perf_counter() < stop:
            start = time.perf_counter()
            try:
                status = await asyncio.wait_for(conn.call(), timeout=10)
            except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError):
                errors += 1
                conn.close()
                conn = Conn(port, path, headers)
                continue
            samples.append(time.perf_counter() - start)
            if status == 200:
                ok += 1
            else:
                errors += 1
        conn.close()

    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - began
    samples.sort()
    return {"concurrency": concurrency, "rps": ok / elapsed, "errors": errors,
            "p99_ms": 1000 * samples[int(0.99 * (len(samples) - 1))] if samples else float("inf")}


async def sustained(port: int, path: str, headers: dict[str, str], seconds: float,
                    max_p99_ms: float, levels: list[int]) -> tuple[float, list[dict]]:
    best, rows = 0.0, []
    for c in levels:
        row = await load(port, path, headers, c, seconds)
        rows.append(row)
        if row["errors"] == 0 and row["p99_ms"] <= max_p99_ms:
            best = max(best, row["rps"])
        elif row["errors"]:
            break  # errors start here: more load only adds more
    return best, rows


# -- processes ---------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, proc: subprocess.Popen, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with code {proc.returncode}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise RuntimeError(f"{what} did not open port {port} within {timeout:.0f}s")


def wait_health(proc: subprocess.Popen, root: str, timeout: float = 120) -> None:
    """Wait until ``lmscape serve`` at ``root`` (no ``/v1``) answers ``/health``."""
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"lmscape serve at {root} exited ({proc.returncode})")
        try:
            if httpx.get(f"{root}/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"lmscape serve at {root} did not start")


def stub_config(stub_port: int, *, include_embedded: bool) -> str:
    """Gateway config (JSON) serving the stub upstream as model ``bench``."""
    return json.dumps({
        "models": [{"name": "bench", "backend": "openai", "model": "stub",
                    "options": {"base_url": f"http://127.0.0.1:{stub_port}/v1",
                                "api_key_env": "BENCH_UPSTREAM_KEY"},
                    "price": {"input_per_mtok": 0.15, "output_per_mtok": 0.6}}],
        "include_catalog": False, "include_embedded": include_embedded,
        "limits": {"retries": 0},
    })


def wait_ready(port: int, path: str, headers: dict[str, str], proc: subprocess.Popen,
               timeout: float, what: str) -> None:
    """Wait until a real chat request succeeds (LiteLLM opens its port before it is ready)."""
    wait_port(port, proc, timeout, what)
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        try:
            asyncio.run(latency(port, path, headers, 1, 0))
            return
        except Exception as exc:  # noqa: BLE001 - not ready yet
            last = str(exc) or type(exc).__name__
        time.sleep(0.5)
    raise RuntimeError(f"{what} never answered a chat request: {last}")


def stop(proc: subprocess.Popen | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def find_litellm(given: str | None) -> str | None:
    if given:
        return given
    here = Path(sys.executable).parent / "litellm"
    if here.exists():
        return str(here)
    return shutil.which("litellm")


def pct(samples: list[float], q: float) -> float:
    s = sorted(samples)
    return 1000 * s[min(len(s) - 1, int(q * (len(s) - 1)))]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--requests", type=int, default=2000, help="sequential latency samples")
    ap.add_argument("--warmup", type=int, default=200)
    ap.add_argument("--seconds", type=float, default=3.0, help="seconds per load level")
    ap.add_argument("--levels", default="1,2,4,8,16,32,64", help="concurrency levels")
    ap.add_argument("--max-p99-ms", type=float, default=1000.0,
                    help="a level counts as sustained only below this p99")
    ap.add_argument("--litellm", help="path to the litellm CLI")
    ap.add_argument("--skip-litellm", action="store_true")
    ap.add_argument("--budget", action="store_true",
                    help="also measure lmscape with a budgeted key (DB reservation per request)")
    args = ap.parse_args()
    levels = [int(x) for x in args.levels.split(",")]

    procs: list[subprocess.Popen] = []
    tmp = Path(tempfile.mkdtemp(prefix="lmscape-gw-bench-"))
    stub_port = free_port()
    stub = subprocess.Popen([sys.executable, __file__, "--stub", str(stub_port)])
    procs.append(stub)
    targets: dict[str, tuple[int, str, dict[str, str]]] = {}
    notes: list[str] = []
    try:
        wait_port(stub_port, stub, 20, "stub")
        targets["direct"] = (stub_port, "/v1/chat/completions", {})

        gw_port = free_port()
        config = tmp / "gateway.yaml"
        config.write_text(stub_config(stub_port, include_embedded=False))
        env = {**os.environ, "LMSCAPE_HOME": str(tmp / "home"), "BENCH_UPSTREAM_KEY": "sk-bench",
               "LMSCAPE_DB": f"sqlite:///{tmp / 'gw.db'}"}
        # Both gateways check a key on every request (lmscape: cached lookup of its hash).
        made = subprocess.run([sys.executable, "-m", "lmscape.cli.main", "keys", "create",
                               "--name", "bench"], env=env, capture_output=True, text=True,
                              check=True)
        gw_key = next(w for w in made.stdout.split() if w.startswith("lms-"))
        gw_headers = {"authorization": f"Bearer {gw_key}"}
        # A key with a budget: each request also reserves its maximum cost atomically in
        # the database before the call (the price of exact budgets across workers).
        made = subprocess.run([sys.executable, "-m", "lmscape.cli.main", "keys", "create",
                               "--name", "bench-budget", "--budget-usd", "1000000"], env=env,
                              capture_output=True, text=True, check=True)
        budget_key = next(w for w in made.stdout.split() if w.startswith("lms-"))
        budget_headers = {"authorization": f"Bearer {budget_key}"}
        lmscape = [sys.executable, "-m", "lmscape.cli.main", "serve", "--port", str(gw_port),
                   "--config", str(config), "--log-level", "warning"]
        gw = subprocess.Popen(lmscape, env=env, stdout=subprocess.DEVNULL,
                              stderr=(tmp / "lmscape.log").open("w"))
        procs.append(gw)
        wait_ready(gw_port, "/v1/chat/completions", gw_headers, gw, 60, "lmscape serve")
        targets["lmscape"] = (gw_port, "/v1/chat/completions", gw_headers)
        if args.budget:
            targets["lmscape+budget"] = (gw_port, "/v1/chat/completions", budget_headers)

        litellm = None if args.skip_litellm else find_litellm(args.litellm)
        if litellm is None:
            notes.append("litellm: not installed (pip install 'litellm[proxy]'); skipped")
        else:
            ll_port = free_port()
            ll_config = tmp / "litellm.yaml"
            ll_config.write_text(json.dumps({
                "model_list": [{"model_name": "bench", "litellm_params": {
                    "model": "openai/stub", "api_base": f"http://127.0.0.1:{stub_port}/v1",
                    "api_key": "sk-bench"}}],
                "litellm_settings": {"set_verbose": False, "drop_params": True},
            }))
            master = "sk-" + os.urandom(32).hex()
            ll_headers = {"authorization": f"Bearer {master}"}
            ll_env = {**os.environ, "LITELLM_LOG": "ERROR", "LITELLM_TELEMETRY": "False",
                      "NO_DOCS": "True", "DISABLE_SCHEMA_UPDATE": "True",
                      "LITELLM_MASTER_KEY": master}
            ll_log = tmp / "litellm.log"
            ll = subprocess.Popen([litellm, "--config", str(ll_config), "--port", str(ll_port),
                                   "--host", "127.0.0.1", "--num_workers", "1"],
                                  env=ll_env, stdout=ll_log.open("w"), stderr=subprocess.STDOUT)
            procs.append(ll)
            try:
                wait_ready(ll_port, "/v1/chat/completions", ll_headers, ll, 180, "litellm proxy")
                targets["litellm"] = (ll_port, "/v1/chat/completions", ll_headers)
            except RuntimeError as exc:
                tail = ll_log.read_text()[-600:].strip().replace("\n", " | ")
                notes.append(f"litellm: {exc}; log tail: {tail}")
                stop(ll)

        # Only the server under test runs at a time: the others are stopped (SIGSTOP).
        lat: dict[str, list[float]] = {}
        load_rows: dict[str, tuple[float, list[dict]]] = {}
        by_target = {"lmscape": gw, "litellm": procs[2] if len(procs) > 2 else None}
        for name, (port, path, headers) in targets.items():
            for other, proc in by_target.items():
                if proc is not None and proc.poll() is None:
                    running = other == name.split("+")[0]
                    proc.send_signal(signal.SIGCONT if running else signal.SIGSTOP)
            lat[name] = asyncio.run(latency(port, path, headers, args.requests, args.warmup))
            load_rows[name] = asyncio.run(sustained(port, path, headers, args.seconds,
                                                    args.max_p99_ms, levels))
        for proc in by_target.values():
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGCONT)
    finally:
        for proc in reversed(procs):
            stop(proc)

    base50, base99 = pct(lat["direct"], 0.5), pct(lat["direct"], 0.99)
    print(f"\nGateway overhead on {os.cpu_count()} CPU(s); {args.requests} sequential requests "
          f"per target, load levels {levels} x {args.seconds:g}s\n")
    print(f"{'target':<15} {'p50 ms':>8} {'p99 ms':>8} {'added p50':>10} {'added p99':>10} "
          f"{'sustained req/s':>16} {'at conc.':>9}")
    for name, samples in lat.items():
        p50, p99 = pct(samples, 0.5), pct(samples, 0.99)
        best, rows = load_rows[name]
        at = next((r["concurrency"] for r in rows if r["rps"] == best), "-")
        added50 = "-" if name == "direct" else f"{p50 - base50:+.2f}"
        added99 = "-" if name == "direct" else f"{p99 - base99:+.2f}"
        print(f"{name:<15} {p50:>8.2f} {p99:>8.2f} {added50:>10} {added99:>10} "
              f"{best:>16.0f} {at!s:>9}")
    print("\nper load level (req/s, errors, p99 ms):")
    for name, (_, rows) in load_rows.items():
        cells = "  ".join(f"c{r['concurrency']}: {r['rps']:.0f}/{r['errors']}/{r['p99_ms']:.0f}"
                          for r in rows)
        print(f"  {name:<15} {cells}")
    if "lmscape" in lat and "litellm" in lat:
        ratio = load_rows["lmscape"][0] / max(1e-9, load_rows["litellm"][0])
        print(f"\nlmscape / litellm sustained request rate: {ratio:.2f}x "
              f"(added p50 {pct(lat['lmscape'], .5) - base50:.2f} ms vs "
              f"{pct(lat['litellm'], .5) - base50:.2f} ms)")
    for note in notes:
        print("note:", note)
    return 0


# -- where the added time goes ------------------------------------------------------------------
def profile(requests: int, top: int, budget: bool) -> int:
    """Serve lmscape in this process and drive ``requests`` sequential requests from a
    child process, twice: first without a profiler, to measure the gateway's CPU time
    per request (process CPU; the client and the stub are other processes), then under
    cProfile in the serving thread, to print the functions that cost the most."""
    import cProfile
    import pstats
    import threading

    import psutil
    import uvicorn

    from lmscape.serve.app import create_app
    from lmscape.serve.config import GatewayConfig
    from lmscape.serve.keys import create_key
    from lmscape.store import open_store

    tmp = Path(tempfile.mkdtemp(prefix="lmscape-gw-profile-"))
    stub_port, gw_port = free_port(), free_port()
    stub = subprocess.Popen([sys.executable, __file__, "--stub", str(stub_port)])
    os.environ["BENCH_UPSTREAM_KEY"] = "sk-bench"
    prof = cProfile.Profile(time.thread_time)
    try:
        wait_port(stub_port, stub, 20, "stub")
        store = open_store(f"sqlite:///{tmp / 'gw.db'}")
        _, secret = create_key(store, "bench", budget_usd=1e6 if budget else None)
        config = GatewayConfig.model_validate({
            "models": [{"name": "bench", "backend": "openai", "model": "stub",
                        "options": {"base_url": f"http://127.0.0.1:{stub_port}/v1",
                                    "api_key_env": "BENCH_UPSTREAM_KEY"},
                        "price": {"input_per_mtok": 0.15, "output_per_mtok": 0.6}}],
            "include_catalog": False, "include_embedded": False, "limits": {"retries": 0}})
        server = uvicorn.Server(uvicorn.Config(create_app(config, store=store), port=gw_port,
                                               log_level="warning"))
        try:
            import uvloop

            loop = uvloop.new_event_loop()
        except ImportError:
            loop = asyncio.new_event_loop()
        thread = threading.Thread(target=lambda: loop.run_until_complete(server.serve()))
        thread.start()
        while not server.started:
            time.sleep(0.05)

        def drive(n: int) -> None:
            client = (f"import asyncio, sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); "
                      "import gateway as g; "
                      f"asyncio.run(g.latency({gw_port}, '/v1/chat/completions', "
                      f"{{'authorization': 'Bearer {secret}'}}, {n}, 0))")
            subprocess.run([sys.executable, "-c", client], check=True)

        drive(300)  # warm-up: imports, connections, caches
        me = psutil.Process()
        before = sum(me.cpu_times()[:2])
        drive(requests)
        cpu_ms = 1000 * (sum(me.cpu_times()[:2]) - before) / requests
        loop.call_soon_threadsafe(prof.enable)  # cProfile follows the thread that enables it
        drive(requests)
        loop.call_soon_threadsafe(prof.disable)
        time.sleep(0.2)
        server.should_exit = True
        thread.join()
    finally:
        stop(stub)
    prof.dump_stats(str(tmp / "gateway.prof"))
    stats = pstats.Stats(prof)
    kind = "budgeted" if budget else "unbudgeted"
    print(f"\ngateway CPU per request, no profiler: {cpu_ms:.3f} ms "
          f"({requests} sequential requests, {kind} key, after 300 to warm up)")
    print(f"profile (cProfile, thread CPU time, inflates every call) written to "
          f"{tmp / 'gateway.prof'}\n")
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(top)
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--stub":
        run_stub(int(sys.argv[2]))
    elif len(sys.argv) >= 2 and sys.argv[1] == "--profile":
        args = argparse.ArgumentParser(prog="gateway.py --profile")
        args.add_argument("--profile", action="store_true")
        args.add_argument("--requests", type=int, default=2000)
        args.add_argument("--top", type=int, default=30)
        args.add_argument("--budget", action="store_true")
        a = args.parse_args()
        sys.exit(profile(a.requests, a.top, a.budget))
    else:
        sys.exit(main())
