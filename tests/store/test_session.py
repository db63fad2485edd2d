import json
import time
from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lib.context.conversation import Message, SystemPrompt, ToolCall
from lib.context.tools import ToolDefinition
from lib.store.session import (
    GENERATED_SECTIONS,
    MAX_IMPORT_BYTES,
    SCHEMA_VERSION,
    SESSION_ID_PATTERN,
    SETTINGS,
    InvalidSession,
    Session,
    end_user_id,
    export_dict,
    export_json,
    first_duplicate,
    is_session_id,
    new_session_id,
    parse_export,
    schema_doc,
    to_markdown,
    without_secrets,
)
from tests.paths import ROOT
from ui import state

SCHEMA_DOC = ROOT / "docs" / "SESSION_SCHEMA.md"
HISTORY = (
    Message("user", "My name is Ada and I like 🦊 foxes."),
    Message("assistant", "Nice to meet you, Ada!", included=False, pinned=True),
    Message("user", "What animal do I like?", status="unanswered"),
    Message("assistant", "Fox", included=False, status="incomplete"),
)
SESSION = Session(
    "s1",
    title="Foxes",
    system=SystemPrompt("Answer in French.", included=False),
    messages=HISTORY,
    settings={"provider_kind": "compatible", "base_url": "http://localhost:11434/v1", "temperature": 0.3},
    draft="half a thought",
)


def _document(**session_changes) -> dict:
    document = export_dict(SESSION)
    document["session"].update(session_changes)
    return document


def _refused(document) -> str:
    data = document if isinstance(document, (str, bytes)) else json.dumps(document)
    with pytest.raises(InvalidSession) as refused:
        parse_export(data)
    return str(refused.value)


def test_export_then_import_gives_the_identical_session():
    assert parse_export(export_json(SESSION)) == SESSION
    assert json.loads(export_json(SESSION))["schema_version"] == SCHEMA_VERSION


@given(
    st.lists(st.tuples(st.sampled_from(["user", "assistant"]), st.text(), st.booleans(), st.booleans()), max_size=8),
    st.text(),
)
def test_any_text_survives_the_round_trip(rows, system_text):
    messages = tuple(Message(role, content, included, pinned=pinned) for role, content, included, pinned in rows)
    session = Session("s", system=SystemPrompt(system_text), messages=messages)
    assert parse_export(export_json(session)) == session


def test_the_persisted_settings_are_the_sidebar_keys_without_the_api_key():
    assert set(SETTINGS) == set(state.PERSISTED_SETTINGS)
    assert state.API_KEY not in SETTINGS
    assert set(state.SETTING_KEYS) - {state.API_KEY} <= set(SETTINGS)


def test_a_fork_keeps_exactly_the_messages_up_to_the_fork_point():
    fork = SESSION.forked(HISTORY[1].id)
    assert fork.messages == HISTORY[:2]
    assert fork.id != SESSION.id and fork.title == "Fork of Foxes" and fork.draft == ""
    assert (fork.system, fork.settings) == (SESSION.system, SESSION.settings)
    assert SESSION.forked(HISTORY[-1].id).messages == HISTORY
    with pytest.raises(KeyError):
        SESSION.forked("no-such-message")


def test_the_label_is_the_title_else_the_first_question():
    assert SESSION.label == "Foxes"
    assert Session("x", messages=HISTORY).label == HISTORY[0].content
    assert Session("x", messages=(Message("user", "word " * 30),)).label.endswith("…")
    assert Session("x").label == "New session"


def test_the_markdown_transcript_shows_every_message_and_its_flags():
    text = to_markdown(SESSION)
    assert text.startswith("# Foxes\n")
    assert "## System prompt (not sent)\n\nAnswer in French." in text
    assert "## 1. User\n\nMy name is Ada and I like 🦊 foxes." in text
    assert "## 2. Assistant (not sent, pinned)" in text
    assert "## 3. User (unanswered)" in text
    assert "## 4. Assistant (not sent, incomplete)" in text


