"""`lmscape route calibrate`, `lmscape bench --systems auto:NAME`, and the one-line
errors for bad routing input, through the real CLI app."""

from __future__ import annotations

import json

import pytest
import yaml
from typer.testing import CliRunner

from cli_output import one_error_line
from lmscape.cli.main import build_app

SMALL = "all-minilm-l6-v2/logreg-head"
LARGE = "gemma-3-270m/few-shot-choice"


def invoke(*args: str, columns: int = 200):
    return CliRunner().invoke(build_app(), list(args), env={"COLUMNS": str(columns)})


# -- bad input: one clear line, nothing written ------------------------------------------
def test_policy_naming_a_missing_system(lmscape_home):
    (lmscape_home / "policies").mkdir(parents=True)
    (lmscape_home / "policies" / "bad.yaml").write_text(yaml.safe_dump({
        "name": "bad", "kind": "cascade", "task": "sentiment",
        "members": ["no-such-model/logreg-head", LARGE], "thresholds": [0.8]}))
    line = one_error_line(invoke("bench", "--task", "sentiment", "--systems", "auto:bad",
                                 "--limit", "5"))
    assert "no-such-model/logreg-head" in line and "fix:" in line


def test_members_that_do_not_share_a_task(lmscape_home):
    line = one_error_line(invoke("route", "calibrate", "--task", "sentiment",
                                 "--systems", f"yake,{SMALL}"))
    assert "do not share a task" in line and "yake works on keywords" in line
    assert not (lmscape_home / "policies").exists()


def test_calibration_data_without_labels(lmscape_home, tmp_path):
    data = tmp_path / "unlabelled.jsonl"
    data.write_text("".join(json.dumps({"text": f"review {i}"}) + "\n" for i in range(20)))
    line = one_error_line(invoke("route", "calibrate", "--task", "sentiment",
                                 "--systems", f"{SMALL},{LARGE}", "--data", str(data)))
    assert "has no usable labels" in line
    assert not (lmscape_home / "policies").exists()


def test_calibrating_on_the_evaluation_split_is_refused(lmscape_home):
    line = one_error_line(invoke("route", "calibrate", "--task", "sentiment",
                                 "--systems", f"{SMALL},{LARGE}", "--split", "dev"))
    assert "evaluation items" in line and "--split train" in line


@pytest.mark.parametrize("args", [
    ("bench", "--task", "sentiment", "--limit", "5", "--systems",
     f"cascade({SMALL},{LARGE},threshold=1.5)"),
    ("route", "calibrate", "--task", "sentiment", "--systems", f"{SMALL},{LARGE}",
     "--max-share-large", "1.2"),
])
def test_threshold_outside_0_1(lmscape_home, args):
    assert "outside 0–1" in one_error_line(invoke(*args))


def test_unknown_policy(lmscape_home):
    line = one_error_line(invoke("bench", "--task", "sentiment", "--systems", "auto:nope",
                                 "--limit", "5"))
    assert "unknown routing policy 'nope'" in line and "route calibrate" in line


# -- the whole loop on real models ---------------------------------------------------------
@pytest.mark.slow
def test_calibrate_then_bench_the_policy(home):
    result = invoke("route", "calibrate", "--task", "sentiment", "--systems",
                    f"{SMALL},{LARGE}", "--limit", "40", "--name", "sst2", "--target-quality",
                    "0.98")
    assert result.exit_code == 0, result.output
    out = result.output
    assert "cost–quality curve on 40 train items" in out and "◀ chosen" in out
    assert f"items whose {SMALL} confidence is below" in out
    path = home / "policies" / "sst2.yaml"
    policy = yaml.safe_load(path.read_text())
    assert policy["members"] == [SMALL, LARGE] and policy["kind"] == "cascade"
    cal = policy["calibration"]
    assert cal["n"] == 40 and cal["split"] == "train" and len(cal["item_ids"]) == 40
    assert cal["date"] and cal["curve"] and cal["chosen"]["quality_rel"] >= 0.98
    assert 0.0 <= policy["thresholds"][0] <= 1.0 + 1e-9

    result = invoke("bench", "--task", "sentiment", "--systems", f"auto:sst2,{LARGE}",
                    "--limit", "16", "--out", str(home / "r.html"))
    assert result.exit_code == 0, result.output
    assert "auto:sst2" in result.output and "answered by" in result.output
    html = (home / "r.html").read_text()
    assert "Routing policies" in html and cal["explanation"] in html

    from lmscape.bench.results import leaderboard
    from lmscape.store import open_store
    from lmscape.tasks.registry import get_task

    store = open_store()
    row = leaderboard(store, "sentiment", get_task("sentiment").dataset_id("dev")).find(
        "auto:sst2")
    store.close()
    assert row.n == 16 and set(row.member_share) <= {SMALL, LARGE}
    assert sum(row.member_share.values()) == pytest.approx(1.0)


@pytest.mark.slow
def test_router_policy_from_the_same_stored_outcomes(home):
    result = invoke("route", "calibrate", "--task", "sentiment", "--kind", "router",
                    "--systems", f"{SMALL},{LARGE}", "--limit", "40", "--name", "sst2r",
                    "--max-share-large", "0.5")
    assert result.exit_code == 0, result.output
    policy = yaml.safe_load((home / "policies" / "sst2r.yaml").read_text())
    assert policy["kind"] == "router" and len(policy["router"]["coef"]) == 1
    assert len(policy["router"]["coef"][0]) == 384  # one head on MiniLM embeddings
    assert policy["calibration"]["chosen"]["shares"][-1] <= 0.5
    result = invoke("bench", "--task", "sentiment", "--systems", "auto:sst2r", "--limit", "8",
                    "--out", str(home / "r2.html"))
    assert result.exit_code == 0, result.output
    assert "auto:sst2r" in result.output
