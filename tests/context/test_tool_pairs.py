"""Tool calls and their results: kept together by every strategy, and a body the API would refuse is named."""

from __future__ import annotations

import json
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lib.context.conversation import Message, MessageShapeError, SystemPrompt, ToolCall
from lib.context.payload import Sampling
from lib.context.request import Target, build_request, send_blocker
from lib.context.strategies import Strategy, decide
from lib.context.tokens import TiktokenCounter
from lib.context.tool_pairs import (
    call_of,
    calls_text,
    edited_calls,
    findings,
    known_calls,
    pair_of,
    results_of,
    set_included,
    with_call,
    with_result,
)
from lib.context.tools import ToolDefinitionError
from lib.core.models import MODELS
from tests.context.test_properties import CASES, texts

TARGET = Target(MODELS["gpt-4o"], TiktokenCounter.for_model("gpt-4o"), "gpt-4o")
KINDS = ["manual", "full", "none", "last_turns", "token_budget", "summarise"]


def _calling(mid: str, *calls: tuple[str, str], content: str = "") -> Message:
    return Message("assistant", content, id=mid, tool_calls=tuple(ToolCall(c, n, "{}") for c, n in calls))


def _result(mid: str, call_id: str, content: str = "14 °C") -> Message:
    return Message("tool", content, id=mid, tool_call_id=call_id)


HISTORY = [
    Message("user", "Weather in Paris and the time?", id="u1"),
    _calling("a1", ("call_w", "get_weather"), ("call_t", "get_time")),
    _result("r1", "call_w"),
    _result("r2", "call_t", "09:00"),
    Message("assistant", "14 °C at 09:00.", id="a2"),
]
ASKED = Message("user", "And tomorrow?", id="q")


def _kinds(messages):
    return [(f.kind, f.message_id, f.call_id) for f in findings(messages, HISTORY)]


def test_a_complete_round_has_no_findings_and_the_pairs_are_known():
    assert findings([*HISTORY, ASKED]) == []
    assert call_of(HISTORY, HISTORY[3]) is HISTORY[1] and results_of(HISTORY, HISTORY[1]) == HISTORY[2:4]
    assert pair_of(HISTORY, HISTORY[2]) == HISTORY[1:4] and pair_of(HISTORY, HISTORY[0]) == [HISTORY[0]]


def test_a_result_whose_call_is_left_out_is_an_orphan_named_by_its_tool():
    sent = [HISTORY[0], HISTORY[2], HISTORY[3], ASKED]
    assert _kinds(sent) == [("orphan_result", "r1", "call_w"), ("orphan_result", "r2", "call_t")]
    text = findings(sent, HISTORY)[0].text
    assert text.startswith("The tool result for get_weather (call_w) is sent without the assistant message")


def test_a_result_answering_no_call_at_all_is_named():
    sent = [*HISTORY, _result("r9", "call_zzz"), ASKED]
    assert _kinds(sent) == [("unknown_call", "r9", "call_zzz")]
    assert "names a tool_call_id that no assistant message calls" in findings(sent)[0].text


def test_a_call_left_unanswered_before_the_next_message_is_named():
    sent = [HISTORY[0], HISTORY[1], HISTORY[2], HISTORY[4], ASKED]  # the time's result is out
    assert _kinds(sent) == [("unanswered_call", "a1", "call_t")]
    assert findings(sent)[0].text.startswith("The call get_time (call_t) has no result before the assistant message")
    assert _kinds([HISTORY[0], HISTORY[1]]) == [
        ("unanswered_call", "a1", "call_w"),
        ("unanswered_call", "a1", "call_t"),
    ]


def test_a_result_separated_from_its_call_is_an_orphan():
    sent = [HISTORY[0], HISTORY[1], HISTORY[2], Message("user", "wait", id="u2"), HISTORY[3]]
    assert ("orphan_result", "r2", "call_t") in _kinds(sent)


def test_a_call_id_used_twice_is_named():
    sent = [*HISTORY, _calling("a3", ("call_w", "get_weather")), _result("r3", "call_w")]
    assert ("duplicate_call_id", "a3", "call_w") in _kinds(sent)


