"""The same sweep with the local executor and with Ray (2 workers of 1 CPU), same process.

Systems: vader, all-minilm-l6-v2/logreg-head and smollm2-135m-instruct/zero-shot-choice
on SST-2 (sentiment) and yake on Inspec (keywords), ``--n`` items each, the prediction
cache off. One-off work (the logistic-regression head, the calibration threshold) is
done first, untimed, and cached in $LMSCAPE_HOME, where both sides then read it. Each
round runs the sweep locally, then on Ray (the order alternates between rounds), timing
each system from build to close. Ray's own start is timed apart, once.

Asserts that every system's stored predictions and scores are identical on both sides,
and prints both wall times and their ratio (local / Ray: above 1 means Ray was faster).

    .venv/bin/python benchmarks/ray_scale.py [--n 96] [--rounds 1] [--workers 2]
                                              [--local-threads N] [--project 16x16]

``--local-threads`` pins the local llama.cpp model to N threads (default: every core,
as ``lmscape bench`` does); Ray workers always use one thread each. ``--project 16x16``
feeds the measured per-item and start-up times into the model of docs/scale.md and
prints the expected time of a 10,000-item x 20-system sweep on 16 nodes of 16 workers.
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
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

SWEEP = {
    "sentiment": ["vader", "all-minilm-l6-v2/logreg-head",
                  "smollm2-135m-instruct/zero-shot-choice"],
    "keywords": ["yake"],
}


def _rows(store, run_id):
    import sqlalchemy as sa

    from lmscape.store.schema import results

    with store.connect() as conn:
        rows = conn.execute(sa.select(results.c.item_id, results.c.prediction, results.c.scores,
                                      results.c.error).where(results.c.run_id == run_id)).all()
    return sorted(tuple(r) for r in rows)


def _sweep(store, plans, build, executor=None) -> dict[str, dict]:
    """Run every system of every plan: seconds from build to close, seconds spent in
    ``build`` (Ray: the first worker's start and model load), seconds per item inside
    ``method.predict`` on one worker (the stored wall time), run id."""
    from lmscape.bench.suite import BenchPlan, run_plans

    out = {}
    for plan in plans:
        for name in plan.systems:
            built = []

            def timed_build(*a, _built=built, **kw):
                start = time.perf_counter()
                system = build(*a, **kw)
                _built.append(time.perf_counter() - start)
                return system

            one = BenchPlan(task=plan.task, systems=[name], spec=plan.spec, explicit=True)
            start = time.perf_counter()
            result = run_plans(store, [one], use_cache=False, build=timed_build,
                               executor=executor)
            summary = result.outcomes[0].summary
            out[f"{plan.task.name}/{name}"] = {
                "total": time.perf_counter() - start, "build": built[0],
                "per_item": summary["wall_s"] / summary["n"], "run_id": result.outcomes[0].run_id,
                "batch": summary["batch_size"],
            }
    return out


def driver_seconds_per_item(tmp: str) -> float:
    """What the driver spends per item (scoring, storing, summarising): VADER on all 872
    SST-2 dev items, no fitting, local executor; run time minus time inside predict."""
    from lmscape.bench.runner import Runner
    from lmscape.bench.suite import load_spec
    from lmscape.methods.registry import build_system
    from lmscape.store import open_store
    from lmscape.tasks.registry import get_task

    task = get_task("sentiment")
    spec = load_spec(task, limit=872)
    spec.train_items = None
    store = open_store(f"sqlite:///{Path(tmp) / 'driver.db'}")
    system = build_system("vader", task)
    start = time.perf_counter()
    out = Runner(store, use_cache=False).run(system, spec)
    spent = time.perf_counter() - start - out.summary["wall_s"]
    store.close()
    return spent / out.summary["n"]


def project(per_system: dict, *, nodes: int, cores: int, items: int, systems: int,
            driver_s: float) -> None:
    """The model of docs/scale.md, fed with this run's medians. A system costs one
    worker start (L: build on Ray, model load included) plus its chunks divided over W
    workers (whole rounds: the last round is the tail), and never less than the driver's
    N x d; the sweep is the sum over systems (they run one after another). The measured
    systems stand for the sweep's systems in equal shares."""
    import math

    from lmscape.bench.ray_executor import plan_chunks

    med = statistics.median
    workers = nodes * cores
    share = systems / len(per_system)
    local = one = cluster = 0.0
    for e in per_system.values():
        t_local, t_ray = med(e["local_per_item"]), med(e["ray_per_item"])
        b = e["batch"][0]
        chunks = plan_chunks(math.ceil(items / b), batch_size=b, workers=workers)
        rounds = math.ceil(len(chunks) / workers)
        longest = max(len(c) for c in chunks) * b
        local += share * (med(e["local_build"]) + items * t_local)
        one += share * (med(e["ray_build"]) + items * t_ray)
        cluster += share * max(med(e["ray_build"]) + rounds * longest * t_ray, items * driver_s)
    print(f"\nprojection: {systems} systems x {items} items on {nodes} nodes x {cores} one-CPU "
          f"workers (W = {workers}); driver {driver_s * 1000:.2f} ms/item")
    print(f"  this machine, local executor:   {local:9.0f} s ({local / 3600:.1f} h)")
    print(f"  one Ray worker:                 {one:9.0f} s ({one / 3600:.1f} h)")
    print(f"  the cluster:                    {cluster:9.0f} s ({cluster / 60:.1f} min): "
          f"{local / cluster:.0f}x this machine, {one / cluster:.0f}x one worker")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=96, help="items per task")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--local-threads", type=int, default=None)
    parser.add_argument("--project", action="append", default=[], metavar="NODESxCORES",
                        help="also print the model's projection for a cluster, e.g. 16x16")
    parser.add_argument("--project-items", type=int, default=10_000)
    parser.add_argument("--project-systems", type=int, default=20)
    args = parser.parse_args()

    from lmscape.bench.ray_executor import RayExecutor
    from lmscape.bench.suite import BenchPlan, load_spec
    from lmscape.bench.worker import SystemRecipe
    from lmscape.methods.registry import build_system
    from lmscape.store import open_store
    from lmscape.tasks.registry import get_task

    plans = []
    for task_name, systems in SWEEP.items():
        task = get_task(task_name)
        plans.append(BenchPlan(task=task, systems=systems, spec=load_spec(task, limit=args.n),
                               explicit=True))

    def build_local(spec, task, **options):
        if args.local_threads is None:
            return build_system(spec, task, **options)
        return SystemRecipe(task=task.name, system=spec, params=options).build(
            threads=args.local_threads)

    load = os.getloadavg()
    print(f"machine: {os.cpu_count()} cores, load average {load[0]:.1f} / {load[1]:.1f} / "
          f"{load[2]:.1f} (1/5/15 min) at start")
    print(f"sweep: {sum(len(p.systems) for p in plans)} systems x {args.n} items; "
          f"local llama.cpp threads: {args.local_threads or os.cpu_count()}; "
          f"Ray: {args.workers} workers x 1 CPU")

    start = time.perf_counter()
    for plan in plans:  # one-off work, untimed and cached: heads and calibrations
        for name in plan.systems:
            system = build_local(name, plan.task)
            if plan.spec.train_items is not None:
                system.method.train(plan.spec.train_items())
            system.close()
    print(f"one-off fitting (cached in $LMSCAPE_HOME): {time.perf_counter() - start:.1f} s")

    start = time.perf_counter()
    ray_ex = RayExecutor(workers=args.workers, worker_cpus=1)
    print(f"Ray start: {time.perf_counter() - start:.1f} s (once per session, not counted)")

    with tempfile.TemporaryDirectory() as tmp:
        totals: dict[str, list[float]] = {"local": [], "ray": []}
        per_system: dict[str, dict[str, list[float]]] = {}
        identical = True
        for r in range(args.rounds):
            order = ("local", "ray") if r % 2 == 0 else ("ray", "local")
            stores, times = {}, {}
            for side in order:
                stores[side] = open_store(f"sqlite:///{Path(tmp) / f'{side}-{r}.db'}")
                if side == "local":
                    times[side] = _sweep(stores[side], plans, build_local)
                else:
                    times[side] = _sweep(stores[side], plans, ray_ex.build, ray_ex)
            for key, local in times["local"].items():
                ray = times["ray"][key]
                same = (local["run_id"] == ray["run_id"] and _rows(stores["local"], local["run_id"])
                        == _rows(stores["ray"], ray["run_id"]))
                identical &= same
                entry = per_system.setdefault(key, {"same": []})
                for side, got in (("local", local), ("ray", ray)):
                    for what in ("total", "build", "per_item"):
                        entry.setdefault(f"{side}_{what}", []).append(got[what])
                entry["same"].append(same)
                entry["batch"] = [local["batch"]]
            for side in ("local", "ray"):
                totals[side].append(sum(t["total"] for t in times[side].values()))
                stores[side].close()
        driver_s = driver_seconds_per_item(tmp) if args.project else 0.0
    ray_ex.close()

    med = statistics.median
    print(f"\n{'system':<46} {'local s':>8} {'ray s':>8} {'ratio':>6} {'build local/ray':>16} "
          f"{'s/item local/ray-worker':>24}  scores")
    for key, e in per_system.items():
        lo, ra = med(e["local_total"]), med(e["ray_total"])
        same = "identical" if all(e["same"]) else "DIFFERENT"
        print(f"{key:<46} {lo:8.1f} {ra:8.1f} {lo / ra:6.2f} "
              f"{med(e['local_build']):7.1f} /{med(e['ray_build']):6.1f}  "
              f"{med(e['local_per_item']):10.4f} /{med(e['ray_per_item']):9.4f}  {same}")
    lo, ra = med(totals["local"]), med(totals["ray"])
    print(f"{'sweep (median of ' + str(args.rounds) + ' round(s))':<46} {lo:8.1f} {ra:8.1f} "
          f"{lo / ra:6.2f}")
    load = os.getloadavg()
    print(f"load average at the end: {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}")
    print(f"local wall {lo:.1f} s, Ray wall {ra:.1f} s, local/Ray = {lo / ra:.2f}; "
          f"scores {'identical' if identical else 'DIFFER'}")
    for spec in args.project:
        nodes, cores = (int(x) for x in spec.lower().split("x"))
        project(per_system, nodes=nodes, cores=cores, items=args.project_items,
                systems=args.project_systems, driver_s=driver_s)
    assert identical, "Ray and local scores differ"
    return 0


if __name__ == "__main__":
    sys.exit(main())
