"""Tools on the chat page, as a user meets them: definitions edited and checked, a reply that calls a
tool, the result written by hand, the call and its result toggled together, sent as the preview shows."""

from __future__ import annotations

import json

from lib.context.payload import serialise
from tests.app.conftest import chat_on, errors_shown, payload_json
from tests.fake_openai import FakeOpenAI

WEATHER = {
    "type": "function",
    "function": {
        "name": "lookup",
        "description": "Look a city up.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


def _click(at, label: str) -> None:
    next(b for b in at.button if b.label == label).click().run()
    assert not at.exception, at.exception


def _add_tool(at, text: str) -> None:
    at.text_area(key="tool_new").set_value(text).run()
    _click(at, "Add a tool")


def test_a_tool_call_round_by_hand_and_by_the_model_is_sent_as_the_preview_shows():
    with FakeOpenAI() as server:
        at = chat_on(server.base_url)
        # A definition that is no JSON Schema object: named, and the text is kept to fix.
        bad = json.dumps({"type": "function", "function": {"name": "look up", "parameters": {"type": "object"}}})
        _add_tool(at, bad)
        assert "use 1 to 64 letters, digits, underscores or hyphens" in errors_shown(at)
        assert at.text_area(key="tool_new").value == bad and at.session_state["tools"] == ()
        _add_tool(at, json.dumps(WEATHER))
        assert [t.name for t in at.session_state["tools"]] == ["lookup"]
        at.text_area(key="draft").set_value("Weather in Oslo?").run()
        assert json.loads(payload_json(at))["tools"] == [WEATHER]

        # The model asks for the tool: its reply keeps the call.
        server.behaviour.tool_call = True
        server.behaviour.finish_reason = "tool_calls"
        server.behaviour.reply = ""
        _click(at, "Send")
        history = at.session_state["history"]
        assert [m.role for m in history] == ["user", "assistant"]
        assert history[1].tool_calls[0].id == "call_fake" and history[1].tool_calls[0].name == "lookup"
        assert server.requests[-1].json()["tools"] == [WEATHER]

        # The user writes the result; arguments typed by hand are checked with a clear message.
        at.text_input(key="call_name").set_value("lookup").run()
        at.text_area(key="call_args").set_value('{"city": }').run()
        _click(at, "Add tool call")
        assert "The arguments are not valid JSON (line 1, column 10" in errors_shown(at)
        assert len(at.session_state["history"]) == 2 and at.text_area(key="call_args").value == '{"city": }'
        at.selectbox(key="result_for").set_value("call_fake").run()
        at.text_area(key="result_text").set_value("3 °C, snow").run()
        _click(at, "Add tool result")
        history = at.session_state["history"]
        assert history[-1].role == "tool" and history[-1].tool_call_id == "call_fake"
        # The meter now shows the call that sends the results: it ends with the tool message.
        shown = json.loads(payload_json(at))
        assert shown["messages"][-1] == {"role": "tool", "tool_call_id": "call_fake", "content": "3 °C, snow"}
        assert shown["messages"][-2]["tool_calls"][0]["id"] == "call_fake"

        # Leaving the call out (Manual) leaves its result out with it, and back in.
        call_id = history[1].id
        at.toggle(key=f"include_{call_id}").set_value(False).run()
        assert [m.included for m in at.session_state["history"]] == [True, False, False]
        at.toggle(key=f"include_{call_id}").set_value(True).run()
        assert all(m.included for m in at.session_state["history"])

        server.behaviour.tool_call = False
        server.behaviour.finish_reason = "stop"
        server.behaviour.reply = "It snows in Oslo."
        at.text_area(key="draft").set_value("").run()
        body = at.session_state["shown_body"]
        _click(at, "Get an answer")
        assert server.requests[-1].body == serialise(body)  # the very bytes the preview showed
        assert at.session_state["history"][-1].content == "It snows in Oslo."


def test_a_result_whose_call_is_left_out_is_flagged_and_send_is_blocked_with_the_reason():
    with FakeOpenAI() as server:
        at = chat_on(server.base_url)
        _add_tool(at, json.dumps(WEATHER))
        at.text_input(key="call_name").set_value("lookup").run()
        at.text_area(key="call_args").set_value('{"city": "Oslo"}').run()
        _click(at, "Add tool call")
        call = at.session_state["history"][-1].tool_calls[0]
        at.selectbox(key="result_for").set_value(call.id).run()
        at.text_area(key="result_text").set_value("3 °C").run()
        _click(at, "Add tool result")
        result_id = at.session_state["history"][-1].id
        # Leaving the result out by hand leaves the call unanswered: flagged on the page, Send refused.
        at.toggle(key=f"include_{result_id}").set_value(False).run()
        at.text_area(key="draft").set_value("And tomorrow?").run()
        assert any("The call lookup" in w.value and "has no result" in w.value for w in at.warning)
        posts = len(server.requests)
        _click(at, "Send")
        assert "The call lookup" in errors_shown(at) and "has no result" in errors_shown(at)
        assert len(server.requests) == posts  # nothing was sent
        assert at.text_area(key="draft").value == "And tomorrow?"
