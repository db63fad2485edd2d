"""The token inspector's markup in Chromium: a long unbroken run of tokens wraps inside its column."""

import pytest

from lib.analysis.inspect_tokens import openai_spans, spans_html

pytestmark = [pytest.mark.e2e]


def test_a_long_token_line_stays_inside_its_column(browser):
    content = "=" * 600 + " https://example.com/" + "a1b2" * 300
    markup = spans_html(openai_spans("o200k_base", [{"role": "user", "content": content}]), ["user"])
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    try:
        page.set_content(f'<div id="column" style="width:420px">{markup}</div>')
        overflow = page.evaluate(
            "() => { const c = document.getElementById('column'); return c.scrollWidth - c.clientWidth }"
        )
        assert overflow <= 0
        widest = page.evaluate(
            "() => Math.max(...[...document.querySelectorAll('.ti-group')].map(g => g.getBoundingClientRect().width))"
        )
        assert widest <= 420
    finally:
        page.close()
