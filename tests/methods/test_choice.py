"""Loglikelihood choice scoring on Gemma 3 270M: shared prefix, train-only shots."""

import numpy as np
import pytest

from lmscape.methods.choice import FewShotChoice, ZeroShotChoice, best_threshold, draw_shots
from lmscape.methods.registry import build_system
from lmscape.tasks.base import Item
from lmscape.tasks.registry import get_task


@pytest.fixture(scope="module")
def task():
    return get_task("sentiment")


def test_shots_are_balanced_seeded_and_from_train(task):
    train = list(task.items("train"))
    shots = draw_shots(train, ("negative", "positive"), 4, seed=7)
    assert sorted(s.reference for s in shots) == ["negative", "negative", "positive", "positive"]
    assert all(s.id.startswith("sst2-train-") for s in shots)
    assert [s.id for s in shots] == [s.id for s in draw_shots(train, ("negative", "positive"), 4, 7)]
    assert [s.id for s in shots] != [s.id for s in draw_shots(train, ("negative", "positive"), 4, 8)]
    with pytest.raises(ValueError, match="multiple"):
        draw_shots(train, ("negative", "positive"), 3, 7)


def test_best_threshold_maximises_accuracy_nearest_zero():
    diffs = np.array([-2.0, -1.0, -0.5, 0.5, 1.0])
    positive = np.array([False, False, True, True, True])
    assert best_threshold(diffs, positive) == pytest.approx(-0.75)
    assert best_threshold(np.array([-1.0, 1.0]), np.array([False, True])) == 0.0


def test_few_shot_prefix_is_identical_across_items(task):
    method = FewShotChoice(task, None)
    items = list(task.items("dev", limit=5))
    contexts = [method.context(it) for it in items]
    prefix = method.prefix
    assert prefix.count("Sentiment:") == 4
    assert all(c.startswith(prefix) for c in contexts)
    assert all(c[len(prefix):] == f"Review: {it.text}\nSentiment:" for c, it in zip(contexts, items))
    dev_texts = {it.text for it in task.items("dev")}
    assert not any(text in prefix for text in dev_texts)
    assert ZeroShotChoice(task, None).prefix == ""


@pytest.mark.slow
def test_few_shot_choice_on_gemma(task, gemma):
    system = build_system("gemma-3-270m/few-shot-choice", task, backend=gemma, n_calib=12)
    assert system.name == "gemma-3-270m/few-shot-choice" and system.model_id == "gemma-3-270m"
    train = list(task.items("train"))
    system.method.train(train)  # calibration: 12 train items that are not shots
    threshold = system.method.threshold
    assert threshold is not None and system.method.calibration["n"] == 12
    again = build_system("gemma-3-270m/few-shot-choice", task, backend=gemma, n_calib=12)
    again.method.train(train)
    assert again.method.threshold == threshold  # reused from $LMSCAPE_HOME/calibration
    items = [Item(id="good", text="a moving , beautifully acted masterpiece .", reference="positive"),
             Item(id="bad", text="a dull , tedious and lifeless mess .", reference="negative"),
             *task.items("dev", limit=2)]
    preds = system.method.predict(items)
    assert len(preds) == 4
    for p in preds:
        assert p.output in ("negative", "positive")
        lp = p.extra["logprobs"]
        expected = "positive" if lp["positive"] - lp["negative"] > threshold else "negative"
        assert p.output == expected and p.extra["threshold"] == threshold
        assert all(v < 0 for v in lp.values())
        assert p.usage.prompt_tokens > 0
    assert [p.output for p in preds[:2]] == ["positive", "negative"]
