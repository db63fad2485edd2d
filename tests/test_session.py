import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lib.conversation import Message, SystemPrompt
from lib.session import (
    MAX_IMPORT_BYTES,
    SCHEMA_VERSION,
    SETTINGS,
    InvalidSession,
    Session,
    end_user_id,
    export_dict,
    export_json,
    parse_export,
    to_markdown,
    without_secrets,
)
from ui import state

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
    for version in (SCHEMA_VERSION + 1, 0, "1", None):
        document = export_dict(SESSION)
        document["schema_version"] = version
        assert f"Schema version {version!r} is not supported" in _refused(document)


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
        ({"settings": {"temperature": 9}}, "session.settings.temperature is 9.0; expected 0 to 2"),
        ({"settings": {"max_tokens": 1.5}}, "session.settings.max_tokens must be an integer"),
        ({"settings": {"max_tokens": True}}, "session.settings.max_tokens must be an integer"),
        ({"settings": {"stream": 1}}, "session.settings.stream must be true or false"),
        ({"settings": {"provider_kind": "anthropic"}}, "session.settings.provider_kind is 'anthropic'"),
        ({"settings": []}, "session.settings must be an object"),
    ],
)
def test_missing_fields_and_wrong_types_are_refused_whole(change, named):
    assert named in _refused(_document(**change))


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
        "s", title=key, system=SystemPrompt(f"key: {key}"), messages=(Message("user", f"my key is {key}"),),
        settings={"base_url": f"http://x/?k={key}"}, draft=key,
    )  # fmt: skip
    masked = without_secrets(leaky, (key,))
    assert key not in export_json(masked) and key not in to_markdown(masked)
    assert masked.messages[0].content == "my key is ***" and masked.messages[0].id == leaky.messages[0].id
    assert without_secrets(SESSION, (key,)) is SESSION
