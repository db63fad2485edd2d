"""A recorded demo stepped through in a real browser with the model's server stopped: record a chat and a
comparison on a live OpenAI-compatible server, stop the server, open the demo, ask its questions in order
and run its comparison again: each answer appears, marked replayed, nothing fails, nothing is sent.

Then the same demo is opened again and stepped through in the presenter's view (the sidebar hidden): its
questions asked with the view's own *Next question* and Ask, its comparison stepped with the arrow keys.
The helpers (`record_demo`, `open_demo`, `step_through_chat`, `step_through_presenter`) are for other
browser tests that step a recorded demo too."""

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from playwright.sync_api import expect

from tests.e2e.test_chat_browser import wait_for_messages, wait_until_settled
from tests.e2e.test_compare_browser import INNERMOST, _remove_variant
from tests.e2e.test_hostile_browser import use_compatible_server
from tests.fake_openai import FakeOpenAI

pytestmark = [pytest.mark.slow, pytest.mark.e2e]
WAIT = 120_000  # ms
QUESTIONS = ("My locker number is 4471. Remember it.", "What is my locker number?")
ANSWERS = ("Noted: locker 4471.", "Your locker number is 4471.")
COMPARE_ANSWER = "It is 4471."
TITLE = "Locker demo"


def chat_calls(server: FakeOpenAI) -> int:
    return sum(r.method == "POST" and r.path.endswith("/chat/completions") for r in server.requests)


def _sidebar(page):
    return page.locator('[data-testid="stSidebar"]')


def _demos_popover(page, attempts: int = 3):
    """Open the sidebar's *Recorded demos* popover. A rerun still on its way when it is clicked (a
    page that just finished a run) can close it again: then it is clicked again, as a user would."""
    button = _sidebar(page).get_by_role("button", name="Recorded demos")
    for _ in range(attempts):
        wait_until_settled(page)
        if page.get_by_text("Save this session as a demo").count() == 0:
            button.click()
        try:
            page.get_by_text("Save this session as a demo").wait_for(timeout=10_000)
            return page
        except PlaywrightTimeout:
            continue
    raise AssertionError(f"the Recorded demos popover did not open in {attempts} clicks")


def _send(page, text: str) -> None:
    page.locator(".st-key-send button:not([disabled])").first.wait_for()  # no reply still arriving
    box = page.get_by_label("Your message")
    box.fill(text)
    box.press("Control+Enter")


def _run_compare(page) -> None:
    page.get_by_role("link", name="Compare").click()
    page.get_by_text("Compare contexts").first.wait_for()
    run = page.get_by_role("button", name="Run 2 variants")
    if run.count() == 0:  # the first time on this page: keep two of the presets
        from lib.analysis.compare import PRESETS

        for preset in PRESETS[2:]:
            _remove_variant(page, preset.name)
    run.click()
    page.get_by_text("Answers to").first.wait_for(timeout=WAIT)
    wait_until_settled(page)


def record_demo(page, server: FakeOpenAI, title: str = TITLE) -> None:
    """On the live `server`: ask QUESTIONS (each answered with ANSWERS), compare two variants, save it all as
    a demo called `title`."""
    use_compatible_server(page, server.base_url)
    for count, (question, answer) in enumerate(zip(QUESTIONS, ANSWERS, strict=True)):
        server.behaviour.reply = answer
        _send(page, question)
        wait_for_messages(page, 2 * (count + 1))
        page.locator('[data-testid="stChatMessage"]').get_by_text(answer).first.wait_for()
    server.behaviour.reply = COMPARE_ANSWER
    _run_compare(page)
    popover = _demos_popover(page)
    popover.get_by_label("Demo title").fill(title)
    popover.get_by_label("Demo title").press("Enter")
    wait_until_settled(page)
    popover.get_by_role("button", name="Save as demo").click()
    _sidebar(page).get_by_text(f"Saved the demo “{title}”: 4 call(s)").wait_for()


def open_demo(page, title: str = TITLE) -> None:
    """Open the newest saved demo, replayed."""
    popover = _demos_popover(page)
    popover.get_by_text(title).first.wait_for()
    popover.get_by_role("button", name="Open (replayed)").click()
    _sidebar(page).get_by_text(f"Replaying the demo “{title}”").wait_for()
    wait_until_settled(page)