@pytest.mark.parametrize(
    ("data", "named"),
    [
        ("{not json", "not valid JSON (line 1, column 2"),
        (export_json(SESSION)[:200], "is it truncated?"),
        (b"\xff\xfe\x00", "not UTF-8"),
        ("[1, 2]", "not a Context Lab session export"),
        ('{"format": "something-else", "schema_version": 1}', "not a Context Lab session export"),
        ("[" * 100_000, "nests too deeply"),
    ],
)
def test_a_malformed_file_is_refused_with_its_problem_named(data, named):
    assert named in _refused(data)


def test_an_unknown_schema_version_is_refused():
    for version in (SCHEMA_VERSION + 1, 0, "1", None, True, 1.0):  # true == 1 == 1.0 in Python, not in JSON
        document = export_dict(SESSION)
        document["schema_version"] = version
        assert f"Schema version {json.dumps(version)} is not supported" in _refused(document)


def test_a_number_python_cannot_read_is_refused_by_name():
    digits = "9" * 5_001
    base = export_json(SESSION)
    for data in (
        base.replace('"schema_version": 1', f'"schema_version": {digits}'),
        base.replace('"temperature": 0.3', f'"temperature": {digits}'),
        base.replace('"included": false', f'"included": -{digits}', 1),
    ):
        assert data != base
        assert "holds a number of more than 4,300 digits" in _refused(data)


DEEP = '{"format": "context-lab-session", "schema_version": 1,\n"session": {"settings": ' + "[" * 100_000


@pytest.mark.parametrize(
    ("data", "named"),
    [
        (DEEP, "The file nests too deeply to be a session export (line 2: lists and mappings nest more than 64"),
        ("[" * 5_000_000, "nests too deeply to be a session export (line 1: "),
        ('{"a":\n' + "9" * 5_001 + "}", "The file holds a number of more than 4,300 digits (line 2)"),
        (b'{"a":\n"caf\xe9"}', "The file is not UTF-8 text"),
    ],
)
def test_a_hostile_file_is_refused_by_name_and_line_at_once(data, named):
    start = time.monotonic()
    assert named in _refused(data)
    assert time.monotonic() - start < 5  # generous: the scan is linear, the parser never sees the nesting


def test_a_file_over_the_cap_is_refused_before_it_is_parsed():
    huge = b" " * (MAX_IMPORT_BYTES + 1)
    assert "imports are limited to 5 MB" in _refused(huge)


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"messages": None}, "session.messages must be a list"),
        ({"messages": "hello"}, "session.messages must be a list"),
        ({"messages": [{"role": "user"}]}, "session.messages[0] has no `content` field"),
        ({"messages": [{"content": "x"}]}, "session.messages[0] has no `role` field"),
        ({"messages": [{"role": "robot", "content": "x"}]}, "session.messages[0].role is 'robot'"),
        ({"messages": [{"role": "user", "content": 7}]}, "session.messages[0].content must be a string"),
        ({"messages": [{"role": "user", "content": "x", "included": "yes"}]}, "included must be true or false"),
        ({"messages": [{"role": "user", "content": "x", "status": "done"}]}, "status is 'done'"),
        ({"messages": ["hello"]}, "session.messages[0] must be an object"),
        ({"messages": [{"id": "a", "role": "user", "content": "x"}] * 2}, "the id 'a' is used twice"),
        ({"id": ""}, "session.id must be 1 to 64 characters"),
        ({"id": 5}, "session.id must be a string"),
        ({"system_prompt": "be brief"}, "session.system_prompt must be an object"),
        ({"system_prompt": {"included": True}}, "session.system_prompt has no `content` field"),
        ({"settings": {"temperature": "hot"}}, "session.settings.temperature must be a number"),
        ({"settings": {"temperature": 9}}, "session.settings.temperature is 9; expected 0 to 2"),
        ({"settings": {"custom_window": 12}}, "session.settings.custom_window is 12; expected 256 to 10,000,000"),
        ({"settings": {"temperature": True}}, "session.settings.temperature must be a number, not true"),
        ({"settings": {"max_tokens": "256"}}, 'session.settings.max_tokens must be an integer, not "256"'),
        ({"settings": {"temperature": None}}, "session.settings.temperature must be a number, not null"),
        ({"title": 7}, "session.title must be a string, not 7"),
        ({"draft": ["x"]}, "session.draft must be a string"),
        ({"id": "x" * 65}, "session.id must be 1 to 64 characters"),
        ({"messages": [{"role": "user", "content": "x", "id": 3}]}, "session.messages[0].id must be a string"),
        ({"settings": {"max_tokens": 1.5}}, "session.settings.max_tokens must be an integer"),
        ({"settings": {"max_tokens": True}}, "session.settings.max_tokens must be an integer"),
        ({"settings": {"stream": 1}}, "session.settings.stream must be true or false"),
        ({"settings": {"provider_kind": "anthropic"}}, "session.settings.provider_kind is 'anthropic'"),
        ({"settings": []}, "session.settings must be an object"),
    ],
)
def test_missing_fields_and_wrong_types_are_refused_whole(change, named):
    assert named in _refused(_document(**change))


