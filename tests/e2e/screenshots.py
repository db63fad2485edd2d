"""`make screenshots`: start the app on the embedded model, use it, save a PNG of each page."""

from __future__ import annotations

import re

from playwright.sync_api import sync_playwright

from lib.backends.embedded import free_port
from lib.context.conversation import Message
from lib.store.session import Session, export_json, new_session_id
from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS, ROOT, start_app
from tests.e2e.test_chat_browser import send, wait_for_messages

OUT = ROOT / "docs" / "screenshots"


def chat(page, url: str) -> None:
    """At 1280x800, a laptop's window: two turns, one message left out, a draft counted as it is typed,
    the preview open, the composer in view and the meter beside it."""
    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto(url)
    page.get_by_text("Context Lab").first.wait_for()
    send(page, "Hi! My name is Ada and I collect foxes.")
    wait_for_messages(page, 2)
    send(page, "What is my name?")
    wait_for_messages(page, 4)
    page.locator('[data-testid="stChatMessage"]').nth(1).get_by_text("In context", exact=True).click()
    page.get_by_text("Payload preview (exactly what is sent)").click()
    page.locator(".st-key-send button:not([disabled])").first.wait_for()
    page.get_by_label("Your message").click()
    page.keyboard.type("And what do I collect?", delay=20)  # not sent: the meter counts it as it is typed
    page.wait_for_function(
        "() => [...document.querySelectorAll('.st-key-next_call code')].some(c => c.innerText.includes('collect?'))"
    )
    page.wait_for_timeout(1500)
    page.get_by_label("Your message").scroll_into_view_if_needed()
    page.screenshot(path=OUT / "chat.png")
    # Editing a message in place: its role, its text, and what can be done from it.
    page.locator('[data-testid="stChatMessage"]').nth(2).get_by_role("button", name="Edit", exact=True).click()
    page.get_by_role("button", name="Save and ask again", exact=False).first.wait_for()
    page.wait_for_timeout(1000)
    page.get_by_label("Content").scroll_into_view_if_needed()
    page.screenshot(path=OUT / "chat_editing.png")
    page.get_by_role("button", name="Cancel").click()
    page.set_viewport_size({"width": 1500, "height": 1500})


SCREEN = {"width": 1280, "height": 800}  # the laptop screen the pages are checked at


def _conversation(page) -> None:
    """A short conversation to compare contexts on, imported (no calls spent on it)."""
    turns = [
        ("Hi! My name is Ada and I collect foxes.", "Nice to meet you, Ada! Foxes are lovely animals."),
        ("I live in Lisbon, by the river.", "Lisbon is a beautiful city, with the Tagus running through it."),
        ("My favourite colour is green.", "Green is a calm colour, like the hills around Sintra."),
    ]
    messages = tuple(
        Message(role, text) for pair in turns for role, text in zip(("user", "assistant"), pair, strict=True)
    )
    export = export_json(Session(new_session_id(), title="Ada's foxes", messages=messages))
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(
        files=[{"name": "ada.json", "mimeType": "application/json", "buffer": export.encode()}]
    )
    page.get_by_text("Imported Ada's foxes").wait_for()


def compare(page, url: str) -> None:
    """Compare at 1280×800 with a finished run: the first screen (the question, Run, the answers), the
    whole page, and the HTML report it downloads (at 1280 px, and printed to A4)."""
    page.set_viewport_size(SCREEN)
    page.get_by_test_id("stSidebarNavItems").get_by_role("link", name="Chat").click()
    _conversation(page)
    page.get_by_role("link", name="Compare").click()  # a link, not a new load: the session goes along
    page.get_by_text("Compare contexts").first.wait_for()
    page.get_by_role("button", name=re.compile("^Run 4 variants")).click()
    page.get_by_text("Answers to").first.wait_for(timeout=600_000)
    page.wait_for_timeout(2500)
    # The answers in view, the question's heading above them (Run is one screen up: compare_full.png).
    page.get_by_text("Answers to").first.evaluate("heading => heading.scrollIntoView({block: 'start'})")
    page.wait_for_timeout(1000)
    page.screenshot(path=OUT / "compare.png")
    # Streamlit scrolls inside the page, not the page itself: a tall window shows all of it at once.
    page.set_viewport_size({"width": SCREEN["width"], "height": 4400})
    page.wait_for_timeout(2500)
    page.screenshot(path=OUT / "compare_full.png")
    page.set_viewport_size(SCREEN)
    with page.expect_download() as download:
        page.get_by_role("button", name="Download the report (HTML, works offline)").click()
    report_path = OUT.parent / "report.html"
    download.value.save_as(report_path)
    report = page.context.browser.new_page(viewport=SCREEN)
    report.goto(report_path.as_uri())
    report.wait_for_function("() => document.querySelectorAll('.js-plotly-plot .main-svg').length >= 5")
    report.wait_for_timeout(1000)
    report.screenshot(path=OUT / "report.png")
    report.screenshot(path=OUT / "report_full.png", full_page=True)
    report.pdf(path=OUT / "report.pdf", format="A4", print_background=True)
    report.close()
    report_path.unlink()  # 4.9 MB of plotly.js: the screenshots and the PDF show it


