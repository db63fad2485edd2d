"""Recorded demos in the sidebar: save this session as a demo, open one (replayed), switch to live.

A demo is saved after the fact, from what the run log keeps of the session's calls (lib/store/recordings.py):
nothing has to be switched on beforehand, and what is saved is exactly what was sent and received.
Opening one makes a new session where the demo began, with its comparisons and experiment runs, and
sets the backend to the recording (lib/backends/replay.py): the chat, Compare and Experiments answer
from it, each answer marked *replayed*, nothing sent; *Switch to live* goes back to the backend the
session names (the one it was recorded with) at any point. It draws and acts; lib decides.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import streamlit as st
from streamlit.runtime.uploaded_file_manager import UploadedFile

from lib.backends.providers import ProviderConfig
from lib.backends.replay import REPLAY_BASE_URL, ReplayBook
from lib.context.display import inert_inline, inert_markdown
from lib.core.errors import InvalidRecording
from lib.core.wire import Kind
from lib.store import recordings
from lib.store.session import Session
from ui import owner, sessions, state

MAX_UPLOAD_MB = recordings.MAX_FILE_CHARS // 1024 // 1024
REPLAYED_CAPTION = "▶ replayed"


@dataclass(frozen=True)
class Replaying:
    """The recording the backend answers from."""

    recording_id: str
    title: str
    kind: Kind
    model: str
    book: ReplayBook
    questions: tuple[str, ...]

    def provider(self) -> ProviderConfig:
        """The recorded backend, answering from the recording: bodies are built as it builds them."""
        return ProviderConfig(self.kind, self.model, base_url=REPLAY_BASE_URL, replay=self.book)


def _note(kind: str, text: str) -> None:
    state.put(state.SESSION_NOTE, (kind, text))  # shown at the top of the sidebar's session block


def replaying() -> Replaying | None:
    return state.of(state.REPLAYING, Replaying)


def mark_replayed(reply_id: str) -> None:
    state.put(state.REPLAYED_REPLIES, {*state.listing(state.REPLAYED_REPLIES), reply_id})


def replayed(message_id: str) -> bool:
    return message_id in state.listing(state.REPLAYED_REPLIES)


# --- acting -----------------------------------------------------------------------------------------


def switch_to_live() -> None:
    gone = replaying()
    state.pop(state.REPLAYING)
    if gone is not None:
        _note(
            "info",
            f"Live again: calls go to the backend in the sidebar. Replay “{gone.title}” from *Recorded demos*.",
        )


def save_current() -> None:
    """Save the open session, as the page holds it, with its logged calls, comparisons and runs as a demo."""
    session = sessions.current()
    title = state.text(state.DEMO_TITLE).strip()

    def make(conn) -> recordings.Recording:
        made = recordings.record(conn, session, title, owner.owner(), sessions.secrets_known())
        return recordings.save(conn, made, owner.owner())

    made = sessions.with_db(make)
    if made is None:
        return
    if not made.calls:
        _note("warning", f"Saved “{made.title}”, but it holds no call to replay: ask something first.")
    else:
        skipped = f" Left out: {'; '.join(made.skipped)}." if made.skipped else ""
        _note(
            "success",
            f"Saved the demo “{made.title}”: {len(made.calls)} call(s) with their answers, "
            f"{len(made.comparisons)} comparison(s), {len(made.runs)} experiment run(s).{skipped}",
        )
    state.put(state.DEMO_TITLE, "")
    state.put(state.DEMO_PICK, made.id)


def _open(recording: recordings.Recording) -> None:
    start = recordings.starting_session(recording)
    if not sessions.open_imported(start, f"Opened the demo “{recording.title}”"):
        return
    sessions.with_db(recordings.copy_into, recording, start.id, owner.owner())
    if sessions.current_id() != start.id:  # a stale tab: stored, not opened yet (its note says so)
        return
    state.put(
        state.REPLAYING,
        Replaying(
            recording.id,
            recording.title,
            recording.kind,  # type: ignore[arg-type]  # checked by the session schema's provider_kind
            recording.model,
            recordings.book(recording),
            tuple(recording.questions),
        ),
    )
    state.put(state.DEMOS_OPEN, False)


def open_picked() -> None:
    picked = state.text(state.DEMO_PICK)
    recording = sessions.with_db(recordings.load, picked, owner.owner()) if picked else None
    if recording is None:
        _note("error", "That demo is not in the store (any more): pick another.")
        return
    _open(recording)


def delete_picked() -> None:
    picked = state.text(state.DEMO_PICK)
    if not picked:
        return
    if sessions.with_db(recordings.remove, picked, owner.owner()):
        _note("success", "Deleted the demo. Sessions opened from it stay.")


def import_upload(uploader_key: str) -> None:
    uploaded = state.of(uploader_key, UploadedFile)
    if uploaded is None:
        return
    state.put(state.DEMO_UPLOADS, state.whole(state.DEMO_UPLOADS) + 1)  # a fresh, empty uploader
    try:
        recording = recordings.parse_file(uploaded.getvalue())
    except InvalidRecording as problem:
        _note("error", f"Import refused, nothing was saved: {problem}")
        return
    kept = sessions.with_db(recordings.save, recording, owner.owner())
    if kept is not None:
        _open(kept)


def put_next_question() -> None:
    """The demo's next question, in the message box: the presenter sends it (Send or Ctrl+Enter)."""
    replay = replaying()
    step = next_step(replay, state.history()) if replay is not None else None
    if step is not None:
        state.put(state.DRAFT, step[1])


