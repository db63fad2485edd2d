"""A two-variant comparison in a real browser: Run within reach at 1280×800, two answers side by side,
still there after a refresh."""

import pytest
from playwright.sync_api import expect

from lib.analysis.compare import PRESETS
from tests.e2e.test_chat_browser import short_replies, wait_until_settled
from tests.e2e.test_report_browser import overlapping_labels

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

INNERMOST = '[data-testid="stColumn"]:not(:has([data-testid="stColumn"]))'


def _remove_variant(page, name: str) -> None:
    """Click Remove on the card of the variant named `name` (the card holding a Name field of that value)."""
    wait_until_settled(page)
    cards = page.locator(INNERMOST).filter(has=page.get_by_role("button", name="Remove"))
    before = cards.count()
    named = [card for card in cards.all() if card.get_by_label("Name", exact=True).input_value() == name]
    assert len(named) == 1, f"{len(named)} cards named {name!r}"
    named[0].get_by_role("button", name="Remove").click()
    wait_until_settled(page)
    expect(page.get_by_role("button", name="Remove")).to_have_count(before - 1)  # that card is gone


def test_a_two_variant_comparison_shows_two_answers_and_survives_a_refresh(page):
    page.set_viewport_size({"width": 1280, "height": 800})
    short_replies(page)  # the variants inherit the sidebar's reply limit: two answers, not two long ones
    page.get_by_role("link", name="Compare").click()
    page.get_by_text("Compare contexts").first.wait_for()
    wait_until_settled(page)
    assert overlapping_labels(page) == []  # the plan chart's costs of millionths of a dollar, four panels
    for preset in PRESETS[2:]:  # keep the first two presets
        _remove_variant(page, preset.name)
    run = page.get_by_role("button", name="Run 2 variants")
    box = run.bounding_box()
    assert box is not None and box["y"] + box["height"] <= 800  # in the first screen, no scrolling
    run.click()
    page.get_by_text("Answers to").first.wait_for(timeout=300_000)
    wait_until_settled(page)
    results = page.locator(INNERMOST).filter(has_text=" · reported ")
    expect(results).to_have_count(2)
    texts = [results.nth(i).inner_text() for i in range(2)]
    assert all(len(t.split("\n")[-1].strip()) > 0 for t in texts)
    assert "baseline" in texts[0] and "Bare question" in texts[1] and "queued" in texts[1]
    page.reload()  # F5: the comparison is kept with the session
    page.get_by_text("Answers to").first.wait_for(timeout=120_000)
    wait_until_settled(page)  # every card drawn, not only the first lines
    again = page.locator(INNERMOST).filter(has_text=" · reported ")
    assert [again.nth(i).inner_text() for i in range(2)] == texts
    expect(page.get_by_role("button", name="Run 2 variants")).to_have_count(1)  # the two-variant set-up, kept too
