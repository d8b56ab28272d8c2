"""``lmscape recommend`` and ``lmscape breakeven`` through the real CLI app, and the
report's Recommendation section."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from cli_output import one_error_line
from lmscape.cli.main import build_app

runner = CliRunner()


@pytest.fixture
def db_env(sst2_db):
    return {"LMSCAPE_DB": sst2_db, "COLUMNS": "200"}


def invoke(env, *args: str):
    return runner.invoke(build_app(), list(args), env=env)


@pytest.mark.slow
def test_recommend_prints_a_ranked_explained_table(db_env):
    result = invoke(db_env, "recommend", "--task", "sentiment", "--priority", "quality=1,cost=1")
    assert result.exit_code == 0, result.output
    out = result.output
    assert "Question: Which system for sentiment" in out and "Answer: " in out
    assert "measured" in out and "unknown quality" in out and "reported" in out
    assert "gpt-4o-mini" in out or "gpt-5-nano" in out  # closed APIs beside local systems
    assert "data stays on your machines" in out and "tied to one vendor" in out
    assert "excluded" in out and "retired on" in out
    assert "Sensitivity:" in out and "Cost:" in out


@pytest.mark.slow
def test_recommend_json_has_the_issue_shape(db_env):
    result = invoke(db_env, "recommend", "--task", "sentiment", "--json", "--volume", "50000/day",
                    "--data-must-stay-local")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert set(data) == {"ranked", "excluded", "sensitivity"}
    for row in data["ranked"]:
        assert set(row) == {"system", "kind", "score", "quality", "usd_per_1k", "latency_p95_s",
                            "reasons"}
        assert row["kind"] in ("measured", "reported", "unknown quality")
    assert all(set(e) == {"system", "why"} for e in data["excluded"])
    assert any("--data-must-stay-local" in e["why"] for e in data["excluded"])
    assert data["sensitivity"]["top"] == data["ranked"][0]["system"]


@pytest.mark.slow
def test_breakeven_prints_crossings(db_env):
    result = invoke(db_env, "breakeven", "--task", "sentiment", "--volume",
                    "1000..10000000/month")
    assert result.exit_code == 0, result.output
    assert "items/month above which hosting costs less" in result.output
    assert "llama-3.1-405b@8x-h100" in result.output and "gpt-4o-mini" in result.output
    data = json.loads(invoke(db_env, "breakeven", "--task", "sentiment", "--json").output)
    assert data["crossings"] and data["hosting_model"].startswith("reserved machines")


def test_bench_writes_the_recommendation_section(tmp_path):
    out = tmp_path / "bench.html"
    result = invoke({"COLUMNS": "200"}, "bench", "--task", "sentiment", "--systems", "vader",
                    "--limit", "12", "--out", str(out))
    assert result.exit_code == 0, result.output
    html = out.read_text()
    assert 'id="recommendation-sentiment"' in html and "Answer:</b> vader" in html
    assert 'data-axis="breakeven"' not in html  # VADER counts no tokens: no API can be priced, no plot


@pytest.mark.slow
def test_report_writes_the_recommendation_section(db_env, tmp_path):
    out = tmp_path / "r.html"
    result = invoke(db_env, "report", "--out", str(out))
    assert result.exit_code == 0, result.output
    html = out.read_text()
    assert 'id="recommendation-sentiment"' in html
    assert "Question asked:" in html and "Answer:" in html and "Sensitivity:" in html
    assert 'id="rec0-breakeven"' in html  # the break-even plot
    assert "items / month above which hosting costs less" in html


@pytest.mark.parametrize("args, fragments", [
    (("--priority", "quality=1,speed=2"), ("unknown priority 'speed'", "quality, cost, latency")),
    (("--max-latency-ms", "2s"), ("wrong unit", "milliseconds")),
    (("--max-usd-per-1k", "1/1M"), ("wrong unit", "USD per 1,000 items")),
    (("--volume", "5/fortnight"), ("wrong unit", "/day")),
    (("--licence", "gratis"), ("unknown licence requirement", "commercial")),
])
def test_bad_input_is_one_line_naming_the_valid_choices(args, fragments):
    line = one_error_line(invoke({"COLUMNS": "200"}, "recommend", "--task", "sentiment", *args))
    for fragment in fragments:
        assert fragment in line


def test_a_task_with_no_results_says_which_bench_to_run():
    line = one_error_line(invoke({"COLUMNS": "200"}, "recommend", "--task", "sentiment"))
    assert "no finished benchmark runs for sentiment" in line
    assert "lmscape bench --task sentiment" in line
    line = one_error_line(invoke({"COLUMNS": "200"}, "breakeven", "--task", "dialogue"))
    assert "lmscape bench --task dialogue" in line
    line = one_error_line(invoke({"COLUMNS": "200"}, "recommend", "--task", "sentimen"))
    assert "did you mean 'sentiment'" in line
