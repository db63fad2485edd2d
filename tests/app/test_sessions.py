"""Sessions survive a refresh: the URL names the session, the database keeps it (each test runs on a
SQLite file of its own and on a database of its own on a real PostgreSQL: the `store` fixture).

A refresh, a new tab with the same URL or a server restart is a fresh AppTest with the same query
parameter and the same database file. Sidebar actions run the chat page on its own (AppTest keeps
a page's sidebar in its tree; the routed app drops it after the first rerun).
"""

import json
from pathlib import Path

import pytest
from sqlalchemy import text
from streamlit.testing.v1 import AppTest

from lib.backends import retry
from lib.context.conversation import Message, SystemPrompt
from lib.store import storage
from lib.store.session import Session, end_user_id, export_json, to_markdown, without_secrets
from tests.app.conftest import APP, THIS_BROWSER, new_app, payload_json, type_server, with_history
from tests.fake_openai import FakeOpenAI

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("store")]
CHAT = str(Path(__file__).resolve().parents[2] / "pages" / "chat.py")
RUN_LOG = str(Path(__file__).resolve().parents[2] / "pages" / "run_log.py")
PAIRS = [
    ("user", "My name is Ada and I like 🦊 foxes."),
    ("assistant", "Nice to meet you, Ada!"),
    ("user", "What animal do I like?"),
    ("assistant", "Foxes."),
]
KEPT = (
    "system_text",
    "system_included",
    "draft",
    "temperature",
    "max_tokens",
    "stream",
    "strategy_kind",
    "strategy_turns",
    "provider_kind",
    "send_session_id",
)


def _open(script: str = APP, session_id: str | None = None, **values) -> AppTest:
    """A browser tab: the URL's session id (if any) and sidebar values set before the first run."""
    at = new_app(script)
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
        return storage.load_session(conn, session_id, THIS_BROWSER)


def _sidebar_button(at: AppTest, help_or_label: str):
    return next(b for b in at.sidebar.button if help_or_label in (b.help, b.label))


def _rename(at: AppTest, title: str) -> None:
    at.session_state["session_rename_open"] = True  # what clicking the rename icon does
    at.run()
    at.text_input(key="session_title").set_value(title)
    _sidebar_button(at, "Rename").click().run()


def _pick(at: AppTest, session_id: str) -> list[str]:
    """Open a session from the list; returns the list's labels."""
    at.session_state["session_list_open"] = True  # what clicking *Open* does
    at.run()
    labels = list(at.radio(key="session_pick").options)
    at.radio(key="session_pick").set_value(session_id).run()
    at.button(key="session_open").click().run()
    assert not at.exception, at.exception
    return labels


def _notes(at: AppTest) -> str:
    return " | ".join(e.value for kind in ("error", "warning", "info", "success") for e in getattr(at.sidebar, kind))


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
        assert [info.id for info in storage.list_sessions(conn, THIS_BROWSER)] == [_sid(used)]


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
    renaming = [w for w in at.text_input if w.key == "session_title"]
    assert _saved(first).title == "Foxes" and not renaming  # the popover closed

    _sidebar_button(at, "New session").click().run()
    second = _sid(at)
    assert second != first and at.session_state["history"] == []

    labels = _pick(at, first)
    assert labels[0].startswith("New session · not saved yet · ")
    assert labels[1].startswith("Foxes · ") and labels[1].endswith(f" UTC · 4 messages · {first[:6]}")
    assert _sid(at) == first and at.session_state["history"] == history

    _sidebar_button(at, "Duplicate this session").click().run()
    copy = _sid(at)
    assert copy != first and _saved(copy).title == "Copy of Foxes" and at.session_state["history"] == history

    _sidebar_button(at, "Delete for good").click().run()
    assert _saved(copy) is None and _sid(at) not in (copy, first)
    assert _saved(first) is not None
    # A new, empty session, not the most recently updated one in the database (maybe another user's).
    assert at.session_state["history"] == [] and _saved(_sid(at)) is None
    assert "Deleted Copy of Foxes. A new, empty session is open." in _notes(at)


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
        assert storage.list_sessions(conn, THIS_BROWSER) == []


