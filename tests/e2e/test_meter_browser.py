"""The meter's promise in a real browser: the number read before Send is the number the server reports."""

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.test_chat_browser import metric_value, open_strategy_list, send, wait_for_messages, wait_until_settled

pytestmark = [pytest.mark.slow, pytest.mark.e2e]


def _pick_strategy(page, label: str) -> None:
    open_strategy_list(page)
    page.get_by_role("option", name=label, exact=True).click()
    # The box shows the choice (the option list keeps hidden copies of every label).
    expect(page.get_by_role("combobox", name="Context strategy")).to_have_value(label)


@pytest.mark.parametrize("strategy", ["No history (stateless)", "Last N turns", "Full history"])
def test_the_prompt_tokens_read_before_send_are_the_ones_the_server_reports(page, strategy):
    send(page, "My name is Ada and I live in Lisbon.")
    wait_for_messages(page, 2)
    send(page, "I like foxes.")
    wait_for_messages(page, 4)
    _pick_strategy(page, strategy)
    question = "What is my name, and where do I live?"
    wait_until_settled(page)
    page.get_by_label("Your message").fill(question)  # a pause in typing applies the draft: the meter counts it
    page.get_by_text("No question yet").wait_for(state="hidden")  # the rerun with the draft has begun
    wait_until_settled(page)  # and has drawn the meter
    shown = metric_value(page, "Prompt tokens")
    page.get_by_role("button", name=re.compile(r"^Send\b")).click()  # named "Send" + its shortcut
    wait_for_messages(page, 6)
    assert metric_value(page, "Reported prompt") == shown
    assert metric_value(page, "Predicted prompt") == shown
