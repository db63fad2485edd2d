import html
import json
import re
from html.parser import HTMLParser

import plotly.io as pio
import plotly.offline
import pytest

from lib.analysis.compare import (
    PRESETS,
    Comparison,
    Target,
    Variant,
    VariantResult,
    answer_stats,
    plan_rows,
    plan_variant,
)
from lib.analysis.report import (
    PALETTE,
    diff_html,
    plan_figure,
    report_html,
    report_markdown,
    result_figures,
    variant_colours,
)
from lib.context.conversation import Message, SystemPrompt
from lib.context.payload import Sampling
from lib.context.tokens import TiktokenCounter
from lib.core.models import MODELS
from lib.core.outcome import CallOutcome, Usage

TARGET = Target(MODELS["gpt-4o"], TiktokenCounter.for_model("gpt-4o"), "gpt-4o")
LONG = " ".join(f"Sentence {i} of a long answer, kept whole in the report." for i in range(60))
ANSWERS = ["Your name is Ada.", "I do not know your name.", "Ada, I believe <b>bold</b>.", LONG]


def _comparison(repeats: int = 1) -> Comparison:
    history = [Message("user", "My name is Ada."), Message("assistant", "Hi Ada.")]
    results = []
    for variant, answer in zip(PRESETS, ANSWERS, strict=True):
        plan = plan_variant(variant, SystemPrompt(), history, "What is my name?", TARGET, Sampling()).plan
        outcomes = [
            CallOutcome(
                text=answer + " x" * i,
                usage=Usage(plan.prompt_tokens, 5),
                latency_s=2.0,
                ttft_s=0.5,
                finish_reason="stop",
            )
            for i in range(repeats)
        ]
        results.append(VariantResult(variant, plan, outcomes, [None] * repeats, [1.0 * i for i in range(repeats)]))
    results[1].outcomes.append(CallOutcome(error="Rate limited (429)"))
    return Comparison("What is my name?", results, "2026-11-25 10:00:00", 0, "test", one_at_a_time=True)


@pytest.fixture(autouse=True)
def streamlits_template():
    """Inside the app, Streamlit's plotly template is the default, with placeholder colours
    (#000001…) that only its own charts replace: the report came out black. Test under it."""
    import streamlit  # noqa: F401 - importing it installs the template

    assert pio.templates.default == "streamlit"


