"""A real ``lmscape serve`` on loopback for the dashboard tests, over a store of real
bench runs and gateway usage, and Playwright driving Debian's Chromium.

Chromium or Playwright missing: the browser tests are skipped with the reason, except
where ``LMSCAPE_REQUIRE_SERVICES=1`` (CI), where they fail.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import yaml
from tests.net import free_port

CHROMIUM = "/usr/bin/chromium"
ROOT = Path(__file__).parents[2]
ARTEFACTS = Path(os.environ.get("LMSCAPE_TEST_ARTEFACTS", ROOT / "test-artefacts" / "ui"))
SCREENSHOTS = ROOT / "docs" / "screenshots"
# The README's screenshots are refreshed only when asked, so a test run leaves the tree clean:
#   LMSCAPE_UPDATE_SCREENSHOTS=1 make test PYTEST_ARGS=tests/ui/test_browser.py
UPDATE_SCREENSHOTS = os.environ.get("LMSCAPE_UPDATE_SCREENSHOTS") == "1"
AXE = Path(__file__).parent / "vendor" / "axe.min.js"
CHAT_MODEL = "smollm2-135m-instruct"


def need_service(name: str, ok: bool, why: str) -> None:
    """Skip with the reason where a service is absent; fail in CI, where it must run."""
    if ok:
        return
    if os.environ.get("LMSCAPE_REQUIRE_SERVICES"):
        pytest.fail(f"{name} is required in CI but unavailable: {why}")
    print(f"skipping: {name} unavailable: {why}")
    pytest.skip(f"{name} unavailable: {why}")


def browser_ready() -> tuple[bool, str]:
    if not (os.path.exists(CHROMIUM) or shutil.which("chromium")):
        return False, f"{CHROMIUM} is missing (apt-get install -y chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return False, "the playwright package is not installed (pip install 'lmscape[test]')"
    return True, ""


@dataclass
class Dashboard:
    url: str  # http://127.0.0.1:PORT
    db_url: str
    env: dict[str, str]
    seeded: dict
    log: Path
    process: subprocess.Popen

    def ui(self, path: str = "") -> str:
        return f"{self.url}/ui{path}"


def _store(tmp: Path) -> tuple[str, dict]:
    from lmscape.store import open_store

    from .seed import measure_runs, seed_usage

    url = f"sqlite:///{tmp / 'dashboard.db'}"
    store = open_store(url)
    try:
        measure_runs(store)
        seeded = seed_usage(store, 400)
    finally:
        store.close()
    return url, seeded


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory) -> Iterator[Dashboard]:
    """``lmscape serve`` (embedded local models, no catalog APIs) on a free loopback port
    (only built where the browser tests can run: they are its only users)."""
    need_service("Chromium", *browser_ready())
    tmp = tmp_path_factory.mktemp("dashboard")
    home = tmp / "home"
    old_home = os.environ.get("LMSCAPE_HOME")
    os.environ["LMSCAPE_HOME"] = str(home)
    try:
        db_url, seeded = _store(tmp)
    finally:
        if old_home is None:
            os.environ.pop("LMSCAPE_HOME", None)
        else:
            os.environ["LMSCAPE_HOME"] = old_home
    config = tmp / "gateway.yaml"
    config.write_text(yaml.safe_dump({"include_catalog": False, "include_embedded": True}))
    port = free_port()
    env = {**os.environ, "LMSCAPE_HOME": str(home), "LMSCAPE_DB": db_url,
           "LMSCAPE_THREADS": "1", "HF_HUB_OFFLINE": "1",
           "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
    for name in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GOOGLE_API_KEY", "GEMINI_API_KEY"):
        env.pop(name, None)
    log = tmp / "serve.log"
    proc = subprocess.Popen([sys.executable, "-m", "lmscape.cli.main", "serve", "--port",
                             str(port), "--config", str(config)], env=env,
                            stdout=log.open("w"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        if proc.poll() is not None:
            raise RuntimeError("lmscape serve exited:\n" + log.read_text())
        try:
            if httpx.get(f"{url}/ui/login", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            proc.terminate()
            raise RuntimeError("lmscape serve did not start:\n" + log.read_text())
        time.sleep(0.3)
    try:
        yield Dashboard(url=url, db_url=db_url, env=env, seeded=seeded, log=log, process=proc)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture(scope="module")
def browser():
    ok, why = browser_ready()
    need_service("Chromium", ok, why)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run"])
        try:
            yield browser
        finally:
            browser.close()


def publish(name: str) -> None:
    """Copy test-artefacts/ui/NAME.png to docs/screenshots when LMSCAPE_UPDATE_SCREENSHOTS=1."""
    if UPDATE_SCREENSHOTS:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ARTEFACTS / f"{name}.png", SCREENSHOTS / f"{name}.png")
