"""Sessions survive a refresh: the URL names the session, the database (a temp file per test) keeps it.

A refresh, a new tab with the same URL or a server restart is a fresh AppTest with the same query
parameter and the same database file. Sidebar actions run the chat page on its own (AppTest keeps
a page's sidebar in its tree; the routed app drops it after the first rerun).
"""

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from lib import storage
from lib.conversation import Message, SystemPrompt
from lib.session import Session, end_user_id, export_json, to_markdown, without_secrets
from tests.app.conftest import APP, payload_json, type_server, with_history
from tests.fake_openai import FakeOpenAI

pytestmark = pytest.mark.slow
CHAT = str(Path(__file__).resolve().parents[2] / "pages" / "chat.py")
RUN_LOG = str(Path(__file__).resolve().parents[2] / "pages" / "run_log.py")
PAIRS = [
    ("user", "My name is Ada and I like 🦊 foxes."),
    ("assistant", "Nice to meet you, Ada!"),
    ("user", "What animal do I like?"),
    ("assistant", "Foxes."),
]
KEPT = ("system_text", "system_included", "draft", "temperature", "max_tokens", "stream", "strategy_kind",
        "strategy_turns", "provider_kind", "send_session_id")  # fmt: skip


def _open(script: str = APP, session_id: str | None = None, **values) -> AppTest:
    """A browser tab: the URL's session id (if any) and sidebar values set before the first run."""
    at = AppTest.from_file(script, default_timeout=120)
    if session_id:
        at.query_params["session"] = session_id
    for key, value in values.items():
        at.session_state[key] = value
    at.run()
    assert not at.exception, at.exception
    return at


def _sid(at: AppTest) -> str:
    return at.query_params["session"]


def _saved(session_id: str) -> Session | None:
    with storage.opened() as conn:
        return storage.load_session(conn, session_id)


def _sidebar_button(at: AppTest, help_or_label: str):
    return next(b for b in at.sidebar.button if help_or_label in (b.help, b.label))


def _rename(at: AppTest, title: str) -> None:
    at.session_state["session_rename_open"] = True  # what clicking the rename icon does
    at.run()
    at.text_input(key="session_title").set_value(title)
    _sidebar_button(at, "Rename").click().run()


def _pick(at: AppTest, session_id: str) -> list[str]:
    """Open a session from the list; returns the list's labels."""
    at.session_state["session_list_open"] = True  # what clicking the open icon does
    at.run()
    labels = list(at.selectbox(key="session_pick").options)
    at.selectbox(key="session_pick").set_value(session_id).run()
    assert not at.exception, at.exception
    return labels


def _fork(at: AppTest, message_id: str) -> None:
    at.session_state[f"editor_{message_id}"] = True  # what clicking the message's edit icon does
    at.run()
    next(b for b in at.button if b.key == f"fork_{message_id}").click().run()
    assert not at.exception, at.exception


def test_a_refresh_reopens_the_same_session_exactly():
    first = _open(temperature=0.3, max_tokens=99, stream=False)
    history = with_history(first, PAIRS)
    first.toggle(key=f"include_{history[1].id}").set_value(False).run()
    first.text_area(key="system_text").set_value("Answer in French.").run()
    first.selectbox(key="strategy_kind").set_value("last_turns").run()
    first.text_area(key="draft").set_value("half a thought").run()
    session_id = _sid(first)

    refreshed = _open(session_id=session_id)  # a new browser session: empty memory, same URL, same file
    assert _sid(refreshed) == session_id
    assert refreshed.session_state["history"] == first.session_state["history"]
    assert refreshed.session_state["history"][1].included is False
    for key in KEPT:
        assert refreshed.session_state[key] == first.session_state[key], key
    assert payload_json(refreshed) == payload_json(first)  # the very body the next call would send
    assert refreshed.toggle(key=f"include_{history[1].id}").value is False