def step_through_chat(page, answers=ANSWERS) -> None:
    """Each step: the sidebar puts the next recorded question in the box, Ctrl+Enter sends it; its recorded
    answer appears, captioned replayed."""
    page.get_by_role("link", name="Chat").first.click()
    messages = page.locator('[data-testid="stChatMessage"]')
    for count, answer in enumerate(answers):
        wait_until_settled(page)
        _sidebar(page).get_by_role("button", name="Put the next question in the message box").click()
        box = page.get_by_label("Your message")
        expect(box).to_have_value(QUESTIONS[count], timeout=WAIT)
        box.press("Control+Enter")
        wait_for_messages(page, 2 * (count + 1))
        reply = messages.nth(2 * count + 1)
        expect(reply).to_contain_text(answer, timeout=WAIT)
        expect(reply).to_contain_text("▶ replayed", timeout=WAIT)


def step_through_presenter(page, answers=ANSWERS, variants: int = 2) -> None:
    """In the presenter's view: each recorded question put in the box by *Next question*, sent by Ask, its
    answer shown marked replayed; then the recorded comparison stepped one variant at a time (arrow keys)."""
    for _ in range(2):  # a click landing while a run still redraws the page can be lost: click again
        wait_until_settled(page)
        page.get_by_role("link", name="Presenter view").click()
        try:
            page.locator(".st-key-present_top").wait_for(timeout=30_000)
            break
        except PlaywrightTimeout:
            continue
    else:
        page.locator(".st-key-present_top").wait_for(timeout=WAIT)
    expect(page.get_by_test_id("stSidebar")).to_be_hidden(timeout=WAIT)  # presenting: no sidebar
    # What the hidden sidebar said is said here: the recording answers, and the way back to live.
    expect(page.locator(".st-key-present_replay")).to_contain_text("▶ replayed", timeout=WAIT)
    expect(page.get_by_role("button", name="Switch to live")).to_be_visible()
    talk = page.locator(".st-key-present_conversation")
    for count, answer in enumerate(answers):
        wait_until_settled(page)
        page.get_by_role("button", name=f"Next question ({count + 1} of {len(QUESTIONS)})").click()
        expect(page.get_by_label("Question")).to_have_value(QUESTIONS[count], timeout=WAIT)
        page.get_by_role("button", name="Ask").click()
        reply = talk.locator('[class*="st-key-present_msg_"]').nth(2 * count + 1)
        expect(reply).to_contain_text(answer, timeout=WAIT)
        expect(reply).to_contain_text("▶ replayed", timeout=WAIT)
    expect(page.get_by_role("button", name="All recorded questions asked")).to_be_disabled(timeout=WAIT)
    page.get_by_text("Step through", exact=True).click()
    for number in range(1, variants + 1):
        if number > 1:
            page.keyboard.press("ArrowRight")
        counter = page.locator(".st-key-present_counter")
        expect(counter).to_have_text(f"Variant {number} of {variants}", timeout=WAIT)
        wait_until_settled(page)
        expect(page.locator(".st-key-present_step")).to_contain_text(COMPARE_ANSWER, timeout=WAIT)
        expect(page.get_by_text("these answers came from a recorded demo").first).to_be_visible(timeout=WAIT)


def test_a_recorded_demo_steps_through_offline_with_the_server_stopped(page):
    with FakeOpenAI() as server:
        record_demo(page, server)
        live = chat_calls(server)
    assert live == 4  # two questions, two variants
    # The server is stopped: it refuses connections from here on.
    open_demo(page)
    expect(page.locator('[data-testid="stChatMessage"]')).to_have_count(0)  # where the demo began
    step_through_chat(page)
    _sidebar(page).get_by_text("All 2 recorded questions asked.").wait_for()

    # Compare: the recorded comparison is there, marked replayed, without a call; run again, it answers
    # from the recording (the chat, stepped through, is the context it was recorded with).
    page.get_by_role("link", name="Compare").click()
    page.get_by_text("Answers to").first.wait_for(timeout=WAIT)
    expect(page.get_by_text(f"replayed from the recording “{TITLE}”").first).to_be_visible()
    _run_compare(page)
    expect(page.get_by_text("(replayed) · fake-model").first).to_be_visible(timeout=WAIT)
    results = page.locator(INNERMOST).filter(has_text=" · reported ")
    expect(results).to_have_count(2)
    for index in range(2):
        expect(results.nth(index)).to_contain_text(COMPARE_ANSWER)
        expect(results.nth(index)).to_contain_text("▶ replayed")  # each row says where its answer came from
    assert page.locator('[data-testid="stAlertContentError"]').count() == 0  # nothing failed

    # Once more, from the start, in the presenter's view.
    open_demo(page)
    step_through_presenter(page)
    assert page.locator('[data-testid="stAlertContentError"]').count() == 0
    assert chat_calls(server) == live  # and nothing was sent
