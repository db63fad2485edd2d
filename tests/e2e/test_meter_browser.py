"""The meter's promise in a real browser: the number read before Send is the number the server reports."""

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.test_chat_browser import (
    metric_value,
    open_strategy_list,
    send,
    short_replies,
    wait_for_messages,
    wait_until_settled,
)

pytestmark = [pytest.mark.slow, pytest.mark.e2e]


def _pick_strategy(page, label: str) -> None:
    open_strategy_list(page)
    page.get_by_role("option", name=label, exact=True).click()
    # The box shows the choice (the option list keeps hidden copies of every label).
    expect(page.get_by_role("combobox", name="Context strategy")).to_have_value(label)


STRATEGIES = ["No history (stateless)", "Last N turns", "Full history"]


def test_the_prompt_tokens_read_before_send_are_the_ones_the_server_reports(page):
    """One conversation, a question under each strategy in turn: the two turns before the first question
    were sent again for every strategy when each had a page of its own (issue 27); each question here
    is still counted before Send and compared with what the server reports for it. The replies are
    short (the prompt is the point): at 256 tokens they were most of the test's time."""
    short_replies(page)
    send(page, "My name is Ada and I live in Lisbon.")
    wait_for_messages(page, 2)
    send(page, "I like foxes.")
    wait_for_messages(page, 4)
    for turn, strategy in enumerate(STRATEGIES):
        _pick_strategy(page, strategy)
        question = f"What is my name, and where do I live? ({strategy})"
        wait_until_settled(page)
        page.get_by_label("Your message").fill(question)  # a pause in typing applies the draft: the meter counts it
        page.get_by_text("No question yet").wait_for(state="hidden")  # the rerun with the draft has begun
        wait_until_settled(page)  # and has drawn the meter
        shown = metric_value(page, "Prompt tokens")
        page.get_by_role("button", name=re.compile(r"^Send\b")).click()  # named "Send" + its shortcut
        wait_for_messages(page, 6 + 2 * turn)
        wait_until_settled(page)  # the run that drew the reply has drawn its call's numbers
        assert metric_value(page, "Reported prompt") == shown, strategy
        assert metric_value(page, "Predicted prompt") == shown, strategy
