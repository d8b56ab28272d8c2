"""Small model, large model, calibrated cascade and calibrated router, side by side.

    LMSCAPE_THREADS=1 python benchmarks/route.py      # 200 SST-2 dev items, 1000 train to calibrate
    python benchmarks/route.py --n 872 --calib 400 --target-quality 1.0

One run: calibrate a cascade and a router policy over SMALL -> LARGE on ``--calib``
seeded SST-2 *train* items (members fitted on the rest of train), then measure all
four systems with the bench runner on the same ``--n`` seeded dev items, cache off
(every prediction is computed in this run). Prints accuracy (95% CI), CPU seconds
per item of prediction (fitting excluded; for the routed systems every member's
time is included), the share of items the large model answered, and the ratios the
routing targets are stated in: cascade accuracy vs the large model's, cascade CPU
seconds per item vs the large model's.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

SMALL = "all-minilm-l6-v2/logreg-head"
LARGE = "gemma-3-270m/few-shot-choice"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=200, help="SST-2 dev items to measure")
    ap.add_argument("--calib", type=int, default=1000, help="SST-2 train items to calibrate on")
    ap.add_argument("--target-quality", type=float, default=1.0,
                    help="cascade/router quality relative to LARGE on the calibration items")
    ap.add_argument("--small", default=SMALL)
    ap.add_argument("--large", default=LARGE)
    ap.add_argument("--home", default=None,
                    help="LMSCAPE_HOME (default: a fresh temporary folder)")
    args = ap.parse_args()
    os.environ["LMSCAPE_HOME"] = args.home or tempfile.mkdtemp(prefix="lmscape-route-")
    os.environ.pop("LMSCAPE_DB", None)

    from rich.console import Console
    from rich.table import Table

    from lmscape.bench.suite import custom_plan, run_plans
    from lmscape.route.calibrate import calibrate_policy
    from lmscape.store import open_store
    from lmscape.tasks.registry import get_task

    console = Console()
    task = get_task("sentiment")
    store = open_store()
    members = [args.small, args.large]
    explanations = {}
    for kind in ("cascade", "router"):
        policy, result = calibrate_policy(
            name=f"bench-{kind}", task=task, kind=kind, members=members,
            goal={"target_quality": args.target_quality}, limit=args.calib, store=store)
        explanations[kind] = (result.explanation, policy.thresholds[0],
                              result.chosen.quality_rel, result.chosen.cost_rel)
    systems = [args.small, args.large, "auto:bench-cascade", "auto:bench-router"]
    plan = custom_plan("sentiment", systems, split="dev", limit=args.n, seed=7)
    result = run_plans(store, [plan], use_cache=False)
    rows = {}
    for outcome in result.outcomes:
        s = outcome.summary
        acc = s["metrics"]["accuracy"]
        share = (s.get("member_share") or {}).get(args.large,
                                                  1.0 if outcome.system == args.large else 0.0)
        rows[outcome.system] = {"acc": acc["value"], "low": acc.get("low"),
                                "high": acc.get("high"), "cpu": s["cpu_s"] / s["n"],
                                "share": share, "n": s["n"]}
    store.close()

    table = Table(title=f"SST-2 dev, {args.n} items (seed 7), one run, cache off; "
                        f"calibrated on {args.calib} train items", title_justify="left")
    for col in ("system", "accuracy (95% CI)", "CPU s/item", "share to large"):
        table.add_column(col, justify="left" if col == "system" else "right")
    names = {args.small: "small", args.large: "large", "auto:bench-cascade": "cascade",
             "auto:bench-router": "router"}
    for system, r in rows.items():
        table.add_row(f"{names[system]}: {system}",
                      f"{r['acc']:.3f} [{r['low']:.3f}, {r['high']:.3f}]",
                      f"{r['cpu']:.4f}", f"{r['share']:.0%}")
    console.print(table)
    big = rows[args.large]
    for kind in ("cascade", "router"):
        r = rows[f"auto:bench-{kind}"]
        text, t, q_rel, c_rel = explanations[kind]
        console.print(f"{kind}: threshold {t:.3f} ({text}); on calibration: "
                      f"{q_rel:.1%} of large quality at {c_rel:.1%} of its cost", highlight=False)
        console.print(f"{kind} vs large on the same items: accuracy {r['acc']:.3f} vs "
                      f"{big['acc']:.3f} ({r['acc'] - big['acc']:+.3f}); CPU s/item "
                      f"{r['cpu'] / big['cpu']:.1%} of large's", highlight=False)
    Path(os.environ["LMSCAPE_HOME"], "route-bench.txt").write_text(str(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
