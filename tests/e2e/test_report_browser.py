"""The HTML report in Chromium: readable at 1280 px, every chart drawn in colour, printable to A4."""

import re

import pytest
from playwright.sync_api import expect

from tests.analysis.test_report import _comparison

pytestmark = [pytest.mark.e2e]
A4_CONTENT_PX = 688  # 210 mm less the report's 14 mm margins, at 96 px per inch


@pytest.fixture
def report(browser, tmp_path):
    import streamlit  # noqa: F401 - the report is made inside the app, under Streamlit's plotly template

    from lib.analysis.report import report_html

    path = tmp_path / "report.html"
    path.write_text(report_html(_comparison(repeats=3), "gpt-4o-mini"), encoding="utf-8")
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    page.goto(path.as_uri())
    page.wait_for_function("() => document.querySelectorAll('.js-plotly-plot .main-svg').length >= 5")
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
