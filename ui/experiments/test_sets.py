"""The Experiments page's Test set section: the sets in the store, the case editor, import and export."""

from __future__ import annotations

from dataclasses import replace
from functools import partial

import pandas as pd
import streamlit as st

from lib.analysis.experiments import builtin, formats, store
from lib.analysis.experiments.cases import (
    SOURCES,
    Case,
    InvalidTestSet,
    TestSet,
    checks_to_text,
    next_case_id,
    tools_label,
    with_case,
    without_case,
)
from lib.context.display import inert_inline, inert_markdown
from ui import experiments_state, sessions, state
from ui.experiments.common import mine, note

CASE_PICK, SET_ID = state.EXP_CASE_PICK, state.EXP_SET_ID


def current_set() -> store.StoredSet:
    """The set being edited; the built-in set is stored as a copy on the first visit."""
    set_id = experiments_state.set_id()
    stored = mine(store.load_set, set_id) if set_id else None
    if stored is None:
        listed = mine(store.list_sets) or []
        stored = mine(store.load_set, listed[0][0]) if listed else None
    if stored is None:
        stored = mine(store.save_set, builtin.test_set()) or store.StoredSet("memory", builtin.test_set(), "")
    state.put(SET_ID, stored.id)
    return stored


def _new_set(test_set: TestSet) -> None:
    stored = mine(store.save_set, test_set)
    if stored is not None:
        state.put(SET_ID, stored.id)
        state.pop(CASE_PICK)


def _delete_set(set_id: str, test_set: TestSet) -> None:
    mine(store.delete_set, set_id)
    for case in test_set.cases:
        experiments_state.forget_editor(set_id, case.id)
    state.pop(SET_ID)
    state.pop(CASE_PICK)


def _pick_set() -> None:
    state.pop(CASE_PICK)


def _import_set(uploader_key: str) -> None:
    files = experiments_state.uploaded_files(uploader_key)
    if not files:
        return
    try:
        imported = formats.read_upload([(f.name, f.getvalue()) for f in files])
    except InvalidTestSet as problem:
        note("error", f"Import refused, nothing was saved: {problem}")
        return
    finally:
        experiments_state.count_upload(state.EXP_UPLOADS)  # a fresh, empty uploader
    _new_set(imported.test_set)
    said = f"Imported {imported.test_set.name}: {len(imported.test_set.cases)} cases."
    if not imported.report:
        note("success", said)
        return
    # Every file's text is anyone's: each line of the report is shown inert, as it is.
    lines = "\n".join(f"- {inert_inline(line)}" for line in imported.report)
    note("warning", f"{said} Not kept as the file has it ({len(imported.report)}):\n\n{lines}")


# --- the case editor ------------------------------------------------------------------------------


def _fresh(set_id: str, drawn: TestSet) -> TestSet:
    """The set as stored now (another tab may have changed its other cases since the page drew it)."""
    stored = mine(store.load_set, set_id)
    return stored.test_set if stored is not None else drawn


def _save_case(set_id: str, test_set: TestSet, case: Case) -> None:
    try:
        edited = experiments_state.edited_case(set_id, case)
    except InvalidTestSet as problem:
        note("error", f"Not saved (your text is kept in the editor): {problem}")
        return
    fresh = _fresh(set_id, test_set)
    replacing = case.id if fresh.case(case.id) is not None else None  # deleted meanwhile: saved back, not lost
    if mine(store.save_set, with_case(fresh, edited, replacing=replacing), set_id) is not None:
        note("success", f"Saved {case.id}.")


def _add_case(set_id: str, test_set: TestSet, copy_of: Case | None = None) -> None:
    test_set = _fresh(set_id, test_set)
    case_id = next_case_id(test_set)
    case = replace(copy_of, id=case_id) if copy_of else Case(case_id, "What is my name?")
    if mine(store.save_set, with_case(test_set, case), set_id) is not None:
        state.put(CASE_PICK, case_id)


def _delete_case(set_id: str, test_set: TestSet, case_id: str) -> None:
    mine(store.save_set, without_case(_fresh(set_id, test_set), case_id), set_id)
    experiments_state.forget_editor(set_id, case_id)
    state.pop(CASE_PICK)


