"""Prompted generation on SmolLM2-135M-Instruct: labels and lists parsed from replies."""

import pytest

from lmscape.methods.registry import build_system
from lmscape.tasks.base import Item
from lmscape.tasks.registry import get_task

pytestmark = pytest.mark.slow


def test_prompted_sentiment(smollm):
    task = get_task("sentiment")
    system = build_system("smollm2-135m-instruct/prompted", task, backend=smollm)
    items = [Item(id="a", text="a wonderful , joyous film .", reference="positive"),
             Item(id="b", text="an awful , boring film .", reference="negative")]
    preds = system.method.predict(items)
    for p in preds:
        assert p.extra["raw"]
        assert p.extra["parsed"] == (p.output is not None)
        assert p.output in ("negative", "positive", None)
        assert p.usage.completion_tokens > 0
    assert any(p.output is not None for p in preds)


def test_prompted_keywords(smollm):
    task = get_task("keywords")
    system = build_system("smollm2-135m-instruct/prompted", task, backend=smollm, top_n=5,
                          max_tokens=60)
    item = next(iter(task.items("train", limit=1)))
    (pred,) = system.method.predict([item])
    assert isinstance(pred.output, list) and 1 <= len(pred.output) <= 5
    assert all(isinstance(p, str) and p and len(p.split()) <= 8 for p in pred.output)
    assert system.method.cache_params()["top_n"] == 5
