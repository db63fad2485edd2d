"""`make screenshots`: start the app on the embedded model, use it, save a PNG of each page."""

from __future__ import annotations

from playwright.sync_api import sync_playwright

from lib.conversation import Message
from lib.embedded import free_port
from lib.session import Session, export_json, new_session_id
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


def compare(page, url: str) -> None:
    page.get_by_role("link", name="Compare").click()  # a link, not a new load: the session goes along
    page.get_by_text("Compare contexts").first.wait_for()
    page.get_by_role("button", name="Run 4 variants").click()
    page.get_by_text("Answers to").first.wait_for()
    page.wait_for_timeout(2000)
    page.get_by_text("Before running: what each variant sends").scroll_into_view_if_needed()
    page.screenshot(path=OUT / "compare.png", full_page=True)


def timeline(page, url: str) -> None:
    page.get_by_role("link", name="Cost timeline").click()
    page.get_by_text("Prompt tokens billed so far").first.wait_for()
    page.wait_for_timeout(1500)
    page.screenshot(path=OUT / "timeline.png", full_page=True)


def inspector(page, url: str) -> None:
    page.get_by_role("link", name="Token inspector").click()
    page.get_by_text("Why “Hi” costs").first.wait_for()
    page.wait_for_timeout(1500)
    page.screenshot(path=OUT / "inspector.png", full_page=True)


def walkthrough(page, url: str) -> None:
    page.get_by_role("link", name="Why the API has no memory").click()
    page.get_by_role("button", name="Send the 2 requests").click()
    page.get_by_text("With the earlier turn").first.wait_for()
    page.wait_for_timeout(1500)
    page.screenshot(path=OUT / "walkthrough.png", full_page=True)


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