def _case_editor(set_id: str, test_set: TestSet) -> None:
    """The picked case's editor: its widgets belong to this set's case as stored (ui/experiments_state.py),
    and every button acts on the set it was drawn for."""
    if not test_set.cases:
        st.button("Add a case", on_click=_add_case, args=(set_id, test_set), icon=":material/add:")
        return
    ids = [c.id for c in test_set.cases]
    if experiments_state.case_pick() not in ids:
        state.put(CASE_PICK, ids[0])
    labels = {c.id: f"{c.id} — {c.question[:60]}" for c in test_set.cases}
    picked = st.selectbox("Edit case", ids, format_func=labels.__getitem__, key=CASE_PICK)
    case = test_set.case(picked)
    assert case is not None
    experiments_state.seed_editor(set_id, case)
    key = lambda name: experiments_state.case_key(set_id, case, name)  # noqa: E731 - a local shorthand
    with st.container(border=True):
        st.text_area("Question", key=key("question"), height=68)
        st.radio(
            "Asked in",
            SOURCES,
            key=key("source"),
            horizontal=True,
            format_func={
                "inline": "a history written here",
                "current": "the current session",
                "session": "a saved session",
            }.__getitem__,
        )
        source = experiments_state.editor_text(set_id, case, "source")
        if source == "inline":
            columns = st.columns([3, 1], vertical_alignment="bottom")
            default_system = experiments_state.editor_flag(set_id, case, "default_system")
            columns[0].text_input("System prompt", key=key("system"), disabled=default_system)
            columns[1].checkbox("The app's default", key=key("default_system"))
            st.text_area(
                "History (one message a line: `user: …` or `assistant: …`)",
                key=key("history"),
                height=150,
            )
            tool_note(case)
        elif source == "session":
            saved = sessions.session_labels()
            options = list(saved) or [""]
            session = experiments_state.editor_text(set_id, case, "session")
            if session not in options:
                options.insert(0, session)
            st.selectbox(
                "Saved session",
                options,
                key=key("session"),
                format_func=lambda i: saved.get(i, i or "(none saved yet)"),
            )
        else:
            st.caption(f"The chat's session as it is when the run starts: {len(state.history())} messages now.")
        st.text_area(
            "Checks (one a line)",
            key=key("checks"),
            height=110,
            help="contains: Ada · icontains: ada · contains-all: Ada | Porto · contains-any: a | b · "
            "not-contains: sorry · regex: \\d{4} · equals: 42 · starts-with: Yes · is-json (or is-json: {a JSON "
            'Schema}) · json-field: user.name = "Ada" · max-words: 20 · similar(0.8): text (word overlap) · '
            "calls-tool: get_weather (the reply's tool calls) · is-valid-openai-tools-call (every call names a "
            "tool sent, with arguments valid against its schema) · llm-rubric: The answer names the city. "
            "An i- prefix ignores case (icontains, iequals, istarts-with…).",
        )
        st.text_input("Turns ago the fact was told (for the forgetting curve; blank: none)", key=key("turns_ago"))
        buttons = st.columns(4)
        buttons[0].button("Save case", on_click=_save_case, args=(set_id, test_set, case), type="primary")
        buttons[1].button("Add a case", on_click=_add_case, args=(set_id, test_set), icon=":material/add:")
        buttons[2].button(
            "Duplicate", on_click=_add_case, args=(set_id, test_set, case), icon=":material/content_copy:"
        )
        buttons[3].button("Delete", on_click=_delete_case, args=(set_id, test_set, case.id), icon=":material/delete:")


def tool_note(case: Case) -> None:
    """Tool calls and results cannot be typed as `role: text` lines: say so, and that they are kept."""
    messages = case.conversation.messages
    shaped = sum(bool(m.tool_calls) or m.role == "tool" for m in messages)
    if shaped:
        st.caption(
            f"{shaped} of these messages are tool calls or results: the box shows their text only. Saved with the "
            "history unchanged they keep their shape; to edit them, export the set, edit the file, import it."
        )


def _cases_table(test_set: TestSet) -> None:
    rows = [
        {
            "id": c.id,
            "question": c.question,
            "asked in": c.conversation.describe(),
            "checks": checks_to_text(c.checks),
            "turns ago": c.turns_ago,
        }
        for c in test_set.cases
    ]
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch", height=min(400, 38 + 35 * len(rows)))


def section() -> None:
    """The Test set section."""
    stored = current_set()
    test_set = stored.test_set
    sets = mine(store.list_sets) or [(stored.id, test_set.name, "")]
    names = experiments_state.distinct_labels(
        {set_id: f"{name} · {updated[:16].replace('T', ' ')}" for set_id, name, updated in sets}
    )
    columns = st.columns([2, 1.5, 1, 1.4], vertical_alignment="bottom")  # labels whole at 1280 px
    columns[0].selectbox("Test set", list(names), format_func=names.__getitem__, key=SET_ID, on_change=_pick_set)
    columns[1].button("New: the built-in set", on_click=_new_set, args=(builtin.test_set(),))
    columns[2].button("New: empty", on_click=_new_set, args=(TestSet("New set"),))
    with columns[3].popover("Delete this set", icon=":material/delete:"):
        st.write("Delete the set? Runs made with it keep their own copy.")
        st.button("Delete the set", type="primary", on_click=_delete_set, args=(stored.id, test_set))
    st.caption(inert_markdown(test_set.description or f"{len(test_set.cases)} cases."))
    if test_set.tools.tools:
        st.caption(
            inert_markdown(
                f"Tools sent with every case (unless its conversation has its own): {tools_label(test_set.tools)}. "
                "A variant's *tools* column sends them, none, or only some."
            )
        )
    _cases_table(test_set)
    _case_editor(stored.id, test_set)
    st.markdown("**Import and export**")
    exports = st.columns(4)
    stem = "".join(ch if ch.isalnum() else "-" for ch in test_set.name.lower()).strip("-") or "test-set"
    for column, (extension, (write, mime)) in zip(exports, formats.EXPORTERS.items(), strict=False):
        column.download_button(
            extension.upper(),
            partial(write, test_set),
            f"{stem}.{extension}",
            mime,
            icon=":material/download:",
            on_click="ignore",
            width="stretch",
        )
    uploader = experiments_state.uploader_key(state.EXP_IMPORT_PREFIX, state.EXP_UPLOADS)
    st.file_uploader(
        "Import a test set (CSV, JSONL, YAML; a promptfoo config with the files it names, or a zip of its folder; "
        "OpenAI Evals samples.jsonl)",
        type=list(formats.UPLOAD_TYPES),
        accept_multiple_files=True,
        key=uploader,
        on_change=_import_set,
        args=(uploader,),
        max_upload_size=5,
    )
