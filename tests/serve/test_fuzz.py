"""Fuzz the live gateway from its own OpenAPI document with schemathesis: whatever
the generated request, the answer is never a 5xx and errors have OpenAI's shape."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode

from lmscape.serve.app import create_app
from lmscape.serve.config import GatewayConfig
from lmscape.store import open_store

from .conftest import LiveServer, upstream_models

MAX_EXAMPLES = 30  # per operation; bounded to keep the suite fast


@pytest.fixture(scope="module")
def api_schema(upstream, tmp_path_factory):
    config = GatewayConfig.model_validate({
        "models": upstream_models(upstream.url),
        "limits": {"retries": 0, "usage_flush_s": 0.05},
        "include_catalog": False, "include_embedded": False,
    })
    store = open_store(f"sqlite:///{tmp_path_factory.mktemp('fuzz') / 'gw.db'}")
    with LiveServer(create_app(config, store=store)) as server:
        yield schemathesis.openapi.from_url(f"{server.url}/openapi.json")


def _check(case) -> None:
    response = case.call(timeout=30)
    case.validate_response(response, checks=[not_a_server_error])
    if response.status_code >= 400:
        error = response.json()["error"]
        assert set(error) == {"message", "type", "param", "code"}


def _served(case):
    """The same case aimed at a model that exists, so bodies reach the upstream path."""
    if isinstance(case.body, dict) and "model" in case.body:
        case.body["model"] = "up-echo"
    return case


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_no_server_errors(api_schema, upstream, mode):
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert {op.path for op in operations} >= {"/v1/chat/completions", "/v1/embeddings"}
    for operation in operations:
        if mode is GenerationMode.NEGATIVE and operation.method.upper() != "POST":
            continue  # nothing to make invalid in a parameterless GET
        strategy = operation.as_strategy(generation_mode=mode)

        @given(case=strategy | strategy.map(_served))
        @settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True,
                  suppress_health_check=list(HealthCheck), database=None)
        def fuzz(case) -> None:
            _check(case)

        fuzz()
    if mode is GenerationMode.POSITIVE:  # valid bodies did reach the upstream
        assert upstream.state.get("bodies")
