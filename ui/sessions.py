"""Sessions that survive a refresh: the URL names the session, the database keeps it (lib/storage.py).

`ui.settings.page_setup` calls `restore` on a browser session's first run (open the session the URL
names), then `autosave` on every run (save when the session differs from its last saved form, so an
unchanged rerun writes nothing), then `sidebar` (the session list and its actions). Pages log each
call with `log_call`. API keys are masked out of whatever is saved, exported or logged.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, TypeVar

import streamlit as st

from lib import storage
from lib.conversation import SystemPrompt
from lib.payload import RequestPlan
from lib.providers import CallOutcome
from lib.session import (
    MAX_IMPORT_BYTES,
    InvalidSession,
    Session,
    end_user_id,
    export_json,
    new_session_id,
    parse_export,
    to_markdown,
    without_secrets,
)
from ui import state

if TYPE_CHECKING:
    from streamlit.delta_generator import DeltaGenerator

    from ui.settings import Settings

URL_PARAM = "session"
_ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
T = TypeVar("T")

# --- the database, failing softly: the app keeps working from memory and says why -------------


_DB_ERRORS = (sqlite3.Error, OSError, InvalidSession)


def _with_db(action: Callable[..., T], *args) -> T | None:
    try:
        with storage.opened() as conn:
            return action(conn, *args)
    except _DB_ERRORS as exc:
        _db_failed(exc)
        return None


def _db_failed(exc: Exception) -> None:
    _note("warning", f"The session store ({storage.db_path()}) failed: {exc}. Work is kept in this tab only.")


def _note(kind: str, text: str) -> None:
    state.put(state.SESSION_NOTE, (kind, text))


def _secrets() -> tuple[str, ...]:
    from ui.settings import known_secrets  # ui.settings imports this module

    return known_secrets()


# --- the open session --------------------------------------------------------------------------


def current_id() -> str:
    return state.get(state.SESSION_ID)


def _settings_now() -> dict:
    return {key: value for key in state.PERSISTED_SETTINGS if (value := state.get(key)) is not None}


def current() -> Session:
    """The open session as the page state holds it now."""
    base = state.get(state.SAVED_SESSION) or Session(current_id())
    return replace(
        base,
        system=state.system_prompt(),
        messages=tuple(state.history()),
        settings=_settings_now(),
        draft=state.get(state.DRAFT) or "",
    )


def _url_id() -> str | None:
    value = st.query_params.get(URL_PARAM)
    return value if value and _ID_PATTERN.match(value) else None


def _show_in_url(session_id: str) -> None:
    # Streamlit clears query parameters on a page change: put the id back on every run.
    if st.query_params.get(URL_PARAM) != session_id:
        st.query_params[URL_PARAM] = session_id


def _open(session: Session, saved: bool = True) -> None:
    """Make `session` the page state; `saved=False` for a blank one nothing is stored for yet."""
    state.forget_message_widgets()
    state.set_history(list(session.messages))
    state.put(state.SYSTEM_TEXT, session.system.content)
    state.put(state.SYSTEM_INCLUDED, session.system.included)
    state.put(state.DRAFT, session.draft)
    for key in state.PERSISTED_SETTINGS:
        value = session.settings.get(key, state.DEFAULTS.get(key))
        if value is None:
            state.pop(key)  # the widget falls back to its own default
        else:
            state.put(key, value)
    state.put(state.SESSION_ID, session.id)
    state.put(state.SAVED_SESSION, session if saved else None)
    state.put(state.SESSION_TITLE, session.title)
    state.pop(state.LAST_CALL)
    state.pop(state.PENDING)
    state.put(state.SESSION_LIST_OPEN, False)
    state.put(state.SESSION_RENAME_OPEN, False)
    _show_in_url(session.id)


def restore() -> None:
    """On a browser session's first run, open the session the URL names (a refresh, a new tab)."""
    if current_id():
        _show_in_url(current_id())
        return
    wanted, loaded = _url_id(), None
    if wanted:
        try:
            with storage.opened() as conn:
                loaded = storage.load_session(conn, wanted)
        except _DB_ERRORS as exc:
            _db_failed(exc)
            wanted = None  # unreadable, not absent: a new id, so a later save cannot overwrite it
    if loaded is not None:
        _open(loaded)
        return
    # A new session, or one the URL names that was never saved: blank, with the sidebar's defaults.
    state.put(state.SESSION_ID, wanted or new_session_id())
    state.put(state.SAVED_SESSION, None)
    _show_in_url(current_id())


