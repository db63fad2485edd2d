import json

import pytest

from lib.context.conversation import Message
from lib.context.payload import (
    Sampling,
    blocking_reason,
    build_body,
    in_wire_order,
    plan_request,
    serialise,
    wire_order,
)
from lib.context.tokens import TiktokenCounter
from lib.core import models

GPT4O = models.MODELS["gpt-4o"]


def _plan(messages, model=GPT4O, sampling=None):
    return plan_request(messages, model, TiktokenCounter.for_model(model.name), sampling or Sampling())


def test_the_body_carries_exactly_the_selected_messages_and_asks_for_usage():
    messages = [Message("system", "be brief", id="system"), Message("user", "héllo 👋")]
    plan = _plan(messages)
    assert plan.body["messages"] == [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "héllo 👋"},
    ]
    assert plan.body["stream"] is True and plan.body["stream_options"] == {"include_usage": True}


def test_body_bytes_count_utf8_of_the_compact_json():
    plan = _plan([Message("user", "héllo 👋")])
    text = json.dumps(plan.body, ensure_ascii=False, separators=(",", ":"))
    assert plan.body_bytes == len(text.encode("utf-8")) > len(text)


def test_reasoning_models_get_no_temperature_and_openai_gets_max_completion_tokens():
    body = build_body("o3", [], Sampling(0.2, 100, "max_completion_tokens"), reasoning=True)
    assert "temperature" not in body and body["max_completion_tokens"] == 100
    assert build_body("x", [], Sampling(0.2, 5))["max_tokens"] == 5


def test_share_cost_and_fit_follow_the_model():
    plan = _plan([Message("user", "word " * 100)])
    assert plan.context_share == plan.prompt_tokens / GPT4O.context_window
    assert plan.input_cost == GPT4O.input_cost(plan.prompt_tokens)
    assert plan.fits and blocking_reason(plan, "hi") is None


def test_an_oversized_prompt_is_blocked_with_the_numbers():
    tiny = models.info_for("tiny-model", context_window=20)
    plan = _plan([Message("user", "word " * 100)], model=tiny)
    reason = blocking_reason(plan, "hi")
    assert not plan.fits and reason and "context window is 20" in reason


def test_an_empty_message_is_blocked():
    assert "empty" in blocking_reason(_plan([Message("user", "x")]), "  \n ")


def test_tokens_of_finds_a_message_and_none_for_the_unsent():
    sent = Message("user", "hello")
    plan = _plan([sent])
    assert plan.tokens_of(sent.id) == plan.count.per_message[0]
    assert plan.tokens_of("nope") is None


def test_wire_model_overrides_the_table_name():
    plan = plan_request([Message("user", "x")], GPT4O, TiktokenCounter.for_model("gpt-4o"), Sampling(), "my-deployment")
    assert plan.body["model"] == "my-deployment"


def test_serialise_matches_the_openai_sdk():
    from openai._utils._json import openapi_dumps

    body = build_body("gpt-4o", [{"role": "user", "content": 'ünïcode \u2028 "quotes" 🎉'}], Sampling())
    assert serialise(body) == openapi_dumps(body)


def test_a_body_built_from_raw_text_is_clean_and_serialises():
    body = build_body("gpt-4o", [{"role": "user", "content": "half \ud83d emoji\x00"}], Sampling())
    assert body["messages"][0]["content"] == "half \ufffd emoji"
    assert json.loads(serialise(body)) == body


def test_a_message_of_nothing_but_nul_counts_as_empty():
    plan = _plan([Message("user", "\x00\x00")])
    assert blocking_reason(plan, "\x00 \x00") == "The message is empty: type something to send."


def test_the_end_user_id_goes_in_the_providers_field_only_when_given():
    assert "user" not in build_body("m", [], Sampling()) and "safety_identifier" not in build_body("m", [], Sampling())
    assert build_body("m", [], Sampling(end_user="cl-abc"))["user"] == "cl-abc"
    body = build_body("m", [], Sampling(end_user="cl-abc", end_user_field="safety_identifier"))
    assert body["safety_identifier"] == "cl-abc" and "user" not in body


# --- the wire order: the body's keys as the SDK writes them --------------------------------------


def test_the_wire_order_is_the_sdks_not_its_signatures():
    """`create()` takes messages, model, … but writes model, stream, …: the order is asked of the SDK."""
    import inspect

    from openai.resources.chat.completions import Completions

    order = wire_order()
    signature = [name for name in inspect.signature(Completions.create).parameters if name in order]
    assert sorted(order) == sorted(signature) and len(order) == len(set(order))
    assert order != tuple(signature)  # a list read off the signature would be wrong
    assert order.index("model") < order.index("stream") < order.index("messages")


