"""The bench / tasks / runs / report commands through the real CLI app."""

from __future__ import annotations

import csv
import io
import json
import re
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

sys.path.insert(0, str(Path(__file__).parents[1] / "bench"))

from cli_output import one_error_line
from lmscape.cli.main import build_app

runner = CliRunner()


def invoke(*args: str, columns: int = 200):
    return runner.invoke(build_app(), list(args), env={"COLUMNS": str(columns)})


@pytest.fixture
def measured(lmscape_home):
    """Two VADER systems measured on 60 SST-2 dev items, in the default store."""
    from bench_helpers import measure_two_vaders

    from lmscape.store import open_store

    store = open_store()
    measure_two_vaders(store)
    store.close()


def test_runs_lists_stored_runs(measured):
    result = invoke("runs")
    assert result.exit_code == 0, result.output
    assert "vader-strict" in result.output and "60/60" in result.output and "done" in result.output


def test_runs_on_an_empty_store():
    result = invoke("runs")
    assert result.exit_code == 0 and "no runs stored yet" in result.output


def test_report_csv_ranks_measured_rows_and_labels_reported_ones(measured):
    result = invoke("report", "--format", "csv")
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.output)))
    measured_rows = [r for r in rows if r["kind"] == "measured"]
    reported_rows = [r for r in rows if r["kind"] == "reported"]
    assert [r["rank"] for r in measured_rows] == ["1", "2"]
    assert {r["system"] for r in measured_rows} == {"vader", "vader-strict"}
    assert float(measured_rows[0]["quality"]) >= float(measured_rows[1]["quality"])
    assert all(r["rank"] == "" and r["source"] for r in reported_rows)
    assert any(r["system"] == "bert-base-uncased" for r in reported_rows)  # SST-2 in the catalog
    assert all(float(r["latency_p50_s"]) > 0 and float(r["cost_usd_per_1k"]) > 0
               for r in measured_rows)


def test_report_json_with_a_paired_comparison(measured):
    result = invoke("report", "--format", "json", "--compare", "vader", "vader-strict")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    board = data["leaderboards"][0]
    assert board["task"] == "sentiment" and board["metric"] == "accuracy"
    (cmp,) = data["comparisons"]
    assert cmp["a"] == "vader" and cmp["b"] == "vader-strict" and cmp["n"] == 60
    assert cmp["score"] == "correct" and cmp["test"] == "mcnemar-exact"
    assert 0 <= cmp["p_value"] <= 1 and cmp["low"] <= cmp["diff"] <= cmp["high"]
    assert cmp["diff"] == pytest.approx(cmp["mean_a"] - cmp["mean_b"])


def test_report_html_and_compare_table(measured, tmp_path):
    out = tmp_path / "r.html"
    result = invoke("report", "--out", str(out), "--compare", "vader-strict", "vader")
    assert result.exit_code == 0, result.output
    assert "vader-strict vs vader" in result.output and "p-value" in result.output
    html = out.read_text()
    assert "Plotly.newPlot" in html and "vader-strict" in html and "reported" in html
    assert "<script src=" not in html  # plotly.js is inline: works offline


def test_report_unknown_system_suggests_names(measured):
    line = one_error_line(invoke("report", "--compare", "vader", "vadr"))
    assert "did you mean" in line and "'vader'" in line


def test_report_with_no_runs_is_one_error_line():
    line = one_error_line(invoke("report", "--task", "sentiment"))
    assert "lmscape bench" in line


def test_tasks_lists_builtin_tasks():
    result = invoke("tasks")
    assert result.exit_code == 0, result.output
    for name in ("sentiment", "keywords", "dialogue"):
        assert name in result.output


@pytest.mark.parametrize("content, expected", [
    ("sentence,label\ngreat film,positive\n", "text"),  # missing the text column
    ("", "no"),  # empty file
    ("text,label\ngreat film,thrilled\nawful,negative\n", "thrilled"),  # wrong label set
])
def test_bad_data_files_are_one_error_line(tmp_path, content, expected):
    path = tmp_path / "data.csv"
    path.write_text(content)
    line = one_error_line(invoke("bench", "--task", "sentiment", "--systems", "vader",
                                 "--data", str(path), "--out", str(tmp_path / "r.html")))
    assert expected in line and "fix:" in line


def test_missing_data_file_and_options_without_task(tmp_path):
    line = one_error_line(invoke("bench", "--task", "sentiment", "--systems", "vader",
                                 "--data", str(tmp_path / "nope.jsonl")))
    assert "does not exist" in line
    line = one_error_line(invoke("bench", "--systems", "vader"))
    assert "--task" in line


def test_bench_runs_real_systems_prints_leaderboard_and_writes_report(tmp_path):
    out = tmp_path / "report.html"
    result = invoke("bench", "--task", "keywords", "--systems", "yake", "--limit", "12",
                    "--out", str(out))
    assert result.exit_code == 0, result.output
    assert "keywords — inspec:test_public — n=12" in result.output
    assert "f1@10 ↑" in result.output and "│ 1 │ yake" in result.output
    # the command's own figures and where its time went
    assert re.search(r"^bench: .+ wall, .+ CPU \(user\+sys, incl\. children\), [\d.]+ [KMG]iB peak "
                     r"RSS( \(.+ in the largest child process\))?$", result.output, re.MULTILINE), result.output
    assert "where the time went" in result.output and re.search(r"^yake +\d", result.output, re.MULTILINE)
    html = out.read_text()
    assert "Keyphrase matching protocol" in html and "Porter" in html
    # Same command again: served from the cache; --resume keeps stored items.
    again = invoke("bench", "--task", "keywords", "--systems", "yake", "--limit", "12",
                   "--out", str(out), "--resume")
    assert again.exit_code == 0, again.output
    runs = invoke("runs", "--task", "keywords")
    assert runs.output.count("yake") == 1 and "12/12" in runs.output


def test_bench_unknown_system_is_one_error_line(tmp_path):
    line = one_error_line(invoke("bench", "--task", "sentiment", "--systems", "vadr",
                                 "--limit", "5", "--out", str(tmp_path / "r.html")))
    assert "vadr" in line


def test_bench_at_80_columns_keeps_names_whole_and_prints_its_figures(tmp_path):
    out = tmp_path / "report.html"
    result = invoke("bench", "--task", "sentiment", "--systems", "vader", "--limit", "6",
                    "--out", str(out), columns=80)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert all(len(line) <= 80 for line in lines), result.output
    assert "accuracy ↑" in result.output and "│ 1 │ vader" in result.output
    assert any(line.startswith("bench: ") and "wall" in line for line in lines)
    html = out.read_text()
    assert "This <code>lmscape bench</code> command" in html and "load / fit" in html


def test_runs_and_tasks_keep_names_whole_at_80_columns(measured):
    from lmscape.methods.registry import DEFAULT_SYSTEMS

    result = invoke("runs", columns=80)
    assert result.exit_code == 0 and "vader-strict" in result.output, result.output
    assert all(len(line) <= 80 for line in result.output.splitlines())
    tasks = invoke("tasks", columns=80)
    assert tasks.exit_code == 0, tasks.output
    lines = tasks.output.splitlines()
    for name in (n for names in DEFAULT_SYSTEMS.values() for n in names):
        assert any(re.search(rf"(^|[\s│]){re.escape(name)}($|[\s│,])", ln) for ln in lines), name
