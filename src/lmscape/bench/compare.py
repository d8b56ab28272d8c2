"""Paired significance test between two measured systems on the items both scored."""

from __future__ import annotations

from typing import Any

from lmscape.bench.results import item_scores, leaderboard
from lmscape.errors import DataError
from lmscape.store.db import Store

# Per-item score that stands for a task's primary metric when the names differ.
ITEM_SCORE_FOR = {"accuracy": "correct", "macro_f1": "correct"}


def pick_score(primary: str, available: set[str], requested: str | None = None) -> str:
    """The per-item score to compare on: ``requested``, the primary metric, or its proxy."""
    for name in (requested, primary, ITEM_SCORE_FOR.get(primary)):
        if name and name in available:
            return name
    if requested is None and len(available) == 1:
        return next(iter(available))
    raise DataError(
        f"no per-item score {requested or primary!r} to compare on "
        f"(stored: {', '.join(sorted(available)) or 'none'})",
        hint="pick one with --metric",
    )


def compare_systems(store: Store, task: str, system_a: str, system_b: str, *,
                    metric: str | None = None, dataset: str | None = None) -> dict[str, Any]:
    """``metrics.paired.compare`` on the per-item scores of the two systems' latest runs."""
    from lmscape.metrics.paired import compare

    board = leaderboard(store, task, dataset, with_reported=False)
    row_a, row_b = board.find(system_a), board.find(system_b)
    scores_a = item_scores(store, row_a.run_id or "")
    scores_b = item_scores(store, row_b.run_id or "")
    common = sorted(set(scores_a) & set(scores_b))
    if not common:
        raise DataError(f"{system_a} and {system_b} share no scored items on {board.dataset}",
                        hint="run both systems on the same split and limit")
    keys = set(scores_a[common[0]]) & set(scores_b[common[0]])
    name = pick_score(board.metric, keys, metric)
    common = [i for i in common if name in scores_a[i] and name in scores_b[i]]
    result = dict(compare([scores_a[i][name] for i in common],
                          [scores_b[i][name] for i in common]))
    result.update(task=task, dataset=board.dataset, a=system_a, b=system_b, score=name,
                  n=len(common), mean_a=sum(scores_a[i][name] for i in common) / len(common),
                  mean_b=sum(scores_b[i][name] for i in common) / len(common))
    return result