def test_a_file_nested_too_deeply_is_refused_with_its_line_and_saves_nothing():
    at = _open(CHAT)
    deep = '{"format": "context-lab-session", "schema_version": 1,\n"session": ' + "[" * 100_000 + "]" * 100_000 + "}"
    at.file_uploader[0].set_value(("s.json", deep.encode(), "application/json")).run()
    assert not at.exception, at.exception
    assert [e.value for e in at.sidebar.error] == [
        "Import refused, nothing was saved: The file nests too deeply to be a session export (line 2: lists and "
        "mappings nest more than 64 levels deep)."
    ]
    with storage.opened() as conn:
        assert storage.list_sessions(conn, THIS_BROWSER) == []


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


def test_every_call_is_logged_and_the_run_log_shows_it(monkeypatch):
    waits: list[float] = []
    monkeypatch.setattr(retry, "wait", waits.append)  # the retries' pauses recorded, not slept (3 s idle)
    with FakeOpenAI() as server:
        at = _open(provider_kind="compatible")
        type_server(at, server.base_url)
        for text in ("first question", "second question"):
            at.text_area(key="draft").set_value(text).run()
            next(b for b in at.button if b.label == "Send").click().run()
        server.behaviour.status = 503
        at.text_area(key="draft").set_value("third question").run()
        next(b for b in at.button if b.label == "Send").click().run()
    assert waits == [1.0, 2.0]  # the 503 was sent three times in all: one call, one row
    with storage.opened() as conn:
        calls = storage.calls(conn)
    assert [c.status for c in calls] == ["ok", "ok", "error"]
    assert {(c.session_id, c.variant, c.provider, c.model) for c in calls} == {
        (_sid(at), "chat", "compatible", "fake-model")
    }
    assert [c.messages_sent for c in calls] == [2, 4, 6]  # the system prompt, then the growing history
    assert calls[0].usage.prompt_tokens == 42 and calls[2].usage.prompt_tokens is None and "503" in calls[2].error
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


def _everything_stored(store: str) -> bytes:
    """Every byte the store holds: the SQLite file and its WAL, or every row of every table on PostgreSQL."""
    if "://" not in store:
        path = Path(store)
        return b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))
    with storage.opened() as conn:
        tables = conn.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")).scalars().all()
        return "\n".join(str(tuple(row)) for t in tables for row in conn.execute(text(f'SELECT * FROM "{t}"'))).encode()


def test_keys_never_reach_the_database_the_exports_or_the_logs(store, caplog):
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

    stored = _everything_stored(store)
    assert b"remember the fox" in stored and b"Key test" in stored  # the scan reads real content
    saved = _saved(_sid(at))
    exports = export_json(saved) + to_markdown(saved)
    exports += export_json(without_secrets(saved, (key,))) + to_markdown(without_secrets(saved, (key,)))
    with storage.opened() as conn:
        logged = json.dumps([c.columns() for c in storage.calls(conn)])
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


def test_a_postgresql_store_that_cannot_be_reached_is_named_without_its_password(monkeypatch):
    from lib.backends.embedded import free_port

    url = f"postgresql://lab:s3cret-pass@127.0.0.1:{free_port()}/context_lab"  # nothing listens there
    monkeypatch.setenv("CONTEXT_LAB_DB", url)
    at = _open(CHAT, session_id="unreachable1")  # _open asserts there is no exception
    assert _sid(at) != "unreachable1"
    with_history(at, PAIRS)
    warnings = " ".join(w.value for w in at.sidebar.warning)
    assert f"The session store (postgresql://lab:***@127.0.0.1:{url.rsplit(':', 1)[1].split('/')[0]}" in warnings
    assert "s3cret-pass" not in warnings and "Traceback" not in warnings and "[SQL" not in warnings
    assert "Work is kept in this tab only" in warnings and len(at.session_state["history"]) == 4


def test_a_store_url_the_app_cannot_use_is_said_and_the_tab_keeps_its_work(monkeypatch):
    monkeypatch.setenv("CONTEXT_LAB_DB", "mysql://lab:s3cret-pass@db.internal/context_lab")
    at = _open(CHAT)
    with_history(at, PAIRS)
    warnings = " ".join(w.value for w in at.sidebar.warning)
    assert "CONTEXT_LAB_DB names a mysql database" in warnings and "postgresql://" in warnings
    assert "s3cret-pass" not in warnings and len(at.session_state["history"]) == 4


# --- two tabs on one session: a stale writer is told, and overwrites nothing ------------------------


def _turn(at: AppTest, text: str) -> None:
    """A new turn, as a reply lands in the history."""
    at.session_state["history"] = [*at.session_state["history"], Message("user", text), Message("assistant", "Ok.")]
    at.run()
    assert not at.exception, at.exception