def test_a_tab_without_an_id_starts_a_new_session_and_saves_nothing_until_used():
    used = _open()
    with_history(used, PAIRS)
    fresh = _open()
    assert _sid(fresh) != _sid(used) and fresh.session_state["history"] == []
    with storage.opened() as conn:
        assert [info.id for info in storage.list_sessions(conn)] == [_sid(used)]


def test_an_unchanged_rerun_writes_nothing():
    at = _open()
    with_history(at, PAIRS)
    before = _saved(_sid(at)).updated_at
    at.run()
    assert _saved(_sid(at)).updated_at == before
    at.text_area(key="system_text").set_value("Be terse.").run()
    assert _saved(_sid(at)).updated_at != before and _saved(_sid(at)).system == SystemPrompt("Be terse.")


def test_a_fork_holds_exactly_the_history_up_to_that_message():
    at = _open()
    history = with_history(at, PAIRS)
    original = _sid(at)
    _fork(at, history[1].id)
    assert _sid(at) != original
    assert at.session_state["history"] == history[:2]
    assert _saved(_sid(at)).messages == tuple(history[:2])
    assert _saved(original).messages == tuple(history)  # the original is untouched
    assert [json.loads(payload_json(at))["messages"][-1]["content"]] == [PAIRS[1][1]]


def test_new_open_rename_duplicate_and_delete_from_the_sidebar():
    at = _open(CHAT)
    history = with_history(at, PAIRS)
    first = _sid(at)
    _rename(at, "Foxes")
    assert _saved(first).title == "Foxes" and not at.text_input  # the popover closed

    _sidebar_button(at, "New session").click().run()
    second = _sid(at)
    assert second != first and at.session_state["history"] == []

    assert "Foxes · 4 messages" in _pick(at, first)
    assert _sid(at) == first and at.session_state["history"] == history

    _sidebar_button(at, "Duplicate this session").click().run()
    copy = _sid(at)
    assert copy != first and _saved(copy).title == "Copy of Foxes" and at.session_state["history"] == history

    _sidebar_button(at, "Delete for good").click().run()
    assert _saved(copy) is None and _sid(at) != copy
    assert _saved(first) is not None


def test_import_opens_a_new_session_and_never_overwrites():
    session = Session("imported1", "From a colleague", SystemPrompt("Be kind."), tuple(Message(*p) for p in PAIRS))
    data = export_json(session).encode()
    at = _open(CHAT)
    at.file_uploader[0].set_value(("s.json", data, "application/json")).run()
    assert not at.exception, at.exception
    assert _sid(at) == "imported1" and at.session_state["history"] == list(session.messages)
    assert at.session_state["system_text"] == "Be kind."
    at.file_uploader[0].set_value(("s.json", data, "application/json")).run()  # the same file again
    assert _sid(at) != "imported1" and any("new id" in s.value for s in at.sidebar.success)
    assert _saved("imported1").messages == session.messages


def test_a_broken_import_is_refused_whole_and_says_why():
    at = _open(CHAT)
    truncated = export_json(Session("x", messages=(Message("user", "hi"),)))[:80].encode()
    at.file_uploader[0].set_value(("s.json", truncated, "application/json")).run()
    assert not at.exception, at.exception
    assert any("Import refused" in e.value and "truncated" in e.value for e in at.sidebar.error)
    with storage.opened() as conn:
        assert storage.list_sessions(conn) == []


def test_the_hashed_session_id_is_sent_only_when_asked_and_shown_first():
    with FakeOpenAI() as server:
        at = _open(provider_kind="compatible", send_session_id=True)
        type_server(at, server.base_url)
        session_id = _sid(at)
        body = json.loads(payload_json(at))
        assert body["user"] == end_user_id(session_id)
        at.text_area(key="draft").set_value("hello").run()
        next(b for b in at.button if b.label == "Send").click().run()
        sent = server.requests[-1]
        assert sent.json()["user"] == end_user_id(session_id) and session_id.encode() not in sent.body
        at.session_state["send_session_id"] = False
        at.run()
        assert "user" not in json.loads(payload_json(at))


