"""The meter's promise in a real browser: the number read before Send is the number the server reports."""

import pytest

from tests.e2e.test_chat_browser import metric_value, send, wait_for_messages

pytestmark = [pytest.mark.slow, pytest.mark.e2e]


def _pick_strategy(page, label: str) -> None:
    page.get_by_role("combobox", name="Context strategy").click()  # the select box opens its list
    page.get_by_role("option", name=label, exact=True).click()
    page.get_by_text(label).first.wait_for()


@pytest.mark.parametrize("strategy", ["No history (stateless)", "Last N turns", "Full history"])
def test_the_prompt_tokens_read_before_send_are_the_ones_the_server_reports(page, strategy):
    send(page, "My name is Ada and I live in Lisbon.")
    wait_for_messages(page, 2)
    send(page, "I like foxes.")
    wait_for_messages(page, 4)
    _pick_strategy(page, strategy)
    question = "What is my name, and where do I live?"
    before = metric_value(page, "Messages sent")
    page.get_by_label("Your message").fill(question)
    page.get_by_label("Your message").press("Control+Enter")  # applies the draft: the meter counts it
    page.wait_for_function(  # the meter has been redrawn with the question in it
        """before => { const m = [...document.querySelectorAll('[data-testid="stMetric"]')]
                        .find(e => e.innerText.includes('Messages sent'));
                       return m && m.querySelector('[data-testid="stMetricValue"]').innerText !== before; }""",
        arg=before,
    )
    shown = metric_value(page, "Prompt tokens")
    page.get_by_role("button", name="Send", exact=True).click()
    wait_for_messages(page, 6)
    assert metric_value(page, "Reported prompt") == shown
    assert metric_value(page, "Predicted prompt") == shown
