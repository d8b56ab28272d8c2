"""Logprobs through the gateway for a local llama.cpp model: /v1/completions with
``echo`` and ``logprobs`` (OpenAI's legacy shape), chat ``logprobs``/``top_logprobs``,
prompts as token ids, and vLLM's /tokenizer_info, /tokenize and /detokenize. The
numbers must be lmscape's own loglikelihood numbers for the same tokens."""

from __future__ import annotations

import httpx
import openai
import pytest

from lmscape.backends.base import LoglikelihoodRequest
from lmscape.serve.app import create_app
from lmscape.serve.config import GatewayConfig
from lmscape.store import open_store

from .conftest import LiveServer

pytestmark = pytest.mark.slow

GEMMA = "gemma-3-270m"
CONTEXT, CONTINUATION = "Review: a gorgeous, witty film.\nSentiment:", " positive"


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    db = tmp_path_factory.mktemp("lp") / "gw.db"
    config = GatewayConfig.model_validate({
        "include_catalog": False, "tokenizer_model": GEMMA,
    })
    app = create_app(config, store=open_store(f"sqlite:///{db}"))
    with LiveServer(app) as server:
        server.app = app
        yield server


@pytest.fixture
def client(gateway):
    return openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="unused", max_retries=0)


def _backend(gateway, name: str = GEMMA):
    return gateway.app.state.gateway.pool._slots[name].backend


def test_tokenizer_endpoints_round_trip(gateway):
    info = httpx.get(f"{gateway.url}/tokenizer_info", timeout=120).json()
    assert info["bos_token"] == "<bos>" and info["eos_token"]
    assert info["model_max_length"] >= 2048 and info["chat_template"] is None  # a base model
    plain = httpx.post(f"{gateway.url}/tokenize",
                       json={"prompt": "Hello world", "add_special_tokens": False}).json()
    special = httpx.post(f"{gateway.url}/tokenize",
                         json={"prompt": "Hello world", "return_token_strs": True}).json()
    assert special["tokens"][1:] == plain["tokens"] and special["count"] == plain["count"] + 1
    assert special["token_strs"][0] == "<bos>" and "".join(special["token_strs"][1:]) == "Hello world"
    assert special["max_model_len"] == info["model_max_length"]
    text = httpx.post(f"{gateway.url}/detokenize", json={"tokens": plain["tokens"]}).json()
    assert text == {"prompt": "Hello world"}
    # the BOS text in a prompt is the BOS token (as in vLLM): how lm-eval writes it
    literal = httpx.post(f"{gateway.url}/tokenize", json={
        "prompt": "<bos>Hello world", "add_special_tokens": False}).json()
    assert literal["tokens"] == special["tokens"]


def test_tokenizer_endpoints_need_a_model_they_can_run(gateway, tmp_path):
    bad = httpx.post(f"{gateway.url}/tokenize", json={"prompt": "x", "model": "nope"})
    assert bad.status_code == 404 and bad.json()["error"]["code"] == "model_not_found"
    app = create_app(GatewayConfig.model_validate({"include_catalog": False}),
                     store=open_store(f"sqlite:///{tmp_path}/t.db"))
    with LiveServer(app) as other:  # two models with a tokenizer and no tokenizer_model
        r = httpx.post(f"{other.url}/tokenize", json={"prompt": "x"})
        assert r.status_code == 400 and "--tokenizer-model" in r.json()["error"]["message"]
        r = httpx.post(f"{other.url}/tokenize", json={"prompt": "x", "model": "all-minilm-l6-v2"})
        assert r.status_code == 400 and r.json()["error"]["code"] == "unsupported_operation"


def test_echo_logprobs_are_lmscape_loglikelihoods(client, gateway):
    reply = client.completions.create(model=GEMMA, prompt=CONTEXT + CONTINUATION, max_tokens=0,
                                      echo=True, logprobs=2)
    choice = reply.choices[0]
    lp = choice.logprobs
    assert choice.text == CONTEXT + CONTINUATION
    assert lp.tokens[0] == "<bos>" and lp.token_logprobs[0] is None and lp.top_logprobs[0] is None
    assert len(lp.tokens) == len(lp.token_logprobs) == len(lp.text_offset) == reply.usage.prompt_tokens
    for token, offset in zip(lp.tokens[1:], lp.text_offset[1:], strict=True):
        assert choice.text[offset:offset + len(token)] == token
    for token, value, top in zip(lp.tokens[1:], lp.token_logprobs[1:], lp.top_logprobs[1:],
                                 strict=True):
        assert value < 0 and top[token] == value and 2 <= len(top) <= 3
        assert max(top.values()) >= value
    # the continuation's tokens: those starting inside it (what lmscape's openai backend sums)
    cont = [v for v, o in zip(lp.token_logprobs, lp.text_offset, strict=True)
            if o >= len(CONTEXT)]
    [expected] = _backend(gateway).loglikelihood([LoglikelihoodRequest(context=CONTEXT, continuation=CONTINUATION)])
    assert len(cont) == expected.n_tokens
    assert sum(cont) == pytest.approx(expected.logprob, abs=1e-4)


