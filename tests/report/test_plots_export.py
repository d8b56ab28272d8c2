import csv
import io
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from report_helpers import default_names_store, report_store  # noqa: F401 - fixtures

from lmscape.report import fmt
from lmscape.report.plots import pareto_front


def test_pareto_front_keeps_only_undominated_points():
    points = [(1.0, 0.5), (2.0, 0.7), (3.0, 0.6), (0.5, 0.4), (2.5, 0.9), (4.0, 0.9)]
    assert pareto_front(points) == [3, 0, 1, 4]
    # lower is better: the cheapest point with the lowest value wins
    assert pareto_front([(1.0, 5.0), (2.0, 3.0), (3.0, 4.0)], higher_is_better=False) == [0, 1]
    assert pareto_front([]) == []


def test_number_formats():
    assert fmt.seconds(0.00007) == "70 µs" and fmt.seconds(0.25) == "250.0 ms"
    assert fmt.seconds(2.5) == "2.50 s" and fmt.seconds(None) == "—"
    assert fmt.usd(0.0000021) == "$0.0000021" and fmt.usd(0.073) == "$0.073"
    assert fmt.size(256 * 2**20) == "256.0 MiB" and fmt.size(None) == "—"
    assert fmt.quality(0.8, 0.7, 0.9) == "0.800 [0.700, 0.900]"
    assert fmt.grams(0.00067) == "0.00067 g"


def test_csv_and_json_exports_agree(report_store):  # noqa: F811 - the fixture
    from lmscape.report import export

    rows = list(csv.DictReader(io.StringIO(export.to_csv(report_store))))
    data = json.loads(export.to_json(report_store))
    board = data["leaderboards"][0]
    measured = [r for r in rows if r["kind"] == "measured"]
    assert [r["system"] for r in measured] == [r["system"] for r in board["measured"]]
    assert len([r for r in rows if r["kind"] == "reported"]) == len(board["reported"])
    assert board["energy_method"].startswith("TDP-based estimate")
    assert board["machines"][0]["logical_cores"] >= 1


def test_dialogue_exports_carry_every_metric_with_its_direction(default_names_store):  # noqa: F811
    from lmscape.report import export

    store, _ = default_names_store
    rows = [r for r in csv.DictReader(io.StringIO(export.to_csv(store, ["dialogue"])))
            if r["kind"] == "measured"]
    by_system = {r["system"]: r for r in rows}
    reply = by_system["smollm2-135m-instruct/next-turn"]
    ppl = by_system["gemma-3-270m/reference-perplexity"]
    assert (reply["rank"], reply["rank_metric"]) == ("1", "chrf")
    assert float(reply["metric_chrf"]) == float(reply["quality"]) and reply["metric_perplexity"] == ""
    assert ppl["quality"] == "" and ppl["metric_chrf"] == "" and ppl["rank_metric"] == "perplexity"
    low, value, high = (float(ppl[f"metric_perplexity{s}"]) for s in ("_low", "", "_high"))
    assert low <= value <= high
    board = json.loads(export.to_json(store, ["dialogue"]))["leaderboards"][0]
    directions = {m["name"]: m["higher_is_better"] for m in board["metrics"]}
    assert directions == {"chrf": True, "perplexity": False}
    assert board["headline"] == ["chrf", "perplexity"]
    assert all("load_s" in r and "train_s" in r for r in board["measured"])


def test_html_report_gives_perplexity_a_column_arrow_and_its_own_plots(default_names_store,  # noqa: F811
                                                                      tmp_path):
    from lmscape.bench.breakdown import Breakdown, PhaseClock, SystemTiming
    from lmscape.bench.results import leaderboard
    from lmscape.report.html import render_report
    from lmscape.report.plots import AXES, pareto_figure

    store, _ = default_names_store
    clock = PhaseClock()
    with clock.phase("reading items"):
        pass
    breakdown = Breakdown.now([SystemTiming(task="dialogue", system="yake", status="done",
                                            load_s=0.25, items_s=1.5, total_s=2.0,
                                            cpu_s=1.0)], clock.phases)
    html = render_report(store, ["dialogue"], breakdown=breakdown)
    assert "chrf ↑ [95% CI]" in html and "perplexity ↓ [95% CI]" in html
    assert "Without chrf: ranked by perplexity ↓" in html
    for axis in ("cost", "latency", "memory"):
        assert f'data-axis="{axis}" data-metric="perplexity"' in html
        assert f'data-axis="{axis}" data-metric="chrf"' in html
    assert "This <code>lmscape bench</code> command" in html and "reading items" in html

    board = leaderboard(store, "dialogue")
    fig = pareto_figure(board, AXES[1], board.metric_info("perplexity"))
    assert fig.layout.yaxis.title.text == "perplexity (lower is better)"
    measured, front = fig.data[0], fig.data[1]
    assert len(measured.y) == 2
    assert min(front.y) == min(measured.y)  # the frontier starts at the lowest perplexity
    assert html.count('<div class="plot"') == 6  # chrf and perplexity, each against 3 axes
