"""“What did this answer use?” on a Compare variant's answer, in a real headless Chromium: the influence
bars beside that variant's messages, and its smallest context added as a variant of its own."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from lib.analysis.compare import PRESETS
from lib.context.conversation import Message
from lib.store.session import Session, export_json, new_session_id
from tests.app.test_attribution import FACT, PAIRS, QUESTION
from tests.e2e.test_attribution_browser import attributes_the_fact_first
from tests.e2e.test_chat_browser import wait_until_settled
from tests.e2e.test_compare_browser import _remove_variant

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

FULL = PRESETS[0].name


def test_a_variants_influence_bars_show_the_fact_first_and_its_smallest_context_becomes_a_variant(page):
    settings = {"provider_kind": "embedded", "temperature": 0.0, "max_tokens": 48}
    export = export_json(
        Session(
            new_session_id(),
            title="Planted fact",
            messages=tuple(Message(role, text) for role, text in PAIRS),
            settings=settings,
        )
    )
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(
        files=[{"name": "planted.json", "mimeType": "application/json", "buffer": export.encode()}]
    )
    page.get_by_text(FACT, exact=True).first.wait_for()
    page.get_by_role("link", name="Compare").click()
    page.get_by_text("Compare contexts").first.wait_for()
    for preset in PRESETS[2:]:  # keep the whole history and the bare question
        _remove_variant(page, preset.name)
    page.get_by_label("The next user message").fill(QUESTION)
    page.get_by_label("The next user message").press("Control+Enter")
    wait_until_settled(page)
    page.get_by_role("button", name="Run 2 variants").click()
    page.get_by_text("Answers to").first.wait_for(timeout=300_000)
    wait_until_settled(page)

    # The first answer's column (not only the innermost: the panel draws columns of its own inside it).
    answer = page.locator('[data-testid="stColumn"]').filter(has_text=" · reported ").filter(has_text="· baseline")
    expect(answer).to_have_count(1)
    assert "Lisbon" in answer.inner_text()
    attributes_the_fact_first(page, answer, units=7)  # the system prompt and the six messages before the question

    answer.get_by_role("button", name="Find the smallest context").click()
    add = answer.get_by_role("button", name="Add as a Compare variant")
    add.wait_for(timeout=900_000)
    add.click()
    wait_until_settled(page)
    expect(page.get_by_role("button", name="Run 3 variants")).to_have_count(1)
    wait_until_settled(page)  # the rerun that drew the new label has drawn the cards below it too
    expect(page.get_by_label("Name", exact=True)).to_have_count(3)
    names = [field.input_value() for field in page.get_by_label("Name", exact=True).all()]
    assert names[:2] == [FULL, PRESETS[1].name] and names[2].startswith(f"{FULL} · smallest context (")
    # Its card lists the messages it sends (the pre-run table's accessible cells say "Fixed context" too).
    expect(page.locator('[data-testid="stExpander"] summary').filter(has_text="Fixed context:")).to_have_count(1)
