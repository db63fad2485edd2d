"""`python -m tests.e2e.present_screenshot`: the presenter's view from the running app, at a projector's
1920×1080 and a laptop's 1280×800, into docs/screenshots/presenter-1920.png and presenter-1280.png (and
the step view into presenter-steps-1920.png). The demo conversation is imported (no call spent), the
message holding the fact switched out with its big toggle; Compare's four presets are run on the embedded
model (the expected answer given) for the steps."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from playwright.sync_api import sync_playwright

from lib.backends.embedded import free_port
from lib.context.conversation import Message, SystemPrompt
from lib.store.session import Session, new_session_id
from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS, ROOT, start_app
from tests.e2e.test_present_browser import import_session, open_presenter

OUT = ROOT / "docs" / "screenshots"
SCREENS = {"1920": {"width": 1920, "height": 1080}, "1280": {"width": 1280, "height": 800}}
QUESTION = "What is my name?"
EXPECTED = "Priya"
# The built-in demo "The model forgets what is not sent" (lib/analysis/demo_conversations.py, demoset): a
# name, three turns of small talk, the name asked back.
DEMO = (
    Message("user", "My name is Priya."),
    Message("assistant", "Got it: your name is Priya."),
    Message("user", "What is the capital of France?"),
    Message("assistant", "The capital of France is Paris."),
    Message("user", "How many days are in a week?"),
    Message("assistant", "There are seven days in a week."),
    Message("user", "What colour is the sky?"),
    Message("assistant", "The sky is blue."),
)


def _demo_session() -> Session:
    return Session(
        new_session_id(), title="Name demo", system=SystemPrompt("You are a helpful assistant."), messages=DEMO
    )


def _settled(page) -> None:
    page.wait_for_function(
        """() => document.querySelector('[data-testid="stApp"][data-test-script-state="notRunning"]')
                 && !document.querySelector('[data-stale="true"]')
                 && !document.querySelector('[data-testid="stSkeleton"]')""",
        timeout=300_000,
    )


def _compare(page) -> None:
    """The four presets run for real on the embedded model, the expected answer given: the comparison the
    steps show (answers, right or wrong, as the model gave them)."""
    page.get_by_role("link", name="Compare").click()
    question = page.get_by_label("The next user message")
    question.fill(QUESTION)
    question.press("Control+Enter")
    expected = page.get_by_role("textbox", name="Expected answer (optional)")
    expected.fill(EXPECTED)
    expected.press("Enter")
    _settled(page)
    page.get_by_role("button", name="Run 4 variants").click()
    page.get_by_text("Answers to").first.wait_for(timeout=600_000)
    _settled(page)


def shoot(page, name: str) -> None:
    page.get_by_text("Context Lab").first.wait_for()
    import_session(page, _demo_session())
    if name == "1920":
        _compare(page)
    open_presenter(page)
    # The message holding the fact switched out with its big toggle: dimmed, and the numbers drop.
    page.locator(f".st-key-present_include_{DEMO[0].id} label").first.click()
    _settled(page)
    box = page.get_by_label("Question")
    box.fill(QUESTION)
    box.press("Enter")  # applied: the numbers count it
    _settled(page)
    page.wait_for_timeout(1500)
    page.screenshot(path=OUT / f"presenter-{name}.png")
    if name == "1920":
        page.get_by_text("Step through", exact=True).click()
        page.locator(".st-key-present_counter").wait_for()
        page.keyboard.press("ArrowRight")
        page.get_by_text("Variant 2 of 4").wait_for()
        _settled(page)
        page.wait_for_timeout(1500)
        page.screenshot(path=OUT / "presenter-steps-1920.png")


def main(names: list[str]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        store = Path(folder) / "context_lab.db"
        port = free_port()
        process = start_app(port, {"CONTEXT_LAB_DB": str(store)})
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
                for name in names:
                    page = browser.new_page(viewport=SCREENS[name])
                    page.set_default_timeout(300_000)
                    page.goto(f"http://127.0.0.1:{port}/")
                    shoot(page, name)
                    page.close()
                browser.close()
        finally:
            process.terminate()
            process.wait(timeout=20)
    for name in names:
        print(OUT / f"presenter-{name}.png")


if __name__ == "__main__":
    main(sys.argv[1:] or list(SCREENS))
