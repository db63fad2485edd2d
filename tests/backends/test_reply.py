"""A call as a value: a `Reply` streams, retries visibly, can be stopped, and holds its outcome."""

from __future__ import annotations

import pytest
from openai.types.chat.chat_completion_chunk import ChoiceDeltaToolCall as Piece
from openai.types.chat.chat_completion_chunk import ChoiceDeltaToolCallFunction as Fn

from lib.backends.providers import ProviderConfig, _add_call_pieces, make_client
from lib.backends.reply import STOPPED, Reply, ReplyInFlight, call_note
from lib.backends.retry import RetryPolicy
from lib.context.answers import record_reply
from lib.context.conversation import Message, ToolCall
from lib.context.payload import Sampling, build_body
from lib.core.outcome import CallOutcome
from tests.fake_openai import FakeOpenAI


def _reply(server: FakeOpenAI, stream: bool = True, **kwargs) -> Reply:
    client = make_client(ProviderConfig("compatible", "fake-model", base_url=server.base_url))
    body = build_body("fake-model", [{"role": "user", "content": "hi"}], Sampling(stream=stream))
    return Reply(client, body, **kwargs)


def _posts(server: FakeOpenAI) -> int:
    return sum(r.method == "POST" for r in server.requests)


def test_a_reply_streams_its_text_and_holds_its_outcome():
    with FakeOpenAI() as server:
        server.behaviour.reply = "one two three"
        reply = _reply(server)
        assert "".join(reply) == "one two three"
        assert reply.outcome.ok and reply.outcome.usage.prompt_tokens == 42 and reply.outcome.finish_reason == "stop"
        assert list(reply) == ["one two three"] and _posts(server) == 1  # iterating again sends nothing


def test_a_rate_limit_is_retried_and_each_wait_is_a_notice():
    with FakeOpenAI() as server:
        server.behaviour.status, server.behaviour.failures = 429, 2
        waits: list[float] = []
        reply = _reply(server, stream=False, policy=RetryPolicy(attempts=3, base_delay_s=0.5), wait=waits.append)
        assert reply.text() == server.behaviour.reply
        assert waits == [0.5, 1.0] and len(reply.notices) == 2 and _posts(server) == 3
        assert reply.notices[0].startswith("Rate limited (429), retrying in 0.5 s (attempt 2/3)")
        assert reply.retries_note.startswith("Answered on attempt 3.")


def test_stop_keeps_the_text_that_arrived_marked_incomplete():
    with FakeOpenAI() as server:
        server.behaviour.reply = " ".join(f"w{i}" for i in range(400))
        server.behaviour.delay_s = 0
        reply = _reply(server)
        pieces = []
        for piece in reply:
            pieces.append(piece)
            if len(pieces) == 3:
                reply.stop()
        assert len(pieces) == 3 and reply.outcome.text.startswith("".join(pieces))
        assert reply.outcome.error == STOPPED and reply.outcome.incomplete


def test_a_reply_in_flight_goes_on_while_nobody_reads_it():
    with FakeOpenAI() as server:
        server.behaviour.reply = "all of it"
        in_flight = ReplyInFlight(_reply(server))
        assert in_flight.wait(30) and in_flight.done
        assert in_flight.text == "all of it" and in_flight.outcome.ok


def test_a_reply_is_recorded_after_its_question_and_a_failure_keeps_the_question():
    question = Message("user", "Q", status="unanswered")
    history = [Message("user", "a"), Message("assistant", "b"), question, Message("user", "later")]
    answered = record_reply(history, question.id, CallOutcome(text="A", finish_reason="stop"))
    assert [(m.content, m.status) for m in answered] == [
        ("a", "ok"),
        ("b", "ok"),
        ("Q", "ok"),
        ("A", "ok"),
        ("later", "ok"),
    ]
    broken = record_reply(history, question.id, CallOutcome(text="par", error="cut"))
    assert [(m.content, m.status, m.included) for m in broken[2:4]] == [
        ("Q", "unanswered", True),
        ("par", "incomplete", False),
    ]
    assert record_reply(history, question.id, CallOutcome(error="401")) == history
    assert record_reply(history, "deleted-meanwhile", CallOutcome(text="A", finish_reason="stop")) == history


# --- a reply that asks for tools ---------------------------------------------------------------


@pytest.mark.parametrize("stream", [True, False], ids=["streamed", "whole"])
@pytest.mark.parametrize("text", ["", "Let me look that up."])
def test_a_reply_that_calls_a_tool_keeps_the_call_and_the_history_gets_it(stream, text):
    with FakeOpenAI() as server:
        server.behaviour.reply = text
        server.behaviour.tool_call = True
        server.behaviour.finish_reason = "tool_calls"
        reply = _reply(server, stream=stream)
        assert "".join(reply) == text
        outcome = reply.outcome
        assert outcome.ok and outcome.finish_reason == "tool_calls"
        assert outcome.tool_calls == [
            {"id": "call_fake", "type": "function", "function": {"name": "lookup", "arguments": "{}"}}
        ]
        question = Message("user", "Look it up", id="q")
        history = record_reply([question], "q", outcome, reply_id="r")
        assert history[1].tool_calls == (ToolCall("call_fake", "lookup", "{}"),) and history[1].content == text
        assert history[1].as_api()["tool_calls"][0]["id"] == "call_fake"
        assert "The model asks to call lookup: the playground runs no tools" in call_note(reply, 256)


def test_streamed_call_pieces_are_joined_by_index():
    calls: list[dict] = []
    pieces = [
        Piece(index=0, id="call_a", type="function", function=Fn(name="get_weather", arguments='{"ci')),
        Piece(index=1, id="call_b", type="function", function=Fn(name="get_time", arguments="")),
        Piece(index=0, function=Fn(arguments='ty": "Oslo"}')),
        Piece(index=1, function=Fn(arguments="{}")),
    ]
    for piece in pieces:
        _add_call_pieces(calls, [piece])
    assert [(c["id"], c["function"]["name"], c["function"]["arguments"]) for c in calls] == [
        ("call_a", "get_weather", '{"city": "Oslo"}'),
        ("call_b", "get_time", "{}"),
    ]


def test_a_key_echoed_in_a_calls_arguments_is_masked():
    key = "sk-test-0123456789abcdefghij"
    with FakeOpenAI() as server:
        server.behaviour.tool_call = True
        server.behaviour.finish_reason = "tool_calls"
        import tests.fake_openai as fake

        original = dict(fake.TOOL_CALL)
        fake.TOOL_CALL["function"] = {"name": "lookup", "arguments": f'{{"key": "{key}"}}'}
        try:
            reply = _reply(server, stream=False, secrets=(key,))
            reply.text()
        finally:
            fake.TOOL_CALL.clear()
            fake.TOOL_CALL.update(original)
        assert key not in reply.outcome.tool_calls[0]["function"]["arguments"]
