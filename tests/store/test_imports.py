"""lib/store/imports: every format a user already has, read into one context, with what changed said.

The samples in tests/data/contexts/ were written here, each in its documented form (OpenAI's API
reference and docs for the request bodies, curl and the Responses API; the shape of ChatGPT's data
export; the OpenTelemetry GenAI semantic conventions and OpenLLMetry's indexed attributes).
"""

from __future__ import annotations

import json
import time

import pytest

from lib.store.imports import (
    CHAT_BODY,
    CHATGPT,
    CURL,
    EVALS,
    JSONL,
    MAX_CURL_CHARS,
    MESSAGES,
    OTEL,
    RESPONSES,
    ImportedContext,
    ImportRefused,
    import_context,
    read_source,
    to_session,
)
from tests.paths import DATA as TEST_DATA

DATA = TEST_DATA / "contexts"
FAKE_KEY = "sk-proj-THISISAFAKEKEYFORTESTS000000000000"


def sample(name: str) -> str:
    return (DATA / name).read_text(encoding="utf-8")


def notes(context: ImportedContext) -> dict[str, str]:
    return {note.where: note.what for note in context.report}


def everything(context: ImportedContext) -> str:
    """All a context holds, as text: a key must appear nowhere in it."""
    return json.dumps(
        [
            context.system,
            context.messages,
            context.tools,
            context.model,
            context.settings,
            [str(n) for n in context.report],
        ]
    )


WEATHER_CALL = {
    "id": "call_abc123",
    "type": "function",
    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
}


def test_a_chat_completions_body_keeps_messages_tools_and_settings_and_never_the_key():
    source = read_source(sample("chat_request.json"))
    assert source.format == CHAT_BODY and len(source.options) == 1
    context = source.context()
    assert context.system == "You are a weather assistant. Answer in one sentence."
    assert list(context.messages) == [
        {"role": "user", "content": "What's the weather in Paris?"},
        {"role": "assistant", "content": None, "tool_calls": [WEATHER_CALL]},
        {"role": "tool", "content": '{"temp_c": 18, "sky": "cloudy"}', "tool_call_id": "call_abc123"},
        {"role": "assistant", "content": "It is 18 °C and cloudy in Paris."},
        {"role": "user", "content": "And tomorrow?"},
    ]
    assert [t["function"]["name"] for t in context.tools] == ["get_weather"]
    assert context.model == "gpt-4o-mini"
    assert context.settings == {"temperature": 0.2, "max_tokens": 120, "stream": True, "tool_choice": "auto"}
    report = notes(context)
    assert "never taken" in report["api_key"]
    assert "image_url" in report["messages[5].content[1]"]
    assert "reply limit" in report["max_completion_tokens"]
    assert set(report) == {"api_key", "messages[5].content[1]", "max_completion_tokens", "top_p", "stream_options"}
    assert FAKE_KEY not in everything(context)


def test_a_bare_messages_array_keeps_a_developer_message_as_it_is():
    context = import_context(sample("messages.json"))
    assert context.format == MESSAGES
    assert context.system is None  # a developer message is no system prompt: it stays, role and all
    assert [(m["role"], m["content"]) for m in context.messages] == [
        ("developer", "Talk like a pirate."),
        ("user", "Hello!"),
        ("assistant", "Ahoy, Ada!"),
        ("user", "Where is the treasure?"),
    ]
    assert context.messages[1]["name"] == "ada"
    assert set(notes(context)) == {"messages[2].refusal"}


def test_a_curl_command_as_openais_docs_write_it():
    context = import_context(sample("curl.sh"))
    assert context.format == CURL
    assert context.model == "gpt-4.1"
    assert list(context.messages) == [
        {"role": "developer", "content": "You are a helpful assistant."},
        {"role": "user", "content": "Hello!"},
    ]
    assert "never taken" in notes(context)["header authorization"]
    assert "OPENAI_API_KEY" not in everything(context).replace("header authorization", "")


CURL_BODY = '{"model":"m","messages":[{"role":"user","content":"It\\u0027s me"}]}'
ESCAPED_BODY = CURL_BODY.replace('"', '\\"')


