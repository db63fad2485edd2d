"""Tool calls and results on the embedded model: the meter equals the prompt tokens its server reports.

SmolLM2's chat template reads each message's role and content and nothing else: it never renders the
tool definitions (`tools`), an assistant's `tool_calls` or a result's `tool_call_id`. The server
renders what the template renders, so that is what is counted, under every strategy."""

from __future__ import annotations

import pytest

from lib.backends.providers import ProviderConfig, make_client, stream_chat
from lib.context.conversation import Message, SystemPrompt, ToolCall
from lib.context.payload import Sampling
from lib.context.request import Target, build_request
from lib.context.strategies import Strategy
from lib.context.tools import ToolDefinition, ToolSettings
from lib.core.models import EMBEDDED_MODEL, MODELS
from lib.core.outcome import CallOutcome

pytestmark = pytest.mark.slow

WEATHER = ToolDefinition(
    "get_weather",
    "Current weather for a city.",
    {"type": "object", "properties": {"city": {"type": "string", "description": "The city"}}, "required": ["city"]},
)
TIME = ToolDefinition("get_time", "The local time in a city.", {"type": "object", "properties": {}})
TOOLS = ToolSettings((WEATHER, TIME), "auto", False)


def _history() -> list[Message]:
    history: list[Message] = [Message("system", "Use the tools.", id="s1")]
    for turn, city in enumerate(("Paris", "Oslo", "Lima")):
        history += [
            Message("user", f"Weather and time in {city}?", id=f"u{turn}", name="ada" if turn == 1 else None),
            Message(
                "assistant",
                "" if turn else "Checking both.",
                id=f"a{turn}",
                tool_calls=(
                    ToolCall(f"call_w{turn}", "get_weather", f'{{"city": "{city}"}}'),
                    ToolCall(f"call_t{turn}", "get_time", "{}"),
                ),
            ),
            Message("tool", f'{{"temp_c": {10 + turn}, "sky": "clear"}}', id=f"rw{turn}", tool_call_id=f"call_w{turn}"),
            Message("tool", f"{9 + turn}:00", id=f"rt{turn}", tool_call_id=f"call_t{turn}", pinned=turn == 0),
            Message("assistant", f"{city}: {10 + turn} °C, clear, {9 + turn}:00.", id=f"f{turn}"),
        ]
    return history


STRATEGIES = [
    Strategy("manual"),
    Strategy("full"),
    Strategy("none"),
    Strategy("last_turns", last_turns=1),
    Strategy("token_budget", token_budget=90),
    Strategy("summarise", last_turns=1),
]


def _send(server, body: dict) -> CallOutcome:
    outcome = CallOutcome()
    client = make_client(ProviderConfig("embedded", EMBEDDED_MODEL, base_url=server.base_url))
    for _ in stream_chat(client, body, outcome):
        pass
    client.close()
    return outcome


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
@pytest.mark.parametrize("strategy", STRATEGIES, ids=[s.kind for s in STRATEGIES])
def test_the_meter_equals_the_servers_prompt_tokens_for_tool_rounds(
    strategy, stream, embedded_server, embedded_tokenizer
):
    target = Target(MODELS[EMBEDDED_MODEL], embedded_tokenizer, EMBEDDED_MODEL)
    sampling = Sampling(0.0, 1, stream=stream)
    question = Message("user", "And in Rome?", id="q")
    request = build_request(
        SystemPrompt("Answer briefly."),
        _history(),
        question,
        strategy,
        target,
        sampling,
        lambda older: f"{len(older)} earlier messages about the weather.",
        TOOLS,
    )
    assert request.pair_findings == [] and "tools" in request.plan.body
    outcome = _send(embedded_server, request.plan.body)
    assert outcome.ok, outcome.error
    assert request.plan.prompt_tokens == outcome.usage.prompt_tokens


def test_a_body_ending_with_tool_results_is_counted_exactly(embedded_server, embedded_tokenizer):
    """The call after the user wrote the results: no new question, the results are the last messages."""
    history = _history()[:5]  # the system message, a question, its calls and both results
    target = Target(MODELS[EMBEDDED_MODEL], embedded_tokenizer, EMBEDDED_MODEL)
    request = build_request(SystemPrompt(), history, None, Strategy("full"), target, Sampling(0.0, 1), tools=TOOLS)
    assert request.plan.body["messages"][-1]["role"] == "tool"
    outcome = _send(embedded_server, request.plan.body)
    assert outcome.ok, outcome.error
    assert request.plan.prompt_tokens == outcome.usage.prompt_tokens


def test_smollm2s_template_shows_the_model_no_tool_definitions_and_no_calls(embedded_server, embedded_tokenizer):
    """Measured, not assumed: the same conversation with and without tools costs the same prompt tokens
    on the server, and the meter says the definitions cost 0."""
    messages = [m.as_api() for m in _history()[:5]]
    with_tools = _send(
        embedded_server,
        {
            "model": EMBEDDED_MODEL,
            "messages": messages,
            "max_tokens": 1,
            "temperature": 0.0,
            "tools": TOOLS.api_tools(),
        },
    )
    without = _send(
        embedded_server, {"model": EMBEDDED_MODEL, "messages": messages, "max_tokens": 1, "temperature": 0.0}
    )
    assert with_tools.ok and without.ok and with_tools.usage.prompt_tokens == without.usage.prompt_tokens
    assert embedded_tokenizer.count(messages, tools=TOOLS.api_tools()).tool_tokens == 0
    assert not embedded_tokenizer.renders_tools() and not embedded_tokenizer.renders_tool_calls()


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
def test_a_forced_tool_choice_on_the_embedded_model_comes_back_as_a_call_in_the_history(stream, embedded_server):
    from lib.backends.reply import Reply
    from lib.context.answers import record_reply

    forced = ToolSettings((WEATHER,), "get_weather")
    question = Message("user", "Weather in Paris?", id="q")
    body = {
        "model": EMBEDDED_MODEL,
        "messages": [question.as_api()],
        "max_tokens": 48,
        "temperature": 0.0,
        "stream": stream,
        **forced.body_fields(),
    }
    client = make_client(ProviderConfig("embedded", EMBEDDED_MODEL, base_url=embedded_server.base_url))
    reply = Reply(client, body)
    reply.text()
    client.close()
    assert reply.outcome.ok, reply.outcome.error
    history = record_reply([question], "q", reply.outcome, reply_id="r")
    assert [c.name for c in history[1].tool_calls] == ["get_weather"] and history[1].tool_calls[0].id
