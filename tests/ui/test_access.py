"""The dashboard's access rule, CSRF protection and the admin flag, through the real
ASGI app (the one ``lmscape serve`` builds) on a real SQLite store; no browser."""

from __future__ import annotations

import asyncio
import json
import re

import httpx
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from lmscape.serve import keys as keystore

LOOPBACK = ("127.0.0.1", 50123)
REMOTE = ("10.1.2.3", 50123)


@pytest.fixture
def store(tmp_path):
    from lmscape.store import open_store

    store = open_store(f"sqlite:///{tmp_path / 'gw.db'}")
    yield store
    store.close()


@pytest.fixture
def app(store):
    from lmscape.serve.app import create_app
    from lmscape.serve.config import GatewayConfig

    app = create_app(GatewayConfig(include_catalog=False), store=store, allow_open=True)
    yield app
    app.state.gateway.usage.close()


def call(app, method: str, path: str, *, client=LOOPBACK, **kwargs) -> httpx.Response:
    async def go():
        transport = httpx.ASGITransport(app=app, client=client)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000",
                                     cookies=kwargs.pop("cookies", None)) as c:
            return await c.request(method, path, **kwargs)

    return asyncio.run(go())


def csrf_pair(app, **kwargs) -> tuple[str, dict[str, str]]:
    page = call(app, "GET", "/ui/login", **kwargs)
    token = page.cookies["lmscape_csrf"]
    assert f'value="{token}"' in page.text
    return token, {"lmscape_csrf": token}


def test_open_access_is_for_loopback_only_while_no_key_exists(app, store):
    assert call(app, "GET", "/ui/runs").status_code == 200
    away = call(app, "GET", "/ui/runs", client=REMOTE)
    assert away.status_code == 303 and away.headers["location"] == "/ui/login?next=/ui/runs"
    keystore.create_key(store, "anyone")
    closed = call(app, "GET", "/ui/runs")
    assert closed.status_code == 303


def test_an_admin_key_is_needed_once_keys_exist(app, store):
    _, api_secret = keystore.create_key(store, "app")
    _, admin_secret = keystore.create_key(store, "ops", admin=True)
    refused = call(app, "GET", "/ui/gateway", headers={"Authorization": f"Bearer {api_secret}"})
    assert refused.status_code == 403 and "not an admin key" in refused.text
    ok = call(app, "GET", "/ui/gateway", headers={"Authorization": f"Bearer {admin_secret}"})
    assert ok.status_code == 200 and "signed in as <b>ops</b>" in ok.text
    assert api_secret not in ok.text and admin_secret not in ok.text
    keystore.revoke_key(store, "ops")
    gone = call(app, "GET", "/ui/gateway", headers={"Authorization": f"Bearer {admin_secret}"})
    assert gone.status_code == 303


def test_login_keeps_the_key_in_an_httponly_strict_cookie(app, store):
    _, admin_secret = keystore.create_key(store, "ops", admin=True)
    token, cookies = csrf_pair(app)
    r = call(app, "POST", "/ui/login", cookies=cookies, data={
        "csrf": token, "key": admin_secret, "next": "/ui/catalog"})
    assert r.status_code == 303 and r.headers["location"] == "/ui/catalog"
    cookie = next(v for k, v in r.headers.multi_items()
                  if k == "set-cookie" and v.startswith("lmscape_session="))
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/ui" in cookie
    page = call(app, "GET", "/ui/catalog", cookies={**cookies, "lmscape_session": admin_secret})
    assert page.status_code == 200
    assert call(app, "POST", "/ui/login", cookies=cookies, data={
        "csrf": token, "key": admin_secret, "next": "https://evil.example/"}
        ).headers["location"] == "/ui/leaderboards"


