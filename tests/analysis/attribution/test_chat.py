"""What the attribution panel asks of the chat (lib/analysis/attribution/chat.py): the question an answer
replies to, the smallest context as the include toggles, the cost of regenerating before it runs."""

from __future__ import annotations

from dataclasses import replace

from lib.analysis.attribution.chat import as_toggles, calls_estimate, not_applicable, question_before
from lib.analysis.attribution.context import AnswerContext
from lib.analysis.attribution.planner import plan_ablations
from lib.analysis.attribution.run import HoldRule, attribute, plan_cost, smallest_context
from lib.context.conversation import Message, SystemPrompt
from lib.context.payload import Sampling
from lib.context.request import Target, build_request
from lib.context.strategies import Strategy
from lib.context.tokens import TiktokenCounter
from lib.core import prices as pricing
from lib.core.models import MODELS
from tests.analysis.attribution.test_run import FormulaScorer

TARGET = Target(MODELS["gpt-4o-mini"], TiktokenCounter.for_model("gpt-4o-mini"), "gpt-4o-mini")


def _history() -> list[Message]:
    """Five messages before the question `q`, the second pinned, then its answer `a` and a later message."""
    before = [
        Message("user" if i % 2 else "assistant", f"Message number {i}.", id=f"m{i}", pinned=i == 1) for i in range(5)
    ]
    return [
        *before,
        Message("user", "Where?", id="q"),
        Message("assistant", "Lisbon.", id="a"),
        Message("user", "Thanks", id="later"),
    ]


def _found(history: list[Message]):
    request = build_request(
        SystemPrompt("Be brief."),
        history[:5],
        history[5],
        Strategy("full"),
        TARGET,
        Sampling(temperature=0.0, max_tokens=40),
    )
    context = AnswerContext.of(request, "Lisbon.", TARGET)
    scorer = FormulaScorer([0.0, 0.0, 4.0, 0.05, 0.0, 0.3], needed=[2])  # unit 0 is the system prompt
    return context, smallest_context(
        context, scorer, attribute(context, scorer, plan_ablations(6)), HoldRule(max_fall=0.5)
    )


def test_an_answer_is_attributed_to_the_question_before_it():
    history = _history()
    assert question_before(history, "a") == history[5]
    assert question_before(history, "m0") is None  # nothing asked before it
    assert question_before(history, "gone") is None


def test_the_smallest_context_becomes_the_toggles_before_the_question_only():
    history = _history()
    _context, found = _found(history)
    toggles = as_toggles(history, found, "q")
    assert toggles is not None and not_applicable(found) is None
    assert [m.included for m in toggles.history[:5]] == [False, True, False, False, False]  # m1 kept only
    assert toggles.history[5:] == history[5:]  # the question and what follows: unchanged
    assert toggles.system_included is False and toggles.unpinned == 0
    assert "send 1 of the 6 messages before that question" in toggles.sentence(found)
    assert as_toggles(history[:5], found, "q") is None  # the question deleted meanwhile


def test_a_pinned_message_left_out_is_unpinned():
    history = _history()
    _context, found = _found(history)
    history[2] = replace(history[2], pinned=True)
    toggles = as_toggles(history, found, "q")
    assert toggles is not None and toggles.unpinned == 1 and not toggles.history[2].pinned


def test_regenerating_is_priced_by_the_one_cost_formula():
    context, _ = _found(_history())
    plan = plan_ablations(len(context.units))
    cost = plan_cost(context, plan, "similarity", 7)
    estimate = calls_estimate(context, plan, cost)
    assert (estimate.completion_tokens, estimate.most_completion_tokens) == (plan.passes * 7, plan.passes * 40)
    prices = TARGET.model.prices
    assert estimate.expected == pricing.cost(prices, cost.prompt_tokens, completion_tokens=plan.passes * 7)
    assert estimate.at_most == pricing.cost(prices, cost.prompt_tokens, completion_tokens=plan.passes * 40)
