"""Frozen all-MiniLM-L6-v2 embeddings + logistic regression trained on train items."""

import pytest

from lmscape.methods.registry import build_system
from lmscape.tasks.registry import get_task

pytestmark = pytest.mark.slow


def test_logreg_head_trains_on_train_caches_and_predicts(minilm, lmscape_home):
    task = get_task("sentiment")
    system = build_system("all-minilm-l6-v2/logreg-head", task, backend=minilm, train_limit=1000)
    method = system.method
    train = list(task.items("train"))
    method.train(train)
    assert method.fit_info["cached"] is False and method.fit_info["n_train"] == 1000
    assert method.classes == ["negative", "positive"]
    assert len(list((lmscape_home / "heads").glob("*.npz"))) == 1

    items = list(task.items("dev", limit=40))
    preds = method.predict(items)
    accuracy = sum(p.output == it.reference for p, it in zip(preds, items)) / len(items)
    assert accuracy >= 0.65  # measured ≈ 0.8 with the full train split
    for p in preds:
        assert abs(sum(p.extra["probs"].values()) - 1) < 1e-9
        assert p.output == max(p.extra["probs"], key=p.extra["probs"].get)

    again = build_system("all-minilm-l6-v2/logreg-head", task, backend=minilm, train_limit=1000)
    again.method.train(train)
    assert again.method.fit_info["cached"] is True
    assert [p.output for p in again.method.predict(items[:5])] == [p.output for p in preds[:5]]


def test_training_embeddings_come_back_in_the_callers_order(minilm, monkeypatch):
    """The training pass sends texts longest first, a few per call; each vector must
    still land on its own text's row."""
    import numpy as np

    from lmscape.methods import embed_head

    monkeypatch.setattr(embed_head, "EMBED_BATCH", 2)
    task = get_task("sentiment")
    method = build_system("all-minilm-l6-v2/logreg-head", task, backend=minilm).method
    texts = ["short", "a much longer sentence about a film that was good", "mid length one",
             "ok", "the longest sentence of them all, about a very dull film indeed", "fine"]
    vectors, _ = method._embed(texts)
    alone = np.vstack([np.asarray(minilm.embed([t]).vectors) for t in texts])
    assert vectors.shape == alone.shape
    assert np.abs(vectors - alone).max() < 1e-5


@pytest.mark.parametrize("native", [True, False], ids=["native-bf16", "no-bf16"])
def test_the_head_asks_for_bf16_products_where_the_cpu_has_them(minilm, lmscape_home,
                                                                  monkeypatch, native):
    """Loaded for logreg-head, MiniLM multiplies in bf16 on a CPU with native bf16 (else
    float32); the precision keys the head and the cached answers. Both kinds of CPU are
    played here (bf16 products run on any CPU, emulated where not native)."""
    from lmscape.backends import hf_common

    monkeypatch.setattr(hf_common, "native_bf16", lambda: native)
    task = get_task("sentiment")
    system = build_system("all-minilm-l6-v2/logreg-head", task)
    try:
        want = "float32+bfloat16-autocast" if native else "float32"
        assert system.method.model.precision == want
        assert system.method.cache_params()["precision"] == want
        exact = build_system("all-minilm-l6-v2/logreg-head", task, backend=minilm).method
        assert exact.cache_params()["precision"] == "float32"  # the fixture: as loaded
        train = list(task.items("train"))[:50]
        assert (system.method._head_path(train) == exact._head_path(train)) == (want == "float32")
    finally:
        system.close()
