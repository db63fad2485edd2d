import socket

import pytest

from lib.context import tokens


@pytest.fixture
def no_network(monkeypatch):
    """Any attempt to open a network connection fails the test."""

    def refuse(*args, **kwargs):
        raise AssertionError("token counting tried to reach the network")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)


def test_counting_works_offline_from_a_fresh_cache(tmp_path, monkeypatch, no_network):
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))
    tokens.get_encoding.cache_clear()
    tokens.text_tokens.cache_clear()
    try:
        assert tokens.count_prompt_tokens([{"role": "user", "content": "Hello world"}], "gpt-4o") == 9
        assert len(list(tmp_path.iterdir())) == 2
    finally:
        tokens.get_encoding.cache_clear()
        tokens.text_tokens.cache_clear()


def test_a_corrupted_cache_file_is_replaced_by_the_verified_one(tmp_path):
    tokens.seed_tiktoken_cache(tmp_path)
    victim = next(tmp_path.iterdir())
    victim.write_bytes(b"garbage")
    tokens.seed_tiktoken_cache(tmp_path)
    assert victim.stat().st_size > 1_000_000


@pytest.mark.parametrize(
    ("model", "encoding", "exact"),
    [
        ("gpt-4o", "o200k_base", True),
        ("gpt-4.1-mini", "o200k_base", True),
        ("gpt-5", "o200k_base", True),
        ("o3-mini", "o200k_base", True),
        ("gpt-4", "cl100k_base", True),
        ("gpt-3.5-turbo-0125", "cl100k_base", True),
        ("gpt-35-turbo", "cl100k_base", True),  # Azure's spelling
        ("gpt-35-turbo-0125", "cl100k_base", True),
        ("llama3.2", "o200k_base", False),
    ],
)
def test_encoding_per_model_family(model, encoding, exact):
    assert tokens.encoding_for(model) == (encoding, exact)


def test_overhead_matches_openais_documented_formula():
    # The cookbook example: 3 per message + role + content, plus 3 to prime the reply.
    messages = [
        {"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "content": "Hello!"},
    ]
    enc = tokens.get_encoding("cl100k_base")
    expected = sum(3 + len(enc.encode(m["role"])) + len(enc.encode(m["content"])) for m in messages) + 3
    assert tokens.count_prompt_tokens(messages, "gpt-4") == expected
    count = tokens.TiktokenCounter.for_model("gpt-4").count(messages)
    assert count.overhead == tokens.REPLY_PRIMING and count.exact


def test_unknown_models_are_labelled_estimates():
    count = tokens.TiktokenCounter.for_model("mistral-7b").count([{"role": "user", "content": "Hi"}])
    assert not count.exact and "estimate" in count.method


def test_a_name_field_costs_its_tokens_plus_one():
    plain = {"role": "user", "content": "Hi"}
    named = {**plain, "name": "alice"}
    assert tokens.message_tokens("o200k_base", named) - tokens.message_tokens("o200k_base", plain) == 2


def test_counts_are_cached_by_encoding_and_content():
    tokens.text_tokens.cache_clear()
    history = [{"role": "user", "content": f"message number {i}"} for i in range(50)]
    tokens.count_prompt_tokens(history, "gpt-4o")
    misses = tokens.text_tokens.cache_info().misses
    tokens.count_prompt_tokens([*history, {"role": "user", "content": "one more"}], "gpt-4o")
    assert tokens.text_tokens.cache_info().misses == misses + 1


def test_special_token_text_is_counted_not_refused():
    assert tokens.count_prompt_tokens([{"role": "user", "content": "<|endoftext|>"}], "gpt-4o") > 7


ARABIC = "مرحبا، كيف حالك اليوم؟ أود أن أسأل عن الطقس في القاهرة والإسكندرية خلال عطلة نهاية الأسبوع القادمة. " * 8


def test_azures_gpt35_is_counted_with_cl100k_as_tiktoken_counts_it():
    messages = [{"role": "user", "content": ARABIC}]
    azure = tokens.TiktokenCounter.for_model("gpt-35-turbo").count(messages)
    enc = tokens.get_encoding("cl100k_base")
    assert azure.exact and azure.total == 3 + len(enc.encode("user")) + len(enc.encode(ARABIC)) + 3
    o200k = tokens.TiktokenCounter("o200k_base", False).count(messages)
    assert azure.total - o200k.total > 50  # what counting it with o200k got wrong


def test_prompt_segments_are_the_counted_tokens():
    counter = tokens.TiktokenCounter.for_model("gpt-4o")
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hello there, how are you?", "name": "alice"},
    ]
    segments = counter.prompt_segments(messages)
    assert [len(s) for s in segments[:-1]] == list(counter.count(messages).per_message)
    assert sum(map(len, segments)) == counter.count(messages).total
    assert segments[-1] == (tokens.START, *tokens.text_token_ids("o200k_base", "assistant"), tokens.MESSAGE)