def test_the_include_toggle_of_a_call_carries_its_results():
    left_out = set_included(HISTORY, "a1", False)
    assert [m.included for m in left_out] == [True, False, False, False, True]
    assert [m.included for m in set_included(left_out, "a1", True)] == [True] * 5
    # A result alone toggles alone (and, left out, is flagged: its call is then unanswered).
    alone = set_included(HISTORY, "r2", False)
    assert [m.included for m in alone] == [True, True, True, False, True]


def test_manual_mode_flags_a_broken_pair_and_send_is_blocked_with_the_reason():
    history = set_included(HISTORY, "r2", False)
    request = build_request(SystemPrompt(), history, ASKED, Strategy("manual"), TARGET, Sampling())
    assert [(f.kind, f.call_id) for f in request.pair_findings] == [("unanswered_call", "call_t")]
    assert (send_blocker(request) or "").startswith("The call get_time (call_t) has no result")
    history = [
        m if m.id != "a1" else Message("assistant", "", included=False, id="a1", tool_calls=m.tool_calls)
        for m in HISTORY
    ]
    request = build_request(SystemPrompt(), history, ASKED, Strategy("manual"), TARGET, Sampling())
    blocked = send_blocker(request) or ""
    assert blocked.startswith("The tool result for get_weather (call_w) is sent without") and "1 more" in blocked
    fine = build_request(SystemPrompt(), HISTORY, ASKED, Strategy("manual"), TARGET, Sampling())
    assert send_blocker(fine) is None


def test_a_budget_that_cuts_between_a_call_and_its_results_drops_the_results_and_says_why():
    tokens = {m.id: 10 for m in HISTORY}
    # Room for the answer and both results, not for the call: without the call they would be orphans.
    decisions = decide(Strategy("token_budget", token_budget=30), HISTORY, lambda m: tokens[m.id])
    kept = {d.message.id: (d.kept, d.reason) for d in decisions}
    assert kept["a2"][0] and not kept["a1"][0]
    assert kept["r1"] == (False, "left out with its tool call (get_weather, get_time): a result needs its call")


def test_a_pinned_result_keeps_its_call_and_its_siblings():
    history = [
        m if m.id != "r2" else Message("tool", "09:00", id="r2", tool_call_id="call_t", pinned=True) for m in HISTORY
    ]
    decisions = {d.message.id: d for d in decide(Strategy("none"), history)}
    assert decisions["r2"].reason == "pinned"
    assert decisions["a1"].kept and decisions["a1"].reason == "kept with its pinned tool result"
    assert decisions["r1"].kept and not decisions["u1"].kept


@st.composite
def agent_histories(draw) -> list[Message]:
    """Turns of a user question, rounds of calls each answered, and a final answer; some pinned."""
    history: list[Message] = []
    n = 0
    for _ in range(draw(st.integers(0, 4))):
        n += 1
        history.append(Message("user", draw(texts), id=f"u{n}", pinned=draw(st.booleans())))
        for _ in range(draw(st.integers(0, 2))):
            calls = [f"c{n}_{i}" for i in range(draw(st.integers(1, 3)))]
            n += 1
            history.append(_calling(f"a{n}", *((c, "lookup") for c in calls), content=draw(texts)))
            for c in draw(st.permutations(calls)):
                n += 1
                history.append(Message("tool", draw(texts), id=f"r{n}", tool_call_id=c, pinned=draw(st.booleans())))
        if draw(st.booleans()):
            n += 1
            history.append(Message("assistant", draw(texts), id=f"a{n}"))
    return history


@CASES
@given(history=agent_histories(), kind=st.sampled_from(KINDS[1:]), turns=st.integers(0, 4), budget=st.integers(0, 300))
def test_every_strategy_sends_only_whole_pairs(history, kind, turns, budget):
    strategy = Strategy(kind, last_turns=turns, token_budget=budget)
    request = build_request(SystemPrompt(), history, ASKED, strategy, TARGET, Sampling(), lambda _: "summary")
    assert request.pair_findings == []
    kept = {d.message.id for d in request.decisions if d.kept}
    for calling in (m for m in history if m.tool_calls):
        pair = {m.id for m in pair_of(history, calling)}
        assert pair <= kept or not pair & kept


