"""Accuracy / macro-F1 against hand-computed values; seeded bootstrap intervals."""

import math

import pytest

from lmscape.metrics.bootstrap import mean_ci
from lmscape.metrics.classification import accuracy, classification_metrics, macro_f1

LABELS = ["negative", "positive"]
GOLD = ["positive", "positive", "positive", "negative", "negative", "negative"]
PRED = ["positive", "positive", "negative", "negative", "positive", None]


def test_accuracy_by_hand():
    assert accuracy(GOLD, PRED) == pytest.approx(3 / 6)


def test_macro_f1_by_hand():
    # positive: tp=2 fp=1 fn=1 -> 4/6; negative: tp=1 fp=1 fn=2 -> 2/5
    assert macro_f1(GOLD, PRED, LABELS) == pytest.approx((4 / 6 + 2 / 5) / 2)


def test_intervals_are_seeded_and_contain_the_value():
    a = classification_metrics(GOLD * 20, PRED * 20, LABELS)
    b = classification_metrics(GOLD * 20, PRED * 20, LABELS)
    for name in ("accuracy", "macro_f1"):
        m = a[name]
        assert m.low <= m.value <= m.high
        assert (m.low, m.high) == (b[name].low, b[name].high)
        assert m.n == 120
        assert m.high - m.low < 0.3


def test_perfect_predictions_have_a_degenerate_interval():
    m = classification_metrics(GOLD, GOLD, LABELS)
    assert m["accuracy"].value == m["accuracy"].low == m["accuracy"].high == 1.0
    assert m["macro_f1"].value == 1.0


def test_mean_ci_of_nothing_is_nan():
    assert all(math.isnan(x) for x in mean_ci([]))
