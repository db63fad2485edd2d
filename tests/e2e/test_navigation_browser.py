"""The sidebar's page names after a server restart, in Chromium: a tab left open reconnects to the new
server, whose first run of a page was Streamlit's old "pages/ folder" mode (pages listed by file name)."""

import time

import pytest

from lib.backends.embedded import free_port
from tests.e2e.conftest import start_app

pytestmark = pytest.mark.slow

TITLES = [
    "Chat",
    "Compare",
    "Experiments",
    "Cost timeline",
    "Token inspector",
    "Why the API has no memory",
    "Run log",
    "Presenter view",
]


def _names(page) -> list[str]:
    return [text.split("\n")[-1] for text in page.locator('[data-testid="stSidebarNav"] a').all_inner_texts()]


def test_after_a_server_restart_the_sidebar_names_the_pages_by_their_titles(tmp_path, browser):
    """Was: "app", "chat", "compare", "run log"… for as long as nothing ran app.py (40 s and more here).
    The session's browser (a second sync Playwright in one worker fails: one event loop per thread)."""
    port, env = free_port(), {"CONTEXT_LAB_DB": str(tmp_path / "context_lab.db")}
    process = start_app(port, env)
    try:
        context = browser.new_context(viewport={"width": 1280, "height": 800})
        try:
            page = context.new_page()
            page.goto(f"http://127.0.0.1:{port}")
            page.get_by_text("Why the API has no memory").first.wait_for(timeout=120_000)
            process.terminate()
            process.wait(timeout=20)
            process = start_app(port, env)  # the same address: the open tab reconnects by itself
            seen: list[list[str]] = []
            deadline = time.monotonic() + 60  # generous: the first run after a start imports everything
            while time.monotonic() < deadline:
                names = _names(page)
                if not seen or seen[-1] != names:
                    seen.append(names)
                if len(seen) > 1 and names == TITLES:  # reconnected, and titled
                    break
                time.sleep(0.1)
        finally:
            context.close()
    finally:
        process.terminate()
        process.wait(timeout=20)
    assert seen[-1] == TITLES, seen
