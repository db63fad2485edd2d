"""A real app process (`make run` semantics) and Debian's Chromium driven by Playwright."""

import os
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from lib.backends.embedded import free_port

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
# V8's optimising compilers (Maglev, TurboFan) off: a test's page lives seconds, and the hot functions they
# compile (Streamlit's React drawing each rerun) are rarely run long enough to pay the compiling back.
# Measured 2026-12-08, files pinned to one core, runs interleaved: the browser's CPU on the chat layout
# tests 23.5-24.6 s with them (3 runs), 19.5-22.6 s without (4); the tool tests 32.4, 33.9 s against
# 26.5, 30.9 s.
# What a page does is the same either way (the flags change how fast JavaScript runs, not what it does);
# the interpreter alone (--jitless) was slower.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--no-first-run",
    "--js-flags=--no-opt --no-maglev",
]


def chromium_or_skip() -> str:
    if Path(CHROMIUM).exists() or shutil.which(CHROMIUM):
        return CHROMIUM
    message = "Chromium not found: `sudo apt-get install chromium` (Debian) enables the browser tests"
    if os.environ.get("CONTEXT_LAB_REQUIRE_BROWSER"):
        pytest.fail(message)
    pytest.skip(message)


def start_app(port: int, env: dict[str, str] | None = None, script: str = "app.py") -> subprocess.Popen:
    process = launch_app(port, env, script)
    wait_for_app(process, port)
    return process


def launch_app(port: int, env: dict[str, str] | None = None, script: str = "app.py") -> subprocess.Popen:
    """The app's process, started; `wait_for_app` returns once it serves."""
    command = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        script,
        "--server.port",
        str(port),
        "--server.headless",
        "true",
        "--browser.gatherUsageStats",
        "false",
    ]
    return subprocess.Popen(
        command, cwd=ROOT, env={**os.environ, **(env or {})}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


def wait_for_app(process: subprocess.Popen, port: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=1):
                return
        except OSError:
            time.sleep(0.3)
    process.kill()
    raise RuntimeError("the app did not start")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A failed browser test says what its page showed when it failed: CI keeps only the printed
    report, and a timeout's traceback alone does not tell a hung page from a crashed one."""
    outcome = yield
    report = outcome.get_result()
    if report.when != "call" or not report.failed:
        return
    from playwright.sync_api import Page

    # The test's page, whatever its fixture is called (`page`, `small`, `laptop`, …).
    page = next((value for value in getattr(item, "funcargs", {}).values() if isinstance(value, Page)), None)
    if page is None:
        return
    try:
        shown = page.locator("body").inner_text(timeout=5_000)
        report.sections.append(("page at failure", f"{page.url}\n{shown[-6_000:]}"))
    except Exception as exc:  # a page that cannot be read says so; the test's own failure stands
        report.sections.append(("page at failure", f"the page could not be read: {exc}"))


@pytest.fixture(scope="session")
def shared_app(tmp_path_factory):
    """The run's app process and its SQLite store: (base URL, store path). A test that writes to the store
    (a saved comparison, a test set) takes this; one that only browses takes `app_url`. A fresh app's
    first page is seconds (its imports, its embedded model's start): shared, it is paid once (issue 27)."""
    chromium_or_skip()
    port = free_port()
    # Its own session store: not ./data, and not shared with other app processes running meanwhile.
    path = tmp_path_factory.mktemp("e2e") / "context_lab.db"
    process = start_app(port, {"CONTEXT_LAB_DB": str(path)})
    yield f"http://127.0.0.1:{port}", path
    process.terminate()
    process.wait(timeout=20)


@pytest.fixture(scope="session")
def app_url(shared_app):
    return shared_app[0]


@pytest.fixture(scope="session")
def browser():
    executable = chromium_or_skip()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@contextmanager
def app_page(browser, url: str, width: int = 1500, height: int = 1000, timeout_ms: int = 120_000) -> Iterator:
    """A new browser context (a new owner: its own cookies) with the app loaded at `url`; closed after."""
    context = browser.new_context(viewport={"width": width, "height": height})
    try:
        page = context.new_page()
        page.set_default_timeout(timeout_ms)
        page.goto(url)
        page.get_by_text("Context Lab").first.wait_for()
        yield page
    finally:
        context.close()


@pytest.fixture
def page(browser, app_url):
    with app_page(browser, app_url) as page:
        yield page
