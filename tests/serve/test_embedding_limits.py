"""Inputs longer than an embedding model accepts are refused (400, as OpenAI does)
rather than silently embedded from their first 256 tokens; ``truncate: true`` asks
for the cut, and each result says whether it was cut. all-MiniLM-L6-v2 on a live
gateway, through the official ``openai`` client."""

from __future__ import annotations

import numpy as np
import openai
import pytest

from lmscape.serve.app import create_app
from lmscape.serve.config import GatewayConfig
from lmscape.store import open_store

from .conftest import LiveServer

pytestmark = pytest.mark.slow

LONG = "The harbour was full of ships and gulls. " * 120  # about 1000 word pieces
SHORT = "A short sentence."


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    config = GatewayConfig.model_validate({"include_catalog": False,
                                           "limits": {"usage_flush_s": 0.05}})
    store = open_store(f"sqlite:///{tmp_path_factory.mktemp('emb') / 'gw.db'}")
    with LiveServer(create_app(config, store=store)) as server:
        yield openai.OpenAI(base_url=f"{server.url}/v1", api_key="unused", max_retries=0)


def test_input_over_the_limit_is_400(client):
    with pytest.raises(openai.BadRequestError) as info:
        client.embeddings.create(model="all-minilm-l6-v2", input=[SHORT, LONG])
    error = info.value.body
    assert error["code"] == "context_length_exceeded" and error["param"] == "input"
    assert "input[1]" in error["message"] and "truncate" in error["message"]


def test_truncate_true_embeds_the_first_tokens_and_says_so(client):
    reply = client.embeddings.create(model="all-minilm-l6-v2", input=[SHORT, LONG],
                                     encoding_format="float", extra_body={"truncate": True})
    assert [d.model_extra["truncated"] for d in reply.data] == [False, True]
    assert np.array(reply.data[1].embedding).shape == (384,)
    within = client.embeddings.create(model="all-minilm-l6-v2", input=SHORT,
                                      encoding_format="float")
    assert np.allclose(within.data[0].embedding, reply.data[0].embedding, atol=1e-5)
    assert "truncated" not in (within.data[0].model_extra or {})  # not asked: not reported