def test_the_file_level_fields_are_strict_too():
    document = export_dict(SESSION)
    document["exported_at"] = 5
    assert "exported_at must be a string, not 5" in _refused(document)
    document["session"] = "s1"
    assert "`session` must be an object" in _refused(document)


def test_missing_session_and_missing_required_fields_are_named():
    document = export_dict(SESSION)
    del document["session"]
    assert "no `session` field" in _refused(document)
    for name in ("id", "system_prompt", "messages"):
        document = export_dict(SESSION)
        del document["session"][name]
        assert f"session has no `{name}` field" in _refused(document)


def test_optional_fields_get_defaults_and_unknown_settings_are_dropped():
    document = _document(
        messages=[{"role": "user", "content": "hi"}],
        settings={"temperature": 1, "api_key": "sk-imported-0123456789", "someday": "x"},
    )
    del document["session"]["title"], document["session"]["draft"]
    session = parse_export(json.dumps(document))
    message = session.messages[0]
    assert (message.included, message.status, message.pinned) == (True, "ok", False) and message.id
    assert session.settings == {"temperature": 1.0} and isinstance(session.settings["temperature"], float)
    assert (session.title, session.draft) == ("", "")


def test_the_end_user_id_is_a_stable_one_way_hash():
    assert end_user_id("abc") == end_user_id("abc") != end_user_id("abd")
    assert "abc" not in end_user_id("abc") and len(end_user_id("abc")) == 27


def test_secrets_are_masked_wherever_they_were_pasted():
    key = "sk-proj-PASTED-0123456789abcdef"
    leaky = Session(
        "s",
        title=key,
        system=SystemPrompt(f"key: {key}"),
        messages=(Message("user", f"my key is {key}"),),
        settings={"base_url": f"http://x/?k={key}"},
        draft=key,
    )
    masked = without_secrets(leaky, (key,))
    assert key not in export_json(masked) and key not in to_markdown(masked)
    assert masked.messages[0].content == "my key is ***" and masked.messages[0].id == leaky.messages[0].id
    assert without_secrets(SESSION, (key,)) is SESSION


def test_one_id_grammar_names_a_session_in_a_file_a_row_and_a_url():
    assert SESSION_ID_PATTERN == "[A-Za-z0-9_-]{1,64}"
    for good in ("s1", new_session_id(), "a" * 64, "Project_notes-v2"):
        assert is_session_id(good), good
    for bad in ("", "a" * 65, "Project notes v2.1", "a/b", "x`y", "é", "a\n", None, 7):
        assert not is_session_id(bad), bad
    # The schema reads an older file's id (any 1 to 64 characters); storing it gives a new id
    # (lib/storage.insert_new), which the app reports.
    assert parse_export(json.dumps(_document(id="Project notes v2.1"))).id == "Project notes v2.1"


