"""OpenAIBackend against real servers on loopback, through the official ``openai`` SDK:
llama-cpp-python's OpenAI-compatible server running SmolLM2-135M-Instruct, and tiny
scripted HTTP servers for rate limits, auth failures and outages."""

from __future__ import annotations

import time

import numpy as np
import pytest
from tests.net import free_port

from lmscape.backends.base import LoglikelihoodRequest, Request
from lmscape.backends.openai_compat import OpenAIBackend, is_loopback
from lmscape.backends.retry import RetryPolicy, parse_retry_after
from lmscape.errors import (
    AuthenticationError,
    CapabilityError,
    ConfigError,
    ConnectionFailedError,
    ContextLengthError,
    ProviderError,
    RateLimitError,
    UpstreamError,
)

pytestmark = pytest.mark.slow

SECRET = "sk-test-0123456789abcdefSECRETKEY"


def chat_json(text: str, *, prompt_tokens: int = 3, completion_tokens: int = 2) -> dict:
    """A /v1/chat/completions answer in OpenAI's JSON shape."""
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 0,
        "model": "scripted",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": text},
             "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                  "total_tokens": prompt_tokens + completion_tokens},
    }  # fmt: skip


def error_json(message: str, type_: str = "invalid_request_error", code=None) -> dict:
    return {"error": {"message": message, "type": type_, "param": None, "code": code}}


def chat(text: str, max_tokens: int = 8) -> Request:
    return Request(messages=[{"role": "user", "content": text}], max_tokens=max_tokens)


@pytest.fixture(scope="module")
def smol(llama_server):
    with OpenAIBackend(
        llama_server.model, base_url=llama_server.base_url, supports_logprobs=True
    ) as backend:
        yield backend


# -- against llama-cpp-python's server --------------------------------------------------


def test_chat_and_completion_with_usage(smol, llama_server):
    chat_res, comp_res = smol.generate(
        [chat("Name a colour.", 6), Request(prompt="The capital of France is", max_tokens=6)]
    )
    for res in (chat_res, comp_res):
        assert res.text.strip()
        assert res.model == llama_server.model
        assert 1 <= res.usage.completion_tokens <= 6
        assert res.timings.total_s > 0
        assert res.timings.ttft_s is not None and 0 < res.timings.ttft_s <= res.timings.total_s
    assert "Paris" in comp_res.text


def test_non_streamed_generate_reports_server_usage(llama_server):
    with OpenAIBackend(
        llama_server.model, base_url=llama_server.base_url, measure_ttft=False
    ) as backend:
        res = backend.generate([Request(prompt="The capital of France is", max_tokens=5)])[0]
    assert res.usage.prompt_tokens == 5  # SmolLM2's tokenizer: 5 tokens, no BOS
    assert res.usage.completion_tokens == 5
    assert res.finish_reason == "length"
    assert res.timings.ttft_s is None


def test_max_tokens_and_stop(smol):
    res = smol.generate([Request(prompt="Count: 1, 2, 3,", max_tokens=3)])[0]
    assert res.usage.completion_tokens == 3 and res.finish_reason == "length"
    stopped = smol.generate([Request(prompt="Count: 1, 2, 3,", max_tokens=20, stop=("6",))])[0]
    assert "6" not in stopped.text and stopped.finish_reason == "stop"


def test_stream_matches_generate(smol):
    # a prompt whose greedy continuation is far from any tie, so that the server's
    # prefix-cache reuse (which shifts logits slightly) cannot change it
    req = Request(prompt="1, 2, 3, 4, 5, 6,", max_tokens=8)
    chunks = list(smol.stream(req))
    assert chunks[-1].done and all(not c.done for c in chunks[:-1])
    text = "".join(c.text for c in chunks)
    assert text.startswith(" 7, 8")
    assert text == smol.generate([req])[0].text
    last = chunks[-1]
    assert last.usage.completion_tokens == len(chunks) - 1 == 8  # one token per chunk
    assert last.finish_reason == "length"
    assert last.timings.ttft_s is not None and last.timings.tokens_per_s


def test_chat_stream(smol):
    chunks = list(smol.stream(chat("Write one short sentence about the sea.", 12)))
    assert len(chunks) >= 3 and chunks[-1].done
    assert "".join(c.text for c in chunks).strip()


SEQUENCES = [
    "Monday, Tuesday, Wednesday,",
    "January, February, March,",
    "one, two, three,",
    "A, B, C, D,",
    "10, 20, 30, 40,",
    "2, 4, 6, 8,",
]