@pytest.mark.parametrize(
    "command",
    [
        "curl -s https://x.example/v1/chat/completions -H 'Authorization: Bearer sk-abcdefghijklmnopqrstuvwxyz1234'"
        + """ --data-raw '{"model":"m","messages":[{"role":"user","content":"It'"'"'s me"}]}'""",
        f'curl https://x.example/v1/chat/completions --data "{ESCAPED_BODY}" ',
        f"curl https://x.example/v1/chat/completions -d'{CURL_BODY}'",
        f"curl --json '{CURL_BODY}' https://x.example/v1/chat/completions",
    ],
    ids=["data-raw, single quotes, escaped quote", "double quotes", "attached -d", "--json"],
)
def test_curl_in_every_quoting(command):
    context = import_context(command)
    assert list(context.messages) == [{"role": "user", "content": "It's me"}]
    assert "sk-abcdefghijklmnopqrstuvwxyz1234" not in everything(context)


def test_a_jsonl_log_offers_each_line_and_reads_the_one_picked():
    source = read_source(sample("log.jsonl"))
    assert source.format == JSONL
    assert [o.split(" · ")[0] for o in source.options] == ["line 1", "line 2", "line 4"]
    first, pair, batch = (source.context(i) for i in range(3))
    assert first.system == "Be brief." and first.settings == {"temperature": 0.0}
    assert list(pair.messages) == [{"role": "user", "content": "Say hi."}, {"role": "assistant", "content": "Hi!"}]
    assert "last message" in notes(pair)["response"] and "latency_ms" in notes(pair)
    assert list(batch.messages) == [{"role": "user", "content": "Count to three."}]
    assert batch.settings == {"max_tokens": 20}
    with pytest.raises(ImportRefused, match="no item 4"):
        source.context(3)


