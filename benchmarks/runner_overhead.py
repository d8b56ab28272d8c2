"""How much the bench runner adds over calling the method directly.

Same items, same method instance, same batches, alternated (direct, runner, direct,
runner, ...) so machine noise hits both alike. The direct path is ``method.fit(train)``
then ``method.predict(batch)`` for every batch; the runner path is ``Runner.run`` with
the cache off and a fresh run each round (fit, predict, per-batch scoring, cost and
store writes, RSS sampling, the summary with bootstrap intervals).

    .venv/bin/python benchmarks/runner_overhead.py                      # SmolLM2 few-shot
    .venv/bin/python benchmarks/runner_overhead.py --system smollm2-135m-instruct/zero-shot-choice -n 32

Prints both median times, the ratio and PASS/FAIL against the 5% target.
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


def build(system: str, task):
    """The system from the methods registry, or built directly if that is not installed."""
    try:
        from lmscape.methods.registry import build_system
    except ImportError:
        build_system = None
    if build_system is not None:
        return build_system(system, task)
    from dataclasses import dataclass

    import lmscape
    from lmscape.methods import choice

    model_id, _, method_name = system.partition("/")
    method_cls = {"few-shot-choice": choice.FewShotChoice,
                  "zero-shot-choice": choice.ZeroShotChoice}[method_name]

    @dataclass
    class System:
        name: str
        method: object
        model_id: str

    return System(name=system, method=method_cls(task, lmscape.get_model(model_id)),
                  model_id=model_id)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--system", default="smollm2-135m-instruct/few-shot-choice")
    parser.add_argument("--task", default="sentiment")
    parser.add_argument("-n", "--items", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    from lmscape.bench.runner import Runner
    from lmscape.bench.suite import load_spec
    from lmscape.store import open_store
    from lmscape.tasks.registry import get_task

    task = get_task(args.task)
    spec = load_spec(task, limit=args.items)
    system = build(args.system, task)
    method = system.method
    size = max(1, int(method.preferred_batch_size))
    batches = [spec.items[i:i + size] for i in range(0, len(spec.items), size)]
    train = spec.train_items() if spec.train_items and task.train_split else None

    def direct() -> float:
        start = time.perf_counter()
        if train is not None:
            method.fit(train)
        for batch in batches:
            method.predict(batch)
        return time.perf_counter() - start

    with tempfile.TemporaryDirectory() as tmp:
        store = open_store(f"sqlite:///{Path(tmp) / 'overhead.db'}")
        runner = Runner(store, use_cache=False)

        def through_runner() -> float:
            start = time.perf_counter()
            runner.run(system, spec)
            return time.perf_counter() - start

        direct()  # warm-up: page in weights, build the few-shot prefix cache
        direct_s, runner_s = [], []
        for _ in range(args.rounds):
            direct_s.append(direct())
            runner_s.append(through_runner())
        store.close()

    d, r = statistics.median(direct_s), statistics.median(runner_s)
    ratio = r / d
    print(f"system {args.system} on {args.task}: {len(spec.items)} items, batch size {size}, "
          f"{args.rounds} alternated rounds")
    print(f"direct method calls : median {d:8.3f} s  ({', '.join(f'{x:.3f}' for x in direct_s)})")
    print(f"through the runner  : median {r:8.3f} s  ({', '.join(f'{x:.3f}' for x in runner_s)})")
    print(f"ratio runner/direct : {ratio:.3f}  (target <= {TARGET:.2f})  "
          f"{'PASS' if ratio <= TARGET else 'FAIL'}")
    return 0 if ratio <= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
