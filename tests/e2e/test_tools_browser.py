"""Tool calls and results on the embedded model, in Chromium: the prompt tokens read before Send are the
ones its server reports, and the payload's bytes are the preview's, under every strategy."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from lib.context.conversation import Message, ToolCall
from lib.context.payload import serialise
from lib.context.tools import ToolDefinition
from lib.store.session import Session, export_json, new_session_id
from tests.e2e.conftest import app_page
from tests.e2e.test_chat_browser import (
    metric_value,
    number,
    open_strategy_list,
    payload,
    wait_for_messages,
    wait_until_settled,
)

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

WEATHER = ToolDefinition(
    "get_weather",
    "Current weather for a city.",
    {"type": "object", "properties": {"city": {"type": "string", "description": "The city"}}, "required": ["city"]},
)
HISTORY = (
    Message("user", "Weather in Paris?"),
    Message("assistant", "", tool_calls=(ToolCall("call_p", "get_weather", '{"city": "Paris"}'),)),
    Message("tool", '{"temp_c": 14, "sky": "clear"}', tool_call_id="call_p"),
    Message("assistant", "Paris: 14 °C and clear."),
    Message("user", "And Oslo?", name="ada"),
    Message("assistant", "Checking.", tool_calls=(ToolCall("call_o", "get_weather", '{"city": "Oslo"}'),)),
    Message("tool", '{"temp_c": -3, "sky": "snow"}', tool_call_id="call_o"),
)
STRATEGIES = [
    "Manual (the include toggles)",
    "Full history",
    "No history (stateless)",
    "Last N turns",
    "Token budget",
    "Summarise older turns",
]


@pytest.fixture(scope="module")
def page(browser, app_url):
    """One page for the module (a page load per test was a fifth of this file's time, issue 27). Each
    test starts from a session of its own all the same: it imports one, which is stored as a new session
    and opened with its own settings and strategy (the last call's report stays with the one left)."""
    with app_page(browser, app_url) as page:
        yield page


def _import(page, title: str) -> None:
    session = Session(
        new_session_id(),
        title=title,
        messages=HISTORY,
        tools=(WEATHER,),
        settings={
            "provider_kind": "embedded",
            "max_tokens": 4,
            "temperature": 0.0,
            "stream": True,
            "tool_choice": "auto",
            # One turn kept verbatim (Paris is summarised, or left out), a budget that cuts a round.
            "strategy_turns": 1,
            "strategy_budget": 120,
        },
    )
    uploader = page.locator('[data-testid="stFileUploaderDropzoneInput"]')
    uploader.set_input_files(
        files=[{"name": "agent.json", "mimeType": "application/json", "buffer": export_json(session).encode()}]
    )
    # Its own title: the page may still show the session an earlier test imported, with as many messages.
    page.get_by_text(f"Imported {title} ({len(HISTORY)} messages)").wait_for()
    expect(page.locator('[data-testid="stChatMessage"]')).to_have_count(len(HISTORY))
    wait_for_messages(page, len(HISTORY))
    expect(page.get_by_text("Last call", exact=True)).to_have_count(
        0
    )  # the report of an earlier test's call went with it


def _shown(page) -> tuple[str, int, dict]:
    """What the meter and the preview say of the next call, once the page has settled."""
    wait_until_settled(page)
    body = payload(page)
    return metric_value(page, "Prompt tokens"), number(metric_value(page, "Payload")), body


def _reported_after(page, messages: int) -> str:
    wait_for_messages(page, messages)
    wait_until_settled(page)
    return metric_value(page, "Reported prompt")


def _pick(page, label: str) -> None:
    open_strategy_list(page)
    page.get_by_role("option", name=label, exact=True).click()
    expect(page.get_by_role("combobox", name="Context strategy")).to_have_value(label)


def test_the_call_that_sends_the_tool_results_is_counted_as_the_server_counts_it(page):
    _import(page, "Weather agent (tool results)")
    # The history ends with a tool result: the next call sends the results for the model to answer.
    tokens, size, body = _shown(page)
    assert body["tools"][0]["function"]["name"] == "get_weather"
    assert body["messages"][-1] == {
        "role": "tool",
        "tool_call_id": "call_o",
        "content": '{"temp_c": -3, "sky": "snow"}',
    }
    assert body["messages"][-2]["tool_calls"][0]["id"] == "call_o"
    assert size == len(serialise(body))  # the meter's bytes are the preview's body, compact, as sent
    page.get_by_role("button", name="Get an answer").click()
    assert _reported_after(page, len(HISTORY) + 1) == tokens
    assert metric_value(page, "Predicted prompt") == tokens


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_a_question_after_tool_rounds_is_counted_as_the_server_counts_it(page, strategy):
    _import(page, f"Weather agent ({strategy})")
    _pick(page, strategy)
    if strategy.startswith("Summarise"):
        wait_until_settled(page)
        page.get_by_role("button", name="Make the summary").click()
        page.get_by_text("older messages are sent as this summary").wait_for(timeout=300_000)
    wait_until_settled(page)
    question = f"What about Rome? ({strategy})"
    page.get_by_text("Your tool results end this request").wait_for()  # the note before the draft counts
    page.get_by_label("Your message").fill(question)  # a pause in typing applies it: the meter counts it
    page.get_by_text("Your tool results end this request").wait_for(state="hidden")
    tokens, size, body = _shown(page)
    assert body["messages"][-1]["content"] == question and body["tools"]
    assert size == len(serialise(body))  # the meter's bytes are the preview's body, compact, as sent
    page.get_by_role("button", name=re.compile(r"^Send\b")).click()
    assert _reported_after(page, len(HISTORY) + 2) == tokens
    assert metric_value(page, "Predicted prompt") == tokens