def _save(session: Session) -> None:
    stored = _with_db(storage.save_session, without_secrets(session, _secrets()))
    if stored is not None:
        state.put(state.SAVED_SESSION, replace(session, updated_at=stored.updated_at))


def autosave() -> Session:
    """Save the open session if it changed since it was last saved; returns it as it is now."""
    now = current()
    saved = state.get(state.SAVED_SESSION)
    if saved is None and now == replace(now, messages=(), draft="", system=SystemPrompt()):
        # A blank session's first form: nothing worth a row yet. Later changes are compared with it.
        state.put(state.SAVED_SESSION, now)
    elif now != saved:
        _save(now)
    return now


# --- actions (callbacks: they change state; the rerun renders it) ---------------------------


def _flush() -> None:
    if current() != state.get(state.SAVED_SESSION):
        _save(current())


def _new() -> None:
    _flush()
    _open(Session(new_session_id(), settings=_settings_now()), saved=False)


def _open_picked() -> None:
    picked = state.get(state.SESSION_PICK)
    if picked == current_id():
        return
    _flush()
    session = _with_db(storage.load_session, picked)
    if session is None:
        _note("error", "That session is gone (deleted from another tab?).")
        return
    _open(session)


def _rename() -> None:
    _save(replace(current(), title=(state.get(state.SESSION_TITLE) or "").strip()))
    state.put(state.SESSION_RENAME_OPEN, False)


def _copy(make: Callable[[sqlite3.Connection], Session], what: str) -> None:
    _flush()
    try:
        session = _with_db(make)
    except KeyError:
        _note("info", "Nothing to copy yet: the session is empty.")
        return
    if session is not None:
        _open(session)
        _note("success", f"{what}: {session.label} ({len(session.messages)} messages).")


def _duplicate() -> None:
    source = current_id()
    _copy(lambda conn: storage.duplicate(conn, source), "Duplicated")


def fork_at(message_id: str) -> None:
    """A new session with the history up to and including `message_id`, opened (a chat callback)."""
    source = current_id()
    _copy(lambda conn: storage.fork(conn, source, message_id), "Forked")


def _delete() -> None:
    deleted = current_id()
    if _with_db(storage.delete, deleted) is None:
        return  # the store failed, and says so
    remaining = [info for info in _with_db(storage.list_sessions) or [] if info.id != deleted]
    session = _with_db(storage.load_session, remaining[0].id) if remaining else None
    if session is None:
        _open(Session(new_session_id(), settings=_settings_now()), saved=False)
    else:
        _open(session)
    _note("success", "Session deleted.")


def _import(uploader_key: str) -> None:
    uploaded = state.get(uploader_key)
    if uploaded is None:
        return
    try:
        session = parse_export(uploaded.getvalue())
    except InvalidSession as problem:
        _note("error", f"Import refused, nothing was saved: {problem}")
        return
    stored = _with_db(storage.insert_new, session)
    state.put(state.SESSION_UPLOADS, (state.get(state.SESSION_UPLOADS) or 0) + 1)  # a fresh, empty uploader
    if stored is not None:
        _open(stored)
        renamed = "" if stored.id == session.id else " under a new id (that one was taken)"
        _note("success", f"Imported {stored.label} ({len(stored.messages)} messages){renamed}.")


# --- the run log ---------------------------------------------------------------------------------


def log_call(
    settings: Settings, plan: RequestPlan, outcome: CallOutcome, variant: str = "chat", session_id: str | None = None
) -> None:
    """Record a finished call in the run log. Call it from the script's thread (after joining workers)."""
    secrets = (*settings.provider.secrets, *_secrets())
    record = storage.CallRecord.of(session_id or current_id(), variant, settings.provider.kind, plan, outcome, secrets)
    _with_db(storage.record_call, record)


def run_log() -> list[storage.CallRecord]:
    return _with_db(storage.calls) or []


def session_labels() -> dict[str, str]:
    return {info.id: info.label for info in _with_db(storage.list_sessions) or []}


# --- the sidebar -----------------------------------------------------------------------------


