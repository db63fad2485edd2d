"""The presenter's view as a presenter meets it: its two numbers are the chat meter's for the same session
and strategy, a big toggle there changes what the chat sends, Ask goes through the chat's call path to the
backend the settings pick, and a saved comparison steps one variant at a time, in order, each with what it
sent, its answer, right or wrong, tokens and a cost that is never a bare $0."""

from __future__ import annotations

import json

import pytest
from streamlit.testing.v1 import AppTest

from lib.analysis import compare_store
from lib.analysis.compare import PRESETS, Comparison, VariantResult, plan_variant
from lib.context.conversation import Message, SystemPrompt
from lib.context.payload import Sampling
from lib.context.request import Target
from lib.context.tokens import TiktokenCounter
from lib.core import models
from lib.core.outcome import CallOutcome, Usage
from lib.core.prices import money
from lib.store import storage
from tests.app.conftest import chat_calls, metric, new_app, payload_json, type_server
from tests.fake_openai import FakeOpenAI

pytestmark = pytest.mark.slow

PRESENT = "pages/present.py"
HISTORY = [
    Message("user", "My locker number is 4471.", pinned=True),
    Message("assistant", "Noted: locker 4471."),
    Message("user", "Then I tidied the kitchen and fed the cat."),
    Message("assistant", "A busy morning!"),
]
ANSWERS = ["Your locker is 4471.", "I do not know your locker.", "It is 4471.", "I cannot say."]


def _present(at: AppTest) -> AppTest:
    at.switch_page(PRESENT)
    at.run()
    assert not at.exception, at.exception
    return at


def _chat(at: AppTest) -> AppTest:
    at.switch_page("pages/chat.py")
    at.run()
    assert not at.exception, at.exception
    return at


def _tokens(value: str) -> int:
    return int(value.replace(",", ""))


def _on_history(history: list[Message], **values) -> AppTest:
    at = new_app()
    at.session_state["history"] = list(history)
    for key, value in values.items():
        at.session_state[key] = value
    at.run()
    assert not at.exception, at.exception
    return at


def test_the_two_numbers_are_the_chat_meters_for_the_same_session_and_strategy():
    for strategy in ({}, {"strategy_kind": "last_turns", "strategy_turns": 1}):
        at = _on_history(HISTORY, draft="What is my locker number?", **strategy)
        chat_tokens = _tokens(metric(at, "Prompt tokens"))
        chat_cost = metric(at, "Input cost at gpt-4o-mini")  # the shared *price as*: its default
        _present(at)
        shown = _tokens(metric(at, "Tokens sent"))
        assert shown == chat_tokens  # exact: the embedded model's own template and tokenizer
        cost = metric(at, "Cost of this call's input")
        assert cost == chat_cost
        hosted = models.priced_as(models.MODELS[models.EMBEDDED_MODEL], "gpt-4o-mini")
        assert cost == money(hosted.input_cost(shown))
        assert cost != "$0" and cost.startswith("$0.0")
    # The pinned message is kept under Last 1 turn too: fewer tokens, but more than the question alone.
    assert shown < _tokens(metric(_present(_on_history(HISTORY, draft="What is my locker number?")), "Tokens sent"))


def test_a_big_toggle_changes_what_the_chat_sends_and_the_chat_shows_the_same_choice():
    at = _on_history(HISTORY, draft="What is my locker number?")
    _present(at)
    before = _tokens(metric(at, "Tokens sent"))
    kitchen = HISTORY[2]
    toggle = at.toggle(key=f"present_include_{kitchen.id}")
    assert toggle.value is True and toggle.label == "In context"
    toggle.set_value(False).run()
    assert not at.exception, at.exception
    after = _tokens(metric(at, "Tokens sent"))
    assert after < before
    _chat(at)
    assert at.toggle(key=f"include_{kitchen.id}").value is False
    assert _tokens(metric(at, "Prompt tokens")) == after
    sent = json.loads(payload_json(at))["messages"]
    assert kitchen.content not in [m["content"] for m in sent]
    assert HISTORY[0].content in [m["content"] for m in sent]