def next_step(replay: Replaying, history: list) -> tuple[int, str] | None:
    """(number, question) of the first recorded question not yet asked in `history`, in order; None: all asked."""
    asked = [m.content for m in history if m.role == "user"]
    at = 0
    for number, question in enumerate(replay.questions):
        if question in asked[at:]:
            at = asked.index(question, at) + 1
            continue
        return number, question
    return None


# --- drawing ------------------------------------------------------------------------------------------


def replay_panel() -> None:
    """At the top of the sidebar's backend while a recording answers: what answers, the next step, the way back."""
    replay = replaying()
    if replay is None:
        return
    st.info(
        f"**Replaying the demo “{inert_inline(replay.title, limit=80)}”**: answers come from the recording, "
        "marked *replayed*; nothing is sent. A context it did not record is named, not sent.",
        icon=":material/replay:",
    )
    step = next_step(replay, state.history())
    if step is not None:
        number, question = step
        st.caption(f"Step {number + 1} of {len(replay.questions)}: “{inert_inline(question, limit=80)}”")
        st.button(
            "Put the next question in the message box",
            icon=":material/skip_next:",
            key="demo_next",
            on_click=put_next_question,
            width="stretch",
        )
    elif replay.questions:
        st.caption(f"All {len(replay.questions)} recorded questions asked.")
    st.button(
        "Switch to live",
        icon=":material/podcasts:",
        key="demo_live",
        on_click=switch_to_live,
        type="primary",
        width="stretch",
        help="Calls go to the backend the session names (the one it was recorded with) from now on.",
    )


def next_question_button(container) -> None:
    """Beside the presenter's Ask, while a recorded demo is replayed: its next question into the box (the
    sidebar, which says the same, is hidden while presenting)."""
    replay = replaying()
    if replay is None:
        return
    step = next_step(replay, state.history())
    container.button(
        f"Next question ({step[0] + 1} of {len(replay.questions)})" if step else "All recorded questions asked",
        icon=":material/skip_next:",
        key="present_demo_next",
        on_click=put_next_question,
        disabled=step is None,
        help=f"Replaying the demo “{inert_inline(replay.title, limit=80)}”: answers come from the recording, "
        "marked replayed. This puts its next recorded question in the box; Ask sends it.",
    )


def _file_name(title: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9]+", "-", title).strip("-").lower()[:40]
    return f"context-lab-demo-{slug or 'recording'}.json"


def sidebar(now: Session) -> None:
    """The sidebar's *Recorded demos* popover (drawn only while open)."""
    with st.sidebar:
        popover = st.popover(
            "Recorded demos",
            icon=":material/slideshow:",
            help="Save this session with its answers as a demo, and replay one offline",
            key=state.DEMOS_OPEN,
            on_change="rerun",
            width="stretch",
        )
        if not popover.open:
            return
        with popover:
            _save_block(now)
            _open_block()
            uploader_key = f"demo_import_{state.whole(state.DEMO_UPLOADS)}"
            st.file_uploader(
                f"Import a demo (JSON, up to {MAX_UPLOAD_MB} MB)",
                type=["json"],
                key=uploader_key,
                on_change=import_upload,
                args=(uploader_key,),
                max_upload_size=MAX_UPLOAD_MB,
            )


def _save_block(now: Session) -> None:
    st.markdown("**Save this session as a demo**")
    st.caption(
        "Keeps the exact requests its calls sent and the answers they got (from the run log), its "
        "comparisons and experiment runs: replayed, they answer the same, offline. Never a key."
    )
    st.text_input("Demo title", key=state.DEMO_TITLE, placeholder=now.label)
    st.button("Save as demo", icon=":material/save:", key="demo_save", on_click=save_current, width="stretch")


def _open_block() -> None:
    infos = sessions.mine(recordings.list_recordings) or []
    if not infos:
        st.caption("No demo saved yet.")
        return
    labels = {
        info.id: inert_markdown(f"{info.title} · {info.created_at[:16].replace('T', ' ')} UTC · {info.calls} call(s)")
        for info in infos
    }
    if state.get(state.DEMO_PICK) not in labels:
        state.put(state.DEMO_PICK, infos[0].id)
    st.radio("Saved demos, newest first", list(labels), format_func=labels.__getitem__, key=state.DEMO_PICK)
    picked = state.text(state.DEMO_PICK)
    row = st.columns(2)
    row[0].button("Open (replayed)", type="primary", key="demo_open", on_click=open_picked, width="stretch")

    def exported() -> str:
        recording = sessions.with_db(recordings.load, picked, owner.owner())
        return recordings.export_json(recording) if recording is not None else "{}"

    row[1].download_button(
        "Export",
        exported,
        _file_name(labels[picked]),
        "application/json",
        icon=":material/download:",
        key="demo_export",
        on_click="ignore",
        width="stretch",
    )
    st.button("Delete this demo", icon=":material/delete:", key="demo_delete", on_click=delete_picked)
