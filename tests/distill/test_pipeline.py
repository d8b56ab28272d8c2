"""The whole pipeline on small slices: real MiniLM students, a few training steps.

Each test trains once and checks everything downstream of that model: the saved
folder and lineage, the catalog entry (``lmscape models``), the student by name through
the methods registry and the bench runner, the ONNX export and the ``onnx`` backend.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from lmscape.cli.main import build_app
from lmscape.distill.pipeline import distill
from lmscape.methods.registry import build_system
from lmscape.tasks.base import Item
from lmscape.tasks.registry import get_task

from .helpers import NEGATIVE, POSITIVE, sentiment_rows, write_csv, write_jsonl
from .teacher_server import Teacher

pytestmark = pytest.mark.slow
FAST = {"max_steps": 2, "batch_size": 8, "max_length": 64, "evaluate_teacher": False}


def _cli(*args: str):
    return CliRunner().invoke(build_app(), list(args))


def test_sentiment_gold_fine_tune_catalog_bench_and_onnx_export(tmp_path, lmscape_home,
                                                                  monkeypatch):
    data = write_csv(tmp_path / "reviews.csv", sentiment_rows(20))
    eval_data = write_csv(tmp_path / "eval.csv", sentiment_rows(4))
    result = distill("sentiment", "gold", data=str(data), eval_data=str(eval_data),
                     text_col="review", label_col="stars", name="tiny-sst", strategy="fine-tune",
                     **FAST)
    assert result.strategy == "fine-tune" and result.n_train == 40
    assert result.train_stats["steps"] == 2
    assert result.path == lmscape_home / "models" / "tiny-sst"
    assert (result.path / "model.safetensors").exists()
    assert not (lmscape_home / "distill" / "tiny-sst").exists()  # work folder cleaned up
    [row] = result.rows
    assert row.role == "student" and row.n == 8 and 0 <= row.quality <= 1
    assert row.size_bytes > 50e6 and row.peak_rss_bytes > 0 and row.items_per_s > 0
    lineage = json.loads((result.path / "lmscape_lineage.json").read_text())
    assert lineage["teacher"] == "gold" and lineage["data"]["train"].startswith("reviews.csv@")
    assert lineage["metrics"]["heldout"][0]["quality"] == row.quality

    listed = _cli("models", "--json")
    entry = next(e for e in json.loads(listed.stdout) if e["id"] == "tiny-sst")
    assert entry["run"] == {"backend": "hf", "model": str(result.path), "options": {}}
    assert entry["lineage"]["base"] == "all-minilm-l6-v2"
    assert entry["origin"] == str(lmscape_home / "catalog.yaml")

    ran = _cli("run", "tiny-sst", "a wonderful film")  # a classifier answers with its label
    assert ran.exit_code == 0, ran.stderr
    assert ran.stdout.strip() in ("negative", "positive") and "tiny-sst" in ran.stderr

    task = get_task("sentiment")
    system = build_system("tiny-sst/fine-tuned", task)
    preds = system.method.predict([Item(id="a", text="a wonderful film"),
                                   Item(id="b", text="a dreadful film")])
    assert {p.output for p in preds} <= {"negative", "positive"}
    assert all(abs(sum(p.extra["probs"].values()) - 1) < 1e-5 for p in preds)
    from lmscape.backends.hf_common import native_bf16

    # a student multiplies in bf16 where the CPU has it natively; the precision keys its cache
    want = "float32+bfloat16-autocast" if native_bf16() else "float32"
    assert system.method.cache_params()["precision"] == want
    system.close()

    # ONNX: fp32 and int8 exports agree with the original and serve by name
    exported = _cli("export", "tiny-sst", "--onnx", "--int8", "--check-items", "16")
    assert exported.exit_code == 0, exported.stderr
    assert "label agreement" in exported.stdout
    onnx_system = build_system("tiny-sst-onnx-int8/fine-tuned", task)
    onnx_preds = onnx_system.method.predict([Item(id="a", text="a wonderful film"),
                                             Item(id="b", text="a dreadful film")])
    assert [p.output for p in onnx_preds] == [p.output for p in preds]
    vectors = onnx_system.model.embed(["a wonderful film"]).vectors
    assert vectors.shape == (1, 384) and abs(float(np.linalg.norm(vectors)) - 1) < 1e-4
    onnx_system.close()

    # the gateway serves both by name (embeddings: an encoder's endpoint)
    from lmscape.serve.config import GatewayConfig, resolve_routes
    from lmscape.serve.pool import build_backend

    routes = resolve_routes(GatewayConfig())
    for served in ("tiny-sst", "tiny-sst-onnx-int8"):
        assert routes[served].kinds == ("embeddings",) and routes[served].is_local
        with build_backend(routes[served]) as backend:
            assert backend.embed(["a wonderful film"]).vectors.shape == (1, 384)

    from lmscape.distill import export

    monkeypatch.setitem(export.TOLERANCES, "onnx", (1.01, 0.0))  # no export can pass this
    failed = _cli("export", "tiny-sst", "--onnx", "--name", "never", "--check-items", "8")
    lines = [x for x in failed.stderr.splitlines() if x.strip()]
    assert failed.exit_code == 2 and len(lines) == 1, failed.stderr
    assert "disagrees with the original" in lines[0] and "nothing was saved" in lines[0]
    assert not (lmscape_home / "models" / "never").exists()


def test_few_labels_train_a_setfit_student_that_exports(tmp_path, lmscape_home):
    data = write_csv(tmp_path / "few.csv", sentiment_rows(6))
    eval_data = write_csv(tmp_path / "eval.csv", sentiment_rows(2))
    result = distill("sentiment", "gold", data=str(data), eval_data=str(eval_data),
                     text_col="review", label_col="stars", name="tiny-setfit", **FAST)
    assert result.strategy == "setfit"
    assert (result.path / "lmscape_head.json").exists() and (result.path / "modules.json").exists()
    system = build_system("tiny-setfit/fine-tuned", get_task("sentiment"))
    assert system.model.kind == "classifier"
    [pred] = system.method.predict([Item(id="a", text="a wonderful film")])
    assert pred.output in ("negative", "positive")
    system.close()
    from lmscape.distill.export import export_onnx

    report = export_onnx("tiny-setfit", n_check=8)
    assert report.agreement == 1.0 and report.max_prob_diff < 1e-3


def test_keyphrase_tagger_on_inspec_docs(tmp_path, lmscape_home):
    train = list(get_task("keywords").items("train", limit=10))
    rows = [{"id": it.id, "text": it.text, "keyphrases": it.reference} for it in train]
    data = write_jsonl(tmp_path / "docs.jsonl", rows[:8])
    eval_data = write_jsonl(tmp_path / "eval.jsonl", rows[8:])
    result = distill("keywords", "gold", data=str(data), eval_data=str(eval_data),
                     name="tiny-tagger", **FAST)
    assert result.strategy == "bio-tagger"
    [row] = result.rows
    assert row.n == 2 and 0 <= row.quality <= 1
    system = build_system("tiny-tagger/fine-tuned", get_task("keywords"))
    assert system.model.kind == "tagger"
    [pred] = system.method.predict([Item(id="d", text=train[0].text)])
    assert 1 <= len(pred.output) <= 10
    assert all(phrase in train[0].text for phrase in pred.output)
    assert pred.extra["confidence"] == sorted(pred.extra["confidence"], reverse=True)
    system.close()
    ran = _cli("run", "tiny-tagger", train[0].text)  # a tagger answers with keyphrases
    assert ran.exit_code == 0, ran.stderr
    assert ran.stdout.splitlines() == pred.output
    from lmscape.distill.export import export_onnx

    report = export_onnx("tiny-tagger", n_check=4)
    assert report.agreement >= 0.999 and report.max_prob_diff <= 1e-3


def test_teacher_labels_only_with_unparseable_answers(tmp_path, lmscape_home):
    teacher = Teacher(unsure={3, 11})
    try:
        spec = teacher.register(lmscape_home)
        texts = write_csv(tmp_path / "texts.csv",
                          [{"body": f"{(POSITIVE if i % 2 else NEGATIVE)[i % 8]} ({i})"}
                           for i in range(20)])
        eval_data = write_csv(tmp_path / "eval.csv", sentiment_rows(3))
        out = _cli("distill", "--task", "sentiment", "--teacher", spec, "--unlabelled",
                   str(texts), "--text-col", "body", "--eval-data", str(eval_data),
                   "--label-col", "stars", "--name", "tiny-taught", "--max-steps", "1",
                   "--batch-size", "8")
        # the eval file's text column is "review", not "body": one clear line, teacher unasked
        assert out.exit_code == 2 and "no column 'body'" in out.stderr and not teacher.asked
        eval_data = write_csv(tmp_path / "eval2.csv",
                              [{"body": r["review"], "stars": r["stars"]}
                               for r in sentiment_rows(3)])
        out = _cli("distill", "--task", "sentiment", "--teacher", spec, "--unlabelled",
                   str(texts), "--text-col", "body", "--eval-data", str(eval_data),
                   "--label-col", "stars", "--name", "tiny-taught", "--max-steps", "1",
                   "--batch-size", "8")
        assert out.exit_code == 0, out.stderr
        assert "20 texts (20 asked now, 0 from the store), 2 unparseable" in out.stderr
        assert "teacher" in out.stdout and "agree" in out.stdout  # the comparison table
        lineage = json.loads((lmscape_home / "models" / "tiny-taught" /
                              "lmscape_lineage.json").read_text())
        labels = lineage["metrics"]["teacher_labels"]
        assert labels["n_unparseable"] == 2 and labels["cost_usd"] > 0
        assert lineage["strategy"] == "setfit"  # 8 and 10 labels: the few-label student
        assert sorted(teacher.asked[:20]) == list(range(20))
        n_asked = len(teacher.asked)
        again = _cli("distill", "--task", "sentiment", "--teacher", spec, "--unlabelled",
                     str(texts), "--text-col", "body", "--eval-data", str(eval_data),
                     "--label-col", "stars", "--name", "tiny-taught", "--overwrite",
                     "--max-steps", "1", "--batch-size", "8", "--no-teacher-eval")
        assert again.exit_code == 0, again.stderr
        assert "(0 asked now, 20 from the store), 2 unparseable" in again.stderr
        assert len(teacher.asked) == n_asked
    finally:
        teacher.close()