def test_ask_sends_through_the_chats_call_path_exactly_what_the_numbers_counted():
    with FakeOpenAI() as server:
        server.behaviour.reply = "Your locker is 4471."
        at = new_app()
        at.session_state["provider_kind"] = "compatible"
        at.session_state["history"] = list(HISTORY)
        at.run()
        type_server(at, server.base_url)
        at.session_state["compatible_model"] = "fake-model"
        _present(at)
        at.text_input(key="draft").set_value("What is my locker number?").run()
        shown = at.session_state["shown_body"]
        next(b for b in at.button if b.key == "present_send").click().run()
        assert not at.exception, at.exception
        calls = chat_calls(server)
        assert len(calls) == 1
        assert calls[0].json()["messages"] == shown["messages"]
        assert at.session_state["history"][-1].content == "Your locker is 4471."
        assert at.session_state["draft"] == ""
    markdown = " ".join(m.value for m in at.markdown)
    assert "Your locker is 4471." in markdown


def _comparison() -> Comparison:
    """Four variants over a history with a pinned message, each with its own answer (gpt-4o's counts)."""
    target = Target(models.MODELS["gpt-4o"], TiktokenCounter.for_model("gpt-4o"), "gpt-4o")
    results = []
    for variant, answer in zip(PRESETS, ANSWERS, strict=True):
        plan = plan_variant(variant, SystemPrompt(), HISTORY, "What is my locker number?", target, Sampling()).plan
        outcome = CallOutcome(text=answer, usage=Usage(plan.prompt_tokens, 6), finish_reason="stop")
        results.append(VariantResult(variant, plan, [outcome], [None], [0.0]))
    return Comparison("What is my locker number?", results, "2026-12-07 10:00:00", expected="4471")


def _saved_comparison_on_present() -> tuple[AppTest, Comparison]:
    at = _on_history(HISTORY)
    session_id = at.session_state["session_id"]
    comparison = _comparison()
    with storage.opened() as conn:
        compare_store.save_comparison(conn, session_id, comparison)
    _present(at)
    at.session_state["present_show"] = "steps"
    at.run()
    assert not at.exception, at.exception
    return at, comparison


def _shown_text(at: AppTest) -> str:
    """The page's Markdown as read (the escapes that keep a user's words inert taken out)."""
    shown = [h.value for h in at.header] + [m.value for m in at.markdown]
    return " ".join(shown).replace("\\", "")


def _step_shown(at: AppTest) -> str:
    return next(m.value for m in at.markdown if m.value.startswith("Variant "))


def _nav(at: AppTest, key: str):
    return next(b for b in at.button if b.key == key)


def test_stepping_shows_each_variant_of_a_saved_comparison_in_order_and_back():
    at, comparison = _saved_comparison_on_present()
    total = len(comparison.results)
    assert _nav(at, "present_previous").disabled
    for index, result in enumerate(comparison.results):
        if index:
            _nav(at, "present_next").click().run()
            assert not at.exception, at.exception
        assert _step_shown(at) == f"Variant {index + 1} of {total}"
        text = _shown_text(at)
        assert result.variant.name in text and result.sends in text
        assert ANSWERS[index] in text
        assert _tokens(metric(at, "Tokens sent")) == result.plan.prompt_tokens
        cost = metric(at, "Cost of the call")
        assert cost.startswith("$0.0") and cost != "$0"
    assert _nav(at, "present_next").disabled
    _nav(at, "present_previous").click().run()
    assert _step_shown(at) == f"Variant {total - 1} of {total}"


def test_a_step_says_everything_it_sent_pinned_included_and_whether_it_is_right():
    at, comparison = _saved_comparison_on_present()
    bare = next(i for i, r in enumerate(comparison.results) if r.variant.system_override == "")
    for _ in range(bare):
        _nav(at, "present_next").click().run()
    assert "no system prompt · no history (1 pinned message still goes) · the question" in _shown_text(at)
    verdicts = " ".join(str(h.proto.body) for h in at.get("html"))
    assert "Wrong: it does not say “4471”" in verdicts
    _nav(at, "present_previous").click().run()
    verdicts = " ".join(str(h.proto.body) for h in at.get("html"))
    assert "Right: it says “4471”" in verdicts


