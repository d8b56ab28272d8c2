"""Continuous batching in the gateway: 8 concurrent chat requests to a local model,
batched vs one at a time, through real `lmscape serve` processes.

Two gateways serve `smollm2-135m-instruct` (llama.cpp, ``n_parallel: 8``, one thread
each, ``LMSCAPE_THREADS=1``); they differ in one setting only:

- batched:    ``limits.batching: true`` (the default): concurrent requests enter the
              backend together and share its decode steps;
- sequential: ``limits.batching: false``: the previous path, one generation at a time
              per local model.

Each round sends the same 8 chat requests at once (the official ``openai`` async
client, greedy, ``--tokens`` new tokens each) to one side, then to the other; the sides
alternate order round by round so load from other processes falls on both. Only one
side works at a time. Prints the aggregate completion tokens per second of wall time
and per CPU-second of the serving process (the steadier figure on a loaded machine),
their ratios (target >= 2x, by wall time) and whether the greedy texts are identical.
Run:

    .venv/bin/python benchmarks/gateway_batching.py [--rounds 3] [--tokens 64]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml
from gateway import free_port, wait_health
from generate import PROMPTS, print_sides  # the backend-level benchmark's prompts and table

MODEL = "smollm2-135m-instruct"
TARGET = 2.0


def start(name: str, batching: bool, tmp: Path) -> tuple[subprocess.Popen, str]:
    config = tmp / f"{name}.yaml"
    config.write_text(yaml.safe_dump({
        "include_catalog": False, "include_embedded": False,
        "models": [{"name": MODEL, "catalog": MODEL, "options": {"n_parallel": len(PROMPTS)}}],
        "limits": {"batching": batching},
    }))
    port = free_port()
    env = {**os.environ, "LMSCAPE_HOME": str(tmp / f"home-{name}"), "LMSCAPE_THREADS": "1",
           "HF_HUB_OFFLINE": "1"}
    env.pop("LMSCAPE_DB", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "lmscape.cli.main", "serve", "--port", str(port),
         "--config", str(config), "--log-level", "warning"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    return proc, f"http://127.0.0.1:{port}/v1"


async def burst(url: str, tokens: int) -> tuple[float, int, list[str]]:
    """Send every prompt at once; wall seconds, completion tokens, texts."""
    import openai

    async with openai.AsyncOpenAI(base_url=url, api_key="unused", max_retries=0,
                                  timeout=600) as client:
        async def one(prompt: str):
            return await client.chat.completions.create(
                model=MODEL, messages=[{"role": "user", "content": prompt}],
                max_tokens=tokens, temperature=0)

        start = time.perf_counter()
        replies = await asyncio.gather(*(one(p) for p in PROMPTS))
        wall = time.perf_counter() - start
    return (wall, sum(r.usage.completion_tokens for r in replies),
            [r.choices[0].message.content for r in replies])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tokens", type=int, default=64)
    args = parser.parse_args()

    import psutil
    from rich.progress import Progress

    names = ["batched", "sequential"]
    procs: dict[str, subprocess.Popen] = {}
    with tempfile.TemporaryDirectory() as tmp:
        try:
            urls = {}
            for name in names:
                procs[name], urls[name] = start(name, name == "batched", Path(tmp))
            for name in names:
                wait_health(procs[name], urls[name].removesuffix("/v1"))
                asyncio.run(burst(urls[name], 2))  # warm-up: load the model, make contexts
            wall = dict.fromkeys(names, 0.0)
            cpu = dict.fromkeys(names, 0.0)
            tokens = dict.fromkeys(names, 0)
            server = {name: psutil.Process(procs[name].pid) for name in names}
            texts: dict[str, list[str]] = {}
            with Progress() as progress:
                bar = progress.add_task("rounds", total=args.rounds * len(names))
                for r in range(args.rounds):
                    for name in names if r % 2 == 0 else names[::-1]:
                        before = sum(server[name].cpu_times()[:2])
                        seconds, n, round_texts = asyncio.run(burst(urls[name], args.tokens))
                        cpu[name] += sum(server[name].cpu_times()[:2]) - before
                        wall[name] += seconds
                        tokens[name] += n
                        if texts.setdefault(name, round_texts) != round_texts:
                            progress.console.print(f"  {name}: round {r} texts differ")
                        progress.advance(bar)
                    progress.console.print(
                        f"  round {r + 1}/{args.rounds}: " + "  ".join(
                            f"{n} {tokens[n] / wall[n]:.1f} tok/s" for n in names))
        finally:
            for proc in procs.values():
                proc.terminate()
            for proc in procs.values():
                proc.wait(timeout=30)

    print(f"gateway, model {MODEL} (llama.cpp, 1 thread, n_parallel {len(PROMPTS)}): "
          f"{len(PROMPTS)} concurrent chat requests x {args.tokens} new tokens, greedy, "
          f"{args.rounds} rounds")
    ok = print_sides(tokens, wall, cpu, texts, target=TARGET, wall_label="tok/s aggregate",
                     cpu_label="tok/s per server CPU-second",
                     note=f"; load average {os.getloadavg()[0]:.1f}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
