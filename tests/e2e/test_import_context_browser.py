"""Bring your own context in a real browser: paste a request body, preview it, import it, and the meter
counts the imported call: the number read before it is sent is the number the embedded server reports."""

import json
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.e2e.test_chat_browser import metric_value, wait_for_messages, wait_until_settled

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

BODY = {
    "model": "gpt-4o-mini",
    "api_key": "sk-proj-THISISAFAKEKEYFORTESTS000000000000",
    "messages": [
        {"role": "system", "content": "You are a terse assistant."},
        {"role": "user", "content": "My name is Ada and I live in Lisbon."},
        {"role": "assistant", "content": "Nice to meet you, Ada."},
        {"role": "user", "content": "Where do I live?"},
    ],
    "tools": [
        {
            "type": "function",
            "function": {
                "name": "find_city",
                "description": "Where a person lives",
                "parameters": {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]},
            },
        }
    ],
    "temperature": 0,
    "max_tokens": 16,
}


def test_paste_preview_import_and_the_meter_counts_the_imported_call(page):
    wait_until_settled(page)
    page.get_by_text("Bring your own context").click()
    box = page.get_by_label("Paste a context")
    box.fill(json.dumps(BODY, indent=2))
    box.press("Tab")  # a text area's value is sent when it loses focus
    wait_until_settled(page)
    page.get_by_role("button", name="Preview").click()
    # The preview, before anything is saved: what it was read as, and the report naming the key ignored.
    expect(page.get_by_text("Chat Completions request body").first).to_be_visible()
    expect(page.get_by_text(re.compile(r"ignored: a key or credential is never taken"))).to_be_visible()
    expect(page.get_by_text(re.compile(r"'gpt-4o-mini' is not applied"))).to_be_visible()
    page.get_by_role("button", name=re.compile("Import as a new session")).click()
    wait_for_messages(page, 3)
    wait_until_settled(page)
    expect(page.get_by_text("No new message.")).to_be_visible()  # the request ends with the imported question
    shown = metric_value(page, "Prompt tokens")
    page.get_by_role("button", name=re.compile("Get an answer")).click()
    wait_for_messages(page, 4)
    wait_until_settled(page)
    assert metric_value(page, "Reported prompt") == shown
    assert metric_value(page, "Predicted prompt") == shown
    assert "THISISAFAKEKEY" not in page.content()
    # Export, back out of the page: the next call's body carries the imported messages (and no key).
    page.get_by_role("tab", name="Export").click()
    with page.expect_download() as download:
        page.get_by_role("button", name="Request body").click()
    exported = Path(download.value.path()).read_bytes()
    assert b"THISISAFAKEKEY" not in exported
    body = json.loads(exported)
    assert body["messages"][: len(BODY["messages"])] == BODY["messages"]
    assert body["temperature"] == 0 and body["max_tokens"] == 16 and body["tools"] == BODY["tools"]
    assert exported == json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()  # the bytes sent