def test_the_responses_api_input_form():
    context = import_context(sample("responses.json"))
    assert context.format == RESPONSES
    assert context.system == "You help with the weather."
    assert list(context.messages) == [
        {"role": "user", "content": "Weather in Oslo?"},
        {
            "role": "assistant",
            "content": "Let me check.",
            "tool_calls": [
                {
                    "id": "call_9",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city":"Oslo"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_9", "content": '{"temp_c": -3}'},
        {"role": "user", "content": "Warm enough for a walk?"},
    ]
    assert context.tools[0]["function"]["strict"] is True and len(context.tools) == 1
    assert context.settings == {"temperature": 1.0, "max_tokens": 200}
    report = notes(context)
    assert "reasoning" in report["input[1]"]
    assert "input_image" in report["input[5].content[1]"]
    assert "OpenAI's server" in report["previous_response_id"]
    assert "web_search_preview" in report["tools[1]"]
    assert "store" in report


def test_responses_input_as_a_plain_string():
    context = import_context('{"model": "gpt-4.1", "input": "Tell me a joke."}')
    assert list(context.messages) == [{"role": "user", "content": "Tell me a joke."}]


def test_chatgpts_export_offers_each_conversation_and_follows_the_current_branch():
    source = read_source(sample("conversations.json"))
    assert source.format == CHATGPT
    assert source.options[0].startswith("1. Rome on a budget · 2024-05-29")
    rome = source.context(0)
    assert list(rome.messages) == [
        {"role": "user", "content": "Plan a day in Rome."},
        {"role": "assistant", "content": "Colosseum in the morning, Trastevere for dinner."},
        {"role": "user", "content": "Make it cheaper, please."},  # the edited question, not "Cheaper?"
        {"role": "assistant", "content": "Free churches and pizza al taglio: about 18 euros."},
    ]
    assert rome.model == "gpt-4o-mini"
    report = notes(rome)
    assert "hidden system message" in report["conversation 1 node sys"]
    assert "python" in report["conversation 1 node t1"] and "python" in report["conversation 1 node t2"]
    assert "2 messages on other branches" in report["conversation 1"]
    bird = source.context(1)
    assert list(bird.messages) == [
        {"role": "user", "content": "What bird is this?"},
        {"role": "assistant", "content": "A robin."},
    ]
    assert "image_asset_pointer" in notes(bird)["conversation 2 node q.content[0]"]


def test_chatgpt_nodes_whose_parents_loop_are_refused_not_followed_forever():
    loop = [
        {
            "title": "t",
            "current_node": "a",
            "mapping": {
                "a": {"id": "a", "parent": "b", "children": [], "message": None},
                "b": {"id": "b", "parent": "a", "children": ["a"], "message": None},
            },
        }
    ]
    with pytest.raises(ImportRefused, match="loop"):
        import_context(json.dumps(loop))


def test_opentelemetry_spans_of_the_current_conventions():
    source = read_source(sample("otel_genai.json"))
    assert source.format == OTEL
    assert len(source.options) == 1  # the HTTP span carries no GenAI messages: not offered
    context = source.context()
    assert context.system == "You are a travel helper."
    assert list(context.messages) == [
        {"role": "user", "content": "Weather in Lima?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Lima"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "22 C, sunny"},
        {"role": "user", "content": "Sunscreen?"},
        {"role": "assistant", "content": "Yes: SPF 30."},
    ]
    assert context.model == "gpt-4o-mini"
    assert context.settings == {"temperature": 0.3, "max_tokens": 100}
    assert [t["function"]["name"] for t in context.tools] == ["get_weather"]
    report = notes(context)
    assert "blob" in report["gen_ai.input.messages[3].parts[1]"]
    assert "reply" in report["gen_ai.output.messages"]
    assert "gen_ai.request.top_p" in report


def test_opentelemetry_spans_of_openllmetrys_indexed_attributes():
    context = import_context(sample("otel_openllmetry.json"))
    assert context.system == "You define words."
    assert list(context.messages) == [
        {"role": "user", "content": "Define 'petrichor'."},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_x",
                    "type": "function",
                    "function": {"name": "lookup", "arguments": '{"word": "petrichor"}'},
                }
            ],
        },
        {"role": "tool", "content": "the smell of rain on dry earth", "tool_call_id": "call_x"},
        {"role": "assistant", "content": "The smell of rain on dry ground."},
    ]
    assert context.tools[0]["function"]["parameters"]["properties"] == {"word": {"type": "string"}}
    assert context.model == "gpt-3.5-turbo" and context.settings == {"temperature": 0.7, "max_tokens": 50}


def test_spans_with_attributes_as_a_plain_object():
    span = {
        "name": "chat",
        "spanId": "1",
        "attributes": {
            "gen_ai.request.model": "m",
            "gen_ai.input.messages": [{"role": "user", "parts": [{"type": "text", "content": "Hi"}]}],
        },
    }
    assert list(import_context(json.dumps([span])).messages) == [{"role": "user", "content": "Hi"}]


def test_an_evals_sample_keeps_its_ideal_answer_as_the_reply():
    line = {
        "input": [{"role": "system", "content": "Answer in a word."}, {"role": "user", "content": "2+2?"}],
        "ideal": "four",
    }
    context = import_context(json.dumps(line))
    assert context.format == EVALS and context.system == "Answer in a word."
    assert list(context.messages) == [{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "four"}]


def test_a_key_shaped_string_in_a_message_is_masked_and_said():
    body = {"messages": [{"role": "user", "content": f"my key is {FAKE_KEY}"}]}
    context = import_context(json.dumps(body))
    assert FAKE_KEY not in everything(context)
    assert "masked" in notes(context)["messages[0].content"]


def test_a_key_nested_anywhere_is_named_and_never_kept():
    body = {"messages": [{"role": "user", "content": "hi"}], "extra_headers": {"Authorization": f"Bearer {FAKE_KEY}"}}
    context = import_context(json.dumps(body))
    assert "never taken" in notes(context)["extra_headers.Authorization"]
    assert FAKE_KEY not in everything(context)


