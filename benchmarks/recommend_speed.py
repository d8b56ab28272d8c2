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

    .venv/bin/python benchmarks/recommend_speed.py --task sentiment
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

TARGET_S = 1.0


def _cli(args: list[str], env: dict[str, str]) -> float:
    exe = Path(sys.executable).with_name("lmscape")
    start = time.perf_counter()
    subprocess.run([str(exe), *args], env=env, check=True, capture_output=True)
    return time.perf_counter() - start


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

    code = ("import time; t = time.perf_counter(); import lmscape; "
            "from lmscape.store import open_store; s = open_store(); "
            f"lmscape.recommend({args.task!r}, store=s); print(time.perf_counter() - t)")
    cold = float(subprocess.run([sys.executable, "-c", code], env=env, check=True,
                                capture_output=True, text=True).stdout.strip())

    if args.db:
        os.environ["LMSCAPE_DB"] = args.db
    from lmscape.bench.results import leaderboard
    from lmscape.decide.recommendation import recommend
    from lmscape.store import open_store

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
    m_runs, m_rec = statistics.median(cli_runs), statistics.median(cli_rec)
    print(f"store: {len(rec.ranked) + len(rec.excluded)} candidates on {args.task} "
          f"({sum(r.candidate.kind == 'measured' for r in rec.ranked)} measured)")
    print(f"in process, median of {args.rounds}: recommend() {m_dec * 1000:.1f} ms, "
          f"leaderboard() alone {m_read * 1000:.1f} ms, ratio {m_dec / m_read:.2f}")
    print(f"first call in a fresh process (imports included): {cold:.2f} s")
    print(f"command line, median of {args.reps}: `lmscape recommend` {m_rec:.2f} s, "
          f"`lmscape runs` {m_runs:.2f} s, ratio {m_rec / m_runs:.2f}")
    ok = m_dec < TARGET_S and cold < TARGET_S
    print(f"target: under {TARGET_S:g} s from stored results -> "
          f"{'PASS' if ok else 'FAIL'} (in process {m_dec:.3f} s, fresh process {cold:.2f} s)")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
