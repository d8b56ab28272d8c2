"""The dashboard in a real browser (Playwright + Debian's Chromium) against a real
``lmscape serve`` on loopback: every page loads without console errors and passes
axe-core's checks, the plots have points, the figures equal ``lmscape usage``, a run
in progress moves, the playground streams, and keys made on the page follow the
API's access rule. Screenshots of every page are saved (test artefacts and
docs/screenshots for the README).

The tests of this module share one server and run in file order: the last ones create
keys, which ends open access.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import subprocess
import sys
import time

import httpx
import pytest

from .conftest import ARTEFACTS, AXE, CHAT_MODEL, publish

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PAGES = {  # name -> path (the recommend page with a question asked)
    "leaderboards": "/leaderboards",
    "catalog": "/catalog",
    "model": "/catalog/gemma-3-270m",
    "recommend": "/recommend?task=sentiment&quality=3&cost=1&volume=50000%2Fday",
    "gateway": "/gateway",
    "playground": "/playground",
    "runs": "/runs",
}


def _page(browser, errors: list[str] | None = None):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    if errors is not None:
        page.on("console", lambda m: errors.append(f"console {m.type}: {m.text}")
                if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(f"page error: {e}"))
        page.on("response", lambda r: errors.append(f"HTTP {r.status}: {r.url}")
                if r.status >= 400 else None)
    return context, page


def _settle(page) -> None:
    page.wait_for_load_state("networkidle")
    if page.locator(".plot").count():
        page.wait_for_selector(".js-plotly-plot", timeout=30_000)


def _usage_cli(dashboard, by: str) -> list[dict]:
    out = subprocess.run([sys.executable, "-m", "lmscape.cli.main", "usage", "--by", by,
                          "--json"], env=dashboard.env, capture_output=True, text=True,
                         check=True)
    return json.loads(out.stdout)


def test_every_page_loads_without_console_errors(dashboard, browser):
    errors: list[str] = []
    context, page = _page(browser, errors)
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    requested: list[str] = []
    page.on("request", lambda r: requested.append(r.url))
    try:
        for name, path in PAGES.items():
            response = page.goto(dashboard.ui(path))
            assert response is not None and response.status == 200, (name, response)
            _settle(page)
            assert page.locator("main h1").count() >= 1, name
            if name == "model":  # the fit calculator answers on load
                page.wait_for_selector("#fit-verdict")
            shot = ARTEFACTS / f"{name}.png"
            page.screenshot(path=str(shot), full_page=name not in ("catalog",))
            publish(name)
    finally:
        context.close()
    assert errors == []
    assert all(u.startswith(dashboard.url) for u in requested), "no request leaves the server"


def test_plots_have_points(dashboard, browser):
    context, page = _page(browser)
    try:
        page.goto(dashboard.ui("/leaderboards"))
        _settle(page)
        plots = page.locator(".plot .js-plotly-plot")
        assert plots.count() >= 3  # quality vs cost, latency, memory
        for i in range(plots.count()):
            assert plots.nth(i).locator(".scatterlayer .point").count() > 0, f"plot {i}"
        overflow = page.evaluate("""() => [...document.querySelectorAll('.plot')].filter(
            f => f.querySelector('svg.main-svg').getBoundingClientRect().width
                 > f.clientWidth + 1).length""")
        assert overflow == 0, "a plot is wider than its frame"
        legend = page.locator(".legendtext").all_text_contents()
        assert any("Pareto frontier" in t for t in legend)
        assert any("reported" in t for t in legend)

        page.goto(dashboard.ui("/gateway"))
        _settle(page)
        charts = page.locator(".chart.js-plotly-plot")
        assert charts.count() == 5
        for i in range(charts.count()):
            assert charts.nth(i).locator(".barlayer .point").count() > 0, f"chart {i}"

        page.goto(dashboard.ui(PAGES["recommend"]))
        _settle(page)
        assert page.locator("#recommendation .cmp").inner_text().startswith("Answer:")
        assert page.locator('[data-axis="breakeven"] .scatterlayer .trace').count() > 0
    finally:
        context.close()


def test_filters_and_the_paired_test(dashboard, browser):
    context, page = _page(browser)
    try:
        page.goto(dashboard.ui("/leaderboards"))
        _settle(page)
        assert page.locator("#measured-table tbody tr[data-system]").count() == 3
        assert page.locator("#reported-table tbody tr[data-system]").count() > 0
        page.get_by_label("closed").check()  # no measured system runs a closed model
        page.wait_for_function(
            "document.querySelectorAll('#measured-table tr[data-system]').length === 0")
        assert "access=closed" in page.url
        closed = page.locator("#reported-table tbody .badge").all_text_contents()
        assert closed and set(closed) == {"closed"}
        page.get_by_label("closed").uncheck()
        page.get_by_label("no model").check()
        page.wait_for_function(
            "document.querySelectorAll('#measured-table tr[data-system]').length === 2")
        page.get_by_role("button", name="Compare item by item").click()
        answer = page.locator("#compare-answer")
        answer.wait_for()
        text = answer.inner_text()
        assert "vader" in text and "p =" in text and "shared items" in text
    finally:
        context.close()


def test_catalog_filters_and_fit_calculator(dashboard, browser):
    context, page = _page(browser)
    try:
        page.goto(dashboard.ui("/catalog"))
        page.get_by_label("Access").select_option("closed")
        page.wait_for_function("[...document.querySelectorAll('#catalog-table .badge')]"
                               ".every(b => b.textContent === 'closed')")
        assert page.locator("#catalog-table .cite").count() > 0  # sources beside the facts
        page.goto(dashboard.ui("/catalog/llama-3.1-405b"))
        page.wait_for_selector("#fit-verdict")
        page.get_by_label("Hardware").select_option("8x-h100")
        page.get_by_label("Precision").select_option("fp16")
        page.wait_for_function("document.querySelector('#fit-result').textContent"
                               ".includes('8 × NVIDIA H100')")
        verdict = page.locator("#fit-verdict").inner_text()
        assert verdict.startswith(("Fits", "Does not fit"))
        rows = page.locator("#fit-breakdown tbody tr").all_inner_texts()
        assert [r.split("\t")[0] for r in rows] == ["weights", "KV cache", "overhead", "total"]
    finally:
        context.close()


def test_gateway_figures_equal_lmscape_usage_to_the_cent(dashboard, browser):
    context, page = _page(browser)
    try:
        page.goto(dashboard.ui("/gateway"))
        routed = page.locator("#usage-route tbody tr .group").all_inner_texts()
        assert routed == [r["group"] for r in _usage_cli(dashboard, "route")]
        for by in ("key", "model", "day", "served"):
            cli = _usage_cli(dashboard, by)
            table = page.locator(f"#usage-{by} tbody tr")
            shown = {table.nth(i).locator(".group").inner_text():
                     (int(table.nth(i).locator(".requests").inner_text()),
                      table.nth(i).locator(".cost").inner_text())
                     for i in range(table.count())}
            assert shown == {r["group"]: (r["requests"], f"{r['cost_usd']:.6f}") for r in cli}
            assert sum(round(float(c), 2) * 100 for _, c in shown.values()) == pytest.approx(
                sum(round(r["cost_usd"], 2) * 100 for r in cli))
        # budgets: spent is the settled usage of the key; the rest of its record is reserved
        by_key = {r["group"]: r["cost_usd"] for r in _usage_cli(dashboard, "key")}
        first = dashboard.seeded["keys"][0]
        row = page.locator(f'#keys-table tr[data-key="{first}"]')
        assert row.locator(".spent-usd").inner_text() == f"{by_key[first]:.6f}"
        assert row.locator(".reserved-usd").inner_text() == (
            f"{dashboard.seeded['reserved_nusd'] / 1e9:.6f}")
        assert row.locator(".bar .reserved").count() == 1
    finally:
        context.close()


def test_a_running_bench_shows_live_progress(dashboard, browser):
    import sqlalchemy as sa

    from lmscape.store.schema import results, runs

    engine = sa.create_engine(dashboard.db_url)
    now = dt.datetime.now(dt.UTC)
    run_id = "live" + "0" * 60
    with engine.begin() as conn:  # what the runner writes when a run starts, then per item
        conn.execute(runs.insert().values(
            id=run_id, system="vader-live", model=None, method="vader", task="sentiment",
            task_version="1", dataset="sst2:dev", params={}, machine={}, status="running",
            n_items=10, summary=None, started_at=now, finished_at=None))
        conn.execute(results.insert(), [
            {"run_id": run_id, "item_id": f"i{i}", "cache_key": f"k{i}", "created_at": now}
            for i in range(3)])
    context, page = _page(browser)
    try:
        page.goto(dashboard.ui("/runs"))
        row = page.locator("#run-live0000 .count")
        assert row.inner_text() == "3/10"
        with engine.begin() as conn:
            conn.execute(results.insert(), [
                {"run_id": run_id, "item_id": f"i{i}", "cache_key": f"k{i}", "created_at": now}
                for i in range(3, 7)])
        page.wait_for_function(
            "document.querySelector('#run-live0000 .count').textContent === '7/10'",
            timeout=15_000)
        page.screenshot(path=str(ARTEFACTS / "runs.png"), full_page=True)  # one in progress
        publish("runs")
        with engine.begin() as conn:
            conn.execute(runs.update().where(runs.c.id == run_id).values(status="failed"))
        page.wait_for_function("document.querySelector('#runs').dataset.live === 'no'",
                               timeout=15_000)
    finally:
        context.close()
        engine.dispose()


def test_playground_answer_streams_in_pieces(dashboard, browser):
    errors: list[str] = []
    context, page = _page(browser, errors)
    try:
        page.goto(dashboard.ui("/playground"))
        page.get_by_label("Model or policy").select_option(CHAT_MODEL)
        page.get_by_label("Max tokens").fill("24")
        page.get_by_label("Temperature").fill("0")
        # record every length the answer had, and whether text showed before the end
        page.evaluate("""() => { window.lengths = []; window.grewBeforeDone = false;
            new MutationObserver(() => { const a = document.querySelector('.msg.assistant');
              const t = a && a.querySelector('.text');
              if (!t) return;
              window.lengths.push(t.textContent.length);
              if (t.textContent && !a.dataset.done) window.grewBeforeDone = true; })
            .observe(document.getElementById('chat'), {subtree: true, childList: true,
                                                       characterData: true}); }""")
        page.get_by_label("Message").fill("Name three colours.")
        page.get_by_role("button", name="Send").click()
        page.wait_for_selector(".msg.assistant[data-done], .msg.assistant[data-error]",
                               timeout=180_000)
        answer = page.locator(".msg.assistant")
        assert answer.get_attribute("data-error") is None, answer.get_attribute("data-error")
        # each streamed piece is shown as its event is read, before the answer is done (how
        # many DOM updates that makes depends on how the browser's reads split the stream)
        assert int(answer.get_attribute("data-chunks")) >= 2
        assert page.evaluate("window.grewBeforeDone"), page.evaluate("window.lengths")
        meta = answer.locator(".meta").inner_text()
        for part in (f"answered by {CHAT_MODEL}", "time to first token", "tokens/s", "cost $"):
            assert part in meta, meta
        # a local model is billed by wall time x LMSCAPE_HARDWARE_USD_PER_HOUR, as the gateway bills it
        assert float(re.search(r"cost \$([0-9.]+)", meta).group(1)) > 0, meta
        page.screenshot(path=str(ARTEFACTS / "playground.png"), full_page=True)
        publish("playground")
    finally:
        context.close()
    assert errors == []


def test_axe_finds_no_label_or_keyboard_violations(dashboard, browser):
    context, page = _page(browser)
    found = {}
    try:
        for name, path in PAGES.items():
            page.goto(dashboard.ui(path))
            _settle(page)
            page.add_script_tag(path=str(AXE))
            result = page.evaluate("""async () => {
                const r = await axe.run({include: [document], exclude: [['.modebar']]},
                                        {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa',
                                                                         'wcag21a', 'wcag21aa',
                                                                         'best-practice']}});
                return r.violations.map(v => v.id + ': ' + v.nodes.slice(0, 3)
                    .map(n => n.target.join(' ')).join(' | '));
            }""")
            if result:
                found[name] = result
            # every control can be reached with the keyboard
            tab_stops = page.evaluate("""() => [...document.querySelectorAll(
                'a[href], button, input:not([type=hidden]), select, textarea')]
                .filter(e => !e.closest('.modebar') && e.offsetParent !== null && e.tabIndex < 0)
                .map(e => e.outerHTML.slice(0, 80))""")
            assert tab_stops == [], (name, tab_stops)
    finally:
        context.close()
    assert found == {}


def test_keys_made_on_the_page_follow_the_api_rule(dashboard, browser):
    from openai import OpenAI

    context, page = _page(browser)
    page.on("dialog", lambda d: d.accept())
    try:
        page.goto(dashboard.ui("/gateway"))
        page.get_by_label("Name", exact=True).fill("ops-admin")
        page.get_by_label("admin (may use this dashboard)").check()
        page.get_by_role("button", name="Create key").click()
        admin_secret = page.locator("#new-secret").input_value()
        assert admin_secret.startswith("lms-")
        assert "signed in as" in page.locator("header .who").inner_text()
        # the session is an admin key now: make an API key for an application
        page.get_by_label("Name", exact=True).fill("app")
        page.get_by_label("Budget (USD)").fill("1")
        page.get_by_role("button", name="Create key").click()
        app_secret = page.locator("#new-secret").input_value()
        assert app_secret.startswith("lms-") and app_secret != admin_secret
        page.goto(dashboard.ui("/gateway"))
        assert app_secret not in page.content() and admin_secret not in page.content()
    finally:
        context.close()

    client = OpenAI(base_url=f"{dashboard.url}/v1", api_key=app_secret, max_retries=0)
    reply = client.chat.completions.create(
        model=CHAT_MODEL, max_tokens=4, temperature=0,
        messages=[{"role": "user", "content": "Say hi."}])
    assert reply.choices[0].message is not None and reply.usage.completion_tokens >= 1
    time.sleep(6)  # the gateway caches "no keys yet" for key_cache_ttl_s (5 s)
    anonymous = OpenAI(base_url=f"{dashboard.url}/v1", api_key="EMPTY", max_retries=0)
    with pytest.raises(Exception, match="401|API key"):
        anonymous.chat.completions.create(model=CHAT_MODEL, max_tokens=2,
                                          messages=[{"role": "user", "content": "x"}])

    # the dashboard: no key -> login; an API key -> 403; the admin key -> the page
    plain = httpx.get(dashboard.ui("/gateway"), follow_redirects=False)
    assert plain.status_code == 303 and "/ui/login" in plain.headers["location"]
    refused = httpx.get(dashboard.ui("/gateway"),
                        headers={"Authorization": f"Bearer {app_secret}"})
    assert refused.status_code == 403 and "not an admin key" in refused.text
    allowed = httpx.get(dashboard.ui("/gateway"),
                        headers={"Authorization": f"Bearer {admin_secret}"})
    assert allowed.status_code == 200 and 'data-key="app"' in allowed.text

    context, page = _page(browser)
    try:
        page.goto(dashboard.ui("/leaderboards"))
        assert "/ui/login" in page.url
        page.get_by_label("Admin key").fill(app_secret)
        page.get_by_role("button", name="Sign in").click()
        assert "not an admin key" in page.locator(".error").inner_text()
        page.get_by_label("Admin key").fill(admin_secret)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url("**/ui/leaderboards")
        # a form posted without the page's CSRF token is refused, even with the cookie
        status = page.evaluate("""async () => (await fetch('/ui/gateway/keys', {method: 'POST',
            headers: {'Content-Type': 'application/x-www-form-urlencoded'},
            body: 'name=sneaky'})).status""")
        assert status == 403
    finally:
        context.close()
