"""Routing policies served as ``auto:NAME`` models and the budget fallback, on a live
gateway through the official ``openai`` client."""

from __future__ import annotations

import json

import openai
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from lmscape.route.policy import Calibration, Policy, save_policy
from lmscape.serve.app import create_app
from lmscape.serve.config import GatewayConfig
from lmscape.serve.keys import create_key, list_keys
from lmscape.serve.routing_usage import summarize_routes
from lmscape.serve.tables import gateway_usage
from lmscape.store import open_store

from .conftest import STUB_KEY, LiveServer, upstream_models

SMALL = "smollm2-135m-instruct/zero-shot-choice"


def _gateway(upstream, tmp_path, *, embedded: bool):
    config = GatewayConfig.model_validate({
        "models": upstream_models(upstream.url),
        "limits": {"retries": 0, "usage_flush_s": 0.05, "key_cache_ttl_s": 0},
        "include_catalog": False, "include_embedded": embedded,
    })
    store = open_store(f"sqlite:///{tmp_path / 'gw.db'}")
    app = create_app(config, store=store, allow_open=True)
    return LiveServer(app), app, store


def _rows(store):
    u = gateway_usage.c
    with store.connect() as conn:
        return conn.execute(sa.select(u.model, u.served_by, u.route, u.status,
                                      u.cost_nusd).order_by(u.id)).all()


@pytest.mark.slow
def test_auto_policy_answers_with_the_label_and_says_who_answered(upstream, tmp_path,
                                                                  monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", STUB_KEY)  # the stub upstream's key
    remote = f"openai:echo@{upstream.url}/v1/prompted"
    members = [SMALL, remote]
    cal = Calibration(split="train", n=10, items_digest="x", date="2026-01-01", cost_unit="usd",
                      members=[{"name": SMALL, "cost_per_item": 0.00001},
                               {"name": remote, "cost_per_item": 0.0001}],
                      curve=[], chosen={}, goal={}, explanation="test")
    save_policy(Policy(name="sentiment", kind="cascade", task="sentiment", members=members,
                       thresholds=[0.7], calibration=cal))
    server, app, store = _gateway(upstream, tmp_path, embedded=False)
    texts = ["a gorgeous , witty , seductive movie .", "the plot is nothing but boilerplate",
             "it 's a bit of a mess but i liked it", "an utterly charming film"]
    with server:
        client = openai.OpenAI(base_url=f"{server.url}/v1", api_key="x", max_retries=0)
        answers = []
        for text in texts:
            raw = client.chat.completions.with_raw_response.create(
                model="auto:sentiment", messages=[{"role": "user", "content": text}])
            reply = raw.parse()
            header = raw.headers["x-lmscape-route"]
            assert header.startswith("answered_by=") and "policy=auto:sentiment" in header
            answers.append((reply.choices[0].message.content, header))
        with pytest.raises(openai.NotFoundError):
            client.chat.completions.create(model="auto:nope",
                                           messages=[{"role": "user", "content": "x"}])
        listed = [m.id for m in client.models.list()]
        assert "auto:sentiment" in listed and "auto:nope" not in listed
        assert client.models.retrieve("auto:sentiment").owned_by == "lmscape"
        app.state.gateway.usage.flush()
    by_small = [a for a, h in answers if f"answered_by={SMALL};" in h]
    assert all(a in ("positive", "negative") for a in by_small)
    rows = [r for r in _rows(store) if r.route]
    assert len(rows) == len(texts)
    notes = [json.loads(r.route) for r in rows]
    for note, (_, header) in zip(notes, answers, strict=True):
        assert note["policy"] == "auto:sentiment" and f"answered_by={note['answered_by']};" \
            in header
        assert note["asked"][0] == SMALL and note["asked"][-1] == note["answered_by"]
        assert note["member_ms"] > 0 and note["routing_ms"] >= 0
    summary = summarize_routes(store)
    row = next(r for r in summary if r["group"] == "auto:sentiment")
    assert row["requests"] == len(texts) and sum(row["shares"].values()) == pytest.approx(1.0)
    n_remote = sum(1 for n in notes if n["answered_by"] == remote)
    assert row["always_largest_usd"] == pytest.approx(0.0001 * len(texts))
    assert row["cost_usd"] == pytest.approx(0.00001 * len(texts) + 0.0001 * n_remote)
    assert row["saved_usd"] == pytest.approx(row["always_largest_usd"] - row["cost_usd"])
    store.close()


@pytest.mark.slow
def test_spent_key_falls_back_to_its_local_model(upstream, tmp_path, monkeypatch):
    server, app, store = _gateway(upstream, tmp_path, embedded=True)
    key, secret = create_key(store, "thrifty", budget_usd=0.0,
                             on_budget_exhausted="local:smollm2-135m-instruct")
    _, plain_secret = create_key(store, "plain", budget_usd=0.0)
    with server:
        client = openai.OpenAI(base_url=f"{server.url}/v1", api_key=secret, max_retries=0)
        raw = client.chat.completions.with_raw_response.create(
            model="up-echo", messages=[{"role": "user", "content": "hi"}], max_tokens=4)
        reply = raw.parse()
        assert raw.headers["x-lmscape-route"] == (
            "fallback=budget-exhausted; requested=up-echo; served_by=smollm2-135m-instruct")
        assert not reply.choices[0].message.content.startswith("echo:")
        other = openai.OpenAI(base_url=f"{server.url}/v1", api_key=plain_secret,
                              max_retries=0)
        with pytest.raises(openai.RateLimitError):  # no fallback: refused as before
            other.chat.completions.create(model="up-echo", max_tokens=4,
                                          messages=[{"role": "user", "content": "hi"}])
        app.state.gateway.usage.flush()
    row = next(r for r in _rows(store) if r.route)
    assert row.model == "up-echo" and row.served_by == "smollm2-135m-instruct"
    assert row.status == 200 and row.cost_nusd > 0  # its machine time, recorded...
    assert json.loads(row.route) == {"fallback": "budget_exhausted", "requested": "up-echo",
                                     "served": "smollm2-135m-instruct"}
    assert next(k for k in list_keys(store) if k.id == key.id).spent_nusd == 0  # ...not charged
    monkeypatch.setenv("LMSCAPE_DB", f"sqlite:///{tmp_path / 'gw.db'}")
    result = CliRunner().invoke(__import__("lmscape.cli.main", fromlist=["x"]).build_app(),
                                ["usage", "--by", "route"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "up-echo (budget fallback)" in result.output
    store.close()


def test_fallback_must_be_a_local_model(tmp_path):
    from lmscape.errors import ConfigError

    store = open_store(f"sqlite:///{tmp_path / 'k.db'}")
    with pytest.raises(ConfigError, match="not a local model"):
        create_key(store, "k", budget_usd=1.0, on_budget_exhausted="local:gpt-4o")
    assert list_keys(store) == []
    store.close()
