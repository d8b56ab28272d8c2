"""Model-free baselines: VADER and YAKE!"""

from lmscape.methods.registry import build_system
from lmscape.tasks.base import Item
from lmscape.tasks.registry import get_task


def test_vader_threshold():
    system = build_system("vader", get_task("sentiment"))
    assert system.model_id is None and system.name == "vader"
    preds = system.method.predict([
        Item(id="a", text="a wonderful, joyous film", reference="positive"),
        Item(id="b", text="an awful, boring film", reference="negative"),
        Item(id="c", text="a film", reference="positive"),  # compound 0 -> positive
    ])
    assert [p.output for p in preds] == ["positive", "negative", "positive"]
    assert preds[0].extra["compound"] > 0 > preds[1].extra["compound"]
    assert preds[2].extra["compound"] == 0


def test_yake_ranks_phrases_from_the_text():
    task = get_task("keywords")
    items = list(task.items("train", limit=3))
    preds = build_system("yake", task).method.predict(items)
    for item, p in zip(items, preds):
        assert 1 <= len(p.output) <= 10
        flat = " ".join(item.text.split()).lower()
        assert all(phrase.lower() in flat for phrase in p.output), p.output
    scores = [task.score(i, p.output) for i, p in zip(items, preds)]
    assert all(0 <= s["f1@10"] <= 1 for s in scores)
