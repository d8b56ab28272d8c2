"""Keyphrase extraction metrics: F1@k with Porter-stemmed exact match.

Protocol (the usual one in the keyphrase literature, e.g. Meng et al. 2017; Chan et al.
2019 for the fixed cut-off):

1. **Normalise** every phrase, predicted and gold: lowercase; replace every character
   that is not a letter or digit with a space (so ``"anti-spam"`` → ``"anti spam"``);
   split on whitespace; stem each token with NLTK's Porter stemmer; join with one space.
   Empty results are dropped.
2. **De-duplicate** predictions and gold after normalisation, keeping the first
   occurrence (predictions stay in rank order).
3. **Exact match**: a prediction is correct when its normalised form equals the
   normalised form of some gold phrase. Each gold phrase is matched at most once.
4. **Per document**, for cut-off k: precision@k = correct in the top k / k (a system
   returning fewer than k phrases is padded with wrong ones), recall@k = correct in the
   top k / number of gold phrases (all gold phrases, including those that do not occur in
   the text: on Inspec about 20% are absent, which caps recall), F1@k their harmonic
   mean (0 when both are 0).
5. **Macro-average** over documents, with a 95% seeded bootstrap interval over documents.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from functools import lru_cache

_NON_ALNUM = re.compile(r"[^0-9a-z]+")


@lru_cache(maxsize=1)
def _stemmer():
    from nltk.stem import PorterStemmer  # needs no downloaded data

    return PorterStemmer()


@lru_cache(maxsize=200_000)
def _stem(token: str) -> str:
    return _stemmer().stem(token)


def normalize(phrase: str) -> str:
    """Lowercase, strip punctuation, Porter-stem each token: the matching key."""
    tokens = _NON_ALNUM.sub(" ", phrase.lower()).split()
    return " ".join(_stem(t) for t in tokens)


def normalize_all(phrases: Iterable[str]) -> list[str]:
    """Normalised, de-duplicated (first occurrence kept), empties dropped."""
    seen: set[str] = set()
    out: list[str] = []
    for phrase in phrases:
        key = normalize(phrase)
        if key and key not in seen:
            seen.add(key)
            out.append(key)
    return out


def prf_at_k(predicted: Sequence[str], gold: Sequence[str], k: int) -> tuple[float, float, float]:
    """Precision, recall and F1 at cut-off ``k`` for one document."""
    pred = normalize_all(predicted)[:k]
    gold_set = set(normalize_all(gold))
    if not gold_set:
        return (0.0, 0.0, 0.0)
    correct = sum(1 for p in pred if p in gold_set)
    precision = correct / k
    recall = correct / len(gold_set)
    f1 = 2 * precision * recall / (precision + recall) if correct else 0.0
    return precision, recall, f1


def keyphrase_scores(
    predicted: Sequence[str], gold: Sequence[str], ks: Sequence[int] = (5, 10)
) -> dict[str, float]:
    """Per-document ``{"f1@5", "p@5", "r@5", "f1@10", ...}``."""
    out: dict[str, float] = {}
    for k in ks:
        p, r, f = prf_at_k(predicted, gold, k)
        out[f"f1@{k}"], out[f"p@{k}"], out[f"r@{k}"] = f, p, r
    return out
