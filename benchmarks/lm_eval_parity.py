"""lm-evaluation-harness through `lmscape serve` vs lmscape's own choice scoring.

Starts `lmscape serve --tokenizer-model gemma-3-270m` (a subprocess on loopback), runs
the harness's CLI exactly as the README shows it (``--model local-completions``,
``tokenizer_backend=remote``, the task ``examples/lm_eval/lmscape_sst2.yaml``) on the
first ``--limit`` SST-2 dev items, then scores the same items with
``gemma-3-270m/zero-shot-choice`` uncalibrated (the harness takes the argmax too).
Prints both accuracies, item-by-item agreement and wall times. Run from the
repository root:

    .venv/bin/python benchmarks/lm_eval_parity.py [--limit 872]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml
from gateway import free_port, wait_health  # benchmarks/gateway.py

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "lm_eval" / "lmscape_sst2.yaml"
MODEL = "gemma-3-270m"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=872, help="first N dev items")
    args = parser.parse_args()

    import lmscape
    from lmscape.methods.choice import ZeroShotChoice
    from lmscape.tasks.registry import get_task

    task = get_task("sentiment")
    items = list(task.items("dev"))[: args.limit]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        data = tmp / "dev.jsonl"
        data.write_text("".join(json.dumps({"text": it.text, "label": it.reference}) + "\n"
                                for it in items))
        spec = yaml.safe_load(EXAMPLE.read_text())
        spec["dataset_kwargs"]["data_files"]["test"] = str(data)
        (tmp / "tasks").mkdir()
        (tmp / "tasks" / "lmscape_sst2.yaml").write_text(yaml.safe_dump(spec))

        port = free_port()
        url = f"http://127.0.0.1:{port}"
        env = {**os.environ, "LMSCAPE_HOME": str(tmp / "home")}
        env.pop("LMSCAPE_DB", None)
        server = subprocess.Popen(
            [sys.executable, "-m", "lmscape.cli.main", "serve", "--port", str(port),
             "--tokenizer-model", MODEL, "--log-level", "warning"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        try:
            wait_health(server, url)
            start = time.perf_counter()
            run = subprocess.run(
                [sys.executable, "-m", "lm_eval", "--model", "local-completions",
                 "--model_args",
                 f"model={MODEL},base_url={url}/v1/completions,tokenizer_backend=remote",
                 "--tasks", "lmscape_sst2", "--include_path", str(tmp / "tasks"),
                 "--output_path", str(tmp / "out"), "--log_samples"],
                check=False, env={**env, "HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1",
                                  "OPENAI_API_KEY": "unused", "HF_HOME": str(tmp / "hf")},
                capture_output=True, text=True)
            harness_s = time.perf_counter() - start
        finally:
            server.terminate()
            server.wait(timeout=30)
        if run.returncode != 0:
            print(run.stderr[-4000:])
            return 1
        [results] = list((tmp / "out").rglob("results_*.json"))
        acc = json.loads(results.read_text())["results"]["lmscape_sst2"]["acc,none"]
        [samples] = list((tmp / "out").rglob("samples_lmscape_sst2_*.jsonl"))
        rows = sorted((json.loads(line) for line in samples.read_text().splitlines()),
                      key=lambda s: s["doc_id"])
        picked = [("negative", "positive")[max(range(2), key=lambda i: float(
            s["filtered_resps"][i][0]))] for s in rows]

    start = time.perf_counter()
    with lmscape.get_model(MODEL) as model:
        predictions = ZeroShotChoice(task, model, calibrate=False).predict(items)
    own_s = time.perf_counter() - start
    outputs = [p.output for p in predictions]
    own = sum(o == it.reference for o, it in zip(outputs, items, strict=True)) / len(items)
    agree = sum(a == b for a, b in zip(picked, outputs, strict=True))
    print(f"SST-2 dev, first {len(items)} items, {MODEL}, zero-shot choice")
    print(f"  lm-eval local-completions via lmscape serve: acc {acc:.4f}  ({harness_s:.0f} s)")
    print(f"  lmscape zero-shot-choice (uncalibrated):     acc {own:.4f}  ({own_s:.0f} s)")
    print(f"  same label on {agree}/{len(items)} items")
    ok = abs(acc - own) < 1e-9 and agree == len(items)
    print(f"{'PASS' if ok else 'FAIL'}: accuracies {'equal' if ok else 'differ'}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
