"""Sessions that survive a refresh: the URL names the session, the database keeps it (lib/store/storage.py).

`ui.settings.page_setup` calls `restore` on a browser session's first run (open the session the URL
names, or say why not), then `autosave` on every run (save when the session differs from its last
saved form, so an unchanged rerun writes nothing), then `sidebar` (the session list and its
actions). Pages log each call with `ui.call_details.log_call`. API keys are masked out of whatever is saved,
exported or logged.

Two tabs may hold one session. Each save is applied only over the version the tab read
(lib/storage.save_session): a tab that is stale (another saved or deleted the session since) writes
nothing, keeps its work, and the sidebar says what happened and offers to reload the saved session or
keep this tab's work as a new one. Nothing is overwritten, or brought back after a delete, unseen.
One other writer is not another tab: a chat reply's completion (lib/store/chat_replies.py) merges
the reply into the stored session by itself. A tab that read the version before takes the reply in
(`catch_up`, on every run and on a refused save) and saves its own changes over the new version.

Every read and write acts for `ui.owner.owner()` (this browser, or the signed-in user): the list
shows that owner's sessions only, and a link naming someone else's session opens a new session of
one's own and says so. A session is shared by a link with a share token (`?share=…`): opening it
copies the session into the visitor's own sessions; the original stays its owner's.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Protocol, TypeVar

import streamlit as st
from sqlalchemy import Connection
from streamlit.runtime.uploaded_file_manager import UploadedFile

from lib.context.conversation import Message, SystemPrompt
from lib.context.tools import ToolDefinition
from lib.core.errors import STORE_FAILED, DamagedSession, InvalidSession, NotYours, StaleSession
from lib.store import chat_replies, storage
from lib.store.session import (
    Session,
    is_session_id,
    new_session_id,
    parse_export,
    without_secrets,
)
from ui import owner, state
from ui.keys import known_secrets

if TYPE_CHECKING:
    from lib.backends.providers import ProviderConfig


class _Provided(Protocol):
    """What logging a call reads of ui.settings.Settings (named by its shape: ui.settings imports this module)."""

    @property
    def provider(self) -> ProviderConfig: ...


URL_PARAM = "session"
SHARE_PARAM = "share"
T = TypeVar("T")

# --- the database, failing softly: the app keeps working from memory and says why -------------


def with_db(action: Callable[..., T], *args) -> T | None:
    """`action(conn, *args)`, or None with a note saying why (the store failed, a row is damaged).
    A StaleSession goes to the caller: what to do about a stale tab depends on what it was doing."""
    try:
        with storage.opened() as conn:
            return action(conn, *args)
    except DamagedSession as damaged:
        _note("error", f"{damaged} It is left as it is.")
        return None
    except NotYours:
        _note("error", NOT_YOURS)
        return None
    except STORE_FAILED as exc:
        _db_failed(exc)
        return None


NOT_YOURS = "That session belongs to someone else and was not shared with you: nothing of it is shown."


def mine(action: Callable[..., T], *args) -> T | None:
    """`with_db` for a storage call that takes the owner: it acts for this browser or signed-in user."""
    return with_db(lambda conn: action(conn, *args, owner=owner.owner()))


def load_mine(session_id: str) -> Session | None:
    """This owner's saved session, or None (none, another owner's, or the store failed: each said)."""
    return mine(storage.load_session, session_id)


def _store_failure(exc: Exception) -> str:
    """The store, named (its password masked), and what went wrong in one line: never a traceback."""
    return f"The session store ({storage.shown()}) failed: {storage.problem(exc).rstrip('.')}."


def _db_failed(exc: Exception) -> None:
    _note("warning", f"{_store_failure(exc)} Work is kept in this tab only.")


def _note(kind: str, text: str) -> None:
    state.put(state.SESSION_NOTE, (kind, text))


def secrets_known() -> tuple[str, ...]:
    return known_secrets()


# --- the open session --------------------------------------------------------------------------


def current_id() -> str:
    return state.text(state.SESSION_ID)


def saved() -> Session | None:
    """The session as last read from or saved to the store, or None."""
    return state.of(state.SAVED_SESSION, Session)


def conflict() -> storage.StaleSession | None:
    """Another tab's save (or delete) this tab's work would have overwritten, or None."""
    return state.of(state.SESSION_CONFLICT, storage.StaleSession)


def _settings_now() -> dict:
    return {key: value for key in state.PERSISTED_SETTINGS if (value := state.get(key)) is not None}


def current() -> Session:
    """The open session as the page state holds it now (with the stored version it was read as)."""
    base = saved() or Session(current_id())
    return replace(
        base,
        system=state.system_prompt(),
        messages=tuple(state.history()),
        settings=_settings_now(),
        draft=state.draft(),
        tools=state.tools(),
    )


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
    state.set_tools(session.tools)
    for key in state.PERSISTED_SETTINGS:
        value = session.settings.get(key, state.DEFAULTS.get(key))
        if value is None:
            state.pop(key)  # the widget falls back to its own default
        else:
            state.put(key, value)
    state.put(state.SESSION_ID, session.id)
    state.put(state.SAVED_SESSION, session if saved else None)
    state.put(state.SESSION_TITLE, session.title)
    state.pop(state.SESSION_CONFLICT)
    state.pop(state.LAST_CALL)
    state.pop(state.PENDING)
    state.put(state.SESSION_LIST_OPEN, False)
    state.put(state.SESSION_RENAME_OPEN, False)
    _show_in_url(session.id)


def _open_blank(session_id: str | None = None) -> None:
    _open(Session(session_id or new_session_id(), settings=_settings_now()), saved=False)


def _start(session_id: str | None = None) -> None:
    """A browser session's first session, blank with the sidebar's defaults; nothing stored yet."""
    state.put(state.SESSION_ID, session_id or new_session_id())
    state.put(state.SAVED_SESSION, None)
    _show_in_url(current_id())


def _claim_unowned() -> None:
    """Single-user install: the sessions saved before sessions had owners go to the first browser that
    opens the app (once per browser session; under sign-in they stay nobody's)."""
    if state.get(state.OWNER_CLAIMED) or owner.auth_configured() or owner.signed_in():
        return
    state.put(state.OWNER_CLAIMED, True)
    with_db(storage.claim_unowned, owner.owner())


def _open_shared(token: str) -> None:
    """A share link: a copy of the shared session, saved as this visitor's, opens."""
    del st.query_params[SHARE_PARAM]
    copy = mine(storage.copy_shared, token)
    if copy is None:
        if state.get(state.SESSION_NOTE) is None:
            _note(
                "warning",
                "This share link names no shared session (it was never made, or sharing was "
                "stopped): a new session is open.",
            )
        _start()
        return
    _open(copy)
    _note(
        "success",
        f"A copy of a shared session is open as your own: {copy.label} "
        f"({messages_count(len(copy.messages))}). The original stays its owner's.",
    )


def restore() -> None:
    """On a browser session's first run, open the session the URL names (a refresh, a new tab)."""
    _claim_unowned()
    if current_id():
        _show_in_url(current_id())
        return
    shared = st.query_params.get(SHARE_PARAM)
    if shared:
        _open_shared(shared)
        return
    wanted = st.query_params.get(URL_PARAM)
    if not wanted:
        _start()
        return
    if not is_session_id(wanted):
        shown = json.dumps(wanted[:40] + ("…" if len(wanted) > 40 else ""), ensure_ascii=False)
        _note(
            "warning",
            f"The link's session id {shown} is not one this app makes (1 to 64 letters, digits, "
            "`-` and `_`), so it names no session: a new session is open.",
        )
        _start()
        return
    try:
        with storage.opened() as conn:
            loaded = storage.load_session(conn, wanted, owner.owner())
            deleted = loaded is None and storage.is_deleted(conn, wanted, owner.owner())
            taken = loaded is None and not deleted and storage.is_taken(conn, wanted)
    except NotYours:
        # A link copied from someone else (or a guessed id): a new session of one's own, under a new id.
        _note("warning", f"{NOT_YOURS} A new session of your own is open.")
        _start()
        return
    except DamagedSession as damaged:
        # A new id: the damaged row stays as it is for whoever repairs it, and no save overwrites it.
        _note("error", f"{damaged} A new session is open; the damaged one is left as it is.")
        _start()
        return
    except STORE_FAILED as exc:
        _db_failed(exc)
        _start()  # unreadable, not absent: a new id, so a later save cannot overwrite it
        return
    if loaded is not None:
        _open(loaded)
    elif deleted:
        _note("info", "The session this link names was deleted. A new session is open.")
        _start()
    elif taken:  # someone else's session, deleted since: nothing to say of it, and its id stays theirs
        _note("warning", f"{NOT_YOURS} A new session of your own is open.")
        _start()
    else:  # a session never saved (a new tab refreshed before anything was typed): keep its id
        _start(wanted)


def _save(session: Session) -> bool:
    """Store `session` over the version this tab read; False if it was not stored. A stale tab (another
    saved or deleted the session since) stores nothing and is told (SESSION_CONFLICT)."""
    try:
        with storage.opened() as conn:
            stored = storage.save_session(conn, without_secrets(session, secrets_known()), owner.owner())
    except DamagedSession as damaged:
        _note("error", f"{damaged} It is left as it is.")
        return False
    except STORE_FAILED as exc:
        _db_failed(exc)
        return False
    except NotYours:
        # This tab's id was never saved, and someone else has saved a session under it since (a link
        # to a blank session, copied): this tab's work moves to a new id of its own.
        state.put(state.SESSION_ID, new_session_id())
        state.put(state.SAVED_SESSION, None)
        _show_in_url(current_id())
        return _save(replace(session, id=current_id(), version=0))
    except StaleSession as stale:
        caught = catch_up()
        if caught is not None:  # the other writer was a chat reply's completion: take its reply, save over it
            return _save(
                replace(session, messages=tuple(caught.applied(list(session.messages))), version=caught.version)
            )
        state.put(state.SESSION_CONFLICT, stale)
        what = "deleted" if stale.deleted else "saved"
        st.toast(f"Another tab {what} this session: this tab's changes are not saved. See the sidebar.", icon="⚠️")
        return False
    state.put(state.SAVED_SESSION, replace(session, updated_at=stored.updated_at, version=stored.version))
    return True


def catch_up() -> chat_replies.CaughtUp | None:
    """Take in what chat replies' completions wrote into the stored session since this tab read it
    (lib/store/chat_replies.py): their replies join this tab's history (its own unsaved changes stay),
    and the version they wrote becomes the one this tab saves over. None if there was none."""
    read = saved()
    if read is None or read.id != current_id() or state.get(state.SESSION_CONFLICT) is not None:
        return None
    caught = chat_replies.caught_up(owner.owner(), read.id, read.version)
    if caught is None:
        return None
    before = {m.id: m for m in state.history()}
    history = caught.applied(state.history())
    for message in history:  # a toggle drawn before follows a message the reply changed (a regenerated answer)
        if message.id in before and before[message.id].included != message.included:
            state.pop(state.include_key(message.id))
    state.put(state.HISTORY, history)
    state.put(state.SAVED_SESSION, caught.session(read))
    return caught


def autosave() -> Session:
    """Save the open session if it changed since it was last saved; returns it as it is now."""
    catch_up()
    now = current()
    saved = state.get(state.SAVED_SESSION)
    if state.get(state.SESSION_CONFLICT) is not None:
        pass  # the user chooses first (reload, or keep this tab's work as a copy); nothing is written
    elif saved is None and now == replace(now, messages=(), draft="", system=SystemPrompt()):
        # A blank session's first form: nothing worth a row yet. Later changes are compared with it.
        state.put(state.SAVED_SESSION, now)
    elif now != saved:
        _save(now)
    return now


# --- actions (callbacks: they change state; the rerun renders it) ---------------------------


def _flush() -> bool:
    """Save what this tab holds before it opens something else. False: the tab is stale, and its
    work would be lost by leaving; the sidebar asks what to do with it first."""
    if state.get(state.SESSION_CONFLICT) is None and current() != state.get(state.SAVED_SESSION):
        _save(current())
    if state.get(state.SESSION_CONFLICT) is None:
        return True
    _note("warning", "First choose what happens to this tab's unsaved changes (below); then try again.")
    return False


def new_session() -> None:
    if _flush():
        _open_blank()


def load_example(
    messages: list[Message], system: str, tools: tuple[ToolDefinition, ...], question: str, note: str
) -> bool:
    """Open a built-in conversation (the agent example, a demo) with its question in the box: into this
    session when it is empty, else into a new one (nothing of this one is overwritten). False when this
    tab has unsaved changes to settle first (the sidebar says so) and nothing was loaded."""
    if state.history():
        new_session()
        if state.history():
            return False
    state.forget_message_widgets()
    state.set_history(messages)
    state.put(state.SYSTEM_TEXT, system)
    state.put(state.SYSTEM_INCLUDED, bool(system))
    state.set_tools(tools)
    state.put(state.DRAFT, question)
    state.flash("info", note)
    return True


def _load(session_id: str) -> Session | None:
    """The stored session, or None with a note saying why not (gone, damaged, or the store failed)."""
    state.pop(state.SESSION_NOTE)
    session = load_mine(session_id)
    if session is None and state.get(state.SESSION_NOTE) is None:
        _note("error", "That session is gone (deleted from another tab?).")
    return session


def open_picked() -> None:
    """The list's *Open* button: only an explicit pick opens a session (closing the list opens nothing)."""
    picked = state.optional_text(state.SESSION_PICK)
    if picked is None or picked == current_id():
        state.put(state.SESSION_LIST_OPEN, False)
        return
    if not _flush():
        return
    session = _load(picked)
    if session is not None:
        _open(session)


def rename() -> None:
    _save(replace(current(), title=state.text(state.SESSION_TITLE).strip()))
    state.put(state.SESSION_RENAME_OPEN, False)


def _copy(make: Callable[[Connection], Session], what: str) -> None:
    """Open a new session `make` stores (a duplicate, a fork), or say why not."""
    if not _flush():
        return
    try:
        session = with_db(make)
    except KeyError:
        _note("info", "Nothing to copy yet: the session is empty.")
        return
    if session is not None:
        _open(session)
        _note("success", f"{what}: {session.label} ({len(session.messages)} messages).")


def duplicate() -> None:
    source = current_id()
    _copy(lambda conn: storage.duplicate(conn, source, owner.owner()), "Duplicated")


def fork_at(message_id: str) -> None:
    """A new session with the history up to and including `message_id`, opened (a chat callback)."""
    source = current_id()
    _copy(lambda conn: storage.fork(conn, source, message_id, owner.owner()), "Forked")


def delete_current() -> None:
    """Delete the open session as this tab shows it (a stale tab is told instead), then open a new,
    empty one: never another session from the database, which may be another user's."""
    gone = current()
    try:
        deleted = mine(storage.delete, gone.id, gone.version)
    except StaleSession as stale:
        if catch_up() is not None:  # only a chat reply was written since: the session as it is now goes
            delete_current()
            return
        state.put(state.SESSION_CONFLICT, stale)
        return
    if deleted is None:
        return  # the store failed, and says so
    _open_blank()
    _note("success", f"Deleted {gone.label}. A new, empty session is open.")


# --- a stale tab: another tab saved or deleted its session since it was read -------------------


def reload_saved() -> None:
    """Drop this tab's unsaved changes and open the session as it is stored now."""
    session = _load(current_id())
    if session is not None:
        _open(session)
        _note("success", f"Reloaded {session.label} as saved ({messages_count(len(session.messages))}).")
    elif mine(storage.is_deleted, current_id()):  # deleted meanwhile: say so, offer to keep the work
        state.put(state.SESSION_CONFLICT, StaleSession(current_id(), None))


def keep_mine() -> None:
    """Save this tab's work under a new id (the stored session, changed or deleted, stays as it is)."""
    work = current()
    stale = conflict()
    title = work.title if stale is None or stale.deleted else f"Copy of {work.label}"
    stored = with_db(storage.insert_new, without_secrets(work.copy(title), secrets_known()), owner.owner())
    if stored is not None:
        _open(stored)
        _note(
            "success",
            f"This tab's work is saved as a new session: {stored.label} ({messages_count(len(stored.messages))}).",
        )


def discard_mine() -> None:
    _open_blank()


def import_upload(uploader_key: str) -> None:
    uploaded = state.of(uploader_key, UploadedFile)
    if uploaded is None:
        return
    try:
        session = parse_export(uploaded.getvalue())
    except InvalidSession as problem:
        _note("error", f"Import refused, nothing was saved: {problem}")
        return
    state.put(state.SESSION_UPLOADS, state.whole(state.SESSION_UPLOADS) + 1)  # a fresh, empty uploader
    leaving = _flush()
    stored = with_db(storage.insert_new, session, owner.owner())
    if stored is None:
        return
    if stored.id == session.id:
        renamed = ""
    elif is_session_id(session.id):
        renamed = f" under a new id, {stored.id} (its own was taken)"
    else:
        renamed = f" under a new id, {stored.id} (its own cannot name a session in a link)"
    summary = f"Imported {stored.label} ({len(stored.messages)} messages){renamed}."
    if leaving:
        _open(stored)
        _note("success", summary)
    else:  # this tab is stale: its work stays open until the user decides about it
        _note("success", f"{summary} Open it from the list once this tab's changes are dealt with.")


def open_imported(session: Session, what: str) -> bool:
    """Store `session` (a context imported from outside) as a new session of this owner's and open it.
    The open session is saved first and stays as it was: an import never overwrites it. False, with
    the reason in the sidebar, if nothing was stored."""
    leaving = _flush()
    stored = with_db(storage.insert_new, without_secrets(session, secrets_known()), owner.owner())
    if stored is None:
        return False
    summary = f"{what}: a new session, {stored.label} ({messages_count(len(stored.messages))})."
    if leaving:
        _open(stored)
        _note("success", f"{summary} The session you were in is kept as it was.")
    else:  # this tab is stale: its work stays open until the user decides about it
        _note("success", f"{summary} Open it from the list once this tab's changes are dealt with.")
    return True


# --- the run log ---------------------------------------------------------------------------------


def session_labels() -> dict[str, str]:
    return {info.id: info.label for info in mine(storage.list_sessions) or []}


# --- sharing --------------------------------------------------------------------------------------


def share_current() -> None:
    """Make (or show again) the open session's share link; a session never saved is saved first."""
    if not _flush():
        return
    try:
        mine(storage.share, current_id())
    except KeyError:  # a blank session, not stored yet
        if _save(current()):
            mine(storage.share, current_id())


def unshare_current() -> None:
    mine(storage.unshare, current_id())
    _note("success", "Sharing stopped: the old link copies nothing any more (copies made stay their owners').")


def messages_count(count: int) -> str:
    return f"{count:,} message{'' if count == 1 else 's'}"
