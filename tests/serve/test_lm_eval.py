"""lm-evaluation-harness scores a local model through `lmscape serve`.

`lmscape serve` runs as users start it (a subprocess, real uvicorn on loopback); the
harness runs as its CLI (`lm_eval --model local-completions ... tokenizer_backend=remote`)
on a multiple-choice SST-2 task defined from the items lmscape ships (no model or data
hub). Its accuracy must equal lmscape's own choice scoring (`zero-shot-choice`, without
calibration: the harness takes the argmax) of the same items on the same model.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import yaml
from tests.net import free_port, wait_ready

from lmscape.methods.choice import ZeroShotChoice
from lmscape.tasks.registry import get_task

pytestmark = pytest.mark.slow

N_ITEMS = 30
MODEL = "gemma-3-270m"
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "lm_eval" / "lmscape_sst2.yaml"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("lmeval")
    config = tmp / "gw.yaml"
    config.write_text(yaml.safe_dump({"include_catalog": False}))
    log, port = tmp / "serve.log", free_port()
    env = {**os.environ, "LMSCAPE_HOME": str(tmp / "home"), "LMSCAPE_THREADS": "1"}
    env.pop("LMSCAPE_DB", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "lmscape.cli.main", "serve", "--port", str(port),
         "--config", str(config), "--tokenizer-model", MODEL, "--log-level", "warning"],
        env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(proc, url, log)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _task_dir(tmp_path, items, bos: str):
    """The README's lm-eval task (examples/lm_eval), on ``items`` only. It writes the
    BOS token's text, which lm-eval's remote tokenizer never adds."""
    data = tmp_path / "sst2.jsonl"
    data.write_text("".join(json.dumps({"text": it.text, "label": it.reference}) + "\n"
                            for it in items))
    task = yaml.safe_load(EXAMPLE.read_text())
    assert task["doc_to_text"].startswith(bos)
    task["dataset_kwargs"]["data_files"]["test"] = str(data)
    folder = tmp_path / "tasks"
    folder.mkdir()
    (folder / "lmscape_sst2.yaml").write_text(yaml.safe_dump(task))
    return folder


def _lmscape_accuracy(items) -> tuple[float, list[str]]:
    import lmscape

    task = get_task("sentiment")
    with lmscape.get_model(MODEL, n_threads=1) as model:
        method = ZeroShotChoice(task, model, calibrate=False)
        predictions = method.predict(items)
    outputs = [p.output for p in predictions]
    return sum(o == it.reference for o, it in zip(outputs, items)) / len(items), outputs


def test_lm_eval_local_completions_matches_lmscape_choice_scoring(server, tmp_path):
    items = list(get_task("sentiment").items("dev", limit=N_ITEMS))
    bos = httpx.get(f"{server}/tokenizer_info", timeout=120).json()["bos_token"]
    assert bos  # Gemma's "<bos>"
    folder = _task_dir(tmp_path, items, bos)
    out = tmp_path / "out"
    env = {**os.environ, "HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1",
           "OPENAI_API_KEY": "unused", "HF_HOME": str(tmp_path / "hf")}
    run = subprocess.run(
        [sys.executable, "-m", "lm_eval", "--model", "local-completions", "--model_args",
         f"model={MODEL},base_url={server}/v1/completions,tokenizer_backend=remote",
         "--tasks", "lmscape_sst2", "--include_path", str(folder),
         "--output_path", str(out), "--log_samples"],
        check=False, env=env, capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stderr[-4000:]
    [results_file] = [p for p in out.rglob("results_*.json")]
    acc = json.loads(results_file.read_text())["results"]["lmscape_sst2"]["acc,none"]

    expected, outputs = _lmscape_accuracy(items)
    assert acc == pytest.approx(expected, abs=1e-9)
    # item by item: the harness picked the same label as lmscape
    [samples_file] = [p for p in out.rglob("samples_lmscape_sst2_*.jsonl")]
    samples = sorted((json.loads(line) for line in samples_file.read_text().splitlines()),
                     key=lambda s: s["doc_id"])
    picked = [("negative", "positive")[max(range(2), key=lambda i: float(s["filtered_resps"][i][0]))]
              for s in samples]
    assert picked == outputs
