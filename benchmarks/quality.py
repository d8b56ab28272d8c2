"""Measured quality per system on the public splits, printed as a table.

    python benchmarks/quality.py                       # sentiment (300 dev) + keywords
    python benchmarks/quality.py --sentiment-n 872 --keywords-n 250
    python benchmarks/quality.py --only sentiment --systems vader,all-minilm-l6-v2/logreg-head

Sentiment: accuracy and macro-F1 on N items of SST-2 dev (a seeded sample, seed 7; all
872 with --sentiment-n 872). Keywords: F1@5 / F1@10 on Inspec test_public (250 docs),
Porter-stemmed exact match (see lmscape.metrics.keyphrase). 95% bootstrap intervals.
Methods that train (logreg-head) or draw shots (few-shot-choice) use the train split.
Also prints seconds per item of prediction, wall clock and CPU time of this process
(after loading and fitting; on a busy shared machine CPU time is the steadier number).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

SENTIMENT = ["gemma-3-270m/few-shot-choice", "gemma-3-270m/zero-shot-choice",
             "smollm2-135m-instruct/zero-shot-choice", "smollm2-135m-instruct/prompted",
             "all-minilm-l6-v2/logreg-head", "vader"]
KEYWORDS = ["all-minilm-l6-v2/keybert-mmr", "yake", "smollm2-135m-instruct/prompted"]


def load_backend(spec: str, threads: int | None):
    """The spec's model, with ``n_threads`` for llama.cpp models when asked."""
    import lmscape
    from lmscape.backends.resolve import resolve
    from lmscape.methods.registry import parse_spec

    model, _ = parse_spec(spec)
    if model is None:
        return None
    if threads and resolve(model).backend == "llamacpp":
        return lmscape.get_model(model, n_threads=threads)
    return lmscape.get_model(model)


def evaluate(task, spec: str, items: list, train: list | None,
             threads: int | None = None) -> dict:
    """Load, fit on ``train`` (when the task has one) and score ``spec`` on ``items``."""
    from lmscape.methods.registry import build_system

    start = time.perf_counter()
    backend = load_backend(spec, threads)
    system = build_system(spec, task, backend=backend)
    load_s = time.perf_counter() - start
    if train is not None:
        system.method.train(train)
    train_s = time.perf_counter() - start - load_s
    cpu0 = time.process_time()
    preds = []
    size = system.method.preferred_batch_size
    for i in range(0, len(items), size):
        preds.extend(system.method.predict(items[i:i + size]))
    total = time.perf_counter() - start
    cpu_s = time.process_time() - cpu0
    outputs = [p.output for p in preds]
    scores = [task.score(it, out) for it, out in zip(items, outputs, strict=True)]
    metrics = task.aggregate(items, outputs, scores)
    system.close()
    return {"system": spec, "n": len(items), "metrics": metrics, "load_s": load_s,
            "train_s": train_s, "predict_s_per_item": (total - load_s - train_s) / len(items),
            "cpu_s_per_item": cpu_s / len(items)}


def fmt(metric) -> str:
    return f"{metric.value:.3f} [{metric.low:.3f}, {metric.high:.3f}]"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", choices=["sentiment", "keywords"], default=None)
    ap.add_argument("--sentiment-n", type=int, default=300)
    ap.add_argument("--keywords-n", type=int, default=None, help="default: all 250")
    ap.add_argument("--systems", default=None, help="comma-separated; default: all")
    ap.add_argument("--threads", type=int, default=None,
                    help="llama.cpp threads (default: the catalog's, i.e. all cores)")
    args = ap.parse_args(argv)

    from lmscape.tasks.registry import get_task

    wanted = set(args.systems.split(",")) if args.systems else None
    plan = [("sentiment", "sentiment (SST-2 dev)", SENTIMENT, "dev", args.sentiment_n,
             ["accuracy", "macro_f1"]),
            ("keywords", "keywords (Inspec test_public)", KEYWORDS, "test_public",
             args.keywords_n, ["f1@5", "f1@10"])]
    rows = []
    for name, label, specs, split, n, metric_names in plan:
        specs = [s for s in specs if wanted is None or s in wanted]
        if args.only not in (None, name) or not specs:
            continue
        task = get_task(name)
        items = list(task.items(split, limit=n))  # each split read once, for every system
        train = list(task.items(task.train_split)) if task.train_split else None
        for spec in specs:
            r = evaluate(task, spec, items, train, args.threads)
            rows.append((label, r, metric_names))
            print_row(*rows[-1])
    print()
    print("| task | system | n | metric | value [95% CI] | wall s/item | CPU s/item |")
    print("|---|---|---:|---|---|---:|---:|")
    for task_name, r, names in rows:
        for name in names:
            print(f"| {task_name} | {r['system']} | {r['n']} | {name} | "
                  f"{fmt(r['metrics'][name])} | {r['predict_s_per_item']:.3f} | "
                  f"{r['cpu_s_per_item']:.3f} |")
    return 0


def print_row(task_name: str, r: dict, names: list[str]) -> None:
    values = "  ".join(f"{n}={fmt(r['metrics'][n])}" for n in names)
    print(f"{task_name:30s} {r['system']:42s} n={r['n']:4d}  {values}  "
          f"load={r['load_s']:.1f}s fit={r['train_s']:.1f}s "
          f"predict={r['predict_s_per_item']:.3f}s/item cpu={r['cpu_s_per_item']:.3f}s/item",
          flush=True)


if __name__ == "__main__":
    sys.exit(main())
