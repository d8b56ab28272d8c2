"""How close is `lmscape fit` to what llama.cpp really uses?

Loads each embedded GGUF model in a fresh process at n_ctx=2048, decodes a few tokens,
and prints, side by side with the estimate: the weights file size, the KV cache size
llama.cpp allocates (computed from its context parameters), and the growth of the
process's resident memory. Run:

    .venv/bin/python benchmarks/fit_vs_measured.py
"""

from __future__ import annotations

import json
import subprocess
import sys

N_CTX = 2048

CHILD = r"""
import json, os, sys, psutil
from lmscape.backends.locate import locate
from lmscape.catalog import load_catalog
entry = load_catalog().get(sys.argv[1])
path = locate(entry.run.model)
proc = psutil.Process()
import llama_cpp  # imported before the baseline so its own code is not counted
before = proc.memory_info().rss
llm = llama_cpp.Llama(str(path), n_ctx=int(sys.argv[2]), n_threads=2, verbose=False)
llm("The capital of France is", max_tokens=8)
after = proc.memory_info().rss
print(json.dumps({"file": os.path.getsize(path), "rss_growth": after - before}))
"""


def measure(model_id: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, model_id, str(N_CTX)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    from lmscape.catalog import load_catalog
    from lmscape.catalog.hardware import estimate_memory

    cat = load_catalog()
    print(f"n_ctx={N_CTX}, batch 1; MB = 10^6 bytes; estimate at q4 (0.5625 B/param)")
    header = (
        "model",
        "est weights",
        "GGUF file",
        "ratio",
        "est KV",
        "est total",
        "RSS growth",
        "ratio",
    )
    print("{:<24}{:>12}{:>11}{:>7}{:>9}{:>11}{:>12}{:>7}".format(*header))
    for model_id in ("smollm2-135m-instruct", "gemma-3-270m"):
        entry = cat.get(model_id)
        est = estimate_memory(entry, "q4", context=N_CTX)
        got = measure(model_id)
        print(
            "{:<24}{:>10.1f}MB{:>9.1f}MB{:>7.2f}{:>7.1f}MB{:>9.1f}MB{:>10.1f}MB{:>7.2f}".format(
                model_id,
                est.weights_bytes / 1e6,
                got["file"] / 1e6,
                got["file"] / est.weights_bytes,
                est.kv_bytes / 1e6,
                est.total_bytes / 1e6,
                got["rss_growth"] / 1e6,
                got["rss_growth"] / est.total_bytes,
            )
        )


if __name__ == "__main__":
    main()
