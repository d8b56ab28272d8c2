import csv
import io
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from report_helpers import report_store  # noqa: F401 - fixture

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