def test_batch_is_concurrent_and_keeps_order(llama_server):
    reqs = [Request(prompt=p, max_tokens=4) for p in SEQUENCES]
    with OpenAIBackend(llama_server.model, base_url=llama_server.base_url, concurrency=4) as b:
        batched = [r.text for r in b.generate(reqs)]
    with OpenAIBackend(llama_server.model, base_url=llama_server.base_url, concurrency=1) as b:
        single = [b.generate([r])[0].text for r in reqs]
    assert batched == single
    assert len(set(batched)) == len(batched)  # distinct answers, so order is checked
    assert "Thursday" in batched[0]


def test_context_length_error(smol, llama_server):
    too_long = Request(prompt="word " * 2500, max_tokens=4)
    # streamed generate: llama-cpp-python drops the stream after its 200, so the
    # backend asks again without streaming to learn why
    with pytest.raises(ContextLengthError) as info:
        smol.generate([too_long])
    assert info.value.n_ctx == 2048 and info.value.n_tokens > 2048
    with pytest.raises(UpstreamError, match="ended the stream"):
        list(smol.stream(too_long))
    plain = OpenAIBackend(llama_server.model, base_url=llama_server.base_url,
                          measure_ttft=False)  # fmt: skip
    with plain, pytest.raises(ContextLengthError):
        plain.generate([too_long])


def test_embeddings(llama_server):
    import openai

    texts = ["a cat sat on the mat", "stock prices fell", "a cat sat on the mat"]
    # llama-cpp-python 0.3 mixes up per-token outputs of a multi-text request to a model
    # without a pooling layer, so send one text per request (sent concurrently)
    with OpenAIBackend(llama_server.model, base_url=llama_server.base_url,
                       embed_batch_size=1) as backend:  # fmt: skip
        res = backend.embed(texts)
    vec = res.vectors
    assert vec.shape == (3, 576) and vec.dtype == np.float32
    assert np.isfinite(vec).all()
    np.testing.assert_allclose(vec[0], vec[2], rtol=1e-5)
    assert not np.allclose(vec[0], vec[1])
    assert res.usage.prompt_tokens > 0
    # SmolLM2 has no pooling layer: the server returns one vector per token, and the
    # backend mean-pools them
    client = openai.OpenAI(base_url=llama_server.base_url, api_key="x", max_retries=0)
    raw = client.embeddings.create(model=llama_server.model, input=texts[1]).data[0].embedding
    np.testing.assert_allclose(vec[1], np.asarray(raw, dtype=np.float32).mean(axis=0),
                               rtol=1e-4, atol=1e-6)  # fmt: skip


def test_loglikelihood_sums_server_logprobs_of_continuation(smol, llama_server):
    import openai

    reqs = [
        LoglikelihoodRequest(context="The capital of France is", continuation=" Paris"),
        LoglikelihoodRequest(context="One, two,", continuation=" three, four"),
    ]
    results = smol.loglikelihood(reqs)
    assert [r.n_tokens for r in results] == [1, 3]  # ' three' ',' ' four'
    # the same numbers, summed by hand from the server's own echo+logprobs answer
    client = openai.OpenAI(base_url=llama_server.base_url, api_key="x", max_retries=0)
    for req, res in zip(reqs, results, strict=True):
        raw = client.completions.create(
            model=llama_server.model, prompt=req.context + req.continuation,
            max_tokens=1, temperature=0, echo=True, logprobs=1,
        ).choices[0].logprobs  # fmt: skip
        want = sum(
            lp for lp, off in zip(raw.token_logprobs, raw.text_offset, strict=False)
            if len(req.context) <= off < len(req.context + req.continuation)
        )
        assert res.logprob == pytest.approx(want, abs=1e-6)
        assert res.logprob < 0
    assert smol.loglikelihood(reqs[1:])[0].logprob == pytest.approx(results[1].logprob, abs=1e-6)


def test_loglikelihood_needs_the_option(llama_server):
    with OpenAIBackend(llama_server.model, base_url=llama_server.base_url) as backend:
        assert not backend.has_loglikelihood
        with pytest.raises(CapabilityError):
            backend.loglikelihood([LoglikelihoodRequest(context="a", continuation=" b")])


# -- connection, keys, retries: real scripted servers ------------------------------------


def test_unreachable_endpoint():
    port = free_port()  # nothing listens there
    backend = OpenAIBackend(
        "m", base_url=f"http://127.0.0.1:{port}/v1", max_retries=2, backoff_base=0.01
    )
    with pytest.raises(ConnectionFailedError) as info:
        backend.generate([chat("hi")])
    assert f"127.0.0.1:{port}" in str(info.value)
    assert "base_url" in info.value.hint
    assert backend.info()["retries"] == 2