def test_every_call_is_logged_and_the_run_log_shows_it():
    with FakeOpenAI() as server:
        at = _open(provider_kind="compatible")
        type_server(at, server.base_url)
        for text in ("first question", "second question"):
            at.text_area(key="draft").set_value(text).run()
            next(b for b in at.button if b.label == "Send").click().run()
        server.behaviour.status = 503
        at.text_area(key="draft").set_value("third question").run()
        next(b for b in at.button if b.label == "Send").click().run()
    with storage.opened() as conn:
        calls = storage.calls(conn)
    assert [c.status for c in calls] == ["ok", "ok", "error"]
    assert {(c.session_id, c.variant, c.provider, c.model) for c in calls} == {
        (_sid(at), "chat", "compatible", "fake-model")
    }
    assert [c.messages_sent for c in calls] == [2, 4, 6]  # the system prompt, then the growing history
    assert calls[0].prompt_tokens == 42 and calls[2].prompt_tokens is None and "503" in calls[2].error
    assert calls[1].predicted_prompt_tokens > calls[0].predicted_prompt_tokens and calls[0].payload_bytes > 0

    log = _open(RUN_LOG)
    frame = log.dataframe[0].value
    assert len(frame) == 3 and list(frame["status"]) == ["error", "ok", "ok"]  # newest first
    assert len(log.get("plotly_chart")) == 2 and log.get("download_button")
    log.multiselect[3].set_value(["error"]).run()  # the status filter
    assert len(log.dataframe[0].value) == 1


def test_the_run_log_says_when_there_is_nothing_yet():
    log = _open(RUN_LOG)
    assert any("No calls yet" in i.value for i in log.info)


def test_keys_never_reach_the_database_the_exports_or_the_logs(session_db, caplog):
    key = "sk-proj-DBLEAKCHECK-0123456789abcdefXYZ"
    caplog.set_level("DEBUG")
    with FakeOpenAI() as server:
        server.behaviour.status = 401
        server.behaviour.error_body = {"error": {"message": f"Incorrect API key provided: {key}."}}
        at = _open(CHAT, provider_kind="compatible")
        type_server(at, server.base_url, key)
        at.text_area(key="system_text").set_value(f"You are helpful. (my key: {key})").run()  # pasted by mistake
        at.text_area(key="draft").set_value("remember the fox").run()
        next(b for b in at.button if b.label == "Send").click().run()  # refused: the error echoes the key
        server.behaviour.status = 200
        next(b for b in at.button if b.label == "Retry").click().run()
        assert server.requests[-1].headers["authorization"] == f"Bearer {key}"  # the key was in use
        _rename(at, "Key test")
        history = at.session_state["history"]
        _fork(at, history[0].id)

    stored = b"".join(p.read_bytes() for p in session_db.parent.glob(session_db.name + "*"))
    assert b"remember the fox" in stored and b"Key test" in stored  # the scan reads real content
    saved = _saved(_sid(at))
    exports = export_json(saved) + to_markdown(saved)
    exports += export_json(without_secrets(saved, (key,))) + to_markdown(without_secrets(saved, (key,)))
    with storage.opened() as conn:
        logged = json.dumps([c.__dict__ for c in storage.calls(conn)])
    assert "401" in logged
    for fragment in (key, key[:20], key[-20:]):
        assert fragment.encode() not in stored
        assert fragment not in exports and fragment not in logged and fragment not in caplog.text


def test_a_broken_database_leaves_the_app_working_under_a_new_id(tmp_path, monkeypatch):
    monkeypatch.setenv("CONTEXT_LAB_DB", str(tmp_path))  # a directory: SQLite cannot open it
    at = _open(CHAT, session_id="unreadable1")
    assert _sid(at) != "unreadable1"  # unreadable is not absent: a later save must not overwrite it
    with_history(at, PAIRS)
    assert any("session store" in w.value for w in at.sidebar.warning)
    assert len(at.session_state["history"]) == 4
