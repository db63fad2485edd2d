"""The chat page's *Bring your own context*: paste or upload a context from elsewhere (a request body,
a messages array, curl, a JSONL log, the Responses API's input, ChatGPT's export, OpenTelemetry
spans), see what becomes what before anything is saved, and import it as a new session; or download
the next call in other tools' forms. `lib/store/imports.py` reads, `lib/context/exports.py` writes;
this module draws and acts. Every string from the file reaches the screen inert (lib/context/display).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

import streamlit as st
from streamlit.runtime.uploaded_file_manager import UploadedFile

from lib.context.conversation import Message
from lib.context.display import inert_code, inert_inline, one_line
from lib.context.exports import EXPORTS
from lib.store.documents import MAX_CHARS
from lib.store.imports import MODEL_SETTING, ImportedContext, ImportRefused, Note, Source, read_source, to_session
from lib.store.session import Session
from ui import sessions, state

if TYPE_CHECKING:
    from lib.context.request import Request
    from ui.settings import Settings

FORMATS = (
    "A Chat Completions request body, a `messages` array, a `curl` command, a JSONL log (requests, "
    "request/response pairs, Batch API input, fine-tuning or evals lines), a Responses API request, "
    "ChatGPT's `conversations.json`, OpenTelemetry GenAI spans (OTLP JSON)."
)
SHOWN_CHARS = 160  # of each message in the preview table: the whole text is imported
REPORT_SHOWN = 200  # lines of the import report drawn (a file of 50,000 odd messages has as many)


def _uploader_key() -> str:
    return f"import_context_file_{state.whole(state.IMPORT_UPLOADS)}"


def _read() -> None:
    """The *Preview* button: read the uploaded file, or else the pasted text. Nothing is saved."""
    uploaded = state.of(_uploader_key(), UploadedFile)
    text = uploaded.getvalue() if uploaded is not None else state.text(state.IMPORT_TEXT)
    state.put(state.IMPORT_ORIGIN, f"the file {uploaded.name}" if uploaded is not None else "the pasted text")
    state.put(state.IMPORT_PICK, 0)
    state.pop(state.IMPORT_PREVIEW)
    try:
        state.put(state.IMPORT_SOURCE, read_source(text))
        state.pop(state.IMPORT_PROBLEM)
    except ImportRefused as refused:
        state.pop(state.IMPORT_SOURCE)
        state.put(state.IMPORT_PROBLEM, f"Not imported, nothing was saved. {refused}")


def _import(session: Session, what: str) -> None:
    """The *Import* button: the previewed session is stored as a new one and opened."""
    if sessions.open_imported(session, what):
        state.pop(state.IMPORT_SOURCE)
        state.pop(state.IMPORT_PREVIEW)
        state.put(state.IMPORT_TEXT, "")
        state.put(state.IMPORT_UPLOADS, state.whole(state.IMPORT_UPLOADS) + 1)  # a fresh, empty uploader


def _report(notes: tuple[Note, ...]) -> None:
    if not notes:
        st.caption("Import report: nothing dropped or changed.")
        return
    st.markdown(f"**Import report**: {len(notes):,} field{'s' if len(notes) != 1 else ''} dropped or changed")
    st.markdown("\n".join(f"- {inert_code(note.where)} {inert_inline(note.what)}" for note in notes[:REPORT_SHOWN]))
    if len(notes) > REPORT_SHOWN:
        st.caption(f"…and {len(notes) - REPORT_SHOWN:,} more of the same kinds.")


def _row(number: str, role: str, included: bool, text: str, tools: str) -> dict:
    return {"#": number, "role": role, "included": included, "text": one_line(text, SHOWN_CHARS), "tool": tools}


def _tool_part(message: Message) -> str:
    """What a message does with tools: the calls it makes, or the call it answers."""
    if message.tool_calls:
        return one_line("calls " + ", ".join(f"{c.name}({c.arguments})" for c in message.tool_calls), SHOWN_CHARS)
    return f"answers {message.tool_call_id}" if message.tool_call_id else ""


@dataclass(frozen=True)
class _Preview:
    """The picked context as read and made a session, kept for the reruns of one pick and sidebar."""

    key: tuple[object, ...]
    imported: ImportedContext
    session: Session
    notes: tuple[Note, ...]


def _preview(settings: Settings) -> None:
    source = state.of(state.IMPORT_SOURCE, Source)
    if source is None:
        return
    origin = state.text(state.IMPORT_ORIGIN, "the pasted text")
    st.markdown(f"Read {inert_inline(origin)} as: **{inert_inline(source.format)}**")
    pick = 0
    if len(source.options) > 1:
        labels = [one_line(option, 140) for option in source.options]  # a select box shows text as it is
        if state.whole(state.IMPORT_PICK) >= len(labels):
            state.put(state.IMPORT_PICK, 0)
        pick = st.selectbox(
            f"Which one ({len(labels):,})", range(len(labels)), format_func=labels.__getitem__, key=state.IMPORT_PICK
        )
        if source.left_out:
            st.caption(f"{source.left_out:,} more are not offered (the first {len(labels):,} are): split the file.")
    base = sessions.current().settings
    # Read once per pick and sidebar (a 50,000-message file takes a second and a half to read and
    # convert), not on every rerun while the preview is open.
    key = (id(source), int(pick), settings.provider.kind, tuple(sorted(base.items(), key=lambda kv: kv[0])))
    cached = state.of(state.IMPORT_PREVIEW, _Preview)
    if cached is None or cached.key != key:
        try:
            imported = source.context(int(pick))
        except ImportRefused as refused:
            st.error(inert_inline(f"This one cannot be imported, nothing was saved. {refused}"))
            return
        cached = _Preview(key, imported, *to_session(imported, base, settings.provider.kind))
        state.put(state.IMPORT_PREVIEW, cached)
    imported, session, notes = cached.imported, cached.session, cached.notes
    system = session.system
    rows = [_row("", "system prompt", system.included, system.content, "")]
    rows += [_row(str(i), m.role, m.included, m.content, _tool_part(m)) for i, m in enumerate(session.messages, 1)]
    st.dataframe(rows, hide_index=True, width="stretch")  # cells are text, never Markdown
    if imported.tools:
        names = ", ".join(inert_code(t["function"]["name"]) for t in imported.tools)
        st.caption(f"Tools: {names}")
    applied = imported.model and MODEL_SETTING.get(settings.provider.kind)
    taken = {"model": imported.model} if applied else {}
    taken |= {key: value for key, value in imported.settings.items() if key in ("temperature", "max_tokens", "stream")}
    given = ", ".join(f"{key} {inert_code(str(value))}" for key, value in taken.items()) or "none (the sidebar's stay)"
    st.caption(f"Settings taken: {given} · strategy: Manual (every message included)")
    _report(imported.report + notes)
    st.button(
        "Import as a new session",
        type="primary",
        icon=":material/input:",
        on_click=_import,
        args=(session, f"Imported a {source.format}"),
        key="import_context_go",
        help="A new session opens with this context; the one open now is kept as it is.",
    )


def _import_tab(settings: Settings) -> None:
    st.caption(f"{FORMATS} Nothing is saved until you press *Import*; a key in the file is never taken.")
    st.text_area(
        "Paste a context",
        key=state.IMPORT_TEXT,
        height=140,
        placeholder='{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hello"}]}',
    )
    st.file_uploader(
        f"…or upload a file (up to {MAX_CHARS // 1024 // 1024} MB)",
        type=["json", "jsonl", "txt", "sh"],
        key=_uploader_key(),
        max_upload_size=MAX_CHARS // 1024 // 1024,
    )
    st.button("Preview", icon=":material/preview:", on_click=_read, key="import_context_read")
    problem = state.text(state.IMPORT_PROBLEM)
    if problem:
        st.error(inert_inline(problem))
    _preview(settings)


def _export_tab(request: Request) -> None:
    st.caption(
        "The next call as the meter counts it (the draft, if any, as its question): the request body is "
        "exactly the bytes sent. Keys are masked out of every file."
    )
    body, secrets = request.plan.body, sessions.secrets_known()
    stem = f"context-lab-{sessions.current_id()}"
    for column, (label, ending, mime, make) in zip(st.columns(len(EXPORTS)), EXPORTS, strict=True):
        column.download_button(
            label,
            partial(make, body, secrets),
            f"{stem}-{ending}",
            mime,
            icon=":material/download:",
            on_click="ignore",
            width="stretch",
            key=f"export_{ending}",
        )


def context_exchange(settings: Settings, request: Request) -> None:
    """The expander, its contents drawn only while it is open (a preview table costs every rerun)."""
    box = st.expander(
        "Bring your own context: import or export",
        key=state.IMPORT_OPEN,
        on_change="rerun",
        icon=":material/swap_vert:",
    )
    if not box.open:
        return
    with box:
        importing, exporting = st.tabs(["Import", "Export"])
        with importing:
            _import_tab(settings)
        with exporting:
            _export_tab(request)
