"""run_plans times every system (load, fit, items, CPU) and the run's summary keeps
load_s and train_s; the breakdown adds up and prints with names whole at 80 columns."""

from __future__ import annotations

import re

import pytest
from rich.console import Console

from lmscape.bench.breakdown import Breakdown, PhaseClock
from lmscape.bench.suite import BenchPlan, load_spec, run_plans
from lmscape.report.breakdown import breakdown_table, usage_line
from lmscape.store import open_store
from lmscape.tasks.registry import get_task


@pytest.fixture
def store(tmp_path):
    s = open_store(f"sqlite:///{tmp_path / 'b.db'}")
    yield s
    s.close()


def plans():
    sentiment, keywords = get_task("sentiment"), get_task("keywords")
    return [
        BenchPlan(task=sentiment, systems=["vader", "no-such-model-anywhere/zero-shot-choice"],
                  spec=load_spec(sentiment, limit=6), explicit=False),
        BenchPlan(task=keywords, systems=["yake"], spec=load_spec(keywords, limit=3),
                  explicit=False),
    ]


def test_run_plans_times_each_system_and_keeps_load_and_fit_in_the_summary(store):
    result = run_plans(store, plans())
    vader, missing, yake = result.timings
    assert (vader.task, vader.system, vader.status) == ("sentiment", "vader", "done")
    assert missing.status == "skipped" and missing.train_s is None and missing.items_s == 0
    assert yake.status == "done" and yake.n_computed == 3
    for t in (vader, yake):
        assert t.load_s >= 0 and t.items_s > 0 and t.cpu_s >= 0
        assert t.total_s >= t.load_s + (t.train_s or 0) + t.items_s
    by_system = {o.system: o.summary for o in result.outcomes}
    assert by_system["vader"]["load_s"] == pytest.approx(vader.load_s)
    assert by_system["vader"]["train_s"] == vader.train_s
    assert yake.train_s is not None  # both tasks have a train split, so train() is timed
    # the same run again is served from the cache
    again = run_plans(store, plans())
    assert again.timings[0].n_cached == 6 and again.timings[0].n_computed == 0


def test_breakdown_adds_up_and_prints_whole_names_at_80_columns(store):
    clock = PhaseClock()
    with clock.phase("reading items"):
        the_plans = plans()
    result = run_plans(store, the_plans)
    breakdown = Breakdown.now(result.timings, clock.phases)
    assert breakdown.usage is not None and breakdown.other_s is not None
    assert breakdown.accounted_s + breakdown.other_s == pytest.approx(
        max(breakdown.usage.wall_s, breakdown.accounted_s))
    one_off = breakdown.one_off()
    assert set(one_off) == {"model loads", "training", "reading items"}
    data = breakdown.as_dict()
    assert data["systems"][0]["system"] == "vader" and data["usage"]["peak_rss_bytes"] > 0

    table = breakdown_table(breakdown, 80)
    console = Console(width=80, record=True, color_system=None)
    console.print(table)
    text = console.export_text()
    assert all(len(line) <= 80 for line in text.splitlines())
    rows = text.splitlines()
    legend = re.search(r"… shortened: (.*)", str(table.caption))
    shown = {"no-such-model-anywhere/zero-shot-choice"} | (
        {f"{short}/zero-shot-choice" for short, full in
         (e.split(" = ") for e in legend.group(1).split("; ")) if full == "no-such-model-anywhere"}
        if legend else set())
    assert any(re.match(rf"{re.escape(name)} +\S+ +— +skipped ", row)
               for row in rows for name in shown), text
    assert any(re.match(r"vader +\d+\.\d +\d+\.\d +\d+\.\d +\d+\.\d +\d+\.\d$", row.rstrip())
               for row in rows), text
    assert "reading items" in text and any(row.startswith("all ") for row in rows)
    line = usage_line(breakdown)
    assert re.fullmatch(r"bench: .+ wall, .+ CPU \(user\+sys, incl\. children\), "
                        r"\d+\.\d [KMG]iB peak RSS( \(.+ in the largest child process\))?",
                        line), line