@pytest.mark.parametrize("stream", [True, False])
@pytest.mark.parametrize("reasoning", [True, False])
def test_every_body_lists_its_keys_in_the_wire_order(stream, reasoning):
    sampling = Sampling(0.3, 9, "max_completion_tokens", stream, "cl-1", "safety_identifier", seed=7)
    body = build_body("m", [{"role": "user", "content": "hi"}], sampling, reasoning)
    assert list(body) == [key for key in wire_order() if key in body]
    assert body["seed"] == 7 and ("temperature" in body) != reasoning and ("stream_options" in body) == stream


def test_a_seed_goes_where_the_sdk_puts_it_and_only_when_given():
    assert "seed" not in build_body("m", [], Sampling())
    body = build_body("m", [], Sampling(seed=0))  # 0 is a seed too
    keys = list(body)
    assert body["seed"] == 0 and keys.index("max_tokens") < keys.index("seed") < keys.index("stream_options")


def test_in_wire_order_puts_a_late_key_in_its_place_and_an_unknown_one_last():
    body = build_body("m", [], Sampling())
    moved = in_wire_order({**body, "x_extra": 1, "seed": 5})
    assert list(moved) == [*[k for k in wire_order() if k in body or k == "seed"], "x_extra"]
    assert serialise(moved) != serialise({**body, "x_extra": 1, "seed": 5})


# --- the window must leave room for the reply -------------------------------------------------------


def test_a_prompt_that_fills_the_window_exactly_is_blocked():
    """llama.cpp refuses a prompt of n_ctx tokens ("Requested tokens (8192) exceed context window of 8192")."""
    messages = [Message("user", "word " * 10)]
    size = _plan(messages).prompt_tokens
    exact = _plan(messages, model=models.info_for("exact-model", context_window=size))
    assert exact.reply_room == 0 and not exact.fits
    assert blocking_reason(exact, "hi") == (
        f"The prompt is {size:,} tokens and exact-model's context window is {size:,}: no room is left for the "
        "reply. Leave some messages out or shorten them."
    )
    roomy = _plan(messages, model=models.info_for("roomy-model", context_window=size + 1))
    assert roomy.reply_room == 1 and roomy.fits and blocking_reason(roomy, "hi") is None


def test_tools_are_in_the_body_only_when_an_included_tool_exists():
    from lib.context.tools import ToolDefinition, ToolSettings

    weather = ToolDefinition("get_weather", "Weather for a city", {"type": "object", "properties": {}})
    plain = build_body("gpt-4o", [], Sampling())
    assert not {"tools", "tool_choice", "parallel_tool_calls"} & set(plain)
    left_out = ToolSettings((ToolDefinition("f", included=False),), "required", False)
    assert build_body("gpt-4o", [], Sampling(), tools=left_out) == plain
    body = build_body("gpt-4o", [], Sampling(), tools=ToolSettings((weather,), "required", False))
    assert body["tools"] == [weather.as_api()] and body["tool_choice"] == "required"
    assert body["parallel_tool_calls"] is False
    assert list(body) == [key for key in wire_order() if key in body]  # the SDK's order: its bytes


def test_a_tool_conversation_is_sent_in_the_wire_shape_and_the_sdk_writes_the_same_bytes():
    from openai._utils._json import openapi_dumps

    from lib.context.conversation import ToolCall
    from lib.context.tools import ToolDefinition, ToolSettings

    messages = [
        Message("user", "Weather in Paris?", name="ada"),
        Message("assistant", "", tool_calls=(ToolCall("call_1", "get_weather", '{"city":"Paris"}'),)),
        Message("tool", '{"temp": 14}', tool_call_id="call_1"),
    ]
    tools = ToolSettings((ToolDefinition("get_weather"),))
    plan = plan_request(messages, GPT4O, TiktokenCounter.for_model("gpt-4o"), Sampling(), tools=tools)
    assert plan.body["messages"] == [m.as_api() for m in messages]
    assert plan.body["messages"][1]["content"] == "" and plan.body["messages"][2]["tool_call_id"] == "call_1"
    assert serialise(plan.body) == openapi_dumps(plan.body) and plan.body_bytes == len(serialise(plan.body))


def test_the_developer_role_is_blocked_by_name_on_the_embedded_model_only():
    developer = [Message("developer", "Answer in French."), Message("user", "Hi")]
    embedded = models.MODELS[models.EMBEDDED_MODEL]
    plan = plan_request(developer, embedded, TiktokenCounter("o200k_base", False), Sampling())
    assert (blocking_reason(plan, "Hi") or "").startswith("The embedded model's server refuses the developer role")
    assert blocking_reason(_plan(developer), "Hi") is None