def test_the_switch_hides_the_settings_and_brings_them_back():
    at = _present(_on_history(HISTORY))
    assert at.toggle(key="present_presenting").value is True
    assert not [s for s in at.selectbox if s.key == "price_as"]
    styles = " ".join(str(h.proto.body) for h in at.get("html"))
    assert '[data-testid="stSidebar"]' in styles
    at.toggle(key="present_presenting").set_value(False).run()
    assert [s for s in at.selectbox if s.key == "price_as"]
    styles = " ".join(str(h.proto.body) for h in at.get("html"))
    assert '[data-testid="stSidebar"]' not in styles
    at.selectbox(key="price_as").set_value("gpt-4o").run()
    tokens = _tokens(metric(at, "Tokens sent"))
    cost = metric(at, "Cost of this call's input")
    assert cost == money(models.MODELS["gpt-4o"].input_cost(tokens))
    _chat(at)  # one choice for every page: the chat meter prices as the same model
    assert metric(at, "Input cost at gpt-4o") == cost


def test_stepping_an_experiment_run_shows_each_variant_on_a_case_passed_or_failed(browser):
    from lib.analysis.compare import Variant
    from lib.analysis.experiments import store
    from lib.analysis.experiments.cases import Case, Check, Conversation, TestSet
    from lib.analysis.experiments.checks import Verdict
    from lib.analysis.experiments.planner import CellKey, RunSpec
    from lib.analysis.experiments.store import CellResult
    from lib.context.strategies import Strategy

    told = Conversation(messages=tuple(HISTORY))
    case = Case("locker", "What is my locker number?", told, (Check("contains", "4471", ignore_case=True),))
    variants = (Variant("Full history", Strategy("full")), Variant("No history", Strategy("none")))
    spec = RunSpec(TestSet("Lockers", (case,)), variants, 1, 1, Sampling(), "embedded", models.EMBEDDED_MODEL)
    answers = [("pass", "It is 4471.", 80), ("fail", "I do not know.", 30)]
    with storage.opened() as conn:
        run_id = store.create_run(conn, spec, "Locker run", "", status="done", owner=browser.owner)
        for index, (status, answer, tokens) in enumerate(answers):
            verdicts = (Verdict("contains: 4471", status == "pass", ""),)
            cell = CellResult(
                CellKey(index, "locker", 0), status, answer, verdicts, {}, tokens, Usage(tokens, 4), 0.3, 0.0
            )
            store.record_cell(conn, run_id, cell)
    at = _present(_on_history([]))
    at.session_state["present_show"] = "steps"
    at.run()
    assert not at.exception, at.exception
    assert _step_shown(at) == "Variant 1 of 2"
    assert "Full history" in _shown_text(at) and "It is 4471." in _shown_text(at)
    assert "passed 1 of 1 cases in this run" in " ".join(c.value for c in at.caption)
    verdicts = " ".join(str(h.proto.body) for h in at.get("html"))
    assert "Right: it says “4471”" in verdicts
    assert _tokens(metric(at, "Tokens sent")) == 80
    assert metric(at, "Cost of the call").startswith("$0.0")  # priced as a hosted model, not the free one's $0
    _nav(at, "present_next").click().run()
    assert _step_shown(at) == "Variant 2 of 2" and "I do not know." in _shown_text(at)
    assert "Wrong: it does not say “4471”" in " ".join(str(h.proto.body) for h in at.get("html"))


def test_words_a_user_or_a_model_wrote_render_inert_in_a_step():
    """A variant's name, its answer and the expected answer come from users and models: none of them may
    load an image, run markup or inject style into the presenter's page."""
    from dataclasses import replace

    hostile = _comparison()
    first = hostile.results[0]
    first.variant = replace(first.variant, name="![x](http://127.0.0.1:9/name.png) <b>bold</b>")
    first.outcomes[0].text = "![y](http://127.0.0.1:9/answer.png) <img src=x onerror=alert(1)>"
    hostile.expected = '<style>*{display:none}</style>"4471'
    at = _on_history(HISTORY)
    with storage.opened() as conn:
        compare_store.save_comparison(conn, at.session_state["session_id"], hostile)
    _present(at)
    at.session_state["present_show"] = "steps"
    at.run()
    assert not at.exception, at.exception
    shown = [h.value for h in at.header] + [m.value for m in at.markdown]
    assert not [text for text in shown if "![" in text]  # no image syntax left to load
    verdicts = " ".join(
        b for b in (str(h.proto.body) for h in at.get("html")) if b.startswith('<div class="present-verdict')
    )
    assert "<style>" not in verdicts and "&lt;style&gt;" in verdicts
