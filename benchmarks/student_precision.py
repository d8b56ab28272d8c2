"""A distilled sentiment student in float32 against bf16 products (``autocast``), side by
side on SST-2 dev.

    LMSCAPE_HOME=DIR python benchmarks/student_precision.py bench-sst2-gemma --threads 1

Loads the student twice through the ``hf`` backend (``autocast="off"`` and
``autocast="bfloat16"``), labels all 872 SST-2 dev texts with each at batch 64,
``--reps`` times, alternating which goes first; prints the median items/s of each, their
ratio, the accuracy of each and how many labels differ. The student must exist under
``$LMSCAPE_HOME/models/`` (``benchmarks/distill.py --stages teacher`` makes
``bench-sst2-gemma``). bf16 is fast only on a CPU that multiplies it natively
(AVX512-BF16 or AMX); elsewhere PyTorch emulates it.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="a distilled sentiment model's name")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--reps", type=int, default=2)
    args = parser.parse_args()
    os.environ["LMSCAPE_THREADS"] = str(args.threads)

    from lmscape.backends.hf import HFBackend
    from lmscape.backends.hf_common import native_bf16
    from lmscape.distill.registry import model_dir
    from lmscape.tasks.registry import get_task

    path = model_dir(args.model)
    if not path.exists():
        raise SystemExit(f"no model {args.model} under {path.parent} (set LMSCAPE_HOME)")
    items = list(get_task("sentiment").items("dev"))
    texts = [it.text for it in items]
    sides = {name: HFBackend(str(path), batch_size=64, autocast=name)
             for name in ("off", "bfloat16")}
    speeds: dict[str, list[float]] = {name: [] for name in sides}
    labels: dict[str, list[str]] = {}
    for backend in sides.values():
        backend.classify(texts[:16])  # warm-up
    names = list(sides)
    for rep in range(args.reps):
        for name in names if rep % 2 == 0 else names[::-1]:
            start = time.perf_counter()
            results = sides[name].classify(texts)
            speeds[name].append(len(texts) / (time.perf_counter() - start))
            labels.setdefault(name, [r.label for r in results])
    for backend in sides.values():
        backend.close()
    print(f"{args.model}: {len(texts)} SST-2 dev texts, batch 64, {args.threads} thread(s), "
          f"{args.reps} reps; native bf16 on this CPU: {'yes' if native_bf16() else 'no'}")
    for name in names:
        accuracy = sum(lab == it.reference for lab, it in zip(labels[name], items, strict=True))
        print(f"  {name:9s} {statistics.median(speeds[name]):7.1f} items/s  accuracy "
              f"{accuracy / len(items):.4f}")
    ratio = statistics.median(speeds["bfloat16"]) / statistics.median(speeds["off"])
    moved = sum(a != b for a, b in zip(labels["off"], labels["bfloat16"], strict=True))
    print(f"  bf16 / float32: {ratio:.2f}x items/s; labels that differ: {moved}/{len(items)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