def test_a_stale_tab_toggling_a_message_does_not_overwrite_the_other_tabs_new_turn():
    first = _open(CHAT)
    history = with_history(first, PAIRS)
    session_id = _sid(first)
    second = _open(CHAT, session_id=session_id)  # the same session in another tab
    _turn(first, "A new question")
    assert len(_saved(session_id).messages) == 6

    second.toggle(key=f"include_{history[0].id}").set_value(False).run()  # stale: it read 4 messages
    assert not second.exception, second.exception
    assert len(_saved(session_id).messages) == 6  # the other tab's turn is still there
    assert _saved(session_id).messages[0].included is True  # and the stale change was not applied
    assert "Another tab saved this session" in _notes(second) and "6 messages" in _notes(second)
    assert [t.value for t in second.toast] == [
        "Another tab saved this session: this tab's changes are not saved. See the sidebar."
    ]  # seen wherever the user looks, once
    assert second.session_state["history"][0].included is False  # this tab's work is kept, unsaved
    second.text_area(key="system_text").set_value("Still stale").run()  # later changes: not saved either
    assert _saved(session_id).system == SystemPrompt()

    _sidebar_button(second, "Reload the saved session").click().run()
    assert _sid(second) == session_id and len(second.session_state["history"]) == 6
    assert "Another tab" not in _notes(second)
    second.toggle(key=f"include_{history[0].id}").set_value(False).run()  # now over the current version
    assert _saved(session_id).messages[0].included is False and len(_saved(session_id).messages) == 6


def _reply_by_the_process(server: FakeOpenAI, session_id: str, question: Message, client_list: list):
    """A chat reply the process records itself (lib/store/chat_replies.py), as for a page refreshed
    away or another tab of the session."""
    from lib.backends.providers import ProviderConfig, make_client
    from lib.backends.reply import Reply
    from lib.context.payload import Sampling, plan_request
    from lib.context.tokens import TiktokenCounter
    from lib.core import models
    from lib.store import chat_replies

    client = make_client(ProviderConfig("compatible", "fake-model", base_url=server.base_url))
    client_list.append(client)
    model = models.MODELS["gpt-4o"]
    plan = plan_request([question], model, TiktokenCounter.for_model(model.name), Sampling(), "fake-model")
    key = chat_replies.ReplyKey(THIS_BROWSER, session_id, question.id)
    return chat_replies.start(key, Reply(client, plan.body), plan, chat_replies.CallLog("compatible"))


def test_a_reply_the_process_wrote_meanwhile_neither_makes_the_tab_stale_nor_is_lost():
    """The tab read the session with its question unanswered; the process wrote the reply into it since
    (the page that asked was refreshed away). The tab's next save (a message added by hand) is not
    refused as stale: the tab takes the reply in, and saves its own change over it."""
    clients: list = []
    with FakeOpenAI() as server:
        server.behaviour.reply = "Answered while nobody watched."
        tab = _open(CHAT)
        question = Message("user", "Asked before a refresh", status="unanswered")
        tab.session_state["history"] = [*(Message(role, text) for role, text in PAIRS), question]
        tab.run()
        session_id = _sid(tab)
        assert _saved(session_id).messages[-1] == question

        assert _reply_by_the_process(server, session_id, question, clients).wait(60)
        tab.text_area(key="draft").set_value("Added by hand afterwards").run()
        tab.button(key="add_by_hand").click().run()
        assert not tab.exception, tab.exception
    for client in clients:
        client.close()

    expected = [text for _, text in PAIRS] + [
        question.content,
        "Answered while nobody watched.",
        "Added by hand afterwards",
    ]
    assert [m.content for m in _saved(session_id).messages] == expected
    assert [m.content for m in tab.session_state["history"]] == expected  # the reply once, in the tab too
    assert _saved(session_id).messages[4].status == "ok"
    assert "Another tab" not in _notes(tab) and not tab.toast


def test_a_stale_tab_can_keep_its_work_as_a_copy():
    first = _open(CHAT)
    history = with_history(first, PAIRS)
    session_id = _sid(first)
    second = _open(CHAT, session_id=session_id)
    _turn(first, "A new question")
    second.text_area(key="system_text").set_value("Answer in French.").run()
    assert "Another tab saved this session" in _notes(second)
    _sidebar_button(second, "New session").click().run()  # leaving would lose the work: refused
    assert _sid(second) == session_id and second.session_state["system_text"] == "Answer in French."
    assert "First choose what happens to this tab's unsaved changes" in _notes(second)

    _sidebar_button(second, "Keep mine as a copy").click().run()
    copy = _sid(second)
    assert copy != session_id and _saved(copy).system == SystemPrompt("Answer in French.")
    assert _saved(copy).messages == tuple(history) and _saved(copy).title == f"Copy of {PAIRS[0][1]}"
    assert len(_saved(session_id).messages) == 6 and _saved(session_id).system == SystemPrompt()
    assert "saved as a new session" in _notes(second)