def test_forms_need_the_csrf_token_and_the_same_origin(app, store):
    token, cookies = csrf_pair(app)
    missing = call(app, "POST", "/ui/gateway/keys", cookies=cookies, data={"name": "x"})
    assert missing.status_code == 403
    wrong = call(app, "POST", "/ui/gateway/keys", cookies=cookies,
                 data={"name": "x", "csrf": "not-the-token"})
    assert wrong.status_code == 403
    elsewhere = call(app, "POST", "/ui/gateway/keys", cookies=cookies,
                     data={"name": "x", "csrf": token},
                     headers={"Origin": "https://evil.example"})
    assert elsewhere.status_code == 403
    assert keystore.list_keys(store) == []
    made = call(app, "POST", "/ui/gateway/keys", cookies=cookies,
                data={"name": "first", "csrf": token, "admin": "1", "budget_usd": "2.5"},
                headers={"Origin": "http://127.0.0.1:8000"})
    assert made.status_code == 200
    secret = re.search(r'data-secret="(lms-[^"]+)"', made.text).group(1)
    key = keystore.find_by_secret(store, secret)
    assert key.admin and key.budget_usd == 2.5
    # made under open access, the first admin key signs this browser in
    assert any(v.startswith(f"lmscape_session={secret}") for k, v in made.headers.multi_items()
               if k == "set-cookie")


def test_bad_key_form_shows_the_error_and_its_fix(app, store):
    token, cookies = csrf_pair(app)
    r = call(app, "POST", "/ui/gateway/keys", cookies=cookies,
             data={"name": "x", "csrf": token, "budget_usd": "lots"})
    assert r.status_code == 400
    assert "budget &#39;lots&#39; is not a number" in r.text and "Fix:" in r.text
    assert keystore.list_keys(store) == []


def test_admin_flag_migration_upgrades_an_older_store(tmp_path):
    from lmscape.store import open_store

    url = f"sqlite:///{tmp_path / 'old.db'}"
    store = open_store(url)
    keystore.create_key(store, "before")
    with store.begin() as conn:  # the store as it was before migration 0101
        conn.execute(sa.text("ALTER TABLE gateway_keys DROP COLUMN admin"))
        conn.execute(sa.text("DELETE FROM lmscape_migrations "
                             "WHERE name = '0101_gateway_keys_admin'"))
    store.close()
    store = open_store(url)
    try:
        assert [k.admin for k in keystore.list_keys(store)] == [False]
        keystore.create_key(store, "after", admin=True)
        assert [k.admin for k in keystore.list_keys(store)] == [False, True]
    finally:
        store.close()


def test_keys_create_admin_on_the_command_line(tmp_path, monkeypatch):
    from lmscape.cli.main import build_app

    monkeypatch.setenv("LMSCAPE_DB", f"sqlite:///{tmp_path / 'cli.db'}")
    made = CliRunner().invoke(build_app(), ["keys", "create", "--name", "ops", "--admin"])
    assert made.exit_code == 0 and "created admin key 'ops'" in made.output
    listed = CliRunner().invoke(build_app(), ["keys", "list", "--json"])
    assert json.loads(listed.output)[0]["admin"] is True


def test_usage_by_served_names_the_model_that_answered(store):
    from lmscape.serve.usage import UsageRecord, UsageWriter, summarize

    writer = UsageWriter(store)
    for served in ("a", "b", "b", None):
        writer.record(UsageRecord(key_id=None, endpoint="chat", model="auto:cheap",
                                  served_by=served, cost_nusd=10, status=200 if served else 429))
    writer.close()
    assert [(r["group"], r["requests"]) for r in summarize(store, "served")] == [
        ("(none)", 1), ("a", 1), ("b", 2)]


def test_recipe_options_never_show_a_secret():
    from lmscape.ui.catalog import safe_options

    shown = safe_options({"api_key": "sk-live-123", "api_key_env": "OPENAI_API_KEY",
                          "base_url": "http://127.0.0.1:8080/v1", "auth_token": "t0k"})
    assert shown == {"api_key": "(hidden)", "api_key_env": "OPENAI_API_KEY",
                     "base_url": "http://127.0.0.1:8080/v1", "auth_token": "(hidden)"}


