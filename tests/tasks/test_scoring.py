"""Per-item scores and aggregates of each task, on real vendored items."""

import math

import pytest

from lmscape.tasks.base import Item
from lmscape.tasks.dialogue import context_roles, to_messages
from lmscape.tasks.registry import get_task


def test_sentiment_scores_and_aggregate():
    t = get_task("sentiment")
    items = list(t.items("dev", limit=10))
    outputs = [i.reference for i in items[:8]] + [None, "x"]
    scores = [t.score(i, o) for i, o in zip(items, outputs)]
    assert [s["correct"] for s in scores] == [1.0] * 8 + [0.0, 0.0]
    agg = t.aggregate(items, outputs, scores)
    assert agg["accuracy"].value == pytest.approx(0.8)
    assert agg["accuracy"].n == 10


def test_keywords_scores_and_macro_average():
    t = get_task("keywords")
    item = Item(id="x", text="", reference=["neural networks", "graph", "trees", "pruning"])
    s = t.score(item, ["Neural Network", "trees", "forest"])
    assert s["p@5"] == pytest.approx(2 / 5) and s["r@5"] == pytest.approx(2 / 4)
    empty = t.score(item, [])
    agg = t.aggregate([item, item], [None, None], [s, empty])
    assert agg["f1@5"].value == pytest.approx(s["f1@5"] / 2)


def test_dialogue_roles_and_messages():
    assert context_roles(3) == ["user", "assistant", "user"]
    assert context_roles(2) == ["assistant", "user"]
    msgs = to_messages(["hi", "hello", "how are you?"], "be nice")
    assert [m["role"] for m in msgs] == ["system", "user", "assistant", "user"]


def test_dialogue_perplexity_aggregate_without_encoder():
    t = get_task("dialogue", similarity_model=None)
    items = list(t.items(limit=3))
    assert items[0].text.endswith("\n") and items[0].text.startswith(("A: ", "B: "))
    outs = [{"ref_logprob": -4.0, "ref_tokens": 2}, {"ref_logprob": -2.0, "ref_tokens": 4},
            {"reply": items[2].reference}]
    scores = [t.score(i, o) for i, o in zip(items, outs)]
    assert scores[2]["chrf"] == pytest.approx(100.0)
    agg = t.aggregate(items, outs, scores)
    assert agg["perplexity"].value == pytest.approx(math.exp(1.0))
    assert agg["perplexity"].n == 2 and agg["chrf"].n == 1


def test_mt_bench_items_and_scores():
    t = get_task("mt-bench")
    items = list(t.items())
    with_ref = [i for i in items if i.reference]
    assert len(with_ref) == 30
    assert {i.meta["category"] for i in with_ref} == {"math", "reasoning", "coding"}
    assert all(len(i.meta["turns"]) == 2 for i in items)
    s = t.score(items[0], {"answers": ["a", "b"], "judge_scores": [8.0, None]})
    assert s == {"judge_score_turn1": 8.0, "judge_score": 8.0}
    agg = t.aggregate(items[:1], [None], [s])
    assert agg["judge_score"].value == 8.0
