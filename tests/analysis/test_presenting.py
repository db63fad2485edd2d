"""The presenter's steps and costs, decided: a saved comparison or run as one step per variant in order,
each saying everything it sent (pinned messages included), right or wrong, tokens and a cost priced as a
hosted model; a key press past either end stays put; a cost is never a bare "$0"."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from lib.analysis import presenting
from lib.analysis.compare import PRESETS, Comparison, Target, Variant, VariantResult, plan_variant
from lib.analysis.experiments.cases import Case, Check, Conversation, TestSet
from lib.analysis.experiments.checks import Verdict
from lib.analysis.experiments.planner import CellKey, RunSpec
from lib.analysis.experiments.store import CellResult
from lib.context.conversation import Message, SystemPrompt
from lib.context.payload import Sampling
from lib.context.strategies import Strategy
from lib.context.tokens import TiktokenCounter
from lib.core import models
from lib.core.outcome import CallOutcome, Usage

TARGET = Target(models.MODELS["gpt-4o"], TiktokenCounter.for_model("gpt-4o"), "gpt-4o")
FREE = Target(models.MODELS[models.EMBEDDED_MODEL], TARGET.counter, models.EMBEDDED_MODEL)
HISTORY = [
    Message("user", "My locker number is 4471.", pinned=True),
    Message("assistant", "Noted."),
    Message("user", "Then I tidied the kitchen."),
    Message("assistant", "Nice."),
]
ANSWERS = ["It is 4471.", "I do not know.", "4471.", "No idea."]


def _comparison(target: Target = TARGET, expected: str = "4471") -> Comparison:
    results = []
    for variant, answer in zip(PRESETS, ANSWERS, strict=True):
        plan = plan_variant(variant, SystemPrompt(), HISTORY, "What is my locker number?", target, Sampling()).plan
        results.append(VariantResult(variant, plan, [CallOutcome(text=answer, usage=Usage(plan.prompt_tokens, 4))]))
    return Comparison("What is my locker number?", results, "2026-12-07 10:00:00", expected=expected)


def test_a_comparison_is_one_step_per_variant_in_its_order():
    comparison = _comparison()
    steps = presenting.comparison_steps(comparison)
    assert [s.name for s in steps] == [v.name for v in PRESETS]
    assert [(s.number, s.total) for s in steps] == [(1, 4), (2, 4), (3, 4), (4, 4)]
    assert [s.answer for s in steps] == ANSWERS
    assert [s.correct for s in steps] == [True, False, True, False]
    assert [s.prompt_tokens for s in steps] == [r.plan.prompt_tokens for r in comparison.results]
    assert all(s.question == "What is my locker number?" and s.expected == "4471" for s in steps)


def test_a_step_says_everything_its_variant_sent_even_after_a_save_and_reopen():
    """Was (the Compare report): "no system prompt · no history · the question" for a call that also carried
    the pinned message."""
    reopened = Comparison.from_dict(json.loads(json.dumps(_comparison().to_dict())))
    bare = next(s for s in presenting.comparison_steps(reopened) if s.name == PRESETS[1].name)
    assert bare.sends == "no system prompt · no history (1 pinned message still goes) · the question"


def test_a_cost_is_priced_as_the_hosted_model_picked_and_a_free_one_is_said_in_words():
    free = presenting.comparison_steps(_comparison(FREE))
    assert all(s.cost == 0 for s in free)
    assert presenting.cost_text(free[0].cost, models.EMBEDDED_MODEL).value == "free here"
    hosted = presenting.comparison_steps(_comparison(FREE), price_as="gpt-4o-mini")
    mini = models.MODELS["gpt-4o-mini"].prices
    first = _comparison(FREE).results[0]
    expected = mini.input.base * first.plan.prompt_tokens / 1e6 + mini.output.base * 4 / 1e6
    assert abs((hosted[0].cost or 0) - expected) < 1e-12
    assert {s.priced_as for s in hosted} == {"gpt-4o-mini"}
    # A hosted model keeps its own prices, as the chat meter prices it: only a free model's $0 is priced as.
    own = presenting.comparison_steps(_comparison(TARGET), price_as="gpt-4o-mini")
    assert {s.priced_as for s in own} == {"gpt-4o"}
    first_own = _comparison(TARGET).results[0]
    gpt4o = models.MODELS["gpt-4o"].prices
    assert (
        abs((own[0].cost or 0) - (gpt4o.input.base * first_own.plan.prompt_tokens + gpt4o.output.base * 4) / 1e6)
        < 1e-12
    )
    shown = presenting.cost_text(hosted[0].cost, "gpt-4o-mini")
    assert shown.value.startswith("$0.0") and shown.value != "$0"
    assert "gpt-4o-mini" in shown.detail and "per 1,000 calls" in shown.detail


def test_nothing_expected_is_not_called_right_or_wrong():
    assert {s.correct for s in presenting.comparison_steps(_comparison(expected=""))} == {None}


@given(st.integers(-50, 50), st.integers(0, 12))
def test_a_step_index_stays_inside_the_steps(index, total):
    kept = presenting.clamp(index, total)
    assert 0 <= kept <= max(total - 1, 0)
    if 0 <= index < total:
        assert kept == index


def test_cost_text_is_never_a_bare_zero():
    for cost in (None, 0.0, 1e-9, 0.000018, 0.5, 12.0):
        shown = presenting.cost_text(cost, "gpt-4o")
        assert shown.value not in ("$0", "$0.00") and shown.detail


def _cell(variant: int, case: str, status: str, answer: str, tokens: int) -> CellResult:
    verdicts = (Verdict("contains: 4471", status == "pass", ""),)
    usage = Usage(tokens, 3)
    return CellResult(CellKey(variant, case, 0), status, answer, verdicts, {"model": "m"}, tokens, usage, 0.4, 0.0)


def test_an_experiment_run_steps_its_variants_on_one_case_with_how_each_did_overall():
    pinned = Conversation(messages=(Message("user", "Locker 4471.", pinned=True), Message("assistant", "Noted.")))
    cases = (
        Case("locker", "What is my locker?", pinned, (Check("contains", "4471", ignore_case=True),)),
        Case("other", "And the cat?", pinned, (Check("regex", "ca+t"),)),
    )
    variants = (Variant("Full history", Strategy("full")), Variant("No history", Strategy("none")))
    spec = RunSpec(TestSet("t", cases), variants, 1, 1, Sampling(), "embedded", models.EMBEDDED_MODEL)
    cells = [
        _cell(0, "locker", "pass", "It is 4471.", 60),
        _cell(0, "other", "pass", "The cat.", 60),
        _cell(1, "locker", "fail", "No idea.", 20),
    ]
    model = models.info_for(models.EMBEDDED_MODEL)
    steps = presenting.run_steps(spec, cells, "locker", "gpt-4o-mini", model)
    assert [s.name for s in steps] == ["Full history", "No history"]
    assert [s.correct for s in steps] == [True, False]
    assert [s.answer for s in steps] == ["It is 4471.", "No idea."]
    assert steps[0].expected == "4471" and steps[0].note == "passed 2 of 2 cases in this run"
    assert steps[1].note == "passed 0 of 1 cases in this run"
    assert steps[1].sends.endswith("no history (1 pinned message still goes) · the question")
    assert all(s.cost and s.cost > 0 for s in steps)  # priced as gpt-4o-mini, not the free model's $0
    other = presenting.run_steps(spec, cells, "other", "gpt-4o-mini", model)
    assert other[0].expected == ""  # a regex is no answer to show
    assert other[1].error == "Not run yet." and other[1].correct is None


def test_a_kept_plans_composition_adds_up_to_what_it_sent():
    plan = _comparison().results[0].plan
    made = presenting.composition_of_plan(plan)
    assert made.prompt_tokens == plan.prompt_tokens
    assert made.tokens("question") == plan.count.per_message[-1]
    assert (
        sum(made.tokens(p) for p in ("system", "pinned", "conversation", "question", "overhead")) == plan.prompt_tokens
    )
