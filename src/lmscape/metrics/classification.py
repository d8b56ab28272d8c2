"""Accuracy and macro-F1, each with a 95% seeded bootstrap interval.

Macro-F1 is the unweighted mean over the label set of per-label F1 (a label never
predicted and never gold contributes nothing; one predicted or gold but with no true
positive contributes 0). A prediction of ``None`` (unparseable output) counts as wrong
for accuracy and as a false negative of the gold label for F1.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from lmscape.metrics.aggregate import Metric
from lmscape.metrics.bootstrap import N_RESAMPLES, SEED, bootstrap_ci, mean_ci


def accuracy(gold: Sequence[str], pred: Sequence[str | None]) -> float:
    """Fraction of items whose prediction equals the gold label."""
    if len(gold) != len(pred):
        raise ValueError("gold and pred differ in length")
    if not gold:
        return float("nan")
    return sum(g == p for g, p in zip(gold, pred, strict=True)) / len(gold)


def per_label_f1(
    gold: Sequence[str], pred: Sequence[str | None], labels: Sequence[str]
) -> dict[str, float]:
    """F1 of each label (labels absent from both gold and pred are left out)."""
    out: dict[str, float] = {}
    for label in labels:
        tp = sum(g == label and p == label for g, p in zip(gold, pred, strict=True))
        fp = sum(g != label and p == label for g, p in zip(gold, pred, strict=True))
        fn = sum(g == label and p != label for g, p in zip(gold, pred, strict=True))
        if tp + fp + fn == 0:
            continue
        out[label] = 2 * tp / (2 * tp + fp + fn)
    return out


def macro_f1(gold: Sequence[str], pred: Sequence[str | None], labels: Sequence[str]) -> float:
    """Unweighted mean of per-label F1 over ``labels``."""
    f1s = per_label_f1(gold, pred, labels)
    return float(np.mean(list(f1s.values()))) if f1s else float("nan")


def _macro_f1_codes(g: np.ndarray, p: np.ndarray, n_labels: int) -> float:
    f1s = []
    for k in range(n_labels):
        tp = np.sum((g == k) & (p == k))
        fp = np.sum((g != k) & (p == k))
        fn = np.sum((g == k) & (p != k))
        if tp + fp + fn:
            f1s.append(2 * tp / (2 * tp + fp + fn))
    return float(np.mean(f1s)) if f1s else float("nan")


def classification_metrics(
    gold: Sequence[str],
    pred: Sequence[str | None],
    labels: Sequence[str],
    *,
    n_resamples: int = N_RESAMPLES,
    seed: int = SEED,
) -> dict[str, Metric]:
    """``{"accuracy": Metric, "macro_f1": Metric}`` with 95% bootstrap intervals."""
    n = len(gold)
    correct = [float(g == p) for g, p in zip(gold, pred, strict=True)]
    acc, acc_lo, acc_hi = mean_ci(correct, n_resamples=n_resamples, seed=seed)
    code = {label: i for i, label in enumerate(labels)}
    g = np.array([code.get(x, -1) for x in gold])
    p = np.array([code.get(x, -2) if x is not None else -2 for x in pred])
    f1 = macro_f1(gold, pred, labels)
    lo, hi = bootstrap_ci(
        n, lambda idx: _macro_f1_codes(g[idx], p[idx], len(labels)),
        n_resamples=n_resamples, seed=seed,
    )
    return {
        "accuracy": Metric(value=acc, low=acc_lo, high=acc_hi, n=n),
        "macro_f1": Metric(value=f1, low=lo, high=hi, n=n),
    }