# --- the OpenAI cookbook's published counts ("How to count tokens with tiktoken", sections 6 and 7) ---

COOKBOOK_MESSAGES = [
    {
        "role": "system",
        "content": "You are a helpful, pattern-following assistant that translates corporate jargon into plain "
        "English.",
    },
    {"role": "system", "name": "example_user", "content": "New synergies will help drive top-line growth."},
    {"role": "system", "name": "example_assistant", "content": "Things working well together will increase revenue."},
    {
        "role": "system",
        "name": "example_user",
        "content": "Let's circle back when we have more bandwidth to touch base on opportunities for increased "
        "leverage.",
    },
    {
        "role": "system",
        "name": "example_assistant",
        "content": "Let's talk later when we're less busy about how to do better.",
    },
    {
        "role": "user",
        "content": "This late pivot means we don't have time to boil the ocean for the client deliverable.",
    },
]
COOKBOOK_TOOLS = [
    {
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
]
COOKBOOK_TOOL_MESSAGES = [
    {"role": "system", "content": "You are a helpful assistant that can answer to questions about the weather."},
    {"role": "user", "content": "What's the weather like in San Francisco?"},
]


@pytest.mark.parametrize(
    ("model", "api_count"),
    # The prompt tokens the OpenAI API reported, as the cookbook publishes them.
    [("gpt-3.5-turbo", 129), ("gpt-4-0613", 129), ("gpt-4", 129), ("gpt-4o", 124), ("gpt-4o-mini", 124)],
)
def test_the_cookbooks_message_example_counts_what_the_api_reported(model, api_count):
    count = tokens.TiktokenCounter.for_model(model).count(COOKBOOK_MESSAGES)
    assert count.total == api_count and count.exact


@pytest.mark.parametrize(
    ("model", "api_count"), [("gpt-3.5-turbo", 105), ("gpt-4", 105), ("gpt-4o", 101), ("gpt-4o-mini", 101)]
)
def test_the_cookbooks_tool_example_counts_what_the_api_reported(model, api_count):
    count = tokens.TiktokenCounter.for_model(model).count(COOKBOOK_TOOL_MESSAGES, tools=COOKBOOK_TOOLS)
    assert count.total == api_count and count.exact
    assert count.tool_tokens == api_count - tokens.TiktokenCounter.for_model(model).count(COOKBOOK_TOOL_MESSAGES).total
    assert count.overhead == 3  # the reply priming: the definitions are in tool_tokens, not here
    assert "cookbook's tool format" in count.method and "estimate" not in count.method


def test_what_openai_does_not_publish_is_labelled_an_estimate():
    # gpt-4.1: no published constants; a tool without the cookbook's shape; tool calls and results.
    assert not tokens.TiktokenCounter.for_model("gpt-4.1").count(COOKBOOK_TOOL_MESSAGES, tools=COOKBOOK_TOOLS).exact
    nested = [
        {
            "type": "function",
            "function": {
                "name": "f",
                "description": "d",
                "parameters": {"type": "object", "properties": {"a": {"type": "array", "items": {"type": "string"}}}},
            },
        }
    ]
    count = tokens.TiktokenCounter.for_model("gpt-4o").count(COOKBOOK_TOOL_MESSAGES, tools=nested)
    assert not count.exact and count.method.endswith("(not published for these) (estimate)")
    calling = {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": "call_1",
                "type": "function",
                "function": {"name": "get_current_weather", "arguments": '{"location":"Paris"}'},
            },
        ],
    }
    result = {"role": "tool", "tool_call_id": "call_1", "content": "14 C"}
    count = tokens.TiktokenCounter.for_model("gpt-4o").count(
        [*COOKBOOK_TOOL_MESSAGES, calling, result], tools=COOKBOOK_TOOLS
    )
    assert not count.exact and "tool calls and results: OpenAI publishes no format" in count.method
    plain = tokens.TiktokenCounter.for_model("gpt-4o").count(COOKBOOK_TOOL_MESSAGES, tools=COOKBOOK_TOOLS)
    # The call's name and arguments and the result's id are counted, not dropped.
    assert count.per_message[2] > 3 + 1 + 5 and count.total > plain.total + count.per_message[2]
