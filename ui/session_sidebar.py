"""The sidebar's session block: the open session's label, open / new / copy / rename / delete, the
stale-tab choices, export and import, the hashed end-user id. It draws; `ui/sessions.py` acts."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import streamlit as st

from lib.context.display import inert_markdown
from lib.core.errors import StaleSession
from lib.store import storage
from lib.store.session import MAX_IMPORT_BYTES, Session, end_user_id, export_json, to_markdown, without_secrets
from ui import owner, sessions, state
from ui.sessions import messages_count

if TYPE_CHECKING:
    from streamlit.delta_generator import DeltaGenerator
# --- the sidebar -----------------------------------------------------------------------------


def _file_stem(session: Session) -> str:
    slug = re.sub(r"[^A-Za-z0-9]+", "-", session.label).strip("-").lower()[:40]
    return f"context-lab-{slug or 'session'}-{session.id}"


def _popover(label: str, icon: str, help_text: str, key: str, column: DeltaGenerator) -> DeltaGenerator | None:
    """A popover whose contents are drawn only while it is open: a select box or a text input scans
    the whole session state (thousands of keys with a long history) on every rerun it is drawn."""
    popover = column.popover(label, icon=icon, help=help_text, key=key, on_change="rerun", width="stretch")
    return popover if popover.open else None


def list_label(info: storage.SessionInfo) -> str:
    """A row of the *Open* list: title, when it was last saved, its size and a short id (two sessions
    may share a title; their rows still differ)."""
    when = info.updated_at[:16].replace("T", " ")
    title = info.label if len(info.label) <= 60 else info.label[:60] + "…"
    return f"{title} · {when} UTC · {messages_count(info.message_count)} · {info.id[:6]}"


def _picker(now: Session, column: DeltaGenerator) -> None:
    # A list plus an *Open* button, not a select box that opens on change: closing the popover with
    # Escape made the select box report a change (to another session with the same title). Only the
    # button opens a session.
    popover = _popover("Open…", ":material/folder_open:", "Open a saved session", state.SESSION_LIST_OPEN, column)
    if popover is None:
        return
    infos = sessions.mine(storage.list_sessions) or []  # newest first, this owner's only
    labels = {info.id: list_label(info) for info in infos}
    if now.id not in labels:
        labels = {now.id: f"{now.label} · not saved yet · {now.id[:6]}", **labels}
    labels = {session_id: inert_markdown(label) for session_id, label in labels.items()}  # options are Markdown
    if state.get(state.SESSION_PICK) not in labels:
        state.put(state.SESSION_PICK, now.id)
    # A radio list, not a select box: its rows wrap, so each shows its title, date, size and id whole.
    popover.radio(
        "Saved sessions, newest first",
        list(labels),
        format_func=labels.__getitem__,
        key=state.SESSION_PICK,
        help="Saved automatically; the URL names the open session.",
    )
    popover.button(
        "Open this session", type="primary", on_click=sessions.open_picked, key="session_open", width="stretch"
    )


def _renamer(now: Session, column: DeltaGenerator) -> None:
    popover = _popover("Rename", ":material/edit:", "Rename this session", state.SESSION_RENAME_OPEN, column)
    if popover is None:
        return
    state.default(state.SESSION_TITLE, now.title)
    popover.text_input("Title", key=state.SESSION_TITLE, placeholder=now.label)
    popover.button("Rename", on_click=sessions.rename)


def _sharer(now: Session, column: DeltaGenerator) -> None:
    popover = _popover("Share", ":material/share:", "Share a copy of this session", state.SHARE_OPEN, column)
    if popover is None:
        return
    token = sessions.mine(storage.share_token, now.id)
    if token is None:
        popover.write(
            "Only you see this session. A share link lets whoever you give it to open a copy of it "
            "as their own session (they never change yours)."
        )
        popover.button("Make a share link", type="primary", on_click=sessions.share_current, width="stretch")
        return
    base = (st.context.url or "").split("?")[0]
    popover.write("Whoever opens this link gets a copy of the session as it is saved then:")
    popover.code(f"{base}?{sessions.SHARE_PARAM}={token}", language=None)
    popover.button("Stop sharing", on_click=sessions.unshare_current, width="stretch")


def _whose() -> None:
    """Whose sessions the list shows; under sign-in, who is signed in and the way out."""
    name = owner.user_name()
    if name is None:
        st.caption("Sessions of this browser (a random id in a cookie): another browser has its own.")
        owner.keep_cookie()
        return
    st.caption(f"Signed in as **{inert_markdown(name)}**: the list shows your sessions only.")
    if owner.auth_configured():
        st.button("Sign out", icon=":material/logout:", on_click=st.logout, key="sign_out")


def _actions(now: Session) -> None:
    # Text labels, not bare icons: Streamlit hides a material icon from assistive technology, so an
    # icon-only button had no accessible name at all. Two to a row: three cut the labels off.
    rows = [st.columns(2) for _ in range(3)]
    _picker(now, rows[0][0])
    rows[0][1].button("New", icon=":material/add:", help="New session", on_click=sessions.new_session, width="stretch")
    rows[1][0].button(
        "Copy",
        icon=":material/content_copy:",
        help="Duplicate this session",
        on_click=sessions.duplicate,
        width="stretch",
    )
    _renamer(now, rows[1][1])
    _sharer(now, rows[2][1])
    with rows[2][0].popover("Delete", icon=":material/delete:", help="Delete this session", width="stretch"):
        st.write(
            f"Delete **{inert_markdown(now.label)}** and its {messages_count(len(now.messages))}? "
            "Its calls stay in the run log."
        )
        st.button("Delete for good", type="primary", on_click=sessions.delete_current)


def _conflict(stale: StaleSession) -> None:
    """A stale tab: what happened, that nothing was overwritten, and the two ways on."""
    if stale.deleted:
        st.error(
            "**This session was deleted** (in another tab or window). This tab's changes are not saved: "
            "nothing brings the session back unless you ask."
        )
        st.button("Keep mine as a new session", type="primary", on_click=sessions.keep_mine, width="stretch")
        st.button("Discard mine, start a new session", on_click=sessions.discard_mine, width="stretch")
        return
    stored = stale.stored
    assert stored is not None
    st.warning(
        f"**Another tab saved this session** since this tab opened it (now {messages_count(stored.message_count)}, "
        f"saved {stored.updated_at[:19].replace('T', ' ')} UTC). This tab's changes are not saved, so they "
        "overwrote nothing."
    )
    st.button("Reload the saved session", type="primary", on_click=sessions.reload_saved, width="stretch")
    st.button("Keep mine as a copy", on_click=sessions.keep_mine, width="stretch")


def _exchange(now: Session) -> None:
    stem, secrets = _file_stem(now), sessions.secrets_known()
    cols = st.columns(2)
    # Deferred: the files are built on click, not on every rerun.
    cols[0].download_button(
        "JSON",
        lambda: export_json(without_secrets(now, secrets)),
        f"{stem}.json",
        "application/json",
        icon=":material/download:",
        width="stretch",
        on_click="ignore",
    )
    cols[1].download_button(
        "Markdown",
        lambda: to_markdown(without_secrets(now, secrets)),
        f"{stem}.md",
        "text/markdown",
        icon=":material/download:",
        width="stretch",
        on_click="ignore",
    )
    uploader_key = state.import_key(state.whole(state.SESSION_UPLOADS))
    st.file_uploader(
        f"Import a session (JSON export, up to {MAX_IMPORT_BYTES // 1024 // 1024} MB)",
        type=["json"],
        key=uploader_key,
        on_change=sessions.import_upload,
        args=(uploader_key,),
        max_upload_size=MAX_IMPORT_BYTES // 1024 // 1024,
    )


def _end_user_toggle(now: Session) -> None:
    st.toggle(
        "Send a hashed session id",
        key=state.SEND_SESSION_ID,
        help="Adds the provider's end-user field (`safety_identifier` for OpenAI, `user` elsewhere) to each "
        "request: a one-way hash of this session's id, so the provider can tie the stateless calls together. "
        "The payload preview shows it.",
    )
    if state.get(state.SEND_SESSION_ID):
        st.caption(f"Sent as `{end_user_id(now.id)}`")


def sidebar(now: Session) -> None:
    with st.sidebar:
        st.header("Session")
        note = state.note(state.SESSION_NOTE)
        if note:
            getattr(st, note[0])(inert_markdown(note[1]))
        stale = sessions.conflict()
        if stale is not None:
            _conflict(stale)
        saving = "not saved: see above" if stale is not None else "saved as you go"
        st.caption(f"**{inert_markdown(now.label)}** · {messages_count(len(now.messages))} · id `{now.id}`, {saving}")
        _whose()
        _actions(now)
        _exchange(now)
        _end_user_toggle(now)