def test_a_tab_on_an_unsaved_id_does_not_wipe_a_session_imported_under_that_id():
    waiting = _open(CHAT, session_id="sharedid1")  # a link to a session not saved yet
    assert _sid(waiting) == "sharedid1" and _saved("sharedid1") is None
    imported = Session("sharedid1", "Imported", messages=tuple(Message(*p) for p in PAIRS))
    other = _open(CHAT)
    other.file_uploader[0].set_value(("s.json", export_json(imported).encode(), "application/json")).run()
    assert _sid(other) == "sharedid1" and len(_saved("sharedid1").messages) == 4

    waiting.text_area(key="system_text").set_value("Be brief.").run()  # today: 0 messages left
    assert not waiting.exception, waiting.exception
    assert len(_saved("sharedid1").messages) == 4 and _saved("sharedid1").title == "Imported"
    assert "Another tab saved this session" in _notes(waiting)
    _sidebar_button(waiting, "Reload the saved session").click().run()
    assert waiting.session_state["history"] == list(imported.messages)


def test_a_delete_in_one_tab_is_not_undone_by_another():
    first = _open(CHAT)
    history = with_history(first, PAIRS)
    session_id = _sid(first)
    second = _open(CHAT, session_id=session_id)
    _sidebar_button(first, "Delete for good").click().run()
    assert _saved(session_id) is None

    second.toggle(key=f"include_{history[0].id}").set_value(False).run()
    assert not second.exception, second.exception
    assert _saved(session_id) is None  # not resurrected
    assert "This session was deleted" in _notes(second)
    _sidebar_button(second, "Keep mine as a new session").click().run()
    kept = _sid(second)
    assert kept != session_id and _saved(kept).messages[0].included is False and len(_saved(kept).messages) == 4
    assert _saved(session_id) is None

    again = _open(CHAT, session_id=session_id)  # the deleted session's link: said, and a new id
    assert _sid(again) != session_id and "was deleted" in _notes(again)


def test_reloading_a_session_deleted_meanwhile_says_so_and_keeps_the_work():
    first = _open(CHAT)
    with_history(first, PAIRS)
    session_id = _sid(first)
    second = _open(CHAT, session_id=session_id)
    _turn(first, "A new question")
    second.text_area(key="system_text").set_value("Mine").run()
    assert "Another tab saved this session" in _notes(second)
    _sidebar_button(first, "Delete for good").click().run()
    _sidebar_button(second, "Reload the saved session").click().run()
    assert "This session was deleted" in _notes(second) and second.session_state["system_text"] == "Mine"
    _sidebar_button(second, "Discard mine, start a new session").click().run()
    assert _sid(second) != session_id and second.session_state["history"] == [] and _saved(session_id) is None


def test_a_stale_delete_is_refused_and_said():
    first = _open(CHAT)
    with_history(first, PAIRS)
    session_id = _sid(first)
    second = _open(CHAT, session_id=session_id)
    _turn(first, "A new question")
    _sidebar_button(second, "Delete for good").click().run()  # it has not seen the new turn
    assert len(_saved(session_id).messages) == 6 and _sid(second) == session_id
    assert "Another tab saved this session" in _notes(second)


# --- the open list: only an explicit pick opens a session ---------------------------------------


def test_closing_the_list_opens_nothing_and_rows_tell_same_titles_apart():
    at = _open(CHAT)
    with_history(at, PAIRS)
    older = _sid(at)
    _rename(at, "Same title")
    _sidebar_button(at, "New session").click().run()
    with_history(at, PAIRS[:2])
    _rename(at, "Same title")
    newer = _sid(at)

    at.session_state["session_list_open"] = True
    at.run()
    at.radio(key="session_pick").set_value(older).run()  # what Escape did: a change, no explicit pick
    assert _sid(at) == newer and len(at.session_state["history"]) == 2
    at.session_state["session_list_open"] = False  # the popover closes
    at.run()
    assert _sid(at) == newer and len(at.session_state["history"]) == 2

    at.session_state["session_list_open"] = True
    at.run()
    labels = list(at.radio(key="session_pick").options)
    assert len(labels) == 2 and labels[0].endswith(f"2 messages · {newer[:6]}")  # newest first
    assert labels[1].endswith(f"4 messages · {older[:6]}") and labels[0] != labels[1]