def timeline(page, url: str) -> None:
    # Streamlit scrolls inside the page (a full-page shot is the window): tall enough for the charts.
    page.set_viewport_size({"width": SCREEN["width"], "height": 1500})
    page.get_by_role("link", name="Cost timeline").click()
    page.get_by_text("Prompt tokens billed so far").first.wait_for()
    page.wait_for_timeout(1500)
    page.screenshot(path=OUT / "timeline.png", full_page=True)


def inspector(page, url: str) -> None:
    page.set_viewport_size(SCREEN)
    page.get_by_role("link", name="Token inspector").click()
    page.get_by_text("Why “Hi” costs").first.wait_for()
    page.wait_for_timeout(1500)
    page.screenshot(path=OUT / "inspector.png")
    page.get_by_role("radio", name="Any text").click()
    page.get_by_label("Text").fill(
        "Tokens are not words: “unbelievably” is one word, several tokens. 🦊 https://example.com/" + "a1b2" * 40
    )
    page.get_by_label("Text").press("Control+Enter")
    page.get_by_text("Characters per token").wait_for()
    page.wait_for_timeout(1500)
    page.screenshot(path=OUT / "inspector_text.png")
    page.get_by_role("radio", name="The chat's next request").click()


def walkthrough(page, url: str) -> None:
    page.set_viewport_size(SCREEN)
    page.get_by_role("link", name="Why the API has no memory").click()
    page.get_by_role("button", name="Send the 2 requests").click()
    page.get_by_text("With the earlier turn").first.wait_for()
    page.wait_for_timeout(1500)
    page.screenshot(path=OUT / "walkthrough.png", full_page=True)
    for _ in range(5):
        page.get_by_role("button", name="Next").click()
        page.wait_for_timeout(800)
    page.get_by_text("That's the tour.").wait_for()
    page.screenshot(path=OUT / "walkthrough_end.png", full_page=True)


def long_history(page, url: str) -> None:
    """A 120-message session, imported: the pager and the note on what the other pages hold."""
    page.get_by_test_id("stSidebarNavItems").get_by_role("link", name="Chat").click()
    questions = ["What is a context window?", "Why resend the history?", "What does a token cost?"]
    messages = tuple(
        Message("user", f"{questions[i // 2 % 3]} (turn {i // 2 + 1})", included=i % 20 != 4)
        if i % 2 == 0
        else Message("assistant", f"Answer {i // 2 + 1}: every call carries the context it needs; the client decides.")
        for i in range(120)
    )
    export = export_json(Session(new_session_id(), title="A long chat", messages=messages))
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(
        files=[{"name": "long.json", "mimeType": "application/json", "buffer": export.encode()}]
    )
    page.get_by_text("Messages 71–120 of 120").wait_for()
    page.locator(".st-key-page_chevron_left button").first.click()
    page.get_by_text("Messages 21–70 of 120").wait_for()
    page.wait_for_timeout(1500)
    page.screenshot(path=OUT / "long_history.png")


PAGES = [chat, compare, timeline, inspector, walkthrough, long_history]


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    port = free_port()
    app = start_app(port)
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1500, "height": 1500})
            page.set_default_timeout(120_000)
            for shoot in PAGES:
                shoot(page, f"http://127.0.0.1:{port}")
                print(f"saved {OUT / (shoot.__name__ + '.png')}")
            browser.close()
    finally:
        app.terminate()
        app.wait(timeout=20)


if __name__ == "__main__":
    main()
