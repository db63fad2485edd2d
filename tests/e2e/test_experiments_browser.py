"""Experiments in a real browser: a run goes on through a page reload (it runs on the app's own thread,
not the page's), the cells finished before the reload are still there, and a cancelled run resumes
without sending a finished cell again.

`python -m tests.e2e.test_experiments_browser` saves docs/screenshots/experiments.png instead: the
built-in set run under the four default variants, at 1280x800.
"""

from __future__ import annotations

import re
import sqlite3
import time
from pathlib import Path

import pytest

from lib.embedded import free_port
from lib.experiments import builtin, formats
from lib.experiments.cases import TestSet
from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS, ROOT, chromium_or_skip, start_app

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

DONE = re.compile(r"(\d+) of (\d+) cells (done|finished)")


@pytest.fixture(scope="module")
def experiments_app(tmp_path_factory):
    """An app process of its own, with a database the test can read."""
    chromium_or_skip()
    db = tmp_path_factory.mktemp("experiments") / "context_lab.db"
    port = free_port()
    process = start_app(port, {"CONTEXT_LAB_DB": str(db)})
    yield f"http://127.0.0.1:{port}", db
    process.terminate()
    process.wait(timeout=20)


def open_experiments(page, url: str) -> None:
    page.goto(url)
    page.get_by_text("Context Lab").first.wait_for()
    page.get_by_role("link", name="Experiments").click()
    page.get_by_role("heading", name="Experiments").wait_for()


def section(page, name: str) -> None:
    page.get_by_test_id("stRadio").get_by_text(name, exact=True).click()


def import_set(page, test_set: TestSet) -> None:
    uploader = page.get_by_test_id("stMain").locator('[data-testid="stFileUploaderDropzoneInput"]')
    data = formats.to_jsonl(test_set).encode()
    uploader.set_input_files(files=[{"name": "small.jsonl", "mimeType": "application/jsonl", "buffer": data}])
    page.get_by_text(f"{len(test_set.cases)} cases.").first.wait_for()


def cells_done(page) -> tuple[int, int]:
    """The page's own count: "N of M cells done" while it runs, "N of M cells finished" after."""
    text = page.get_by_text(DONE).first.inner_text()
    found = DONE.search(text)
    return int(found.group(1)), int(found.group(2))


def wait_until(condition, timeout_s: float = 600, every_s: float = 0.5):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(every_s)
    raise AssertionError("timed out")


def at_least(page, wanted: int):
    def check():
        try:
            done, _ = cells_done(page)
        except Exception:  # the count is being redrawn
            return None
        return done if done >= wanted else None

    return check


def rows(db: Path, query: str) -> list[tuple]:
    with sqlite3.connect(db) as conn:
        return conn.execute(query).fetchall()


def test_a_reload_mid_run_keeps_the_finished_cells_and_the_run_resumes(browser, experiments_app):
    url, db = experiments_app
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.set_default_timeout(180_000)
    open_experiments(page, url)
    small = TestSet("Five facts", builtin.test_set().cases[:5])
    import_set(page, small)
    section(page, "Run")
    page.get_by_role("button", name=re.compile("Run 20 cells")).click()
    before = wait_until(at_least(page, 2))
    page.reload()  # the page's script ends here; the run does not
    page.get_by_role("heading", name="Experiments").wait_for()
    after = wait_until(at_least(page, before))  # the URL names the run: its finished cells are drawn again
    assert after >= before
    cancel = page.get_by_role("button", name=re.compile("Cancel"))
    assert cancel.count() == 1, "the run should still be going after the reload"
    cancel.click()
    resume = page.get_by_role("button", name=re.compile(r"Resume: \d+ cells left"))
    resume.wait_for()
    kept, total = cells_done(page)
    assert total == 20 and kept >= after
    (status,) = rows(db, "SELECT status FROM experiment_runs")
    assert status == ("cancelled",)
    assert rows(db, "SELECT COUNT(*) FROM experiment_cells") == [(kept,)]
    resume.click()
    wait_until(lambda: page.get_by_text("20 of 20 cells finished").count() > 0)
    assert rows(db, "SELECT COUNT(*) FROM experiment_cells") == [(20,)]
    # Each cell was sent once: a resumed run skips what is written (a call stopped by Cancel was not written).
    logged = rows(db, "SELECT COUNT(*) FROM calls WHERE variant LIKE 'experiment · %'")
    assert logged == [(20,)]
    grid = page.get_by_test_id("stDataFrame").first
    assert grid.is_visible()
    context.close()


def shoot_results(page, out: Path) -> None:
    """The results of the run shown: the grid (experiments.png), then the frontier and the forgetting
    curve (experiments_frontier.png)."""
    page.get_by_test_id("stDataFrame").first.scroll_into_view_if_needed()
    page.wait_for_timeout(1500)
    page.screenshot(path=out)
    page.get_by_text("Frontier against").scroll_into_view_if_needed()
    page.mouse.wheel(0, 250)
    page.wait_for_timeout(2500)
    page.screenshot(path=out.with_name("experiments_frontier.png"))


def screenshot(reuse: bool = False) -> None:
    """docs/screenshots/experiments*.png at 1280x800: the built-in set run under the four default
    variants (`--reuse`: the last run in ./data's database, not a new one)."""
    from playwright.sync_api import sync_playwright

    out = ROOT / "docs" / "screenshots" / "experiments.png"
    port = free_port()
    app = start_app(port)
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.set_default_timeout(1_800_000)
            open_experiments(page, f"http://127.0.0.1:{port}")
            if reuse:
                section(page, "Results")
            else:
                section(page, "Run")
                page.get_by_role("button", name=re.compile("Run 64 cells")).click()
            wait_until(lambda: page.get_by_text("64 of 64 cells finished").count() > 0, timeout_s=3600, every_s=2)
            shoot_results(page, out)
            browser.close()
        print(f"saved {out} and {out.with_name('experiments_frontier.png')}")
    finally:
        app.terminate()
        app.wait(timeout=20)


if __name__ == "__main__":
    import sys

    screenshot(reuse="--reuse" in sys.argv)
