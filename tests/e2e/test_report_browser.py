"""The HTML report in Chromium: readable at 1280 px, every chart drawn in colour, printable to A4."""

import re

import pytest
from playwright.sync_api import expect

from tests.analysis.test_report import _comparison

pytestmark = [pytest.mark.e2e]
A4_CONTENT_PX = 688  # 210 mm less the report's 14 mm margins, at 96 px per inch


def _open_report(browser, tmp_path, width: int):
    import streamlit  # noqa: F401 - the report is made inside the app, under Streamlit's plotly template

    from lib.analysis.report import report_html

    path = tmp_path / "report.html"
    path.write_text(report_html(_comparison(repeats=3), "gpt-4o-mini"), encoding="utf-8")
    page = browser.new_page(viewport={"width": width, "height": 800})
    page.goto(path.as_uri())
    page.wait_for_function("() => document.querySelectorAll('.js-plotly-plot .main-svg').length >= 5")
    return page


@pytest.fixture
def report(browser, tmp_path):
    page = _open_report(browser, tmp_path, 1280)
    yield page
    page.close()


def _overflow(page) -> int:
    return page.evaluate("() => document.documentElement.scrollWidth - document.documentElement.clientWidth")


def test_the_report_fits_1280_px_and_draws_every_chart_in_colour(report):
    assert _overflow(report) <= 0
    expect(report.locator(".js-plotly-plot")).to_have_count(5)
    fills = report.evaluate(
        "() => [...document.querySelectorAll('.js-plotly-plot .point path, .js-plotly-plot .points path')]"
        ".map(p => getComputedStyle(p).fill)"
    )
    colours = {f for f in fills if f and f != "none"}
    assert len(colours) >= 4 and not any(re.fullmatch(r"rgb\(0, 0, [0-9]\)", c) for c in colours)
    legends = report.locator(".js-plotly-plot .legend .traces").count()
    assert legends >= 5 * 4  # every chart names its variants


def test_the_report_prints_to_a4_without_cutting_anything(report, tmp_path):
    report.emulate_media(media="print")
    report.set_viewport_size({"width": A4_CONTENT_PX, "height": 1000})
    assert _overflow(report) <= 0
    pdf = report.pdf(format="A4", print_background=True)
    pages = len(re.findall(rb"/Type\s*/Page[^s]", pdf))
    assert 2 <= pages <= 12  # three runs of four variants, a long answer each: whole, on a few pages


# Every label a chart draws (titles, ticks, the values over the bars) as its box on the page, per chart.
_CHART_TEXTS = """() => [...document.querySelectorAll('.js-plotly-plot')].map(plot =>
    [...plot.querySelectorAll('text')]
        .filter(t => t.textContent.trim() && getComputedStyle(t).display !== 'none')
        .map(t => { const r = t.getBoundingClientRect(); return [t.textContent, r.left, r.top, r.right, r.bottom]; })
        .filter(([, left, top, right, bottom]) => right > left && bottom > top))"""


def overlapping_labels(page) -> list[tuple[str, str]]:
    """Pairs of labels of one chart drawn over each other (by more than a pixel each way)."""
    pairs = []
    for texts in page.evaluate(_CHART_TEXTS):
        for i, (a, al, at, ar, ab) in enumerate(texts):
            for b, bl, bt, br, bb in texts[i + 1 :]:
                if min(ar, br) - max(al, bl) > 1 and min(ab, bb) - max(at, bt) > 1:
                    pairs.append((a, b))
    return pairs


@pytest.mark.parametrize("width", [1280, A4_CONTENT_PX])
def test_no_label_of_a_chart_is_drawn_over_another(browser, tmp_path, width):
    """Costs of a few millionths of a dollar are long labels: over narrow bars they ran into each other,
    and the cost panel's ticks into the panel beside it. A label that does not fit over its bar is left
    to the hover and the table."""
    page = _open_report(browser, tmp_path, width)
    try:
        assert overlapping_labels(page) == []
    finally:
        page.close()