def test_the_sessions_buttons_have_names_not_icon_ligatures():
    at = _open(CHAT)
    named = {b.label: b.help for b in at.sidebar.button}
    assert named["New"] == "New session" and named["Copy"] == "Duplicate this session"
    popovers = {p.proto.popover.label: p.proto.popover.help for p in at.sidebar.get("popover")}
    assert popovers == {
        "Open…": "Open a saved session",
        "Rename": "Rename this session",
        "Delete": "Delete this session",
        "Share": "Share a copy of this session",
        "Recorded demos": "Save this session with its answers as a demo, and replay one offline",
    }
    assert all(label.strip() for label in named)


# --- bad links, damaged rows, odd ids, hostile files ---------------------------------------------


def test_a_bad_session_link_is_replaced_and_said():
    at = _open(CHAT, session_id="not a valid id!")
    assert _sid(at) != "not a valid id!" and at.session_state["history"] == []
    assert 'The link\'s session id "not a valid id!" is not one this app makes' in _notes(at)


def test_a_damaged_row_opens_a_new_session_every_time_and_stays_as_it_is():
    at = _open(CHAT)
    with_history(at, PAIRS)
    session_id = _sid(at)
    with storage.opened() as conn:
        conn.execute(text("UPDATE sessions SET body = '{\"id\": broken' WHERE id = :id"), {"id": session_id})
    for _ in range(2):
        tab = _open(CHAT, session_id=session_id)  # _open asserts there is no exception
        assert _sid(tab) != session_id and tab.session_state["history"] == []
        assert f"The stored session {session_id} cannot be read" in _notes(tab) and "not valid JSON" in _notes(tab)
        with_history(tab, PAIRS[:2])  # its own work goes to its own id
    with storage.opened() as conn:
        assert (
            conn.execute(text("SELECT body FROM sessions WHERE id = :id"), {"id": session_id}).scalar()
            == '{"id": broken'
        )
    _pick(tab, session_id)  # picked from the list: said too
    assert _sid(tab) != session_id and "cannot be read" in _notes(tab)


def test_an_imported_id_a_link_cannot_carry_gets_a_new_id_that_survives_a_refresh():
    session = Session("Project notes v2.1", "Notes", messages=tuple(Message(*p) for p in PAIRS))
    at = _open(CHAT)
    at.file_uploader[0].set_value(("s.json", export_json(session).encode(), "application/json")).run()
    new_id = _sid(at)
    assert new_id != "Project notes v2.1" and "cannot name a session in a link" in _notes(at)
    refreshed = _open(CHAT, session_id=new_id)
    assert refreshed.session_state["history"] == list(session.messages)


def test_an_import_with_lone_surrogates_everywhere_saves_and_reopens():
    document = json.loads(export_json(Session("x", messages=(Message("user", "hi"),))))
    body = document["session"]
    body.update(id="sur\ud800", title="T\ud800", draft="D\udfff")
    body["messages"][0]["id"] = "m\ud800"
    body["settings"] = {
        "provider_kind": "compatible",
        "base_url": "http://127.0.0.1:9/\ud800",
        "compatible_model": "\udc00",
    }
    at = _open(CHAT)
    at.file_uploader[0].set_value(("s.json", json.dumps(document).encode(), "application/json")).run()
    assert not at.exception, at.exception
    assert "Imported T\ufffd" in _notes(at)
    saved = _saved(_sid(at))
    assert (saved.title, saved.draft, saved.messages[0].id) == ("T\ufffd", "D\ufffd", "m\ufffd")
    assert saved.settings["base_url"].endswith("\ufffd")
    assert _open(CHAT, session_id=_sid(at)).session_state["draft"] == "D\ufffd"


def test_the_run_log_says_when_the_store_failed(tmp_path, monkeypatch):
    monkeypatch.setenv("CONTEXT_LAB_DB", str(tmp_path))  # a directory: SQLite cannot open it
    log = _open(RUN_LOG)
    assert not any("No calls yet" in i.value for i in log.info)
    assert any("The run log cannot be read" in e.value and "failed" in e.value for e in log.error)
