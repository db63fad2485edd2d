"""An experiment in a real browser: refreshed in the middle of its run, the page finds the cells that
were finished still there (the run went on meanwhile, on the app's side), and the run resumable:
cancelled, it offers to send exactly the cells left, and a resume counts on from there."""

import re

import pytest

from lib.analysis.experiments import store
from lib.analysis.experiments.cases import Case, Check, Conversation, TestSet
from lib.context.conversation import Message
from lib.store import storage
from tests.e2e.conftest import app_page
from tests.e2e.test_chat_browser import wait_until_settled

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

CASES = 50  # x the page's 4 default variants: 200 cells, a run that outlasts a refresh on any machine
HISTORY = Conversation(
    "inline", (Message("user", "My name is Ada.", id="h0"), Message("assistant", "Hi Ada.", id="h1"))
)


@pytest.fixture(scope="module")
def app(shared_app):
    """The run's app process (issue 27: an app start and its embedded model's start were a third of each
    test). Each test still starts from what it needs: its own set, saved last (the page opens the
    newest), and a new browser (a new owner, who claims that set as it opens the page,
    ui/experiments/common.claim_unowned, and sees no other test's sets or runs)."""
    return shared_app


@pytest.fixture
def page(browser, app):
    """The app with one small set (short prompts: each call is quick on the embedded model, however
    loaded the machine), so the run is many quick calls."""
    yield from _app_with(browser, app, CASES)


@pytest.fixture
def one_case_page(browser, app):
    yield from _app_with(browser, app, 1)


def _app_with(browser, app, cases_count: int):
    url, db = app
    cases = tuple(
        Case(f"q{i:02d}", f"Question {i}: what is my name?", HISTORY, (Check("contains", "Ada"),))
        for i in range(cases_count)
    )
    with storage.opened(db) as conn:
        store.save_set(conn, TestSet("Quick set", cases))
    with app_page(browser, url) as page:
        yield page


PROGRESS = re.compile(r"([\d,]+) of ([\d,]+) cells done")
TALLY = re.compile(r"([\d,]+) of ([\d,]+) cells finished")


def count(pattern: re.Pattern, text: str) -> tuple[int, int]:
    found = pattern.search(text)
    assert found, f"{pattern.pattern!r} not in {text[:300]!r}"
    return int(found[1].replace(",", "")), int(found[2].replace(",", ""))


def wait_for_done(page, at_least: int) -> int:
    """Until the live progress says at least `at_least` cells are done; how many it says."""
    page.wait_for_function(
        """n => {
            const m = document.body.innerText.match(/([\\d,]+) of [\\d,]+ cells done/);
            return m && parseInt(m[1].replace(/,/g, '')) >= n;
        }""",
        arg=at_least,
        timeout=300_000,
    )
    return count(PROGRESS, page.locator("body").inner_text())[0]


def cancel_and_wait_for_resume(page):
    page.get_by_role("button", name="Cancel").click()
    resume = page.get_by_role("button", name=re.compile(r"Resume: [\d,]+ cells left"))
    resume.wait_for(timeout=300_000)  # the calls in flight stopped: the run is no longer live
    wait_until_settled(page)
    return resume


def test_a_refresh_mid_run_keeps_the_finished_cells_and_the_run_resumes_from_them(page):
    page.get_by_role("link", name="Experiments").click()
    page.get_by_text("Test set", exact=True).first.wait_for()
    wait_until_settled(page)
    page.locator('[data-testid="stRadio"] label').filter(has_text=re.compile(r"^Run$")).click()
    run = page.get_by_role("button", name=re.compile(r"Run [\d,]+ cells"))
    run.wait_for()
    wait_until_settled(page)
    replies = page.get_by_test_id("stMainBlockContainer").get_by_label("Max reply tokens")
    replies.fill("3")  # short replies: quick cells
    replies.press("Enter")
    wait_until_settled(page)
    total = int(re.search(r"Run ([\d,]+) cells", run.inner_text())[1].replace(",", ""))
    assert total == 4 * CASES  # the set under the four default variants, on the embedded model
    run.click()

    before = wait_for_done(page, 2)
    assert before < total  # still running: the refresh comes in the middle of the run
    page.reload()  # F5: a new browser session; the run goes on in the app's process
    after = wait_for_done(page, before)  # the cells finished before the refresh are all still counted
    assert after >= before

    resume = cancel_and_wait_for_resume(page)
    finished, of = count(TALLY, page.locator("body").inner_text())
    assert of == total and before <= finished < total
    left = int(re.search(r"Resume: ([\d,]+) cells left", resume.inner_text())[1].replace(",", ""))
    assert left == total - finished  # only the unfinished cells are to be sent again

    resume.click()  # the resume counts on from the finished cells: it does not start over
    assert wait_for_done(page, finished + 1) > finished
    cancel_and_wait_for_resume(page)  # leave the embedded model idle for the next test
    finished_again, _ = count(TALLY, page.locator("body").inner_text())
    assert finished_again > finished


def _run_the_set(page) -> int:
    page.get_by_role("link", name="Experiments").click()
    page.get_by_text("Test set", exact=True).first.wait_for()
    wait_until_settled(page)
    page.locator('[data-testid="stRadio"] label').filter(has_text=re.compile(r"^Run$")).click()
    run = page.get_by_role("button", name=re.compile(r"Run [\d,]+ cells"))
    run.wait_for()
    wait_until_settled(page)
    replies = page.get_by_test_id("stMainBlockContainer").get_by_label("Max reply tokens")
    replies.fill("3")  # short replies: quick cells
    replies.press("Enter")
    wait_until_settled(page)
    total = int(re.search(r"Run ([\d,]+) cells", run.inner_text())[1].replace(",", ""))
    run.click()
    return total


def test_a_finished_run_is_not_shown_as_running_in_the_run_picker(one_case_page):
    """The picker was drawn while the run went on; once the page shows it done, the picker must not
    still say "running · 0/N" (a browser keeps the text an option had when it was picked)."""
    page = one_case_page
    total = _run_the_set(page)
    tally = page.get_by_text(re.compile(r"cells finished"))
    tally.first.wait_for(timeout=300_000)  # the live view is over: the run's page is drawn whole again
    wait_until_settled(page)
    assert count(TALLY, page.locator("body").inner_text()) == (total, total)
    picker = page.get_by_test_id("stSelectbox").filter(has=page.get_by_text("Run", exact=True)).first
    # what the picker shows: its text, and the value of its search field (where the picked option stands)
    shown = picker.inner_text() + " " + " ".join(box.input_value() for box in picker.locator("input").all())
    assert "Quick set" in shown and "running" not in shown and f"0/{total}" not in shown, shown
    assert "done" in page.get_by_test_id("stMainBlockContainer").inner_text()
