"""A two-variant comparison in a real browser: two answers side by side."""

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.e2e]


def test_a_two_variant_comparison_shows_two_answers(page):
    page.get_by_role("link", name="Compare").click()
    page.get_by_text("Compare contexts").first.wait_for()
    for _ in range(2):  # keep "Full history" and "No history (stateless)"
        page.get_by_role("button", name="Remove").last.click()
        page.wait_for_timeout(500)
    page.get_by_role("button", name="Run 2 variants").click()
    page.get_by_text("Answers to").first.wait_for(timeout=180_000)
    page.get_by_text("Full history · baseline").wait_for()
    innermost = '[data-testid="stColumn"]:not(:has([data-testid="stColumn"]))'
    results = page.locator(innermost).filter(has_text=" · reported ")
    assert results.count() == 2
    texts = [results.nth(i).inner_text() for i in range(2)]
    assert all(len(t.split("\n")[-1].strip()) > 0 for t in texts)
    assert "No history (stateless)" in texts[1]