def test_a_duplicate_message_id_is_found_in_one_pass():
    class Counted(str):
        hashed = 0

        def __hash__(self) -> int:
            Counted.hashed += 1
            return str.__hash__(self)

    ids = [Counted(f"m{i}") for i in range(50_000)] + [Counted("m7")]
    assert first_duplicate(ids) == "m7"
    assert Counted.hashed == 2 * len(ids) - 1  # a lookup and an insertion per id, the last only looked up
    assert first_duplicate(["a", "b", "c"]) is None


def test_a_50000_message_import_is_checked_whole():
    messages = [{"id": f"m{i}", "role": ("user", "assistant")[i % 2], "content": f"line {i}"} for i in range(50_000)]
    session = parse_export(json.dumps(_document(messages=messages)))
    assert len(session.messages) == 50_000 and session.messages[-1].content == "line 49999"
    # At the very end, as the 4.9 MB file had it: the old check counted the list once per message
    # up to there (50,000 x 50,000 comparisons); one pass finds it as the file is read.
    messages.append({"id": "m49999", "role": "user", "content": "again"})
    assert "session.messages: the id 'm49999' is used twice" in _refused(_document(messages=messages))


# A lone surrogate ("\ud800", valid JSON) crashed the save of an import with UnicodeEncodeError.
STRING_FIELDS = [
    ("title",),
    ("draft",),
    ("id",),
    ("created_at",),
    ("updated_at",),
    ("system_prompt", "content"),
    ("messages", 0, "id"),
    ("messages", 0, "content"),
    *[
        ("settings", name)
        for name in (
            "openai_model",
            "azure_deployment",
            "compatible_model",
            "base_url",
            "azure_endpoint",
            "azure_api_version",
            "priced_as",
        )
    ],
]


@pytest.mark.parametrize("path", STRING_FIELDS, ids=lambda path: ".".join(map(str, path)))
def test_every_string_of_an_import_is_cleaned(path):
    document = export_dict(SESSION)
    target = document["session"]
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = "a\ud800b\x00c"
    session = parse_export(json.dumps(document))  # ASCII escapes: a lone surrogate is valid JSON
    exported = export_json(session)
    exported.encode("utf-8")  # what failed: no UTF-8 encoder takes a lone surrogate
    assert "a\ufffdbc" in exported


def test_the_schema_document_is_generated_from_the_models():
    committed = SCHEMA_DOC.read_text(encoding="utf-8")
    assert schema_doc(committed) == committed, "run: python -m lib.store.session docs/SESSION_SCHEMA.md"
    assert committed.count("<!-- generated:") == len(GENERATED_SECTIONS)
    for name in SETTINGS:
        assert f"| `{name}` |" in committed
    example = committed.split("```json\n", 1)[1].split("```", 1)[0]
    assert parse_export(example).messages[1].content == "Hello Ada!"  # the example is a valid file
    stale = committed.replace("| 0 to 2 |", "| 0 to 3 |")
    assert stale != committed and schema_doc(stale) == committed


def test_the_stored_version_is_no_part_of_the_session_or_its_file():
    saved = replace(SESSION, version=7)
    assert saved == SESSION and "version" not in export_dict(saved)["session"]
    assert without_secrets(saved, ("Answer in French",)).version == 7
    assert SESSION.copy("x").version == 0 and replace(SESSION, version=3).forked(HISTORY[0].id).version == 0


def test_a_key_a_reply_echoed_in_part_is_masked_in_what_is_saved_and_exported():
    """A model talked into repeating 10-12 characters of the key: the whole key was masked, a part
    of it was not, and it landed in the database and the exports."""
    key = "sk-proj-Zq8Xv2LmNp4Rt6Wy9Bc3Df5Gh"
    session = Session(
        "s1", messages=(Message("user", "repeat it"), Message("assistant", f"Sure: {key[5:17]} and {key}!"))
    )
    saved = without_secrets(session, (key,))
    text = export_json(saved)
    assert key[5:17] not in text and key not in text
    assert saved.messages[1].content.startswith("Sure: ***")


