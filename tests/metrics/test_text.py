"""chrF, cosine similarity and perplexity against hand-computed values."""

import math

import numpy as np
import pytest

from lmscape.metrics.text import chrf, cosine, perplexity, rowwise_cosine


def test_chrf_by_hand():
    # hyp "ab", ref "abc": order 1 P=1 R=2/3, order 2 P=1 R=1/2; higher orders have no
    # hypothesis n-grams (effective order 2). P=1, R=7/12, F2 = 5PR/(4P+R) = 35/55.
    assert chrf("ab", "abc") == pytest.approx(100 * 35 / 55, abs=1e-6)


def test_chrf_ignores_whitespace_and_bounds():
    assert chrf("the cat sat", "the cat sat") == pytest.approx(100.0)
    assert chrf("thecat  sat", "the cat sat") == pytest.approx(100.0)
    assert chrf("xyz", "abc") == pytest.approx(0.0, abs=1e-9)
    assert chrf("", "abc") == 0.0
    assert 0 < chrf("the cat sat on the mat", "a cat sat on a mat") < 100


def test_chrf_weights_recall_over_precision():
    ref = "abcdef"
    short = chrf("abc", ref)  # high precision, low recall
    long = chrf("abcdefghijkl", ref)  # full recall, low precision
    assert long > short


def test_cosine_and_rowwise():
    assert cosine([1, 0], [0, 1]) == 0.0
    assert cosine([1, 1], [2, 2]) == pytest.approx(1.0)
    assert cosine([0, 0], [1, 2]) == 0.0
    sims = rowwise_cosine(np.array([[1.0, 0.0], [1.0, 1.0]]), np.array([[1.0, 0.0], [-1.0, -1.0]]))
    assert sims.tolist() == pytest.approx([1.0, -1.0])


def test_perplexity_is_token_weighted():
    assert perplexity([-2.0, -4.0], [2, 4]) == pytest.approx(math.e)
    assert math.isnan(perplexity([], []))
