"""Reference-based text metrics for generated replies: chrF, embedding cosine
similarity, perplexity.

chrF follows Popović (2015) as implemented by sacreBLEU's sentence-level chrF
(``CHRF(char_order=6, word_order=0, beta=2)``): whitespace is removed, character n-grams
of order 1..6 are counted in hypothesis and reference, precision and recall are averaged
over the orders that have n-grams in both (sacreBLEU's effective order), and combined with beta = 2 (recall weighted twice as
much as precision). The score is on a 0-100 scale.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

import numpy as np

CHRF_ORDER = 6
CHRF_BETA = 2.0
_EPS = 1e-16


def _char_ngrams(text: str, n: int) -> Counter[str]:
    return Counter(text[i : i + n] for i in range(len(text) - n + 1))


def chrf(hypothesis: str, reference: str, *, order: int = CHRF_ORDER,
         beta: float = CHRF_BETA) -> float:
    """Sentence chrF (0-100) of ``hypothesis`` against one ``reference``."""
    hyp = "".join(hypothesis.split())
    ref = "".join(reference.split())
    sum_p = sum_r = 0.0
    effective_order = 0
    for n in range(1, order + 1):
        h, r = _char_ngrams(hyp, n), _char_ngrams(ref, n)
        h_total, r_total = sum(h.values()), sum(r.values())
        match = sum((h & r).values())
        sum_p += match / h_total if h_total else _EPS
        sum_r += match / r_total if r_total else _EPS
        effective_order += 1 if h_total and r_total else 0
    if effective_order == 0:
        return 0.0
    p, r = sum_p / effective_order, sum_r / effective_order
    if p + r < _EPS:
        return 0.0
    b2 = beta**2
    return 100.0 * (1 + b2) * p * r / (b2 * p + r)


def cosine(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray) -> float:
    """Cosine similarity of two vectors (0 when either is all zeros)."""
    va, vb = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    na, nb = np.linalg.norm(va), np.linalg.norm(vb)
    if na == 0 or nb == 0:
        return 0.0
    return float(va @ vb / (na * nb))


def rowwise_cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cosine similarity of each row of ``a`` with the same row of ``b``."""
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    na = np.linalg.norm(a, axis=1)
    nb = np.linalg.norm(b, axis=1)
    denom = np.where((na == 0) | (nb == 0), 1.0, na * nb)
    return np.where((na == 0) | (nb == 0), 0.0, (a * b).sum(axis=1) / denom)


def perplexity(logprobs: Sequence[float], n_tokens: Sequence[int]) -> float:
    """Corpus perplexity: exp(-(sum of log-probs) / (sum of tokens)), natural log."""
    total = sum(n_tokens)
    if total == 0:
        return float("nan")
    return math.exp(-sum(logprobs) / total)