def test_missing_key_for_a_remote_endpoint(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(AuthenticationError) as info:
        OpenAIBackend("gpt-4o-mini")
    assert info.value.hint.startswith("export OPENAI_API_KEY=...")
    monkeypatch.delenv("MY_KEY", raising=False)
    with pytest.raises(AuthenticationError, match="MY_KEY"):
        OpenAIBackend("x", base_url="https://openrouter.ai/api/v1", api_key_env="MY_KEY")


def test_key_from_env_and_placeholder_for_loopback(http_server, monkeypatch):
    srv = http_server(lambda seen, n: (200, chat_json("ok")))
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    OpenAIBackend("m", base_url=srv.base_url, measure_ttft=False).generate([chat("a")])
    monkeypatch.setenv("LOCAL_KEY", SECRET)
    OpenAIBackend("m", base_url=srv.base_url, api_key_env="LOCAL_KEY",
                  measure_ttft=False).generate([chat("b")])  # fmt: skip
    auth = [s.headers.get("authorization") for s in srv.seen]
    assert auth == ["Bearer not-needed", f"Bearer {SECRET}"]


def test_retries_429_honouring_retry_after(http_server):
    def handler(seen, n):
        if n < 2:
            return 429, error_json("slow down", "rate_limit_error"), {"Retry-After": "0"}
        return 200, chat_json("finally", prompt_tokens=4, completion_tokens=1)

    srv = http_server(handler)
    # backoff_base=30 would take minutes: passing quickly shows Retry-After: 0 was used
    backend = OpenAIBackend("m", base_url=srv.base_url, measure_ttft=False, backoff_base=30)
    res = backend.generate([chat("hi")])[0]
    assert res.text == "finally" and res.usage.prompt_tokens == 4
    assert len(srv.seen) == 3  # the SDK's own retries are off: these are ours
    assert backend.info()["retries"] == 2


def test_429_after_retries_is_rate_limit_error(http_server):
    srv = http_server(lambda seen, n: (429, error_json("quota", "rate_limit_error"),
                                       {"Retry-After": "0"}))  # fmt: skip
    backend = OpenAIBackend("m", base_url=srv.base_url, max_retries=3, measure_ttft=False)
    with pytest.raises(RateLimitError) as info:
        backend.generate([chat("hi")])
    assert len(srv.seen) == 4 and info.value.status_code == 429


def test_5xx_after_retries_is_upstream_error(http_server):
    srv = http_server(lambda seen, n: (503, error_json("overloaded", "server_error")))
    backend = OpenAIBackend("m", base_url=srv.base_url, max_retries=2, backoff_base=0.01)
    with pytest.raises(UpstreamError) as info:
        backend.generate([chat("hi")])
    assert len(srv.seen) == 3 and info.value.status_code == 503


def test_timeouts_after_retries_are_upstream_errors(http_server):
    srv = http_server(lambda seen, n: (200, chat_json("late"), {}, 4.0))
    backend = OpenAIBackend("m", base_url=srv.base_url, timeout=1.0, max_retries=1,
                            backoff_base=0.01, measure_ttft=False)  # fmt: skip
    with pytest.raises(UpstreamError, match="timed out"):
        backend.generate([chat("hi")])
    deadline = time.monotonic() + 30  # the server's thread may note the retry late
    while len(srv.seen) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(srv.seen) == 2


def test_401_is_not_retried_and_key_is_redacted(http_server, monkeypatch):
    def handler(seen, n):
        key = seen.headers["authorization"].removeprefix("Bearer ")
        return 401, error_json(f"Incorrect API key provided: {key}.", "invalid_request_error",
                               "invalid_api_key")  # fmt: skip

    srv = http_server(handler)
    monkeypatch.setenv("SCRIPTED_KEY", SECRET)
    backend = OpenAIBackend("m", base_url=srv.base_url, api_key_env="SCRIPTED_KEY")
    with pytest.raises(AuthenticationError) as info:
        backend.generate([chat("hi")])
    assert len(srv.seen) == 1
    assert SECRET not in info.value.one_line() and "[redacted]" in str(info.value)
    assert "SCRIPTED_KEY" in info.value.hint


def test_other_4xx_is_provider_error(http_server):
    srv = http_server(lambda seen, n: (400, error_json("model 'nope' does not exist")))
    with pytest.raises(ProviderError, match="does not exist") as info:
        OpenAIBackend("nope", base_url=srv.base_url).generate([chat("hi")])
    assert info.value.status_code == 400 and len(srv.seen) == 1


def test_prompt_falls_back_to_chat_when_completions_is_missing(http_server):
    def handler(seen, n):
        if seen.path.endswith("/completions") and "/chat/" not in seen.path:
            return 404, error_json("no such endpoint")
        return 200, chat_json(f"echo: {seen.body['messages'][0]['content']}")

    srv = http_server(handler)
    backend = OpenAIBackend("m", base_url=srv.base_url, measure_ttft=False)
    assert backend.generate([Request(prompt="hello")])[0].text == "echo: hello"
    assert backend.generate([Request(prompt="again")])[0].text == "echo: again"
    assert [s.path for s in srv.seen] == [
        "/v1/completions", "/v1/chat/completions", "/v1/chat/completions"
    ]  # fmt: skip
    chat_only = OpenAIBackend("m", base_url=srv.base_url, measure_ttft=False,
                              prompt_mode="chat")  # fmt: skip
    chat_only.generate([Request(prompt="x")])
    assert srv.seen[-1].path == "/v1/chat/completions"


def test_concurrency_bounds_requests_in_flight(http_server):
    srv = http_server(lambda seen, n: (200, chat_json(seen.body["messages"][0]["content"]),
                                       {}, 0.2))  # fmt: skip
    backend = OpenAIBackend("m", base_url=srv.base_url, concurrency=3, measure_ttft=False)
    out = backend.generate([chat(f"item {i}") for i in range(9)])
    assert [r.text for r in out] == [f"item {i}" for i in range(9)]
    assert srv.max_in_flight == 3


def test_sampling_parameters_reach_the_server(http_server):
    srv = http_server(lambda seen, n: (200, chat_json("ok")))
    backend = OpenAIBackend("m", base_url=srv.base_url, measure_ttft=False,
                            max_tokens_param="max_completion_tokens")  # fmt: skip
    backend.generate([Request(messages=[{"role": "system", "content": "be brief"},
                                        {"role": "user", "content": "hi"}],
                              max_tokens=7, temperature=0.5, top_p=0.9, stop=("\n",),
                              seed=3)])  # fmt: skip
    body = srv.seen[0].body
    assert body["max_completion_tokens"] == 7 and "max_tokens" not in body
    assert (body["temperature"], body["top_p"], body["stop"], body["seed"]) == (
        0.5, 0.9, ["\n"], 3
    )  # fmt: skip
    assert body["messages"][0] == {"role": "system", "content": "be brief"}


def _chunk(text=None, finish=None, usage=None) -> dict:
    choices = [] if usage else [
        {"index": 0, "delta": {"content": text} if text else {}, "finish_reason": finish}
    ]
    return {"id": "c1", "object": "chat.completion.chunk", "created": 0, "model": "scripted",
            "choices": choices, "usage": usage}  # fmt: skip


def test_stream_usage_from_the_server(http_server):
    events = [
        _chunk("Hello"), _chunk(","), _chunk(" world"), _chunk(finish="stop"),
        _chunk(usage={"prompt_tokens": 11, "completion_tokens": 3, "total_tokens": 14}),
    ]  # fmt: skip
    srv = http_server(lambda seen, n: (200, events))
    backend = OpenAIBackend("m", base_url=srv.base_url)
    chunks = list(backend.stream(chat("hi")))
    assert [c.text for c in chunks[:-1]] == ["Hello", ",", " world"]
    last = chunks[-1]
    assert (last.usage.prompt_tokens, last.usage.completion_tokens) == (11, 3)
    assert last.finish_reason == "stop" and last.timings.ttft_s is not None
    assert srv.seen[0].body["stream_options"] == {"include_usage": True}
    res = backend.generate([chat("hi")])[0]  # generate streams too (measure_ttft)
    assert res.text == "Hello, world" and res.usage.prompt_tokens == 11


def test_stream_without_stream_options_support(http_server):
    def handler(seen, n):
        if "stream_options" in seen.body:
            return 400, error_json("Unrecognized request argument: stream_options")
        return 200, [_chunk("ok"), _chunk(finish="length")]

    srv = http_server(handler)
    res = OpenAIBackend("m", base_url=srv.base_url).generate([chat("hi", 1)])[0]
    assert res.text == "ok" and res.finish_reason == "length"
    assert res.usage.completion_tokens == 1  # counted from the stream
    assert len(srv.seen) == 2


def test_loglikelihood_offsets(http_server):
    # OpenAI's echo shape: token_logprobs[i] = log P(token i | tokens before it); the
    # last token is the one generated by max_tokens=1 and must not count
    tokens = ["The", " capital", " of", " France", " is", " Paris", "."]
    logprobs = [None, -9.0, -0.5, -3.0, -0.4, -0.25, -1.5]
    top = [None, {" city": -1.0}, {" of": -0.5}, {" France": -3.0}, {" is": -0.4},
           {" Paris": -0.25}, {".": -1.5}]  # fmt: skip
    offsets = [0, 3, 11, 14, 21, 24, 30]
    body = {
        "id": "c", "object": "text_completion", "created": 0, "model": "m",
        "choices": [{"index": 0, "text": "The capital of France is Paris.",
                     "finish_reason": "length",
                     "logprobs": {"tokens": tokens, "token_logprobs": logprobs,
                                  "top_logprobs": top, "text_offset": offsets}}],
        "usage": {"prompt_tokens": 6, "completion_tokens": 1, "total_tokens": 7},
    }  # fmt: skip
    srv = http_server(lambda seen, n: (200, body))
    backend = OpenAIBackend("m", base_url=srv.base_url, supports_logprobs=True)
    paris, tail = backend.loglikelihood([
        LoglikelihoodRequest(context="The capital of France is", continuation=" Paris"),
        LoglikelihoodRequest(context="The capital", continuation=" of France is Paris"),
    ])  # fmt: skip
    assert (paris.logprob, paris.n_tokens, paris.is_greedy) == (-0.25, 1, True)
    assert tail.logprob == pytest.approx(-0.5 - 3.0 - 0.4 - 0.25) and tail.n_tokens == 4
    assert tail.is_greedy
    sent = srv.seen[0].body
    assert sent["echo"] is True and sent["logprobs"] == 1
    assert sent["prompt"] == "The capital of France is Paris"


# -- options and helpers ----------------------------------------------------------------


def test_unknown_option_is_a_config_error():
    with pytest.raises(ConfigError, match="temprature"):
        OpenAIBackend("m", base_url="http://127.0.0.1:1/v1", temprature=0.2)
    with pytest.raises(ConfigError):
        OpenAIBackend("m", base_url="http://127.0.0.1:1/v1", prompt_mode="legacy")


def test_is_loopback():
    assert is_loopback("http://127.0.0.1:8000/v1")
    assert is_loopback("http://localhost:11434/v1")
    assert is_loopback("http://[::1]:8080/v1")
    assert not is_loopback("https://api.openai.com/v1")
    assert not is_loopback("http://10.0.0.5:8000/v1")


def test_retry_policy_and_retry_after():
    policy = RetryPolicy(base_delay=1.0, max_delay=5.0, jitter=0.0)
    assert [policy.delay(a) for a in range(5)] == [1.0, 2.0, 4.0, 5.0, 5.0]
    assert policy.delay(3, retry_after=0.0) == 0.0
    jittered = RetryPolicy(base_delay=1.0, jitter=0.5)
    delays = {round(jittered.delay(0), 6) for _ in range(20)}
    assert len(delays) > 1 and all(0.5 <= d <= 1.5 for d in delays)
    assert parse_retry_after({"Retry-After": "7"}) == 7.0
    assert parse_retry_after({"retry-after-ms": "250"}) == 0.25
    assert parse_retry_after({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0.0
    assert parse_retry_after({}) is None


def test_base_url_from_environment_variable(monkeypatch):
    from lmscape.backends.openai_compat import OpenAIBackend
    from lmscape.errors import ConfigError

    monkeypatch.delenv("LMSCAPE_TEST_VLLM_URL", raising=False)
    with pytest.raises(ConfigError, match="LMSCAPE_TEST_VLLM_URL"):
        OpenAIBackend("meta-llama/Llama-3.1-405B-Instruct", base_url_env="LMSCAPE_TEST_VLLM_URL")
    monkeypatch.setenv("LMSCAPE_TEST_VLLM_URL", "http://127.0.0.1:9/v1")
    backend = OpenAIBackend("m", base_url_env="LMSCAPE_TEST_VLLM_URL")
    assert backend.base_url == "http://127.0.0.1:9/v1"


def test_catalog_model_behind_vllm_resolves(monkeypatch):
    import lmscape

    monkeypatch.setenv("LMSCAPE_VLLM_BASE_URL", "http://127.0.0.1:9/v1")
    model = lmscape.get_model("llama-3.1-405b")
    assert model.base_url == "http://127.0.0.1:9/v1"
    assert model.model_id == "llama-3.1-405b"