# --- refusals, each with its line -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "problem", "line"),
    [
        ('{"messages": [\n{"role": "user", "content": "hi"}\n,]}', "Not valid JSON", 3),
        ('{"model": "m", "messages": [{"role": "user", "content": "a"}]}\n{"messages": [}\n', "not JSON", 2),
        ('{"model": "m", "messages": [{"role": "user", "content": "a"}]}\n{"choices": []}\n', "a response", 2),
        ("hello there", "not JSON or a curl command", 1),
        ("curl https://x/v1/chat/completions \\\n  -H 'A: b' \\\n  -d @body.json", "read from a file", 3),
        ("curl https://x/v1/chat/completions \\\n -d '{\"messages\": [}'", "not JSON", 2),
    ],
    ids=["json", "jsonl line", "a response line", "prose", "curl -d @file", "curl bad body"],
)
def test_malformed_text_is_refused_by_name_with_its_line(text, problem, line):
    with pytest.raises(ImportRefused, match=problem) as refused:
        read_source(text).context()
    assert refused.value.line == line


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('curl https://x -d \'{"a": 1', "quote left open"),
        ("curl https://x -H 'A: b'", "sends no body"),
        ('{"format": "context-lab-session", "session": {}}', "Import a session"),
        ('{"messages": "hello"}', "must be a list"),
        ("[]", "empty list"),
        ('{"messages": []}', "no message"),
        ('{"foo": 1, "bar": 2}', "foo, bar"),
        ('{"custom_id": "x", "response": {"body": {}}}', "Batch API output line"),
    ],
)
def test_what_is_not_a_context_is_refused_by_name(text, problem):
    with pytest.raises(ImportRefused, match=problem):
        read_source(text).context()


# --- bounded: a huge or deep file is refused fast --------------------------------------------------


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("[" * 200_000 + "]" * 200_000, "nest more than 64"),
        ('{"messages": [{"role": "user", "content": "' + "x" * (6 * 1024 * 1024) + '"}]}', "at most"),
        ("curl https://x -d '" + "x" * (MAX_CURL_CHARS + 1) + "'", "at most"),
        ('{"model": "m", "messages": []}\n' + '{"a": ' + "[" * 100 + "]" * 100 + "}\n", "nest more than 64"),
        ('{"temperature": 1' + "0" * 5000 + "}", "digits"),
    ],
    ids=["deep", "huge", "huge curl", "a deep JSONL line", "a number of 5,000 digits"],
)
def test_huge_or_deep_text_is_refused_fast(text, problem):
    started = time.monotonic()
    with pytest.raises(ImportRefused, match=problem):
        read_source(text).context()
    assert time.monotonic() - started < 5  # the promise is a bound: generous on a loaded machine


def test_a_long_log_offers_its_first_lines_and_says_how_many_more():
    line = json.dumps({"messages": [{"role": "user", "content": "hi"}]})
    source = read_source("\n".join([line] * 600))
    assert len(source.options) == 500 and source.left_out == 100


@pytest.mark.parametrize(
    "command",
    [
        "curl https://x/v1/chat/completions \\\n  -H 'Content-Type: application/json' \\\n  -d '{\"a\": \"b c\"}'",
        """curl -d "{\\"q\\": \\"it's \\\\\\\\ \\\\\\"ok\\\\\\"\\"}" x\\ y '' "" a'b'"c" \\\n""",
        "curl -H \"A: b\"\\\n  -d 'line one\nline two'",
    ],
    ids=["docs form", "escapes and empty words", "a continued line and a newline inside quotes"],
)
def test_curl_words_are_split_as_a_posix_shell_splits_them(command):
    # bash itself is the reference (shlex keeps a backslash-newline as a word of its own); printf
    # only echoes the words, nothing is run, and the commands hold no `$`, so nothing is expanded.
    import subprocess

    from lib.store.imports import shell_words

    rest = command.removeprefix("curl")
    said = subprocess.run(["bash", "-c", "printf '%s\\0' curl" + rest], capture_output=True, check=True).stdout
    assert shell_words(command) == said.decode().split("\0")[:-1]