def test_static_files_are_vendored_and_served(app):
    htmx = call(app, "GET", "/ui/static/htmx.min.js")
    assert htmx.status_code == 200 and htmx.headers["content-type"].startswith("text/javascript")
    plotly = call(app, "GET", "/ui/static/plotly.min.js")
    assert plotly.status_code == 200 and b"plotly" in plotly.content[:2000].lower()
    assert call(app, "GET", "/ui/static/../app.py").status_code == 404


def test_one_scan_gives_every_grouping_of_lmscape_usage(store):
    from lmscape.serve.usage import GROUPS, summarize, summarize_all

    from .seed import seed_usage

    seed_usage(store, 700, revoke=False)
    every = summarize_all(store)
    exact = ("group", "requests", "prompt_tokens", "completion_tokens", "cost_usd", "errors")
    for by in GROUPS:
        one = summarize(store, by)
        assert [{k: r[k] for k in exact} for r in every[by]] == [
            {k: r[k] for k in exact} for r in one]
        assert [r["mean_latency_ms"] for r in every[by]] == pytest.approx(
            [r["mean_latency_ms"] for r in one], rel=1e-9)


def test_the_rollup_reads_only_new_rows_and_stays_exact(store):
    from lmscape.serve.tables import gateway_usage
    from lmscape.serve.usage import UsageRecord, UsageRollup, UsageWriter, summarize_all

    from .seed import seed_usage

    seed_usage(store, 300, revoke=False)
    rollup = UsageRollup(store)
    assert rollup.get() == summarize_all(store)
    writer = UsageWriter(store)
    for i in range(25):
        writer.record(UsageRecord(key_id=None, endpoint="chat", model="late", served_by="late",
                                  cost_nusd=1000 + i, latency_ms=5.0))
    writer.close()
    assert rollup.get()["model"] == summarize_all(store)["model"]
    # a row that commits late with an id below the last one read is still counted
    with store.begin() as conn:
        low = conn.execute(sa.select(sa.func.min(gateway_usage.c.id))).scalar_one()
        row = dict(conn.execute(sa.select(gateway_usage).where(gateway_usage.c.id == low))
                   .mappings().one())
        conn.execute(gateway_usage.delete().where(gateway_usage.c.id == low))
    rollup_before = rollup.get()
    with store.begin() as conn:
        conn.execute(gateway_usage.insert().values(**{**row, "cost_nusd": 7_777_777}))
    assert rollup.get() == summarize_all(store) != rollup_before


@pytest.mark.postgres
def test_the_rollup_equals_lmscape_usage_on_postgresql(fresh_postgres):
    from lmscape.serve.usage import GROUPS, UsageRollup, summarize
    from lmscape.store import open_store

    from .seed import seed_usage

    store = open_store(fresh_postgres)
    try:
        seed_usage(store, 500, revoke=False)
        every = UsageRollup(store).get()
        for by in GROUPS:
            one = summarize(store, by)
            assert {r["group"]: (r["requests"], r["cost_usd"]) for r in every[by]} == {
                r["group"]: (r["requests"], r["cost_usd"]) for r in one}
        with store.begin() as conn:  # the migrated column is there on PostgreSQL too
            assert "admin" in {c["name"] for c in sa.inspect(conn).get_columns("gateway_keys")}
    finally:
        store.close()


def test_an_admin_revokes_a_key_from_the_page(app, store):
    victim, _ = keystore.create_key(store, "old-app")
    _, admin_secret = keystore.create_key(store, "ops", admin=True)
    token, cookies = csrf_pair(app)
    cookies["lmscape_session"] = admin_secret
    page = call(app, "GET", "/ui/gateway", cookies=cookies)
    assert f'/ui/gateway/keys/{victim.id}/revoke' in page.text
    r = call(app, "POST", f"/ui/gateway/keys/{victim.id}/revoke", cookies=cookies,
             data={"csrf": token})
    assert r.status_code == 303
    assert not keystore.get_key(store, victim.id).active
    assert keystore.get_key(store, keystore.resolve(store, "ops").id).active


def test_an_unknown_model_is_a_404_with_the_fix(app):
    r = call(app, "GET", "/ui/catalog/gpt-4oo")
    assert r.status_code == 404 and "gpt-4o" in r.text and "Fix:" in r.text
