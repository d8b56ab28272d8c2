"""4-shot SST-2 choice scoring with Gemma 3 270M: today's code against an earlier commit's,
side by side in one run.

    python benchmarks/fewshot_history.py                  # against d9f1b14, 200 items, 1 thread
    python benchmarks/fewshot_history.py --commit HEAD~5 --n 100

The earlier commit's ``src/`` is taken from this repository's history (``git archive``)
into a temporary folder; each side runs in its own Python process (``PYTHONPATH`` set to
that side's ``src``), builds ``gemma-3-270m/few-shot-choice`` and scores the same first
``--n`` SST-2 dev items (uncalibrated choice scores, the few-shot prefix drawn from train
the same way), after a warm-up on 5 items. The sides alternate round by round. Prints
items/s by wall and CPU time of each side, the ratio and how many argmax labels agree.
d9f1b14 is the commit before batched scoring: its one-item-at-a-time path with prefix
reuse is the baseline the batched-scoring target was stated against. That commit ran
llama.cpp on every core; both sides are pinned to ``--threads`` here.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

SIDE = r"""
import json, os, sys, time
import llama_cpp
from lmscape.methods.registry import build_system
from lmscape.tasks.registry import get_task

threads, n = int(sys.argv[1]), int(sys.argv[2])
task = get_task("sentiment")
items = list(task.items("dev"))[:n]
system = build_system("gemma-3-270m/few-shot-choice", task)
llm = getattr(system.model, "_llm", None)
if llm is not None:  # code from before LMSCAPE_THREADS used every core
    llama_cpp.llama_set_n_threads(llm._ctx.ctx, threads, threads)
system.method._score(items[:5])
wall, cpu = time.perf_counter(), time.process_time()
preds = system.method._score(items)
wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
print(json.dumps({"wall_s": wall, "cpu_s": cpu, "labels": [p.output for p in preds]}))
"""


def run_side(src: Path, threads: int, n: int, home: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(src), "LMSCAPE_HOME": str(home),
           "LMSCAPE_THREADS": str(threads), "OMP_NUM_THREADS": str(threads),
           "HF_HUB_OFFLINE": "1"}
    env.pop("LMSCAPE_DB", None)
    out = subprocess.run([sys.executable, "-c", SIDE, str(threads), str(n)], env=env,
                         capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise SystemExit(f"the side at {src} failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commit", default="d9f1b14")
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="lmscape-history-") as tmp:
        old_root = Path(tmp) / args.commit
        old_root.mkdir()
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", args.commit, "src"],
                                 capture_output=True, check=False)
        if archive.returncode != 0:
            raise SystemExit(f"git archive {args.commit} failed (needs this repository's "
                             f"history): {archive.stderr.decode()[-500:]}")
        subprocess.run(["tar", "-x", "-C", str(old_root)], input=archive.stdout, check=True)
        sides = {"today": ROOT / "src", args.commit: old_root / "src"}
        totals = {name: {"wall_s": 0.0, "cpu_s": 0.0} for name in sides}
        labels: dict[str, list[str]] = {}
        names = list(sides)
        for r in range(args.rounds):
            for name in names if r % 2 == 0 else names[::-1]:
                side = run_side(sides[name], args.threads, args.n, Path(tmp) / f"home-{r}-{name}")
                totals[name]["wall_s"] += side["wall_s"]
                totals[name]["cpu_s"] += side["cpu_s"]
                labels.setdefault(name, side["labels"])
    n = args.n * args.rounds
    print(f"gemma-3-270m/few-shot-choice, {args.n} SST-2 dev items x {args.rounds} rounds, "
          f"{args.threads} thread(s)")
    for name in names:
        t = totals[name]
        print(f"  {name:10s} {n / t['wall_s']:6.2f} items/s wall  {n / t['cpu_s']:6.2f} items/s "
              f"per CPU-second")
    old = totals[args.commit]
    new = totals["today"]
    agree = sum(a == b for a, b in zip(labels["today"], labels[args.commit], strict=True))
    print(f"  today / {args.commit}: {old['wall_s'] / new['wall_s']:.2f}x wall, "
          f"{old['cpu_s'] / new['cpu_s']:.2f}x CPU; labels agree {agree}/{args.n}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
