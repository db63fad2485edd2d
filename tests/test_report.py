import html
import json
import re
from html.parser import HTMLParser

from lib.compare import PRESETS, Comparison, Target, VariantResult, plan_rows, plan_variant
from lib.conversation import Message, SystemPrompt
from lib.models import MODELS
from lib.payload import Sampling
from lib.providers import CallOutcome
from lib.report import diff_html, plan_figure, report_html, report_markdown
from lib.tokens import TiktokenCounter

TARGET = Target(MODELS["gpt-4o"], TiktokenCounter.for_model("gpt-4o"), "gpt-4o")
ANSWERS = ["Your name is Ada.", "I do not know your name.", "Ada, I believe <b>bold</b>.", "No idea | pipes"]


def _comparison() -> Comparison:
    history = [Message("user", "My name is Ada."), Message("assistant", "Hi Ada.")]
    results = []
    for variant, answer in zip(PRESETS, ANSWERS, strict=True):
        plan = plan_variant(variant, SystemPrompt(), history, "What is my name?", TARGET, Sampling()).plan
        outcome = CallOutcome(text=answer, prompt_tokens=plan.prompt_tokens, completion_tokens=5, finish_reason="stop")
        results.append(VariantResult(variant, plan, [outcome], [None]))
    results[1].outcomes.append(CallOutcome(error="Rate limited (429)"))
    return Comparison("What is my name?", results, "2026-11-25 10:00:00", 0, "test")


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


def test_the_html_report_parses_and_holds_every_answer_and_the_charts_data():
    page = report_html(_comparison())
    parser = _Collector()
    parser.feed(page)
    assert parser.tags.count("table") == 2 and "h1" in parser.tags
    text = html.unescape(re.sub(r"<[^>]+>", "", page))
    for answer in ANSWERS:
        assert all(word in text for word in answer.split())
    assert "&lt;b&gt;bold&lt;/b&gt;" in page  # answers are escaped, never live HTML
    assert "Rate limited (429)" in text
    # plotly.js is inlined once (offline) and every chart carries its data.
    assert sum("Plotly.newPlot" in s for s in parser.scripts) == 4
    assert sum(len(s) > 1_000_000 for s in parser.scripts) == 1
    assert "src=" not in "".join(re.findall(r"<script[^>]*>", page))
    assert all(name in page for name in (json.dumps(v.name)[1:-1] for v in PRESETS))


def test_markdown_report():
    markdown = report_markdown(_comparison())
    assert markdown.startswith("# Context Lab comparison")
    for answer in ANSWERS:
        assert f"> {answer}" in markdown
    assert markdown.count("| Full history |") >= 2


def test_diff_html_is_inert():
    rendered = diff_html("hello world", "hello <script>alert(1)</script> world")
    assert "<script>" not in rendered and "&lt;script&gt;" in rendered and "<ins " in rendered


def _panels(figure) -> list[str]:
    return [annotation.text for annotation in figure.layout.annotations]


def test_the_plan_chart_has_a_panel_per_measure_and_none_for_a_cost_that_is_nothing():
    results = _comparison().results
    priced = plan_rows([r.variant for r in results], [r.plan for r in results])
    every = ["prompt tokens", "payload bytes", "context window %", "input cost $"]
    assert sorted(_panels(plan_figure(priced))) == sorted(every)
    free = [{**row, "input cost $": 0.0} for row in priced]
    assert sorted(_panels(plan_figure(free))) == sorted(every[:3])
    unpriced = [{**row, "input cost $": None} for row in priced]
    assert sorted(_panels(plan_figure(unpriced))) == sorted(every[:3])
