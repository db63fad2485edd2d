"""The one request builder: the question is always sent, last; the strategy decides the history before it."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lib.context.conversation import Message, SystemPrompt
from lib.context.payload import Sampling, serialise
from lib.context.request import (
    Target,
    build_request,
    captioned,
    send_blocker,
    split_for_retry,
    summary_request_for,
)
from lib.context.strategies import SUMMARY_ID, Strategy
from lib.context.tokens import TiktokenCounter
from lib.core.models import MODELS
from tests.context.test_properties import CASES, histories, texts

TARGET = Target(MODELS["gpt-4o"], TiktokenCounter.for_model("gpt-4o"), "gpt-4o")
KINDS = ["manual", "full", "none", "last_turns", "token_budget", "summarise"]
strategies_ = st.builds(
    Strategy, st.sampled_from(KINDS), last_turns=st.integers(0, 6), token_budget=st.integers(0, 400)
)


@CASES
@given(history=histories(), question=texts, strategy=strategies_, system=texts, summary=st.one_of(st.none(), texts))
def test_the_question_is_sent_last_and_the_history_as_the_strategy_decided(
    history, question, strategy, system, summary
):
    asked = Message("user", question or "?")
    request = build_request(SystemPrompt(system), history, asked, strategy, TARGET, Sampling(), lambda _: summary)
    sent = request.plan.body["messages"]
    assert sent[-1] == asked.as_api() and request.plan.messages[-1] is asked
    assert [d.message for d in request.decisions] == history  # a decision for each history message, no more
    kept = [d.message.as_api() for d in request.decisions if d.kept]
    head = [m.as_api() for m in request.plan.messages[:-1] if m.id in ("system", SUMMARY_ID)]
    assert sent[:-1] == head + kept
    assert request.plan.body_bytes == len(serialise(request.plan.body))
    if strategy.kind == "summarise" and request.to_summarise:
        assert request.needs_summary == (not summary)


def test_no_history_still_sends_the_question():
    """It did not: Send appended the question to the history first, and "No history" dropped it."""
    history = [Message("user", "My name is Ada."), Message("assistant", "Hello Ada.")]
    request = build_request(
        SystemPrompt(), history, Message("user", "What is my name?"), Strategy("none"), TARGET, Sampling()
    )
    assert [m["content"] for m in request.plan.body["messages"]] == ["You are a helpful assistant.", "What is my name?"]


def test_last_n_turns_counts_the_turns_before_the_question():
    """It counted the question as a turn of its own, and sent one earlier turn fewer than previewed."""
    history = [Message(role, f"{role} {i}") for i in range(3) for role in ("user", "assistant")]
    request = build_request(
        SystemPrompt(included=False), history, Message("user", "Q"), Strategy("last_turns", 2), TARGET, Sampling()
    )
    assert [m["content"] for m in request.plan.body["messages"]] == [
        "user 1",
        "assistant 1",
        "user 2",
        "assistant 2",
        "Q",
    ]


def test_a_retry_asks_the_same_question_after_the_same_history():
    history = [Message("user", "a"), Message("assistant", "b"), Message("user", "Q", status="unanswered")]
    before, question = split_for_retry(history, history[-1].id)
    assert before == history[:2] and question is history[-1]


def test_the_summarising_strategy_waits_for_a_summary_and_says_what_it_costs():
    history = [Message(role, f"{role} message {i}") for i in range(4) for role in ("user", "assistant")]
    strategy = Strategy("summarise", last_turns=1)
    waiting = build_request(SystemPrompt(), history, Message("user", "Q"), strategy, TARGET, Sampling())
    assert waiting.needs_summary and len(waiting.to_summarise) == 6
    assert "make their summary first" in send_blocker(waiting)
    summary_plan = summary_request_for(waiting.to_summarise, TARGET, Sampling())
    assert summary_plan.prompt_tokens > 0 and summary_plan.body["stream"] is False
    assert "user message 0" in summary_plan.body["messages"][1]["content"]
    ready = build_request(SystemPrompt(), history, Message("user", "Q"), strategy, TARGET, Sampling(), lambda _: "S.")
    assert not ready.needs_summary and send_blocker(ready) is None
    contents = [m["content"] for m in ready.plan.body["messages"]]
    assert contents == ["You are a helpful assistant.", "Summary of the earlier conversation: S.", *contents[2:]]
    assert contents[2:] == ["user message 3", "assistant message 3", "Q"]


@pytest.mark.parametrize("question", [None, Message("user", "   ")])
def test_there_is_nothing_to_send_without_a_question(question):
    request = build_request(SystemPrompt(), [], question, Strategy("full"), TARGET, Sampling())
    assert send_blocker(request) == "The message is empty: type something to send."


def test_the_chat_captions_every_message_under_the_call_it_shows():
    """Under an older question's call (a regeneration's): what it kept and left out, the question itself,
    and the messages after it, which that call could not carry."""
    history = [
        Message("user", "My name is Ada.", id="u1"),
        Message("assistant", "Hello Ada.", id="a1"),
        Message("user", "I like foxes.", id="u2"),
        Message("assistant", "Foxes are clever.", id="a2"),
        Message("user", "What is my name?", id="u3"),
        Message("assistant", "Ada.", id="a3"),
    ]
    shown = build_request(
        SystemPrompt("Be brief."), history[:4], history[4], Strategy("last_turns", 1), TARGET, Sampling()
    )
    captions = captioned(shown, history)
    assert [d.message.id for d in captions] == ["u1", "a1", "u2", "a2", "u3", "a3"]
    assert [d.kept for d in captions] == [False, False, True, True, True, False]
    assert captions[4].reason == "the question"
    assert captions[5].reason == "after the question: not in this call"
    assert captions[0].reason == next(d.reason for d in shown.decisions if d.message.id == "u1")
