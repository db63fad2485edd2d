"""`python -m tests.e2e.present_screenshot`: the presenter's view from the running app, at a projector's
1920×1080 and a laptop's 1280×800, into docs/screenshots/presenter-1920.png and presenter-1280.png (and
the step view into presenter-steps-1920.png). A demo conversation is imported (no call spent), one
message switched out with its big toggle, and a saved comparison kept with it to step through."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from playwright.sync_api import sync_playwright

from lib.analysis import compare_store
from lib.backends.embedded import free_port
from lib.context.conversation import Message, SystemPrompt
from lib.store import db, storage
from lib.store.session import Session, new_session_id
from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS, ROOT, start_app
from tests.e2e.test_present_browser import comparison, import_session, open_presenter

OUT = ROOT / "docs" / "screenshots"
SCREENS = {"1920": {"width": 1920, "height": 1080}, "1280": {"width": 1280, "height": 800}}
QUESTION = "What is my locker number?"
# A morning told to the model: the fact asked about first (pinned), small talk after it.
DEMO = (
    Message("user", "Hi! I'm Priya. My locker number at the gym is 4471.", pinned=True),
    Message("assistant", "Nice to meet you, Priya! Locker 4471: noted."),
    Message("user", "This morning I tidied the kitchen and fed the cat."),
    Message("assistant", "A productive start to the day!"),
    Message("user", "Then I walked to the market and bought tomatoes."),
    Message("assistant", "Fresh tomatoes make a great salad."),
)


def _demo_session() -> Session:
    return Session(
        new_session_id(), title="Locker demo", system=SystemPrompt("You are a helpful assistant."), messages=DEMO
    )


def _settled(page) -> None:
    page.wait_for_function(
        """() => document.querySelector('[data-testid="stApp"][data-test-script-state="notRunning"]')
                 && !document.querySelector('[data-stale="true"]')
                 && !document.querySelector('[data-testid="stSkeleton"]')""",
        timeout=300_000,
    )


def shoot(page, name: str, store: Path) -> None:
    page.get_by_text("Context Lab").first.wait_for()
    session_id = import_session(page, _demo_session())
    os.environ["CONTEXT_LAB_DB"] = str(store)
    try:
        with storage.opened() as conn:
            compare_store.save_comparison(conn, session_id, comparison())
    finally:
        db.forget(db.store_url(str(store)))
    open_presenter(page)
    # One message switched out with its big toggle: dimmed, and the numbers drop.
    page.locator(f".st-key-present_include_{DEMO[3].id} label").first.click()
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
                    shoot(page, name, store)
                    page.close()
                browser.close()
        finally:
            process.terminate()
            process.wait(timeout=20)
    for name in names:
        print(OUT / f"presenter-{name}.png")


if __name__ == "__main__":
    main(sys.argv[1:] or list(SCREENS))
