"""The composition bar in Chromium: drawn beside the chat, and a click on one of the largest messages
brings that message on screen, from an older page of the history."""

from __future__ import annotations

import json

import pytest

from lib.context.conversation import Message
from lib.store.session import Session, export_json, new_session_id
from tests.e2e.composition_screenshot import readings

pytestmark = pytest.mark.slow
BIG = "bigresult00"


def _session() -> str:
    call = {"id": "call_big", "type": "function", "function": {"name": "get_readings", "arguments": '{"station": 1}'}}
    messages = [
        Message("user", "What did station 1 read?"),
        Message.from_api({"role": "assistant", "content": "", "tool_calls": [call]}),
        Message("tool", readings(1, 40), id=BIG, tool_call_id="call_big"),
        Message("assistant", "Station 1 read a mild day."),
    ]
    for i in range(30):  # two pages of small talk after it: the big result is on the oldest page
        messages += [Message("user", f"small question {i}"), Message("assistant", f"small answer {i}")]
    return export_json(Session(new_session_id(), title="Big result", messages=tuple(messages)))


def test_the_bar_shows_and_a_largest_message_click_scrolls_to_it(page):
    page.set_viewport_size({"width": 1280, "height": 800})
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(
        files=[{"name": "big.json", "mimeType": "application/json", "buffer": _session().encode()}]
    )
    page.get_by_text("Imported Big result").wait_for()
    bar = page.locator(".st-key-composition")
    bar.locator('.composition-bar [data-part="tool_results"]').wait_for()
    assert "Tool results" in bar.inner_text() and "Free space" in bar.inner_text()
    # Each part is drawn as wide as its share of the bar (within 3 px: a sliver is still a pixel wide,
    # taken from the others).
    blocks = bar.locator(".composition-bar [data-part]").evaluate_all(
        "blocks => blocks.map(b => [b.dataset.part, +b.dataset.tokens, b.getBoundingClientRect().width])"
    )
    whole, tokens = sum(width for _, _, width in blocks), sum(count for _, count, _ in blocks)
    assert whole > 200 and {part for part, _, _ in blocks} >= {"tool_results", "free"}
    for part, count, width in blocks:
        assert abs(width - whole * count / tokens) <= 3, (part, count, width)
    assert page.locator(".js-plotly-plot").count() == 0  # the chat page loads no plotly.js
    row = page.locator(f".st-key-msgrow_{BIG}")
    assert row.count() == 0  # on an older page: not drawn
    button = page.locator(f".st-key-contributor_{BIG} button").first
    assert json.dumps({"station": 1})[:10] in button.inner_text()
    button.click()
    row.wait_for()
    page.wait_for_function(
        """id => {
            const r = document.querySelector('.st-key-msgrow_' + id).getBoundingClientRect();
            return r.top >= 0 && r.bottom <= window.innerHeight;
        }""",
        arg=BIG,
    )
