"""lib/backends/replay.py: a recorded body gets its recorded reply through the one call path (Reply,
stream_chat, CallOutcome), whatever order its keys come in; any other body gets a sentence naming what
differs from the nearest recorded one. Nothing is sent anywhere."""

import json

import pytest

from lib.backends.kinds import BACKENDS
from lib.backends.providers import ProviderConfig, make_client
from lib.backends.replay import REPLAY_BASE_URL, Exchange, RecordedReply, ReplayBook, canonical, pieces
from lib.backends.reply import Reply
from lib.core.errors import NotRecorded

SYSTEM = {"role": "system", "content": "You are terse."}
FACT = {"role": "user", "content": "My locker number is 4471."}
ACK = {"role": "assistant", "content": "Noted."}
QUESTION = {"role": "user", "content": "What is my locker number?"}
BODY = {
    "model": "SmolLM2-135M-Instruct",
    "messages": [SYSTEM, FACT, ACK, QUESTION],
    "temperature": 0.0,
    "max_tokens": 64,
    "stream": True,
    "stream_options": {"include_usage": True},
}
ANSWER = RecordedReply(
    "Your locker number is 4471, as you told me.",
    "stop",
    prompt_tokens=57,
    completion_tokens=12,
    cached_tokens=40,
    model="SmolLM2-135M-Instruct",
)


def _book(*pairs: tuple[dict, RecordedReply]) -> ReplayBook:
    exchanges = tuple(Exchange(canonical(body), reply) for body, reply in pairs or ((BODY, ANSWER),))
    return ReplayBook("rec1", "Locker demo", exchanges, pace_s=0.0)


def _config(book: ReplayBook, kind="embedded") -> ProviderConfig:
    return ProviderConfig(kind, "SmolLM2-135M-Instruct", base_url=REPLAY_BASE_URL, replay=book)


def _reply(body: dict, book: ReplayBook | None = None) -> Reply:
    config = _config(book or _book())
    reply = Reply(make_client(config), body)
    reply.text()
    return reply


def test_a_recorded_body_gets_its_recorded_reply_streamed_with_usage_as_recorded():
    reply = _reply(BODY)
    outcome = reply.outcome
    assert outcome.ok and outcome.text == ANSWER.content and outcome.finish_reason == "stop"
    assert (outcome.usage.prompt_tokens, outcome.usage.completion_tokens, outcome.usage.cached_tokens) == (57, 12, 40)
    streamed = list(make_client(_config(_book())).chat.completions.create(**BODY))
    texts = [c.choices[0].delta.content for c in streamed if c.choices and c.choices[0].delta.content]
    assert len(texts) > 1 and "".join(texts) == ANSWER.content  # in pieces, as a live reply arrives


def test_whole_or_streamed_the_same_body_is_the_same_call():
    whole = _reply({key: value for key, value in BODY.items() if key != "stream_options"} | {"stream": False})
    assert whole.outcome.text == ANSWER.content and whole.outcome.usage.prompt_tokens == 57


def test_key_order_does_not_matter_anywhere_in_the_body():
    shuffled = json.loads(json.dumps({key: BODY[key] for key in reversed(list(BODY))}))
    shuffled["messages"] = [{"content": m["content"], "role": m["role"]} for m in BODY["messages"]]
    assert list(shuffled) != list(BODY) and list(shuffled["messages"][0]) == ["content", "role"]
    assert _reply(shuffled).outcome.text == ANSWER.content


def test_the_end_user_field_is_not_what_is_asked():
    """A recording opens as a new session: its hashed id differs from the one recorded."""
    assert _reply({**BODY, "user": "cl-another-session"}).outcome.text == ANSWER.content


def test_tool_calls_come_back_as_recorded():
    calls = RecordedReply("", "tool_calls", (("call_1", "get_weather", '{"city": "Oslo"}'),), 20, 9)
    for stream in (True, False):
        reply = _reply({**BODY, "stream": stream}, _book((BODY, calls)))
        assert reply.outcome.finish_reason == "tool_calls"
        assert reply.outcome.tool_calls == [
            {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'}}
        ]


def test_a_body_asked_again_gets_the_next_recorded_answer_round_and_round():
    """Compare's repeats of one body were recorded with their own answers: each gets its own back."""
    other = RecordedReply("4471.", "stop", prompt_tokens=57, completion_tokens=3)
    book = _book((BODY, ANSWER), (BODY, other))
    assert [_reply(BODY, book).outcome.text for _ in range(3)] == [ANSWER.content, "4471.", ANSWER.content]


def test_a_message_left_out_is_named_with_its_place_and_the_way_back_to_live():
    without_fact = {**BODY, "messages": [SYSTEM, ACK, QUESTION]}
    reply = _reply(without_fact)
    assert reply.outcome.error == (
        "This context was not recorded: message 2 of the recorded call (user: “My locker number is 4471.”) is "
        "left out here, it was in when recorded. Switch to live to ask the model."
    )
    assert reply.outcome.text == "" and reply.notices == []  # no retry: asking again changes nothing


def test_a_changed_setting_and_an_added_message_are_named():
    changed = {**BODY, "temperature": 0.7, "messages": [*BODY["messages"][:3], {"role": "user", "content": "Hi"}]}
    with pytest.raises(NotRecorded) as refused:
        _book().answer(changed)
    said = str(refused.value)
    assert "temperature is 0.7 here, it was 0.0 when recorded" in said
    assert "message 4 is user: “Hi” here, it was user: “What is my locker number?” when recorded" in said


def test_a_long_list_of_differences_is_cut_to_three_and_counted():
    other = {"model": "gpt-4o", "messages": [{"role": "user", "content": str(n)} for n in range(9)]}
    said = _book().difference(other)
    assert said.count(" when recorded") == 3 and "and " in said and "more difference(s)" in said


def test_the_nearest_recording_is_the_one_compared():
    second = {**BODY, "messages": [SYSTEM, QUESTION]}
    book = _book((BODY, ANSWER), (second, ANSWER))
    asked = {**BODY, "messages": [SYSTEM, {"role": "user", "content": "What is my locker number??"}]}
    said = book.difference(asked)
    assert "message 2 is user" in said and "message 3" not in said  # compared with the two-message call


def test_replaying_builds_bodies_as_the_recorded_backend_and_needs_no_key_nor_server():
    config = _config(_book(), kind="openai")
    backend = config.backend
    assert backend.replays and not BACKENDS["openai"].replays
    assert backend.token_limit_field == "max_completion_tokens" and backend.end_user_field == "safety_identifier"
    assert config.missing() is None  # OpenAI needs a key live; a replay sends nothing
    assert not backend.asks_its_server and not backend.may_count_on_server
    assert backend.logged_as() == "openai (replayed)"
    assert _config(_book()).backend.counts_in_process  # the embedded recording counts with its own tokenizer


def test_pieces_join_back_exactly_and_stay_few():
    text = "  Hello,\n\nworld! " + "word " * 500
    parts = pieces(text)
    assert "".join(parts) == text and 1 < len(parts) <= 40
    assert pieces("") == []


def test_stop_mid_replay_keeps_what_arrived_marked_incomplete():
    slow = ReplayBook("r", "t", (Exchange(canonical(BODY), RecordedReply("word " * 40, "stop")),), pace_s=0.02)
    reply = Reply(make_client(_config(slow)), BODY)
    for count, _ in enumerate(reply):
        if count == 3:
            reply.stop()
    assert reply.outcome.error and "Stopped by you" in reply.outcome.error
    assert 0 < len(reply.outcome.text) < len("word " * 40)
