"""Stores for the dashboard tests and ``benchmarks/ui.py``: real bench runs, and gateway
usage written by the gateway's own usage writer (with budget settlement)."""

from __future__ import annotations

import datetime as dt
import random
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parents[1] / "bench"))

MODELS = ("smollm2-135m-instruct", "gemma-3-270m", "gpt-4o-mini", "claude-3.5-haiku")


def measure_runs(store: Any, *, with_llm: bool = True) -> None:
    """Two VADER systems on 60 real SST-2 items, run by the real runner, and (with
    ``with_llm``) SmolLM2-135M-Instruct scoring the labels on the same items (one
    llama.cpp thread, calibrated on 16 train items): a system that counts tokens, so
    APIs can be priced per item and the break-even plot drawn."""
    from bench_helpers import measure_two_vaders

    measure_two_vaders(store)
    if not with_llm:
        return
    from lmscape.backends.resolve import resolve
    from lmscape.bench.runner import Runner
    from lmscape.bench.suite import close_system, load_spec
    from lmscape.methods.registry import build_system
    from lmscape.tasks.registry import get_task

    task = get_task("sentiment")
    name = "smollm2-135m-instruct/zero-shot-choice"
    system = build_system(name, task, backend=resolve("smollm2-135m-instruct").load(n_threads=1),
                          n_calib=16)
    try:
        outcome = Runner(store).run(system, load_spec(task, limit=60))
    finally:
        close_system(system)
    assert outcome.status == "done", outcome


def seed_usage(store: Any, n: int, *, keys: tuple[str, ...] = ("team-a", "team-b"),
               days: int = 14, seed: int = 7, revoke: bool = True) -> dict[str, Any]:
    """``n`` usage rows over ``days`` days, spread over ``keys`` (created with budgets),
    open access and :data:`MODELS`; one reservation left in flight on the first key.
    Keys are revoked afterwards when ``revoke`` (so loopback stays open)."""
    from lmscape.serve import keys as keystore
    from lmscape.serve.accounting import reserve
    from lmscape.serve.usage import UsageRecord, UsageWriter

    rng = random.Random(seed)
    made = [keystore.create_key(store, name, budget_usd=50.0 * (i + 1))[0]
            for i, name in enumerate(keys)]
    writer = UsageWriter(store, interval_s=3600, batch=5000)
    start = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    try:
        for i in range(n):
            key = rng.choice([*made, None])
            model = rng.choice(MODELS)
            served = model if rng.random() > 0.1 else "smollm2-135m-instruct"
            failed = rng.random() < 0.03
            prompt, completion = rng.randint(5, 900), rng.randint(0, 400)
            writer.record(UsageRecord(
                key_id=key.id if key else None, endpoint="chat", model=model,
                served_by=None if failed else served,
                prompt_tokens=0 if failed else prompt,
                completion_tokens=0 if failed else completion,
                cost_nusd=0 if failed else rng.randint(0, 2_500_000),
                latency_ms=rng.uniform(20, 3000), status=429 if failed else 200,
                error="rate_limit_exceeded" if failed else None,
                created_at=start + dt.timedelta(seconds=rng.uniform(0, days * 86400))))
            if (i + 1) % 5000 == 0:
                writer.flush()
        writer.flush()
    finally:
        writer.close()
    in_flight = 1_234_567  # nano-dollars held by a request that has not finished
    assert reserve(store.engine, made[0].id, in_flight)
    if revoke:
        for key in made:
            keystore.revoke_key(store, key.id)
    return {"keys": [k.name for k in made], "reserved_nusd": in_flight}
