"""Noun-phrase candidates (spaCy) and KeyBERT-style MMR ranking with all-MiniLM-L6-v2."""

import numpy as np
import pytest

from lmscape.methods.candidates import candidates_for, spacy_pipeline
from lmscape.methods.keybert import mmr
from lmscape.methods.registry import build_system
from lmscape.tasks.registry import get_task

TEXT = ("Efficient sparse matrix multiplication on graphics processors\n"
        "We present a new algorithm for the multiplication of large sparse matrices. "
        "The algorithm uses the graphics processors of modern computers and reduces "
        "memory traffic. Experiments show that this approach is faster than existing "
        "libraries.")


def test_candidates_are_noun_phrases():
    (cands,) = candidates_for([TEXT])
    texts = [c.text for c in cands]
    assert "Efficient sparse matrix multiplication" in texts  # adjective* noun+
    assert "graphics processors" in texts
    assert "new algorithm" in texts
    nlp = spacy_pipeline()
    for c in cands:
        doc = nlp(c.text)
        assert doc[-1].pos_ in ("NOUN", "PROPN"), c.text  # ends in a noun
        assert doc[0].pos_ not in ("DET", "PRON", "VERB", "ADP"), c.text
        assert 0 <= c.first < 1 and c.count >= 1
    assert not any(t.lower() in ("we", "this approach", "the algorithm") for t in texts)
    algo = next(c for c in cands if c.text == "algorithm")
    assert algo.count == 2


def test_mmr_trades_relevance_for_diversity():
    vecs = np.array([[1.0, 0.0], [0.99, 0.14], [0.0, 1.0]])
    scores = np.array([1.0, 0.95, 0.5])
    assert mmr(scores, vecs, 2, lam=1.0) == [0, 1]
    assert mmr(scores, vecs, 2, lam=0.5) == [0, 2]
    assert mmr(scores, vecs, 5, lam=0.7) == [0, 1, 2]  # 0.7*0.95-0.3*0.99 > 0.7*0.5
    assert mmr(scores, vecs, 5, lam=0.6) == [0, 2, 1]


@pytest.mark.slow
def test_keybert_mmr_on_inspec(minilm):
    task = get_task("keywords")
    system = build_system("all-minilm-l6-v2/keybert-mmr", task, backend=minilm)
    items = list(task.items("train", limit=4))
    preds = system.method.predict(items)
    for item, p in zip(items, preds):
        assert 1 <= len(p.output) <= 10
        assert len({x.lower() for x in p.output}) == len(p.output)
        assert all(x.lower() in item.text.lower() for x in p.output)
        assert p.extra["n_candidates"] >= len(p.output)
    mean_f1 = np.mean([task.score(i, p.output)["f1@10"] for i, p in zip(items, preds)])
    assert mean_f1 > 0.1