@pytest.mark.parametrize("kind", KINDS)
def test_a_plain_history_is_decided_as_before(kind):
    """No tool message, no change: the pairing pass returns every decision as the strategy made it."""
    history = [Message(role, f"{role} {i}", id=f"{role}{i}") for i in range(3) for role in ("user", "assistant")]
    strategy = Strategy(kind, last_turns=1, token_budget=20)
    reasons = [d.reason for d in decide(strategy, history, lambda m: 7)]
    assert not any("tool" in reason for reason in reasons)


# The tools panel's edits, as lib/ makes them (the page only draws them: tests/app/test_tools_page.py).


def test_known_calls_lists_every_call_in_order_and_whether_a_result_answers_it():
    history = [*HISTORY[:3], _calling("a3", ("call_x", "get_news"))]
    assert [(k.call.id, k.message_id, k.answered) for k in known_calls(history)] == [
        ("call_w", "a1", True),
        ("call_t", "a1", False),
        ("call_x", "a3", False),
    ]


def test_a_typed_call_is_a_new_assistant_message_or_joins_the_open_one():
    asked = [Message("user", "Weather?", id="u1")]
    first = with_call(asked, "get_weather", '{"city": "Paris"}')
    assert first[:1] == asked and first[1].role == "assistant" and first[1].content == ""
    (call,) = first[1].tool_calls
    assert call.name == "get_weather" and call.arguments == '{"city": "Paris"}' and call.id.startswith("call_")
    joined = with_call(first, "get_time", "{}", join=True)  # parallel calls are one message
    assert len(joined) == 2 and [c.name for c in joined[1].tool_calls] == ["get_weather", "get_time"]
    assert joined[1].edited and len({c.id for c in joined[1].tool_calls}) == 2
    answered = with_result(joined, joined[1].tool_calls[0].id, "14 °C")
    after = with_call(answered, "get_news", "{}", text="Checking.", join=True)  # answered: a message of its own
    assert len(after) == 4 and after[-1].content == "Checking." and len(after[-1].tool_calls) == 1


@pytest.mark.parametrize(
    ("name", "arguments", "says"),
    [("get weather", "{}", "The function name"), ("get_weather", "{city}", "not valid JSON"), ("f", "[1]", "object")],
)
def test_a_typed_call_that_the_api_would_refuse_says_what_to_fix(name, arguments, says):
    with pytest.raises((MessageShapeError, ToolDefinitionError), match=says):
        with_call([], name, arguments)


def test_a_result_goes_right_after_its_call_and_the_results_it_has():
    history = [*HISTORY[:3], Message("assistant", "Meanwhile…", id="a9")]
    placed = with_result(history, "call_t", "09:00")
    assert [m.id for m in placed[:3]] == ["u1", "a1", "r1"] and placed[3].tool_call_id == "call_t"
    assert placed[3].role == "tool" and placed[3].content == "09:00" and placed[4].id == "a9"
    with pytest.raises(MessageShapeError, match="No assistant message calls 'call_nope'"):
        with_result(history, "call_nope", "x")


def test_edited_calls_keep_a_received_call_as_it_was_and_check_a_changed_one():
    received = ToolCall("call_1", "lookup", "{not json")  # what a model wrote is what was said
    kept = edited_calls(calls_text((received,)), (received,))
    assert kept == (received,)
    text = json.dumps([{"id": "call_1", "name": "lookup", "arguments": {"q": "x"}}, {"name": "more"}])
    changed = edited_calls(text, (received,))
    assert changed[0] == ToolCall("call_1", "lookup", '{"q": "x"}')
    assert changed[1].name == "more" and changed[1].arguments == "{}" and changed[1].id.startswith("call_")
    assert edited_calls("  ", (received,)) == ()


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("[{", "not valid JSON (line 1, column 3"),
        ('{"id": "a"}', "must be a JSON list"),
        ("[1]", "Tool call 1 must be an object"),
        ('[{"id": 7, "name": "f"}]', "Tool call 1: its id must be text"),
        ('[{"id": "a", "name": "f b"}]', "Tool call 1's name"),
        ('[{"id": "a", "name": "f", "arguments": "[]"}]', "must be a JSON object"),
        ('[{"id": "a", "name": "f"}, {"id": "a", "name": "g"}]', "The call id 'a' is used twice"),
    ],
)
def test_edited_calls_the_api_would_refuse_say_what_to_fix(text, says):
    with pytest.raises((MessageShapeError, ToolDefinitionError), match=re.escape(says)):
        edited_calls(text, ())