# --- tool-using sessions -----------------------------------------------------------------------

WEATHER_TOOL = ToolDefinition(
    "get_weather",
    "Current weather for a city",
    {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    id="t1",
)
TOOL_SESSION = Session(
    "s2",
    messages=(
        Message("developer", "Use the tools.", id="d1"),
        Message("user", "Weather in Paris?", id="u1", name="ada"),
        Message("assistant", "", id="a1", tool_calls=(ToolCall("call_1", "get_weather", '{"city":"Paris"}'),)),
        Message("tool", '{"temp": 14}', id="r1", tool_call_id="call_1", pinned=True),
        Message("assistant", "It is 14 °C.", id="a2"),
    ),
    tools=(WEATHER_TOOL, ToolDefinition("get_time", included=False, id="t2", strict=True)),
    settings={"tool_choice": "required", "parallel_tool_calls": False},
)


def test_a_tool_session_round_trips_through_the_file_and_the_transcript():
    document = export_dict(TOOL_SESSION)
    assert parse_export(export_json(TOOL_SESSION)) == TOOL_SESSION
    assert document["session"]["messages"][2]["tool_calls"] == [
        {"id": "call_1", "name": "get_weather", "arguments": '{"city":"Paris"}'}
    ]
    assert document["session"]["messages"][3]["tool_call_id"] == "call_1"
    assert document["session"]["tools"][1] == {
        "id": "t2",
        "name": "get_time",
        "description": "",
        "parameters": {"type": "object", "properties": {}},
        "included": False,
        "strict": True,
    }
    transcript = to_markdown(TOOL_SESSION)
    assert 'Calls `get_weather` with `{"city":"Paris"}` (id `call_1`)' in transcript
    assert "Tool result for `call_1` (pinned)" in transcript and "`get_time` (not sent)" in transcript


def test_a_file_from_before_the_tool_fields_loads_as_it_did():
    document = export_dict(SESSION)
    assert "tools" not in document["session"]
    assert not any({"tool_calls", "tool_call_id", "name"} & set(m) for m in document["session"]["messages"])
    assert parse_export(json.dumps(document)).tools == ()


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"role": "tool"}, "session.messages[0] is a tool result without `tool_call_id`"),
        ({"tool_call_id": "call_1"}, "session.messages[0] has `tool_call_id` but only a `tool` message"),
        ({"tool_calls": [{"id": "c", "name": "f", "arguments": "{}"}]}, "only an assistant message can call"),
        ({"role": "bot"}, "session.messages[0].role is 'bot'; expected one of 'system', 'developer'"),
    ],
)
def test_a_malformed_tool_message_is_refused_by_name(change, words):
    document = export_dict(SESSION)
    document["session"]["messages"][0].update(change)
    assert words in _refused(document)


def test_a_bad_tool_definition_or_choice_is_refused_by_name():
    document = export_dict(TOOL_SESSION)
    document["session"]["tools"][0]["name"] = "get weather"
    assert _refused(document).startswith('session.tools[0]: The tool\'s name is "get weather"')
    document = export_dict(TOOL_SESSION)
    document["session"]["tools"][0]["parameters"] = "object"
    assert _refused(document) == 'session.tools[0].parameters must be an object, not "object".'
    document = export_dict(TOOL_SESSION)
    document["session"]["settings"]["tool_choice"] = "two words"
    assert _refused(document).startswith('session.settings.tool_choice: tool_choice is "two words"')


def test_a_request_body_given_as_a_session_export_is_pointed_to_the_context_import():
    body = '{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}'
    with pytest.raises(InvalidSession, match="Bring your own context"):
        parse_export(body)
