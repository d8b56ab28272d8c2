"""How fast ``recommend`` answers from stored results (target: under 1 s), beside the
store read it cannot avoid.

Uses the store of ``$LMSCAPE_DB`` / ``$LMSCAPE_HOME`` (run ``lmscape bench --task
sentiment --limit 40`` first), or ``--db URL``. Three measurements:

1. in one process, alternated so machine noise hits both alike: ``recommend()`` (with
   sensitivity and a volume) against ``leaderboard()``, the read it makes from the
   store and the catalog; medians and their ratio;
2. the first call in a fresh process (imports and catalog parsing included);
3. the command line end to end, ``lmscape recommend --task T`` against ``lmscape runs
   --task T`` (another command that only reads the store), medians of ``--reps`` runs.

The machine may be shared, so wall time is noisy; the fresh process and the command
line are also given in CPU seconds (user + system, the work done, not time spent waiting
for a core), and PASS/FAIL is decided on the in-process wall time and the CPU seconds
of the first call in a fresh process (from ``import lmscape`` to the answer).

    .venv/bin/python benchmarks/recommend_speed.py --task sentiment
"""

from __future__ import annotations

import argparse
import contextlib
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

TARGET_S = 1.0


def _child_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _run(argv: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """(wall s, CPU s, stdout) of one child process."""
    cpu, start = _child_cpu(), time.perf_counter()
    out = subprocess.run(argv, env=env, check=True, capture_output=True, text=True).stdout
    return time.perf_counter() - start, _child_cpu() - cpu, out


def _cli(args: list[str], env: dict[str, str]) -> tuple[float, float]:
    wall, cpu, _ = _run([str(Path(sys.executable).with_name("lmscape")), *args], env)
    return wall, cpu


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="sentiment")
    parser.add_argument("--db", default=None, help="SQLAlchemy URL (default: LMSCAPE_DB)")
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args()
    env = dict(os.environ)
    if args.db:
        env["LMSCAPE_DB"] = args.db
        os.environ["LMSCAPE_DB"] = args.db
    from lmscape.bench.results import leaderboard, tasks_with_runs
    from lmscape.store import open_store

    with contextlib.closing(open_store()) as probe:
        if args.task not in tasks_with_runs(probe):
            print(f"no stored results for {args.task!r}: run `lmscape bench --task {args.task} "
                  "--limit 40` first (or pass --db URL)", file=sys.stderr)
            return 2

    code = ("import time; t, c = time.perf_counter(), time.process_time(); import lmscape; "
            "from lmscape.store import open_store; s = open_store(); "
            f"lmscape.recommend({args.task!r}, store=s); "
            "print(time.perf_counter() - t, time.process_time() - c)")
    cold_wall, cold_cpu, out = _run([sys.executable, "-c", code], env)
    cold, cold_work = (float(x) for x in out.split())

    from lmscape.decide.recommendation import recommend

    store = open_store()
    rec = recommend(args.task, store=store, volume="50000/day")  # warm the caches
    read, decide = [], []
    for _ in range(args.rounds):
        t = time.perf_counter()
        leaderboard(store, args.task)
        read.append(time.perf_counter() - t)
        t = time.perf_counter()
        recommend(args.task, store=store, volume="50000/day")
        decide.append(time.perf_counter() - t)
    store.close()

    cli_rec, cli_runs = [], []
    for _ in range(args.reps):
        cli_runs.append(_cli(["runs", "--task", args.task], env))
        cli_rec.append(_cli(["recommend", "--task", args.task], env))

    m_read, m_dec = statistics.median(read), statistics.median(decide)
    m_runs = tuple(statistics.median(x) for x in zip(*cli_runs, strict=True))
    m_rec = tuple(statistics.median(x) for x in zip(*cli_rec, strict=True))
    print(f"store: {len(rec.ranked) + len(rec.excluded)} candidates on {args.task} "
          f"({sum(r.candidate.kind == 'measured' for r in rec.ranked)} measured)")
    print(f"in process, median of {args.rounds}: recommend() {m_dec * 1000:.1f} ms, "
          f"leaderboard() alone {m_read * 1000:.1f} ms, ratio {m_dec / m_read:.2f}")
    print(f"first call in a fresh process (imports included): {cold:.2f} s wall, "
          f"{cold_work:.2f} CPU s; the whole process (interpreter start included) "
          f"{cold_wall:.2f} s wall, {cold_cpu:.2f} CPU s")
    print(f"command line, median of {args.reps}: `lmscape recommend` {m_rec[0]:.2f} s wall "
          f"/ {m_rec[1]:.2f} CPU s, `lmscape runs` {m_runs[0]:.2f} s / {m_runs[1]:.2f} CPU s, "
          f"ratio (CPU) {m_rec[1] / m_runs[1]:.2f}")
    ok = m_dec < TARGET_S and cold_work < TARGET_S
    print(f"target: under {TARGET_S:g} s from stored results -> {'PASS' if ok else 'FAIL'} "
          f"(in process {m_dec:.3f} s wall; first call in a fresh process, imports "
          f"included, {cold_work:.2f} CPU s)")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
