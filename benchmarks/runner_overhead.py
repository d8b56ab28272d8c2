"""How much the bench runner adds over calling the method directly.

Same items, same method instance, same batches, alternated (direct, runner, direct,
runner, ...) so machine noise hits both alike. The direct path is ``method.train(train)``
then ``method.predict(batch)`` for every batch; the runner path is ``Runner.run`` with
the cache off and a fresh run each round (fit, predict, per-batch scoring, cost and
store writes, RSS sampling, the summary with bootstrap intervals).

    .venv/bin/python benchmarks/runner_overhead.py                      # SmolLM2 few-shot
    .venv/bin/python benchmarks/runner_overhead.py --system smollm2-135m-instruct/zero-shot-choice -n 32

Prints wall and CPU seconds of both paths. The machine may be shared, so wall time is
noisy; PASS/FAIL is decided on the median ratio of process CPU seconds (work done, not
time spent waiting for a core), with the best-round wall ratio printed beside it.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

TARGET = 1.05


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--system", default="smollm2-135m-instruct/few-shot-choice")
    parser.add_argument("--task", default="sentiment")
    parser.add_argument("-n", "--items", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    from lmscape.bench.runner import Runner
    from lmscape.bench.suite import load_spec
    from lmscape.methods.registry import build_system
    from lmscape.store import open_store
    from lmscape.tasks.registry import get_task

    task = get_task(args.task)
    spec = load_spec(task, limit=args.items)
    system = build_system(args.system, task)
    method = system.method
    size = max(1, int(method.preferred_batch_size))
    batches = [spec.items[i:i + size] for i in range(0, len(spec.items), size)]
    train = spec.train_items() if spec.train_items and task.train_split else None

    def timed(fn) -> tuple[float, float]:
        wall, cpu = time.perf_counter(), time.process_time()
        fn()
        return time.perf_counter() - wall, time.process_time() - cpu

    def direct() -> None:
        if train is not None:
            method.train(train)
        for batch in batches:
            method.predict(batch)

    with tempfile.TemporaryDirectory() as tmp:
        store = open_store(f"sqlite:///{Path(tmp) / 'overhead.db'}")
        runner = Runner(store, use_cache=False)

        def through_runner() -> None:
            runner.run(system, spec)

        direct()  # warm-up: page in weights, build the few-shot prefix cache
        runner.run(system, spec)  # warm-up: create the run row, read the train split once
        direct_t, runner_t = [], []
        for _ in range(args.rounds):
            direct_t.append(timed(direct))
            runner_t.append(timed(through_runner))
        store.close()

    def show(label: str, times: list[tuple[float, float]]) -> None:
        walls = ", ".join(f"{w:.2f}" for w, _ in times)
        cpus = ", ".join(f"{c:.2f}" for _, c in times)
        print(f"{label:20s}: wall s [{walls}]  cpu s [{cpus}]")

    print(f"system {args.system} on {args.task}: {len(spec.items)} items, batch size {size}, "
          f"{args.rounds} alternated rounds")
    show("direct method calls", direct_t)
    show("through the runner", runner_t)
    cpu_ratio = statistics.median(c for _, c in runner_t) / statistics.median(
        c for _, c in direct_t)
    wall_ratio = min(w for w, _ in runner_t) / min(w for w, _ in direct_t)
    print(f"wall ratio (best round each) : {wall_ratio:.3f}")
    print(f"cpu ratio (median)           : {cpu_ratio:.3f}  (target <= {TARGET:.2f})  "
          f"{'PASS' if cpu_ratio <= TARGET else 'FAIL'}")
    return 0 if cpu_ratio <= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
