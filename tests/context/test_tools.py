import json

import pytest

from lib.context.tools import (
    ToolDefinition,
    ToolDefinitionError,
    ToolSettings,
    checked_choice,
    parse_parameters,
)

# The OpenAI cookbook's example function (How to count tokens with tiktoken; How to call functions).
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_current_weather",
        "description": "Get the current weather in a given location",
        "parameters": {
            "type": "object",
            "properties": {
                "location": {"type": "string", "description": "The city and state, e.g. San Francisco, CA"},
                "unit": {
                    "type": "string",
                    "description": "The unit of temperature to return",
                    "enum": ["celsius", "fahrenheit"],
                },
            },
            "required": ["location"],
        },
    },
}


def test_a_definition_round_trips_through_the_wire_shape():
    tool = ToolDefinition.from_api(WEATHER)
    assert tool.name == "get_current_weather" and tool.included and tool.strict is None
    assert tool.as_api() == WEATHER
    strict = {"type": "function", "function": {**WEATHER["function"], "strict": True}}
    assert ToolDefinition.from_api(strict).as_api() == strict


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        ({"type": "function", "function": {"name": "get weather"}}, "use 1 to 64 letters"),
        ({"type": "function", "function": {"name": "x" * 65}}, "use 1 to 64 letters"),
        ({"type": "function", "function": {"name": "f", "parameters": []}}, "must be a JSON Schema object"),
        ({"type": "function", "function": {"name": "f", "parameters": {"type": "string"}}}, 'are an "object"'),
        (
            {"type": "function", "function": {"name": "f", "parameters": {"type": "object", "required": ["a"]}}},
            '"required" names a',
        ),
        (
            {"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": {"a": 1}}}},
            'the property "a" must have a schema',
        ),
        ({"type": "code_interpreter"}, "only function tools"),
        ({"type": "function"}, "has no `function` object"),
    ],
)
def test_a_bad_definition_is_refused_by_name(raw, words):
    with pytest.raises(ToolDefinitionError, match=words):
        ToolDefinition.from_api(raw)


def test_parameters_typed_by_hand_say_where_the_json_breaks():
    assert parse_parameters('{"type": "object", "properties": {}}') == {"type": "object", "properties": {}}
    with pytest.raises(ToolDefinitionError, match=r"not valid JSON \(line 2, column 1"):
        parse_parameters('{"type": "object",\n}')


def test_the_body_fields_exist_only_with_an_included_tool():
    tool = ToolDefinition.from_api(WEATHER)
    assert ToolSettings().body_fields() == {}
    assert ToolSettings((ToolDefinition("f", included=False),), "required", True).body_fields() == {}
    fields = ToolSettings((tool, ToolDefinition("f", included=False)), "auto", False).body_fields()
    assert fields == {"tools": [WEATHER], "tool_choice": "auto", "parallel_tool_calls": False}
    forced = ToolSettings((tool,), "get_current_weather").body_fields()
    assert forced["tool_choice"] == {"type": "function", "function": {"name": "get_current_weather"}}
    assert "parallel_tool_calls" not in forced


def test_a_choice_the_api_would_refuse_is_a_named_problem():
    tool = ToolDefinition.from_api(WEATHER)
    assert ToolSettings((tool,), "get_current_weather").problem() is None
    assert "not an included tool" in (ToolSettings((tool,), "lookup").problem() or "")
    twice = ToolSettings((tool, ToolDefinition.from_api(WEATHER)))
    assert "both named get_current_weather" in (twice.problem() or "")
    assert ToolSettings((), "lookup").problem() is None  # nothing about tools is sent
    assert checked_choice("required") == "required" and checked_choice(None) is None
    with pytest.raises(ToolDefinitionError):
        checked_choice("two words")


def test_definitions_are_cleaned_and_serialisable():
    tool = ToolDefinition("f", "half \ud83d", {"type": "object", "properties": {"a\x00": {"type": "string"}}})
    assert tool.description == "half \ufffd" and "a" in tool.parameters["properties"]
    json.dumps(tool.as_api(), allow_nan=False).encode()
    with pytest.raises(ToolDefinitionError, match="cannot be sent as JSON"):
        ToolDefinition("f", "", {"type": "object", "properties": {"a": {"default": float("nan")}}})
