"""Teacher labelling through a real OpenAI-compatible server on loopback: answers are
stored as they arrive, unparseable ones are counted, nothing is asked twice."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from lmscape.distill.tables import teacher_labels
from lmscape.distill.teacher import label_texts
from lmscape.errors import LmscapeError
from lmscape.methods.registry import build_system
from lmscape.store import open_store
from lmscape.tasks.base import Item
from lmscape.tasks.registry import get_task

from .helpers import NEGATIVE, POSITIVE
from .teacher_server import Teacher


def _items(n: int) -> list[Item]:
    return [Item(id=f"r{i}", text=f"{(POSITIVE if i % 2 else NEGATIVE)[i % 8]} ({i})")
            for i in range(n)]


@pytest.fixture
def teacher(lmscape_home):
    made = []

    def start(**kwargs) -> Teacher:
        t = Teacher(**kwargs)
        made.append(t)
        return t

    yield start
    for t in made:
        t.close()


def _stored(store) -> int:
    with store.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(teacher_labels)).scalar()


def test_unparseable_answers_are_counted_stored_and_not_asked_again(teacher, lmscape_home):
    t = teacher(unsure={3, 7})
    spec = t.register(lmscape_home)
    task = get_task("sentiment")
    store = open_store()
    items = _items(12) + [Item(id="dup", text=_items(1)[0].text)]  # one text twice
    system = build_system(spec, task)
    labels = label_texts(store, system, task, items)
    assert labels.n_asked == 12 and labels.n_reused == 0 and labels.n_unparseable == 2
    assert labels.unparseable_examples == ["I cannot tell.", "I cannot tell."]
    assert sorted(t.asked) == list(range(12))
    assert labels.label_of(items[3]) is None
    assert labels.label_of(items[1]) == "positive" and labels.label_of(items[2]) == "negative"
    assert len(labels.labelled(items)) == 11  # 13 items, 2 unparseable
    # priced by the catalog's list price: 40 in + 2 out tokens an answer
    assert labels.cost_usd == pytest.approx(12 * (40 * 1.0 + 2 * 4.0) / 1e6)
    assert _stored(store) == 12
    again = label_texts(store, build_system(spec, task), task, items)
    assert again.n_asked == 0 and again.n_reused == 12 and again.n_unparseable == 2
    assert len(t.asked) == 12  # nothing asked twice


def test_a_failing_teacher_loses_no_stored_answer_and_the_rerun_asks_only_the_rest(
        teacher, lmscape_home):
    store = open_store()
    # the refusals wait until the two good batches are stored, however slow the machine
    t = teacher(fail_from=16, fail_when=lambda: _stored(store) >= 16)
    spec = t.register(lmscape_home)
    task = get_task("sentiment")
    items = _items(24)  # three batches of 8, all in flight at once; the third fails
    with pytest.raises(LmscapeError, match="teacher refused"):
        label_texts(store, build_system(spec, task), task, items)
    assert _stored(store) == 16
    t.fail_from = None
    asked_before = len(t.asked)
    labels = label_texts(store, build_system(spec, task), task, items)
    assert labels.n_reused == 16 and labels.n_asked == 8
    assert sorted(t.asked[asked_before:]) == list(range(16, 24))
    assert _stored(store) == 24
