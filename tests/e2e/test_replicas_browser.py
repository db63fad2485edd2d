"""Two replicas of the app sharing one store, driven by one browser (one owner cookie: one user behind a
load balancer that sent them to one replica, then the other): a session made and sent on replica A
opens on replica B under the same URL with the same messages; a comparison run on A is listed on B; a
message sent on B lands in the same session; the run log of either replica holds the calls of both.

The store is only the CONTEXT_LAB_DB value both processes get: a SQLite file (two replicas on one
machine) or a PostgreSQL URL (the team deployment). Each replica runs its own embedded model, as a
replica does by default (README, *Team deployment*).
"""

import re

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from lib.analysis.compare import PRESETS
from lib.backends.embedded import free_port
from tests.e2e.conftest import launch_app, wait_for_app
from tests.e2e.test_chat_browser import send, short_replies, wait_for_messages, wait_until_settled
from tests.e2e.test_compare_browser import INNERMOST, _remove_variant

pytestmark = [pytest.mark.slow, pytest.mark.e2e]
SESSION_IN_URL = re.compile(r"[?&]session=([A-Za-z0-9_-]+)")
KEPT = PRESETS[:2]  # the comparison's two variants
# The replies' length is not the point here (only that each is there, the same on both replicas): a short
# limit, set in A's sidebar and kept with the session, makes each of the four calls to the embedded model
# a second or two instead of up to 256 tokens' worth (most of this test's time, issue 27).
REPLY_TOKENS = 12


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path) -> str:
    """The CONTEXT_LAB_DB value both replicas get: a new SQLite file, or the run's PostgreSQL database at the
    newest schema, emptied (`postgres_store`: a new database for each run of this test was a CREATE DATABASE
    and a migration by the first replica, neither of which this test is about)."""
    if request.param == "sqlite":
        return str(tmp_path / "shared.db")
    return request.getfixturevalue("postgres_store")


@pytest.fixture
def replicas(store, browser):
    """Two app processes on two ports, one store; their base URLs. Started together (neither needs the
    other: the second no longer waits for the first to serve; 3 s of setup on one core), stopped after."""
    processes, ports = [], [free_port()]
    while len(ports) < 2:  # two calls may hand out one free port twice
        ports = list(dict.fromkeys([*ports, free_port()]))
    try:
        for port in ports:
            processes.append(launch_app(port, {"CONTEXT_LAB_DB": store}))
        for process, port in zip(processes, ports, strict=True):
            wait_for_app(process, port)
        yield [f"http://127.0.0.1:{port}" for port in ports]
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=20)


def _open(context, url: str):
    page = context.new_page()
    page.set_default_timeout(120_000)
    page.goto(url)
    page.get_by_text("Context Lab").first.wait_for()
    page.wait_for_url(SESSION_IN_URL)
    wait_until_settled(page)
    return page


def _session_of(page) -> str:
    match = SESSION_IN_URL.search(page.url)
    assert match, page.url
    return match.group(1)


def _messages(page) -> list[str]:
    """Each history message's text as drawn (its controls left out: those differ for the last message)."""
    return page.locator('[data-testid="stChatMessage"]').evaluate_all(
        """messages => messages.map(m => {
            const texts = m.querySelectorAll('[data-testid="stMarkdownContainer"], [data-testid="stCaptionContainer"]');
            const text = [...texts].find(e => !e.closest('[class*="st-key-msgrow_"]'));
            return text ? text.innerText.trim() : '';
        })"""
    )


def _answer_cards(page) -> list[str]:
    page.get_by_text("Answers to").first.wait_for(timeout=300_000)
    wait_until_settled(page)
    cards = page.locator(INNERMOST).filter(has_text=" · reported ")
    return [cards.nth(i).inner_text() for i in range(cards.count())]


