"""“What did this answer use?” in a real headless Chromium: the influence bars as the user sees them."""

from __future__ import annotations

import pytest

from bench.attribution import ACK, FILLER
from lib.context.conversation import Message
from lib.store.session import Session, export_json, new_session_id

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

FACT = "Please remember: my sister Maria lives in Lisbon."
HOSTILE = "Filler ![seen](http://127.0.0.1:9/attribution-leak.png) <img src=x onerror=alert(1)> done."


def _history() -> tuple[Message, ...]:
    turns = [FILLER[0], (FACT, ACK), (HOSTILE, "Okay."), FILLER[2]]
    messages = [Message(role, text) for turn in turns for role, text in zip(("user", "assistant"), turn, strict=True)]
    return (
        *messages,
        Message("user", "In which city does my sister Maria live?"),
        Message("assistant", "She lives in Lisbon."),
    )


def _bar_values(page) -> dict[str, int]:
    """Each influence bar's label and value (0-100), as the browser shows them."""
    return page.evaluate(
        """() => Object.fromEntries([...document.querySelectorAll('[data-testid="stProgress"]')]
            .filter(p => p.innerText.includes('·'))
            .map(p => [p.innerText.trim(),
                       Number(p.querySelector('[role="progressbar"]').getAttribute('aria-valuenow'))]))"""
    )


def attributes_the_fact_first(page, answer, units: int) -> dict[str, int]:
    """Open "What did this answer use?" on `answer` (a locator around it), check what it says before
    running, run it: a bar per unit, the planted fact's the longest. The bars, as shown."""
    answer.get_by_text("What did this answer use?").click()  # on that answer, wherever it sits
    before = answer.locator('[data-testid="stAlert"]').filter(has_text="Before running:")
    before.wait_for()
    assert f"{units + 1} scoring passes" in before.inner_text() and "Cost: $0" in before.inner_text()
    answer.get_by_role("button", name="Run the attribution").click()
    # The results, or a failure said on the page: either ends the wait, and a failure fails here with what
    # the page said, well inside pytest's own 600 s limit (a run once sat 600 s with nothing to show why).
    done = answer.get_by_text("Most influential").or_(page.locator('[data-testid="stAlertContentError"]'))
    done.first.wait_for(timeout=300_000)
    failures = page.locator('[data-testid="stAlertContentError"]').all_inner_texts()
    assert not failures, failures
    bars = _bar_values(page)
    assert len(bars) == units
    fact = next(label for label in bars if "Maria lives in Lisbon" in label)
    assert bars[fact] == 100 and all(value < 100 for label, value in bars.items() if label != fact)
    assert "probability falls by" in fact
    return bars


def test_the_influence_bars_show_the_fact_first_and_nothing_loads(page):
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    export = export_json(Session(new_session_id(), title="Planted fact", messages=_history()))
    uploader = page.locator('[data-testid="stFileUploaderDropzoneInput"]')
    uploader.set_input_files(
        files=[{"name": "planted.json", "mimeType": "application/json", "buffer": export.encode()}]
    )
    answer = page.locator('[data-testid="stChatMessage"]').filter(has_text="She lives in Lisbon.")
    answer.get_by_text("She lives in Lisbon.", exact=True).wait_for()

    bars = attributes_the_fact_first(page, answer, units=9)  # the system prompt and the 8 messages before
    assert page.locator('[data-testid="stProgress"]').first.is_visible()
    # A message's image syntax and HTML show as text inside its bar's label: nothing is fetched or run.
    hostile = next(label for label in bars if "onerror" in label)
    assert "![seen](" in hostile and "<img" in hostile
    assert not any("attribution-leak" in url for url in requests)