class _Collector(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags: list[str] = []
        self.scripts: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self._in_script = tag == "script"

    def handle_data(self, data):
        if self._in_script:
            self.scripts.append(data)


def _trace_colours(figure) -> dict[str, set[str]]:
    """Each legend entry's colours, from the figure's JSON as the browser gets it."""
    colours: dict[str, set[str]] = {}
    for trace in json.loads(figure.to_json())["data"]:
        colour = trace.get("marker", {}).get("color")
        colours.setdefault(trace["name"], set()).update(colour if isinstance(colour, list) else [colour])
    return colours


def test_every_chart_colours_each_variant_its_own_colour_with_a_legend():
    comparison = _comparison(repeats=3)
    stats = answer_stats(comparison.results, 0)
    plans = plan_rows([r.variant for r in comparison.results], [r.plan for r in comparison.results])
    names = [v.name for v in PRESETS]
    expected = variant_colours(names)
    assert len(set(expected.values())) == len(names) and set(expected.values()) <= set(PALETTE)
    for figure in [plan_figure(plans), *result_figures(stats, names)]:
        colours = _trace_colours(figure)
        for name in names:
            assert colours.get(name, {expected[name]}) == {expected[name]}, (figure.layout.title.text, name)
        assert not any(c and re.fullmatch(r"#0000\d\d", c) for cs in colours.values() for c in cs)
        assert figure.layout.showlegend is True and figure.layout.template.layout.colorway is not None
        legend = figure.layout.legend
        assert legend.yref == "container" and legend.y < 0.1  # at the foot, never over a point
        assert set(colours) >= set(names) - {PRESETS[1].name}  # (its one run failed in the similarity charts)


def test_single_runs_are_dots_and_boxes_need_three():
    single = result_figures(answer_stats(_comparison().results, 0))
    assert {t.type for t in single[0].data} == {"scatter"} and {t.mode for t in single[0].data} == {"markers"}
    repeated = result_figures(answer_stats(_comparison(repeats=3).results, 0))
    assert {t.type for t in repeated[0].data} == {"box"}


def test_charts_name_variants_by_legend_not_by_clipped_axis_labels():
    comparison = _comparison()
    plans = plan_rows([r.variant for r in comparison.results], [r.plan for r in comparison.results])
    for figure in [plan_figure(plans), *result_figures(answer_stats(comparison.results, 0))]:
        categorical = [a for name, a in figure.layout.to_plotly_json().items() if name.startswith("xaxis")]
        assert all(axis.get("showticklabels") is False or axis.get("title") for axis in categorical)
        title = figure.layout.title.text
        assert len(title) <= 40, title  # a title fits the chart's width


def test_the_html_report_parses_and_holds_every_answer_in_full_and_the_charts_data():
    page = report_html(_comparison())
    parser = _Collector()
    parser.feed(page)
    assert parser.tags.count("table") == 2 and "h1" in parser.tags
    text = html.unescape(re.sub(r"<[^>]+>", "", page))
    for answer in ANSWERS:
        assert html.unescape(html.escape(answer)) in text  # whole, not cut
    assert LONG in text
    assert "&lt;b&gt;bold&lt;/b&gt;" in page  # answers are escaped, never live HTML
    assert "Rate limited (429)" in text
    assert sum("Plotly.newPlot" in s for s in parser.scripts) == 5
    assert "src=" not in "".join(re.findall(r"<script[^>]*>", page))
    assert all(html.escape(v.name) in page for v in PRESETS)
    assert "queued" in text and "@media print" in page


def test_the_report_inlines_one_copy_of_plotly_and_little_else():
    page = report_html(_comparison(repeats=3))
    bundle = plotly.offline.get_plotlyjs()
    assert page.count(bundle[:2000]) == 1  # one copy of plotly.js, inlined: it works offline
    assert len(page.encode()) < len(bundle.encode()) + 200_000


def test_the_report_can_price_a_free_run_as_a_hosted_model():
    comparison = _comparison()
    page = report_html(comparison, "gpt-4o-mini")
    assert "priced as gpt-4o-mini" in page
    assert "Cost (priced as gpt-4o-mini)" in page


def test_markdown_report():
    markdown = report_markdown(_comparison())
    assert markdown.startswith("# Context Lab comparison")
    for answer in ANSWERS:
        assert f"> {answer}" in markdown
    assert markdown.count(f"| {PRESETS[0].name} |") >= 2
    assert f"Sends {PRESETS[1].sends()}." in markdown


def test_diff_html_is_inert():
    rendered = diff_html("hello world", "hello <script>alert(1)</script> world")
    assert "<script>" not in rendered and "&lt;script&gt;" in rendered and "<ins " in rendered


def test_a_hostile_variant_name_is_inert_in_the_report():
    comparison = _comparison()
    comparison.results[0].variant = Variant("<img src=x onerror=alert(1)>")
    page = report_html(comparison)
    assert "<img src=x" not in page and "&lt;img src=x onerror=alert(1)&gt;" in page


def _panels(figure) -> list[str]:
    return [annotation.text for annotation in figure.layout.annotations]


def test_the_plan_chart_has_a_panel_per_measure_and_none_for_a_cost_that_is_nothing():
    results = _comparison().results
    priced = plan_rows([r.variant for r in results], [r.plan for r in results])
    every = ["Prompt tokens", "Payload (bytes)", "Window share (%)", "Input cost ($)"]
    assert sorted(_panels(plan_figure(priced))) == sorted(every)
    free = [{**row, "input cost $": 0.0} for row in priced]
    assert sorted(_panels(plan_figure(free))) == sorted(every[:3])
    unpriced = [{**row, "input cost $": None} for row in priced]
    assert sorted(_panels(plan_figure(unpriced))) == sorted(every[:3])


def test_a_pinned_message_is_named_wherever_a_variant_is_described():
    """Was: "Bare question: no system prompt · no history · the question" in the report although the
    call also carried the pinned message (56 tokens against 46 for "system prompt + question")."""
    history = [
        Message("user", "My locker is 4471.", pinned=True),
        Message("assistant", "Noted."),
        Message("user", "Then I tidied the kitchen."),
        Message("assistant", "Nice."),
    ]
    results = []
    for variant in PRESETS:
        plan = plan_variant(variant, SystemPrompt(), history, "What is my locker number?", TARGET, Sampling()).plan
        results.append(VariantResult(variant, plan, [CallOutcome(text="4471")]))
    comparison = Comparison("What is my locker number?", results, "2026-11-25 10:00:00")
    bare = next(r for r in results if r.variant.system_override == "")
    assert [m.content for m in bare.plan.messages] == ["My locker is 4471.", "What is my locker number?"]
    said = "no system prompt · no history (1 pinned message still goes) · the question"
    assert bare.sends == said
    text = html.unescape(report_html(comparison))
    assert f"Sends {said}." in text and f">{said}<" in report_html(comparison)  # the card and the table
    markdown = report_markdown(comparison)
    assert f"Sends {said}." in markdown and "No history (stateless) + 1 pinned message" in markdown
    again = Comparison.from_dict(json.loads(json.dumps(comparison.to_dict())))  # a saved comparison, reopened
    assert f"Sends {said}." in html.unescape(report_html(again))
    full = next(r for r in results if r.variant.strategy.kind == "full")
    assert "pinned" not in full.sends  # the whole history: nothing to single out


def test_a_correct_column_stands_beside_similarity_and_a_wrong_baseline_is_called_wrong():
    comparison = _comparison()
    comparison.expected = "ada"
    stats = answer_stats(comparison.results, comparison.baseline, "", comparison.expected)
    marks = {row["variant"]: row["correct?"] for row in stats if not row["error"]}
    assert marks == {PRESETS[0].name: "yes", PRESETS[1].name: "no", PRESETS[2].name: "yes", PRESETS[3].name: "no"}
    assert comparison.baseline_warning() is None  # the baseline says "Ada"
    page = report_html(comparison)
    assert '<th class="">Correct?</th>' in page and "Expected answer: “ada”" in html.unescape(page)
    comparison.baseline = 1  # "I do not know your name." as the reference
    page = html.unescape(report_html(comparison))
    assert "Wrong baseline:" in page and "does not give the expected answer “ada”" in page
    markdown = report_markdown(comparison)
    assert "| correct? |" in markdown and "**Wrong baseline:**" in markdown
    again = Comparison.from_dict(json.loads(json.dumps(comparison.to_dict())))
    assert again.expected == "ada" and again.correct(1) is False
    assert "correct?" not in answer_stats(comparison.results, 0)[0]  # nothing expected: no column
