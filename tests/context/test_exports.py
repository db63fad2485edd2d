"""lib/context/exports: the session's next call in other tools' forms, and back: export → import gives
the same context (lib/store/imports), and the request body export is the very bytes sent."""

from __future__ import annotations

import json

import pytest
from hypothesis import assume, given

from lib.context.conversation import Message, SystemPrompt, ToolCall
from lib.context.exports import EXPORTS, evals_line, fine_tuning_line, messages_array, request_body, split_for_evals
from lib.context.payload import Sampling, serialise
from lib.context.request import Target, build_request
from lib.context.strategies import Strategy
from lib.context.tokens import TiktokenCounter
from lib.context.tools import NO_TOOLS, ToolDefinition, ToolSettings
from lib.core.models import MODELS
from lib.store.imports import import_context, to_session
from tests.context.test_properties import CASES, histories, texts

TARGET = Target(MODELS["gpt-4o-mini"], TiktokenCounter.for_model("gpt-4o-mini"), "gpt-4o-mini")
SAMPLING = Sampling(temperature=0.3, max_tokens=77, stream=True)
SYSTEM = SystemPrompt("You answer in French.")
HISTORY = [
    Message("user", "Hello!"),
    Message("assistant", "Bonjour !"),
    Message("system", "Be brief from now on."),
    Message("user", 'What is "2+2"?\nAnswer with a digit.'),
    Message("assistant", "4"),
]
KEY = "sk-live-0123456789abcdefghijKLMN"


WEATHER = ToolDefinition(
    "get_weather", "The weather in a city", {"type": "object", "properties": {"city": {"type": "string"}}}, strict=True
)
TOOL_HISTORY = [
    Message("developer", "Use the tools.", name="ops"),
    Message("user", "Weather in Paris?"),
    Message("assistant", "", tool_calls=(ToolCall("call_1", "get_weather", '{"city": "Paris"}'),)),
    Message("tool", '{"temp_c": 18}', tool_call_id="call_1"),
    Message("assistant", "18 °C."),
    Message("user", "And in Lyon?"),
]


def body_of(
    system: SystemPrompt, history: list[Message], sampling: Sampling = SAMPLING, tools: ToolSettings = NO_TOOLS
) -> dict:
    """The next call's body, from the one request builder (as the page's meter and preview get it)."""
    return build_request(system, history, None, Strategy(), TARGET, sampling, tools=tools).plan.body


def test_the_request_body_export_is_exactly_the_bytes_sent():
    body = body_of(SYSTEM, HISTORY)
    assert request_body(body) == serialise(body)


@pytest.mark.parametrize("last", [4, 3, 1], ids=["ends with a reply", "ends with a question", "one message"])
def test_a_body_exported_then_imported_is_the_same_call_byte_for_byte(last):
    history = HISTORY[:last]
    exported = request_body(body_of(SYSTEM, history))
    imported = import_context(exported)
    session, notes = to_session(imported, {}, "openai")
    assert notes == ()
    sampling = Sampling(
        session.settings["temperature"], session.settings["max_tokens"], stream=session.settings["stream"]
    )
    again = body_of(session.system, list(session.messages), sampling)
    assert serialise(again) == exported
    assert session.settings["openai_model"] == "gpt-4o-mini" and session.settings["strategy_kind"] == "manual"
    # The import report names what the app sets itself: nothing else changed.
    assert [n.where for n in imported.report] == ["stream_options"]


def test_tools_tool_calls_and_results_round_trip_byte_for_byte():
    tools = ToolSettings((WEATHER,), "get_weather", False)
    exported = request_body(body_of(SYSTEM, TOOL_HISTORY, tools=tools))
    session, notes = to_session(import_context(exported), {"tool_choice": "none"}, "openai")
    assert notes == ()
    assert session.settings["tool_choice"] == "get_weather" and session.settings["parallel_tool_calls"] is False
    kept = ToolSettings(session.tools, session.settings["tool_choice"], session.settings["parallel_tool_calls"])
    sampling = Sampling(
        session.settings["temperature"], session.settings["max_tokens"], stream=session.settings["stream"]
    )
    assert serialise(body_of(session.system, list(session.messages), sampling, kept)) == exported


def test_messages_array_round_trip():
    body = body_of(SYSTEM, HISTORY)
    imported = import_context(messages_array(body))
    assert imported.system == SYSTEM.content
    assert [m["content"] for m in imported.messages] == [m.content for m in HISTORY]
    assert [m["role"] for m in imported.messages] == [m.role for m in HISTORY]
    assert imported.report == ()


def test_fine_tuning_line_round_trip_and_shape():
    body = body_of(SYSTEM, HISTORY)
    line = fine_tuning_line(body)
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    parsed = json.loads(line)
    assert set(parsed) == {"messages"} and parsed["messages"] == body["messages"]
    imported = import_context(line)
    assert [imported.system, *(m["content"] for m in imported.messages)] == [m["content"] for m in body["messages"]]
    assert imported.report == ()


def test_fine_tuning_line_carries_the_bodys_tools():
    tool = {"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": {}}}}
    body = {**body_of(SYSTEM, HISTORY), "tools": [tool], "parallel_tool_calls": False}
    parsed = json.loads(fine_tuning_line(body))
    assert parsed["tools"] == [tool] and parsed["parallel_tool_calls"] is False
    assert list(import_context(json.dumps(parsed)).tools) == [tool]


def test_evals_line_splits_at_the_last_question_and_round_trips():
    body = body_of(SYSTEM, HISTORY)
    parsed = json.loads(evals_line(body))
    assert parsed["ideal"] == "4"
    assert parsed["input"] == body["messages"][:-1] and parsed["input"][-1]["role"] == "user"
    imported = import_context(evals_line(body))
    assert [imported.system, *(m["content"] for m in imported.messages)] == [m["content"] for m in body["messages"]]


def test_evals_without_a_reply_has_an_empty_ideal_and_round_trips():
    body = body_of(SYSTEM, HISTORY[:4])
    assert split_for_evals(body["messages"]) == (body["messages"], "")
    imported = import_context(evals_line(body))
    assert [m["content"] for m in imported.messages] == [m.content for m in HISTORY[:4]]


@pytest.mark.parametrize("maker", [e[3] for e in EXPORTS], ids=[e[0] for e in EXPORTS])
def test_a_key_is_in_no_export(maker):
    history = [*HISTORY, Message("user", f"my key is {KEY}, and a piece of it: {KEY[3:15]}")]
    body = body_of(SystemPrompt(f"key: {KEY}"), history)
    exported = maker(body, (KEY,))
    assert KEY not in exported.decode() and KEY[3:15] not in exported.decode()
    assert "***" in exported.decode()
    json.loads(exported.decode().splitlines()[0] if exported.endswith(b"\n") else exported)  # still JSON


@CASES
@given(history=histories(), system=texts)
def test_any_history_exported_and_imported_is_the_same_call_byte_for_byte(history, system):
    body = body_of(SystemPrompt(system), history)
    assume(body["messages"])  # nothing to import from a call with no message at all
    exported = request_body(body)
    session, _ = to_session(import_context(exported), {}, "openai")
    sampling = Sampling(
        session.settings["temperature"], session.settings["max_tokens"], stream=session.settings["stream"]
    )
    assert serialise(body_of(session.system, list(session.messages), sampling)) == exported
    again = import_context(messages_array(body))
    sent = body["messages"]
    head = sent[0]["content"] if sent[0]["role"] == "system" else None
    assert (again.system, list(again.messages)) == (head, sent[1:] if head is not None else sent)
