"""Paired significance tests: exact McNemar by hand, permutation and bootstrap."""

import numpy as np
import pytest

from lmscape.metrics.paired import compare, mcnemar_exact


def test_mcnemar_exact_by_hand():
    assert mcnemar_exact(0, 5) == pytest.approx(2 / 32)
    assert mcnemar_exact(1, 9) == pytest.approx(2 * 11 / 1024)
    assert mcnemar_exact(3, 3) == 1.0
    assert mcnemar_exact(0, 0) == 1.0


def test_binary_scores_use_mcnemar():
    a = [1] * 30 + [1] * 10 + [0] * 10
    b = [1] * 30 + [0] * 10 + [0] * 10  # A right where B is wrong on 10 items, never the reverse
    r = compare(a, b)
    assert r["test"] == "mcnemar-exact"
    assert r["diff"] == pytest.approx(10 / 50)
    assert r["p_value"] == pytest.approx(2 / 1024)
    assert r["low"] <= r["diff"] <= r["high"]
    assert r["low"] > 0


def test_continuous_scores_use_a_permutation_test():
    rng = np.random.default_rng(0)
    b = rng.uniform(0, 1, 200)
    a = b + 0.1 + rng.normal(0, 0.05, 200)
    r = compare(a, b)
    assert r["test"] == "paired-permutation"
    assert r["diff"] == pytest.approx(float(np.mean(a - b)))
    assert r["p_value"] < 0.001
    noise = compare(b + rng.normal(0, 0.05, 200), b)
    assert noise["p_value"] > 0.01
    assert noise["low"] < 0 < noise["high"] or abs(noise["diff"]) < 0.01


def test_identical_systems_and_bootstrap_option():
    same = compare([0.3, 0.5, 0.9], [0.3, 0.5, 0.9])
    assert same["diff"] == 0 and same["p_value"] == 1.0
    r = compare([0.9, 0.8, 0.95, 0.7] * 10, [0.1, 0.2, 0.3, 0.2] * 10, test="paired-bootstrap")
    assert r["test"] == "paired-bootstrap" and r["p_value"] == 0.0


def test_bad_input():
    with pytest.raises(ValueError, match="equal-length"):
        compare([1, 0], [1])
    with pytest.raises(ValueError, match="0/1"):
        compare([0.5], [0.2], test="mcnemar-exact")
    with pytest.raises(ValueError, match="NaN"):
        compare([float("nan")], [0.0])