def _file_stem(session: Session) -> str:
    slug = re.sub(r"[^A-Za-z0-9]+", "-", session.label).strip("-").lower()[:40]
    return f"context-lab-{slug or 'session'}-{session.id}"


def _popover(label: str, icon: str, help_text: str, key: str, column: DeltaGenerator) -> DeltaGenerator | None:
    """A popover whose contents are drawn only while it is open: a select box or a text input scans
    the whole session state (thousands of keys with a long history) on every rerun it is drawn."""
    popover = column.popover(label, icon=icon, help=help_text, key=key, on_change="rerun", width="stretch")
    return popover if popover.open else None


def _picker(now: Session, column: DeltaGenerator) -> None:
    popover = _popover("", ":material/folder_open:", "Open a saved session", state.SESSION_LIST_OPEN, column)
    if popover is None:
        return
    infos = _with_db(storage.list_sessions) or []
    labels = {info.id: f"{info.label} · {info.message_count} messages" for info in infos}
    if now.id not in labels:
        labels = {now.id: f"{now.label} (not saved yet)", **labels}
    state.put(state.SESSION_PICK, now.id)
    popover.selectbox(
        "Open", list(labels), format_func=labels.__getitem__, key=state.SESSION_PICK, on_change=_open_picked,
        help="Saved automatically; the URL names the open session.",
    )  # fmt: skip


def _renamer(now: Session, column: DeltaGenerator) -> None:
    popover = _popover("", ":material/edit:", "Rename", state.SESSION_RENAME_OPEN, column)
    if popover is None:
        return
    state.default(state.SESSION_TITLE, now.title)
    popover.text_input("Title", key=state.SESSION_TITLE, placeholder=now.label)
    popover.button("Rename", on_click=_rename)


def _actions(now: Session) -> None:
    cols = st.columns(5)
    _picker(now, cols[0])
    cols[1].button("", icon=":material/add:", help="New session", on_click=_new, width="stretch")
    cols[2].button(
        "", icon=":material/content_copy:", help="Duplicate this session", on_click=_duplicate, width="stretch"
    )
    _renamer(now, cols[3])
    with cols[4].popover("", icon=":material/delete:", help="Delete this session", width="stretch"):
        st.write(f"Delete **{now.label}** and its {len(now.messages)} messages? Its calls stay in the run log.")
        st.button("Delete for good", type="primary", on_click=_delete)


def _exchange(now: Session) -> None:
    stem, secrets = _file_stem(now), _secrets()
    cols = st.columns(2)
    # Deferred: the files are built on click, not on every rerun.
    cols[0].download_button(
        "JSON", lambda: export_json(without_secrets(now, secrets)), f"{stem}.json", "application/json",
        icon=":material/download:", width="stretch", on_click="ignore",
    )  # fmt: skip
    cols[1].download_button(
        "Markdown", lambda: to_markdown(without_secrets(now, secrets)), f"{stem}.md", "text/markdown",
        icon=":material/download:", width="stretch", on_click="ignore",
    )  # fmt: skip
    uploader_key = state.import_key(state.get(state.SESSION_UPLOADS) or 0)
    st.file_uploader(
        f"Import a session (JSON export, up to {MAX_IMPORT_BYTES // 1024 // 1024} MB)", type=["json"],
        key=uploader_key, on_change=_import, args=(uploader_key,), max_upload_size=MAX_IMPORT_BYTES // 1024 // 1024,
    )  # fmt: skip


def _end_user_toggle(now: Session) -> None:
    st.toggle(
        "Send a hashed session id", key=state.SEND_SESSION_ID,
        help="Adds the provider's end-user field (`safety_identifier` for OpenAI, `user` elsewhere) to each "
        "request: a one-way hash of this session's id, so the provider can tie the stateless calls together. "
        "The payload preview shows it.",
    )  # fmt: skip
    if state.get(state.SEND_SESSION_ID):
        st.caption(f"Sent as `{end_user_id(now.id)}`")


def sidebar(now: Session) -> None:
    with st.sidebar:
        st.header("Session")
        note = state.pop(state.SESSION_NOTE)
        if note:
            getattr(st, note[0])(note[1])
        st.caption(f"**{now.label}** · {len(now.messages)} messages · id `{now.id}`, saved as you go")
        _actions(now)
        _exchange(now)
        _end_user_toggle(now)
