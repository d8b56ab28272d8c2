"""Next-turn generation (with a judge), reference perplexity and MT-Bench answering."""

import math

import pytest

from lmscape.errors import ConfigError
from lmscape.methods.dialogue_gen import NextTurn, ReferencePerplexity
from lmscape.methods.registry import build_system
from lmscape.tasks.registry import get_task

pytestmark = pytest.mark.slow


def test_next_turn_with_judge_is_scored(smollm, minilm):
    task = get_task("dialogue")
    method = NextTurn(task, smollm, judge=smollm, similarity=minilm, max_tokens=24,
                      judge_max_tokens=32)
    items = list(task.items(limit=2))
    preds = method.predict(items)
    for item, p in zip(items, preds):
        assert isinstance(p.output["reply"], str) and p.output["reply"]
        assert p.output["judge_score"] is None or 1 <= p.output["judge_score"] <= 10
        assert p.extra["judge"]["text"]
        s = task.score(item, p.output)
        assert 0 <= s["chrf"] <= 100 and -1 <= s["embed_sim"] <= 1
        assert s["embed_sim"] == p.output["embed_sim"]  # computed by the system, not the task
    assert method.cache_params()["judge"] == smollm.model_id
    assert method.cache_params()["similarity"] == minilm.model_id
    assert method.models() == [smollm, smollm, minilm]  # closed with the system


def test_similarity_can_be_switched_off(smollm):
    method = NextTurn(get_task("dialogue"), smollm, similarity="none", max_tokens=4)
    (pred,) = method.predict(list(get_task("dialogue").items(limit=1)))
    assert "embed_sim" not in pred.output and method.cache_params()["similarity"] is None


def test_reference_perplexity(gemma):
    task = get_task("dialogue", similarity_model=None)
    system = build_system("gemma-3-270m/reference-perplexity", task, backend=gemma)
    assert isinstance(system.method, ReferencePerplexity)
    items = list(task.items(limit=2))
    preds = system.method.predict(items)
    scores = [task.score(i, p.output) for i, p in zip(items, preds)]
    for p in preds:
        assert p.output["ref_logprob"] < 0 and p.output["ref_tokens"] > 3
    ppl = task.aggregate(items, [p.output for p in preds], scores)["perplexity"].value
    assert 1 < ppl < 10_000 and math.isfinite(ppl)


def test_mt_bench_answers_both_turns_and_is_judged(smollm):
    task = get_task("mt-bench")
    with pytest.raises(ConfigError, match="judge"):
        NextTurn(task, smollm)
    method = NextTurn(task, smollm, judge=smollm, max_tokens=16, judge_max_tokens=24)
    item = next(i for i in task.items() if i.reference)  # one with a reference answer
    (pred,) = method.predict([item])
    assert len(pred.output["answers"]) == 2 and len(pred.output["judge_scores"]) == 2
    assert len(pred.extra["judge"]["texts"]) == 2
    task.score(item, pred.output)  # ratings may be None for a 135M judge; must not fail


def test_the_registry_loads_the_tasks_similarity_encoder(smollm):
    """`lmscape bench`'s default dialogue system: the task names the encoder, the
    registry loads it, and closing the system closes it."""
    system = build_system("smollm2-135m-instruct/next-turn", get_task("dialogue"),
                          backend=smollm, max_tokens=4)
    try:
        similarity = system.method.similarity
        assert similarity is not None and similarity.model_id == "all-minilm-l6-v2"
        assert similarity in system.method.models()
        (pred,) = system.method.predict(list(get_task("dialogue").items(limit=1)))
        assert -1 <= pred.output["embed_sim"] <= 1
    finally:
        similarity.close()  # the shared smollm fixture stays open
    off = build_system("smollm2-135m-instruct/next-turn", get_task("dialogue"),
                       backend=smollm, similarity="none")
    assert off.method.similarity is None
