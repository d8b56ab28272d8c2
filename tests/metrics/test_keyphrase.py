"""Porter-stemmed exact match and F1@k against hand-computed values."""

import pytest

from lmscape.metrics.keyphrase import keyphrase_scores, normalize, normalize_all, prf_at_k


def test_normalize_lowercases_strips_punctuation_and_stems():
    assert normalize("Neural Networks") == "neural network"
    assert normalize("anti-spam  act.") == "anti spam act"
    assert normalize("Ventilation-Perfusion (V/Q) ratios") == "ventil perfus v q ratio"
    assert normalize("...") == ""


def test_duplicates_after_stemming_count_once():
    assert normalize_all(["neural network", "Neural Networks", "", "graph"]) == [
        "neural network", "graph"]


def test_f1_at_k_by_hand():
    gold = ["neural networks", "deep learning", "image classification", "GPU"]
    pred = ["neural network", "image", "deep learning", "Neural Networks", "cats", "gpu"]
    # normalised, de-duplicated predictions: neural network, imag, deep learn, cat, gpu
    p, r, f = prf_at_k(pred, gold, 5)
    assert (p, r) == (3 / 5, 3 / 4)
    assert f == pytest.approx(2 * 0.6 * 0.75 / 1.35)
    # fewer than k predictions are padded with wrong ones: precision divides by k
    p10, r10, _ = prf_at_k(pred, gold, 10)
    assert (p10, r10) == (3 / 10, 3 / 4)
    p2, r2, _f2 = prf_at_k(pred, gold, 2)
    assert (p2, r2) == (1 / 2, 1 / 4)


def test_no_match_gives_zero_and_scores_have_every_cutoff():
    s = keyphrase_scores(["x"], ["y"])
    assert s == {"f1@5": 0.0, "p@5": 0.0, "r@5": 0.0, "f1@10": 0.0, "p@10": 0.0, "r@10": 0.0}
