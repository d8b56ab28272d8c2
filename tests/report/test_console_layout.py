"""Terminal leaderboards keep every system name whole at every width, show each headline
metric in its own column with its arrow, and shorten model names only with a legend."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
from rich.console import Console

sys.path.insert(0, str(Path(__file__).parent))
from report_helpers import default_names_store  # noqa: F401 - fixture

from lmscape.bench.results import leaderboard
from lmscape.methods.registry import DEFAULT_SYSTEMS
from lmscape.report.console import leaderboard_tables
from lmscape.report.names import abbreviate, display_names, label_within, split_system

WIDTHS = (80, 100, 120, 150, 200)


def render(tables, width: int) -> str:
    console = Console(width=width, record=True, color_system=None, file=_Sink())
    for table in tables:
        console.print(table)
    return console.export_text()


class _Sink:
    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        pass


def legend_of(tables) -> dict[str, str]:
    """short model -> full model, from the board's caption."""
    caption = str(tables[-1].caption or "")
    match = re.search(r"… shortened: (.*)", caption)
    if not match:
        return {}
    return dict(entry.split(" = ") for entry in match.group(1).split("; "))


def assert_names_whole(tables, systems: list[str], width: int) -> str:
    text = render(tables, width)
    lines = text.splitlines()
    assert all(len(line.rstrip()) <= width for line in lines), text
    rows = [line for line in lines if line.startswith("│")]
    legend = legend_of(tables)
    for system in systems:
        model, method = split_system(system)
        shown = [system] + [f"{short}/{method}" for short, full in legend.items() if full == model]
        assert any(re.search(rf"│ {re.escape(label)} +│", row) for row in rows
                   for label in shown), f"{system} is not whole at width {width}:\n{text}"
    return text


@pytest.mark.parametrize("width", WIDTHS)
def test_every_default_system_name_stays_whole(default_names_store, width):  # noqa: F811 - the fixture
    store, tasks = default_names_store
    for task in tasks:
        board = leaderboard(store, task)
        assert {r.system for r in board.measured} == set(DEFAULT_SYSTEMS[task])
        tables = leaderboard_tables(board, width)
        shown = [r.system for r in board.measured]
        shown += [r.system for r in board.reported if r.quality is not None
                  or r.cost_usd_per_1k is not None]
        assert_names_whole(tables, shown, width)


def test_narrow_terminals_shorten_the_model_part_and_say_what_it_means(default_names_store):  # noqa: F811 - the fixture
    store, _ = default_names_store
    board = leaderboard(store, "dialogue")
    systems = [r.system for r in board.measured]
    tables = leaderboard_tables(board, 64)  # too narrow for whole names, whatever the numbers
    legend = legend_of(tables)
    assert legend and set(legend.values()) <= {split_system(s)[0] for s in systems}, legend
    for short, full in legend.items():
        assert short.endswith("…") and full.startswith(short[:-1]) and len(short) <= len(full)
    text = assert_names_whole(tables, systems, 64)
    assert "nstruct/refere" not in text
    assert legend_of(leaderboard_tables(board, 64)) == legend  # deterministic


def test_dialogue_board_gives_perplexity_its_own_column_arrow_and_interval(default_names_store):  # noqa: F811 - the fixture
    store, _ = default_names_store
    board = leaderboard(store, "dialogue")
    assert board.metric == "chrf" and board.headline == ["chrf", "perplexity"]
    assert board.metric_info("perplexity").higher_is_better is False
    assert board.metric_info("chrf").higher_is_better is True
    ranked = {r.system: (r.rank_metric, r.rank) for r in board.measured}
    assert ranked["smollm2-135m-instruct/next-turn"] == ("chrf", 1)
    ppl = [r for r in board.measured if r.rank_metric == "perplexity"]
    assert [r.rank for r in ppl] == [1, 2]
    assert ppl[0].value("perplexity") <= ppl[1].value("perplexity")  # lower is better
    for row in ppl:
        m = row.metrics["perplexity"]
        assert m["low"] <= m["value"] <= m["high"] and row.value("chrf") is None
    text = render(leaderboard_tables(board, 120), 120)
    assert "chrf ↑" in text and "perplexity ↓" in text
    line = next(ln for ln in text.splitlines() if "│ gemma-3-270m/reference-perplexity" in ln)
    cells = [c.strip() for c in line.split("│")[1:-1]]
    assert cells[2] == "—"  # no chrF: a dash in that column only
    assert re.fullmatch(r"\d+\.\d \[\d+\.\d, \d+\.\d\]", cells[3]), cells


def test_boards_stored_before_directions_were_recorded_use_the_task(default_names_store, tmp_path):  # noqa: F811 - the fixture
    import sqlalchemy as sa

    from lmscape.store import open_store
    from lmscape.store.schema import runs

    store, _ = default_names_store
    copy = open_store(f"sqlite:///{tmp_path / 'old.db'}")
    try:
        with store.connect() as src, copy.begin() as dst:
            for row in src.execute(sa.select(runs).where(runs.c.task == "dialogue")).mappings():
                old = dict(row)
                old["summary"] = {k: v for k, v in row["summary"].items()
                                  if k not in ("lower_is_better", "metric_order")}
                dst.execute(runs.insert().values(**old))
        board = leaderboard(copy, "dialogue", with_reported=False)
    finally:
        copy.close()
    assert board.headline == ["chrf", "perplexity"]
    assert board.metric_info("perplexity").higher_is_better is False


def test_abbreviation_rule_is_deterministic_and_unique():
    assert abbreviate("smollm2-135m-instruct", 14) == "smollm2-135m…"
    assert abbreviate("smollm2-135m-instruct", 30) == "smollm2-135m-instruct"
    assert abbreviate("all-minilm-l6-v2", 14) == "all-minilm-l6…"
    assert abbreviate("/data/models/SmolLM2-135M-Instruct.Q4_1.gguf", 40) == \
        "…/SmolLM2-135M-Instruct.Q4_1.gguf"
    assert abbreviate("supercalifragilistic", 8) == "superca…"
    names = display_names(["gemma-3-270m/few-shot-choice", "gemma-3-1b/few-shot-choice",
                           "yake"], 9)
    labels = {names(s) for s in ("gemma-3-270m/few-shot-choice", "gemma-3-1b/few-shot-choice")}
    assert len(labels) == 2 and names("yake") == "yake"  # colliding short forms grow apart
    assert names.legend == {"gemma-3…": "gemma-3-270m"}  # gemma-3-1b grew back whole
    assert label_within("smollm2-135m-instruct/reference-perplexity", 40) == \
        "smollm2-135m…/reference-perplexity"