def test_a_one_megabyte_curl_body_is_split_in_linear_time():
    body = json.dumps({"messages": [{"role": "user", "content": "x" * 1_000_000}]})
    started = time.monotonic()
    context = import_context(f"curl https://x/v1/chat/completions -d '{body}'")
    assert len(context.messages[0]["content"]) == 1_000_000
    assert time.monotonic() - started < 5  # shlex.split took 45 s here


def test_opentelemetry_spans_of_phoenixs_openinference_attributes():
    context = import_context(sample("otel_openinference.json"))
    assert context.format == OTEL
    assert context.system == "You answer from the docs."
    assert list(context.messages) == [
        {"role": "user", "content": "How do I reset my password?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_q1",
                    "type": "function",
                    "function": {"name": "search_docs", "arguments": '{"q": "reset password"}'},
                }
            ],
        },
        {"role": "tool", "content": "Settings > Security > Reset.", "tool_call_id": "call_q1"},
        {"role": "assistant", "content": "Open Settings, then Security, then Reset."},
    ]
    assert context.model == "gpt-4o-2024-08-06"
    assert context.settings == {"temperature": 0.1, "max_tokens": 300}
    assert [t["function"]["name"] for t in context.tools] == ["search_docs"]
    report = notes(context)
    assert "top_p" in report and "reply" in report["llm.output_messages.0"]


def test_into_a_new_session_with_its_tools_tool_calls_and_results():
    imported = import_context(sample("chat_request.json"))
    session, added = to_session(imported, {"strategy_kind": "last_turns", "temperature": 1.5}, "embedded")
    assert [m.role for m in session.messages] == ["user", "assistant", "tool", "assistant", "user"]
    assert session.messages[1].tool_calls[0].name == "get_weather" and session.messages[2].tool_call_id == "call_abc123"
    assert [t.name for t in session.tools] == ["get_weather"]
    assert session.settings["tool_choice"] == "auto" and session.settings["strategy_kind"] == "manual"
    assert session.settings["temperature"] == 0.2  # the file's, over the sidebar's
    assert session.system.content == imported.system and session.system.included
    assert {n.where for n in added} == {"strategy", "model"}  # both said: Manual now, the model not applied
    assert "openai_model" not in session.settings


def test_a_tool_result_the_api_would_refuse_is_named_not_kept():
    body = {
        "messages": [
            {"role": "user", "content": "hi"},
            {
                "role": "assistant",
                "content": "x",
                "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "", "arguments": "{}"}}],
            },
        ]
    }
    session, added = to_session(import_context(json.dumps(body)), {}, "openai")
    assert [m.role for m in session.messages] == ["user"]
    assert added[0].where == "message 2" and "not kept" in added[0].what


def test_a_logged_http_requests_headers_never_give_their_key():
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    line = {
        "request": {
            "url": "https://x/v1/chat/completions",
            "headers": {"Authorization": f"Bearer {FAKE_KEY}"},
            "body": body,
        }
    }
    context = import_context(json.dumps(line))
    assert "never taken" in notes(context)["request.headers.Authorization"]
    assert FAKE_KEY not in everything(context) and list(context.messages) == [{"role": "user", "content": "hi"}]


def test_opentelemetry_spans_of_langfuses_own_attributes():
    context = import_context(sample("otel_langfuse.json"))
    assert context.format == OTEL and context.system == "You summarise."
    assert list(context.messages) == [
        {"role": "user", "content": "Summarise: the cat sat on the mat."},
        {"role": "assistant", "content": "A cat sat."},
    ]
    assert context.model == "gpt-4o-mini" and context.settings == {"temperature": 0.5, "max_tokens": 64}
    assert "frequency_penalty" in notes(context) and "reply" in notes(context)["langfuse.observation.output"]


def test_a_curl_command_is_never_run(tmp_path):
    marker = tmp_path / "ran"
    command = f'curl https://x/v1/chat/completions -d "$(touch {marker})" `touch {marker}`'
    with pytest.raises(ImportRefused, match="not JSON"):
        import_context(command)
    assert not marker.exists()
