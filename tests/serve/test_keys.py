"""Gateway keys and usage through the CLI and the store: hashed storage, revocation,
exact budget reservations under concurrency (SQLite), usage summaries."""

from __future__ import annotations

import json
import threading

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from lmscape.cli.main import build_app
from lmscape.serve import accounting
from lmscape.serve.config import Route
from lmscape.serve.keys import create_key, find_by_secret, hash_key, list_keys
from lmscape.serve.tables import gateway_keys
from lmscape.serve.usage import UsageRecord, UsageWriter, summarize
from lmscape.store import open_store

runner = CliRunner()


def cli(*args: str):
    return runner.invoke(build_app(), list(args))


def test_cli_create_list_revoke(lmscape_home):
    made = cli("keys", "create", "--name", "team-a", "--budget-usd", "2.5", "--rpm", "30",
               "--models", "up-echo, smollm2-135m-instruct")
    assert made.exit_code == 0, made.output
    secret = next(w for w in made.output.split() if w.startswith("lms-"))
    listed = json.loads(cli("keys", "list", "--json").output)
    assert listed == [{**listed[0], "name": "team-a", "budget_usd": 2.5, "spent_usd": 0.0,
                       "rpm": 30, "models": ["up-echo", "smollm2-135m-instruct"],
                       "revoked_at": None}]
    assert secret.startswith(listed[0]["prefix"])
    # only the hash is stored
    store = open_store()
    with store.connect() as conn:
        row = conn.execute(sa.select(gateway_keys)).mappings().one()
    assert secret not in json.dumps({k: str(v) for k, v in row.items()})
    assert row["key_hash"] == hash_key(secret)
    assert find_by_secret(store, secret).name == "team-a"
    assert find_by_secret(store, secret + "x") is None

    assert cli("keys", "revoke", "team-a").exit_code == 0
    assert json.loads(cli("keys", "list", "--json").output)[0]["revoked_at"] is not None


def test_cli_errors_are_one_line_with_a_fix(lmscape_home):
    assert cli("keys", "create", "--name", "dup").exit_code == 0
    again = cli("keys", "create", "--name", "dup")
    assert again.exit_code == 2 and "already exists" in again.output and "fix:" in again.output
    missing = cli("keys", "revoke", "nope")
    assert missing.exit_code == 2 and "unknown key" in missing.output
    bad = cli("keys", "create", "--name", "neg", "--budget-usd", "-1")
    assert bad.exit_code == 2 and "negative" in bad.output
    group = cli("usage", "--by", "week")
    assert group.exit_code == 2 and "--by key, model, day, served or route" in group.output


PRICED = Route.of("m", "openai", "m", price=(1.0, 2.0))


def test_reservations_are_atomic_and_settle_to_usage(lmscape_home):
    """16 threads race to reserve; the budget is never crossed and, once settled, spent
    equals the sum of the usage rows exactly."""
    store = open_store()
    budget_usd = 0.0001  # 100_000 nano-dollars
    key, _ = create_key(store, "racer", budget_usd=budget_usd)
    reserve = accounting.max_cost_nusd([PRICED], prompt_bound=18, completion_bound=5)
    assert reserve == 28_000
    granted: list[bool] = []
    barrier = threading.Barrier(16)

    def race():
        barrier.wait()
        granted.append(accounting.reserve(store.engine, key.id, reserve))

    threads = [threading.Thread(target=race) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(granted) == 100_000 // 28_000  # 3 fit, 13 are refused
    writer = UsageWriter(store, interval_s=10)
    for _ in range(sum(granted)):
        writer.record(UsageRecord(key_id=key.id, endpoint="chat", model="m", served_by="m",
                                  prompt_tokens=10, completion_tokens=5,
                                  cost_nusd=accounting.cost_nusd(PRICED, 10, 5),
                                  reserved_nusd=reserve, latency_ms=1.0))
    writer.close()
    spent = list_keys(store)[0].spent_nusd
    assert spent == 3 * 20_000
    assert summarize(store, "key")[0]["cost_usd"] == pytest.approx(spent / 1e9)


def test_usage_summaries_group_by_key_model_day(lmscape_home):
    store = open_store()
    key, _ = create_key(store, "k1")
    writer = UsageWriter(store, interval_s=10)
    for model, status in (("a", 200), ("a", 502), ("b", 200)):
        writer.record(UsageRecord(key_id=key.id, endpoint="chat", model=model, served_by=model,
                                  prompt_tokens=3, completion_tokens=4, cost_nusd=7,
                                  latency_ms=2.0, status=status))
    writer.record(UsageRecord(key_id=None, endpoint="embeddings", model="b", served_by="b",
                              prompt_tokens=1, latency_ms=4.0))
    writer.close()
    by_model = {r["group"]: r for r in summarize(store, "model")}
    assert by_model["a"]["requests"] == 2 and by_model["a"]["errors"] == 1
    assert by_model["b"]["prompt_tokens"] == 4
    by_key = {r["group"]: r["requests"] for r in summarize(store, "key")}
    assert by_key == {"k1": 3, "(open access)": 1}
    (day,) = summarize(store, "day")
    assert len(day["group"]) == 10 and day["requests"] == 4
    out = cli("usage", "--by", "model", "--json")
    assert out.exit_code == 0 and {r["group"] for r in json.loads(out.output)} == {"a", "b"}
