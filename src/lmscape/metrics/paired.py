"""Paired significance tests between two systems scored on the same items.

:func:`compare` takes two equal-length sequences of per-item scores (item i of ``a`` and
item i of ``b`` are the same item) and returns::

    {"diff": mean(a) - mean(b), "low": ..., "high": ..., "p_value": ..., "test": ...,
     "n": n_items}

``low``/``high`` is always the 95% paired-bootstrap interval of the difference (items
resampled together, seeded). The p-value depends on the data (``test="auto"``):

- **binary scores** (every value 0 or 1, e.g. per-item correctness): McNemar's exact
  test, a two-sided binomial test on the discordant pairs (a right/b wrong vs a wrong/b
  right) — ``test="mcnemar-exact"``;
- **continuous scores** (F1@10, chrF, judge ratings): a paired permutation test that
  flips the sign of each item's difference at random (seeded; p = (k + 1) / (N + 1)) —
  ``test="paired-permutation"``.

``test="paired-bootstrap"`` gives the bootstrap p-value instead (twice the smaller
share of resampled differences on either side of 0).
"""

from __future__ import annotations

from collections.abc import Sequence
from math import comb

import numpy as np

from lmscape.metrics.bootstrap import CONFIDENCE, N_RESAMPLES, SEED, resampled_means

TESTS = ("auto", "mcnemar-exact", "paired-permutation", "paired-bootstrap")
N_PERMUTATIONS = 10_000


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value from the discordant counts ``b`` and ``c``."""
    n = b + c
    if n == 0:
        return 1.0
    k = min(b, c)
    tail = sum(comb(n, i) for i in range(k + 1)) / 2**n
    return min(1.0, 2.0 * tail)


def permutation_p(diffs: np.ndarray, *, n_permutations: int = N_PERMUTATIONS,
                  seed: int = SEED) -> float:
    """Two-sided sign-flip permutation p-value for mean(diffs) == 0."""
    n = diffs.size
    observed = abs(diffs.mean())
    rng = np.random.default_rng(seed)
    hits = 0
    chunk = max(1, min(n_permutations, 2_000_000 // max(n, 1)))
    done = 0
    while done < n_permutations:
        m = min(chunk, n_permutations - done)
        signs = rng.choice(np.array([-1.0, 1.0]), size=(m, n))
        hits += int(np.sum(np.abs((signs * diffs).mean(axis=1)) >= observed - 1e-12))
        done += m
    return (hits + 1) / (n_permutations + 1)


def compare(
    scores_a: Sequence[float],
    scores_b: Sequence[float],
    *,
    test: str = "auto",
    n_resamples: int = N_RESAMPLES,
    seed: int = SEED,
) -> dict[str, float | str | int]:
    """Paired comparison of system A against system B on the same items."""
    if test not in TESTS:
        raise ValueError(f"test must be one of {TESTS}, not {test!r}")
    a = np.asarray(scores_a, dtype=float)
    b = np.asarray(scores_b, dtype=float)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError("scores_a and scores_b must be equal-length 1-D sequences (same items)")
    if a.size == 0:
        raise ValueError("no items to compare")
    if np.isnan(a).any() or np.isnan(b).any():
        raise ValueError("scores contain NaN; drop those items from both systems first")
    diffs = a - b
    boot = resampled_means(diffs, n_resamples, seed)
    alpha = (1 - CONFIDENCE) / 2
    low, high = np.quantile(boot, [alpha, 1 - alpha])

    binary = bool(np.isin(a, (0.0, 1.0)).all() and np.isin(b, (0.0, 1.0)).all())
    chosen = test
    if test == "auto":
        chosen = "mcnemar-exact" if binary else "paired-permutation"
    if chosen == "mcnemar-exact":
        if not binary:
            raise ValueError("McNemar's test needs 0/1 scores (per-item correctness)")
        p = mcnemar_exact(int(np.sum((a == 1) & (b == 0))), int(np.sum((a == 0) & (b == 1))))
    elif chosen == "paired-permutation":
        p = 1.0 if not diffs.any() else permutation_p(diffs, seed=seed)
    else:
        if not diffs.any():
            p = 1.0
        else:
            p = min(1.0, 2.0 * min(np.mean(boot <= 0), np.mean(boot >= 0)))
    return {
        "diff": float(diffs.mean()),
        "low": float(low),
        "high": float(high),
        "p_value": float(p),
        "test": chosen,
        "n": int(a.size),
    }