def _go(page, link: str) -> None:
    """Open a page from the navigation; return once it has drawn (its own element shown, its run over)."""
    page.get_by_role("link", name=link).click()
    landmarks = {
        "Chat": page.get_by_label("Your message"),
        "Compare": page.get_by_role("heading", name="Compare contexts"),
        "Run log": page.get_by_role("heading", name="Run log"),
    }
    landmarks[link].wait_for()
    wait_until_settled(page)


def _calls_shown(page) -> int:
    metric = page.locator('[data-testid="stMetric"]').filter(has_text="Calls").first
    return int(re.sub(r"[^0-9]", "", metric.locator('[data-testid="stMetricValue"]').inner_text()))


def _variants_listed(page) -> set[str]:
    """The run log's Variant filter's options: one per variant that made a call."""
    select = page.locator('[data-testid="stMultiSelect"]').filter(has_text="Variant")
    chat = page.get_by_role("option", name="chat", exact=True)
    for _ in range(3):  # a click that lands while the page reruns hits the widget being replaced: again
        select.locator("input").click()
        try:
            chat.wait_for(timeout=20_000)  # the list is open
            break
        except PlaywrightTimeout:
            page.keyboard.press("Escape")
    chat.wait_for()
    options = {text.strip() for text in page.get_by_role("option").all_inner_texts()}
    page.keyboard.press("Escape")
    return options - {"Select all"}  # the widget's own option


def test_a_session_its_comparison_and_its_calls_are_the_same_on_both_replicas(browser, replicas):
    url_a, url_b = replicas
    user = browser.new_context(viewport={"width": 1500, "height": 1000})  # one browser: one owner cookie
    try:
        on_a = _open(user, url_a)
        on_a.wait_for_function("() => document.cookie.includes('context_lab_owner=')")  # the owner is known
        session_id = _session_of(on_a)
        short_replies(on_a, REPLY_TOKENS)  # saved with the session: B's call gets it too
        send(on_a, "My name is Ada. Remember it.")
        wait_for_messages(on_a, 2)
        wait_until_settled(on_a)
        chat_on_a = _messages(on_a)
        assert len(chat_on_a) == 2 and chat_on_a[0] == "My name is Ada. Remember it." and chat_on_a[1]

        _go(on_a, "Compare")
        for preset in PRESETS[2:]:
            _remove_variant(on_a, preset.name)
        on_a.get_by_role("button", name="Run 2 variants").click()
        answers_on_a = _answer_cards(on_a)
        assert len(answers_on_a) == 2

        on_b = _open(user, f"{url_b}/?session={session_id}")  # the same URL, the other replica
        assert _session_of(on_b) == session_id
        wait_for_messages(on_b, 2)
        assert _messages(on_b) == chat_on_a
        _go(on_b, "Compare")  # the comparison run on A, kept with the session
        assert _answer_cards(on_b) == answers_on_a

        _go(on_b, "Chat")
        assert _session_of(on_b) == session_id
        send(on_b, "What is my name?")  # the same session, continued on B
        wait_for_messages(on_b, 4)
        wait_until_settled(on_b)
        chat_on_b = _messages(on_b)
        assert chat_on_b[:2] == chat_on_a and chat_on_b[2] == "What is my name?" and chat_on_b[3]
        question = on_b.locator('[data-testid="stChatMessage"]').nth(2).inner_text()
        assert "unanswered" not in question  # sent and saved: B's save was over the version A left
        assert on_b.get_by_text("Another tab saved this session").count() == 0

        expected_variants = {"chat", *(preset.name for preset in KEPT)}
        _go(on_b, "Run log")
        assert _calls_shown(on_b) == 4  # A's chat call, A's two compare calls, B's chat call
        assert _variants_listed(on_b) == expected_variants

        on_a.goto(f"{url_a}/?session={session_id}")  # A, opened again, shows what B added
        wait_for_messages(on_a, 4)
        wait_until_settled(on_a)
        assert _messages(on_a) == chat_on_b
        _go(on_a, "Run log")  # and A's run log holds B's call too
        assert _calls_shown(on_a) == 4
        assert _variants_listed(on_a) == expected_variants
    finally:
        user.close()