def test_token_id_prompts_with_one_generated_token_as_lm_eval_sends_them(gateway):
    ids = httpx.post(f"{gateway.url}/tokenize", json={"prompt": CONTEXT + CONTINUATION}).json()
    body = {"model": GEMMA, "prompt": [ids["tokens"]], "max_tokens": 1, "logprobs": 1,
            "echo": True, "temperature": 0, "seed": 1234}
    out = httpx.post(f"{gateway.url}/v1/completions", json=body).json()
    lp = out["choices"][0]["logprobs"]
    assert len(lp["token_logprobs"]) == len(ids["tokens"]) + 1  # the prompt, then one token
    greedy = max(lp["top_logprobs"][-1].values())
    assert lp["token_logprobs"][-1] == greedy  # temperature 0: the most likely token
    again = httpx.post(f"{gateway.url}/v1/completions", json=body).json()["choices"][0]["logprobs"]
    assert again["token_logprobs"] == lp["token_logprobs"]
    bad = httpx.post(f"{gateway.url}/v1/completions",
                     json={**body, "prompt": [[2, 10**7]]})
    assert bad.status_code == 400 and "vocabulary" in bad.json()["error"]["message"]


def test_lmscape_openai_backend_scores_through_the_gateway(gateway):
    """lmscape's own ``openai`` backend (echo + logprobs, text offsets) against the
    gateway gives the llamacpp backend's numbers."""
    from lmscape.backends.openai_compat import OpenAIBackend

    remote = OpenAIBackend(GEMMA, base_url=f"{gateway.url}/v1", api_key="unused",
                           supports_logprobs=True)
    requests = [LoglikelihoodRequest(context=CONTEXT, continuation=" positive"),
                LoglikelihoodRequest(context=CONTEXT, continuation=" negative")]
    over_http = remote.loglikelihood(requests)
    local = _backend(gateway).loglikelihood(requests)
    for a, b in zip(over_http, local, strict=True):
        assert a.n_tokens == b.n_tokens and a.logprob == pytest.approx(b.logprob, abs=1e-4)


def test_chat_logprobs_and_top_logprobs(client):
    reply = client.chat.completions.create(
        model="smollm2-135m-instruct", messages=[{"role": "user", "content": "Name a colour."}],
        max_tokens=8, temperature=0, logprobs=True, top_logprobs=3)
    content = reply.choices[0].logprobs.content
    assert len(content) == reply.usage.completion_tokens
    assert "".join(t.token for t in content) == reply.choices[0].message.content
    for t in content:
        assert len(t.top_logprobs) == 3 and t.top_logprobs[0].logprob == pytest.approx(t.logprob)
        assert bytes(t.bytes).decode() == t.token
    plain = client.chat.completions.create(
        model="smollm2-135m-instruct", messages=[{"role": "user", "content": "Name a colour."}],
        max_tokens=8, temperature=0)
    assert plain.choices[0].logprobs is None
    assert plain.choices[0].message.content == reply.choices[0].message.content


def test_logprobs_refusals_name_the_parameter(client):
    with pytest.raises(openai.BadRequestError) as err:
        client.chat.completions.create(model="smollm2-135m-instruct", top_logprobs=2,
                                       messages=[{"role": "user", "content": "x"}])
    assert err.value.body["param"] == "top_logprobs"
    with pytest.raises(openai.BadRequestError) as err:
        client.completions.create(model=GEMMA, prompt="x", echo=True, logprobs=1, stream=True)
    assert err.value.body["param"] == "stream"
    with pytest.raises(openai.BadRequestError) as err:
        client.completions.create(model=GEMMA, prompt="x", logprobs=21)
    assert err.value.body["param"] == "logprobs"
