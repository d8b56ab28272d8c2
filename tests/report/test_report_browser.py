"""The generated report renders its plots in headless Chromium with no network."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from report_helpers import need_service, report_store  # noqa: F401 - fixture

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]

pytestmark = pytest.mark.browser


def _browser_ready() -> tuple[bool, str]:
    if not (os.path.exists(CHROMIUM) or shutil.which("chromium")):
        return False, f"{CHROMIUM} is missing (apt-get install -y chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return False, "the playwright package is not installed (pip install playwright)"
    return True, ""


def test_report_plots_render_offline(tmp_path, report_store):  # noqa: F811 - the fixture
    ok, why = _browser_ready()
    need_service("Chromium", ok, why)
    from playwright.sync_api import sync_playwright

    from lmscape.report.html import write_report

    page_path = write_report(report_store, tmp_path / "report.html")
    shot = Path(os.environ.get("LMSCAPE_REPORT_SCREENSHOT", tmp_path / "report.png"))
    requests: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.on("request", lambda r: requests.append(r.url))
            page.goto(page_path.as_uri())
            page.wait_for_selector(".js-plotly-plot .scatterlayer .point", timeout=30_000)
            plots = page.locator(".plot .js-plotly-plot")
            assert plots.count() == 3  # quality vs cost, vs latency, vs memory
            for i in range(plots.count()):
                points = plots.nth(i).locator(".scatterlayer .point")
                assert points.count() > 0, f"plot {i} has no points"
            # the Pareto frontier is drawn, reported points have their own legend entry
            legend = page.locator(".legendtext").evaluate_all("els => els.map(e => e.textContent)")
            assert any("Pareto frontier" in t for t in legend)
            assert any("reported" in t for t in legend)
            assert page.locator("tr.reported .badge.reported").count() >= 1
            assert page.locator("tr.measured").count() == 2
            page.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()
    assert shot.stat().st_size > 10_000
    assert all(u.startswith(("file:", "data:", "about:")) for u in requests), requests
