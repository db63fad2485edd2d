"""The units of an answer's context, and ablated requests built by the one request builder."""

from __future__ import annotations

import pytest

from lib.analysis.attribution.context import AnswerContext, AttributionError, sampling_of
from lib.context.conversation import Message, SystemPrompt
from lib.context.payload import Sampling, serialise
from lib.context.request import Target, build_request
from lib.context.strategies import SUMMARY_ID, Strategy
from lib.context.tokens import TiktokenCounter
from lib.core.models import MODELS

TARGET = Target(MODELS["gpt-4o-mini"], TiktokenCounter.for_model("gpt-4o-mini"), "gpt-4o-mini")
HISTORY = [
    Message("user", "My sister Maria lives in Lisbon.", id="fact"),
    Message("assistant", "Noted.", id="ack"),
    Message("user", "I like jazz.", id="jazz", pinned=True),
    Message("assistant", "Nice.", id="nice", included=False),
]
QUESTION = Message("user", "Where does Maria live?", id="q")


def _context(strategy=None, sampling=None, summary=None):
    strategy, sampling = strategy or Strategy("manual"), sampling or Sampling(temperature=0.3, max_tokens=99)
    request = build_request(
        SystemPrompt("Be brief."),
        HISTORY,
        QUESTION,
        strategy,
        TARGET,
        sampling,
        (lambda _: summary) if summary else None,
    )
    return request, AnswerContext.of(request, "In Lisbon.", TARGET)


def test_units_are_the_messages_sent_before_the_question_system_prompt_and_pinned_ones_included():
    request, context = _context()
    assert [u.message.id for u in context.units] == ["system", "fact", "ack", "jazz"]  # "nice" is not sent
    assert [u.kind for u in context.units] == ["system prompt", "user", "assistant", "pinned user"]
    assert [u.tokens for u in context.units] == list(request.plan.count.per_message[:-1])
    assert context.question.id == "q"


def test_the_full_mask_rebuilds_the_very_body_that_was_planned():
    request, context = _context()
    rebuilt = context.request_for(context.full).plan
    assert serialise(rebuilt.body) == serialise(request.plan.body)
    assert rebuilt.prompt_tokens == request.plan.prompt_tokens


def test_an_ablation_is_the_same_request_without_that_message():
    request, context = _context()
    without_fact = context.request_for((True, False, True, True)).plan.body
    expected = dict(
        request.plan.body, messages=[m for m in request.plan.body["messages"] if "Lisbon" not in m["content"]]
    )
    assert serialise(without_fact) == serialise(expected)


def test_the_system_prompt_and_a_pinned_message_can_be_left_out_like_any_other():
    _, context = _context()
    sent = context.request_for((False, True, True, False)).plan.body["messages"]
    assert [m["content"] for m in sent] == ["My sister Maria lives in Lisbon.", "Noted.", "Where does Maria live?"]


def test_a_summary_note_is_a_unit_and_stays_where_the_strategy_put_it():
    request, context = _context(Strategy("summarise", last_turns=1), summary="Maria lives in Lisbon.")
    assert [u.message.id for u in context.units][:2] == ["system", SUMMARY_ID]
    assert serialise(context.request_for(context.full).plan.body) == serialise(request.plan.body)
    without_summary = context.request_for((True, False, *([True] * (len(context.units) - 2)))).plan.body["messages"]
    assert all("Summary" not in m["content"] for m in without_summary)


def test_a_plan_alone_gives_back_its_sampling():
    request, _ = _context(sampling=Sampling(temperature=0.3, max_tokens=99, seed=7))
    assert sampling_of(request.plan.body) == Sampling(temperature=0.3, max_tokens=99, seed=7)
    zero = AnswerContext.of(request.plan, "x", TARGET, Sampling(temperature=0.0, max_tokens=99, seed=7))
    assert zero.request_for(zero.full).plan.body["temperature"] == 0.0


def test_no_context_or_no_question_cannot_be_attributed():
    alone = build_request(SystemPrompt(included=False), [], QUESTION, Strategy("full"), TARGET, Sampling())
    with pytest.raises(AttributionError, match="no context"):
        AnswerContext.of(alone, "x", TARGET)
    no_question = build_request(SystemPrompt(), HISTORY, None, Strategy("full"), TARGET, Sampling())
    with pytest.raises(AttributionError, match="no question"):
        AnswerContext.of(no_question, "x", TARGET)


def test_a_mask_of_the_wrong_length_is_refused():
    _, context = _context()
    with pytest.raises(AttributionError):
        context.request_for((True,))
