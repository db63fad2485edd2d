"""The Experiments page's state (its keys are named in ui/state.py): the case editor's widgets, and the
variants as edited.

The case editor's widgets are keyed by the test set, the case and the case's revision
(lib/analysis/experiments/cases.case_revision). Keyed by the case id alone, two sets with a `test-1`
(every promptfoo import names its cases so) shared one editor: opening the second set's `test-1` showed
the first's question and checks, and Save wrote them into the second. Keyed so, an editor only ever
shows the text of its own set's case as stored, or what the user typed over exactly that; a saved case
is a new revision, seeded from what was saved.

The variants' table (st.data_editor) keeps its edits in its widget, which Streamlit drops on a page where
it is not drawn, and which cannot be given back through session state. So each edit is folded into the
rows (`fold_variant_edits`, the editor's on_change) and the editor is drawn again under a new key over
the rows that hold it: the rows are plain state, kept across pages.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from streamlit.runtime.uploaded_file_manager import UploadedFile

from lib.analysis.experiments.cases import (
    Case,
    Conversation,
    InvalidTestSet,
    case_revision,
    checks_from_text,
    checks_to_text,
    history_from_text,
    history_to_text,
    whole_number,
)
from lib.context.tools import NO_TOOLS
from ui import state

EDITOR_FIELDS = ("question", "source", "system", "default_system", "history", "session", "checks", "turns_ago")


def _case_prefix(set_id: str, case_id: str) -> str:
    """The start of every editor key of one case of one set (hashed: ids may hold any character)."""
    which = hashlib.sha256(f"{set_id}\x00{case_id}".encode()).hexdigest()[:16]
    return f"{state.EXP_EDITOR_PREFIX}{which}_"


def case_key(set_id: str, case: Case, name: str) -> str:
    """The editor widget `name` of `case` (as stored now) in the set `set_id`."""
    return f"{_case_prefix(set_id, case.id)}{case_revision(case)}_{name}"


def seed_editor(set_id: str, case: Case) -> None:
    """Give the case's editor its stored values where the user has typed nothing over them; an older
    revision's editor of the same case (the case was saved, here or in another tab) is forgotten."""
    current = case_key(set_id, case, "")
    prefix = _case_prefix(set_id, case.id)
    for key in [k for k in state.held_keys() if k.startswith(prefix) and not k.startswith(current)]:
        state.pop(key)
    conversation = case.conversation
    values = {
        "question": case.question,
        "source": conversation.source,
        "system": "" if conversation.system is None else conversation.system,
        "default_system": conversation.system is None,
        "history": history_to_text(conversation.messages),
        "session": conversation.session_id,
        "checks": checks_to_text(case.checks),
        "turns_ago": "" if case.turns_ago is None else str(case.turns_ago),
    }
    for name, value in values.items():
        state.default(case_key(set_id, case, name), value)


def edited_case(set_id: str, case: Case) -> Case:
    """The case as its editor holds it; InvalidTestSet names what is missing or wrong."""

    def value(name: str) -> str:
        return editor_text(set_id, case, name)

    source = value("source")
    if source == "inline":
        default = editor_flag(set_id, case, "default_system")
        system = None if default else state.optional_text(case_key(set_id, case, "system"))
        text = value("history")
        kept = case.conversation
        # The box shows each message's text only: unchanged, the history keeps its tool calls and results
        # (and its own tools) exactly as the file or the session gave them.
        unchanged = kept.source == "inline" and text == history_to_text(kept.messages)
        messages = kept.messages if unchanged else history_from_text(text)
        conversation = Conversation("inline", messages, system, tools=kept.tools if unchanged else NO_TOOLS)
    elif source == "session":
        if not value("session"):
            raise InvalidTestSet("pick the saved session the question is asked in")
        conversation = Conversation("session", session_id=value("session"))
    else:
        conversation = Conversation("current")
    turns = value("turns_ago").strip()
    if not value("question").strip():
        raise InvalidTestSet("the question is empty")
    return replace(
        case,
        question=value("question"),
        conversation=conversation,
        checks=checks_from_text(value("checks")),
        turns_ago=whole_number(turns, "turns ago") if turns else None,
    )


def forget_editor(set_id: str, case_id: str) -> None:
    """Drop every editor value of the case (any revision): it was deleted, or saved."""
    prefix = _case_prefix(set_id, case_id)
    for key in [k for k in state.held_keys() if k.startswith(prefix)]:
        state.pop(key)


def distinct_labels(labels: dict[str, str]) -> dict[str, str]:
    """A picker's labels (by id), each told apart from the others: the browser sends back the picked
    option's text, so of two options with one text the second could never be picked (two imports of one
    file in the same minute). A label shared is followed by its id."""
    counts = Counter(labels.values())
    return {item: f"{label} · {item}" if counts[label] > 1 else label for item, label in labels.items()}


# --- the variants' table ------------------------------------------------------------------------------


def variant_editor_key() -> str:
    return f"{state.EXP_VARIANT_EDITOR}_{state.whole(state.EXP_VARIANT_REVISION)}"


def set_variant_rows(rows: list[dict[str, Any]]) -> None:
    """New rows for the variants' table, drawn by a fresh editor (the old one's edits are in them)."""
    state.put(state.EXP_VARIANT_ROWS, rows)
    state.put(state.EXP_VARIANT_REVISION, state.whole(state.EXP_VARIANT_REVISION) + 1)


def with_edits(rows: list[dict[str, Any]], edits: Mapping[str, Any] | None, columns: list[str]) -> list[dict[str, Any]]:
    """`rows` with a data editor's edits applied as Streamlit applies them: cells edited (by the row's
    position), rows added at the end (their blank columns None), rows deleted (by position)."""
    edits = edits or {}
    result = [dict(row) for row in rows]
    for position, changes in (edits.get("edited_rows") or {}).items():
        if 0 <= int(position) < len(result):
            result[int(position)].update(changes)
    for added in edits.get("added_rows") or []:
        result.append({name: added.get(name) for name in columns})
    deleted = {int(position) for position in edits.get("deleted_rows") or []}
    return [row for position, row in enumerate(result) if position not in deleted]


def fold_variant_edits(columns: list[str]) -> None:
    """The variant editor's on_change: its edits become the rows (kept across pages)."""
    rows = state.listing(state.EXP_VARIANT_ROWS)
    set_variant_rows(with_edits(rows, state.mapping(variant_editor_key()), columns))


# --- the page's own choices, typed -------------------------------------------------------------------


@dataclass(frozen=True)
class RunChoices:
    """The Run section's numbers, as its widgets hold them."""

    repeats: int
    seed: int
    max_tokens: int
    temperature: float
    concurrency: int


DEFAULTS: dict[str, Any] = {
    state.EXP_REPEATS: 1,
    state.EXP_SEED: 1,
    state.EXP_MAX_TOKENS: 48,
    state.EXP_TEMPERATURE: 0.0,
    state.EXP_CONCURRENCY: 8,
    state.EXP_COST_LIMIT: 1.0,
}


def seed_defaults(opened_on_a_run: bool) -> None:
    """The page's widgets' first values (a `?run=` link opens on the Results)."""
    state.default(state.EXP_SECTION, "Results" if opened_on_a_run else "Test set")
    for key, value in DEFAULTS.items():
        state.default(key, value)


def run_choices() -> RunChoices:
    return RunChoices(
        state.whole(state.EXP_REPEATS),
        state.whole(state.EXP_SEED),
        state.whole(state.EXP_MAX_TOKENS),
        state.real(state.EXP_TEMPERATURE),
        state.whole(state.EXP_CONCURRENCY),
    )


def set_id() -> str | None:
    return state.optional_text(state.EXP_SET_ID)


def case_pick() -> str | None:
    return state.optional_text(state.EXP_CASE_PICK)


def run_id() -> str | None:
    return state.optional_text(state.EXP_RUN_ID)


def run_pick() -> str | None:
    return state.optional_text(state.EXP_RUN_PICK)


def judge_kind() -> str | None:
    return state.optional_text(state.EXP_JUDGE_KIND)


def baseline() -> int | None:
    return None if state.get(state.EXP_BASELINE) is None else state.whole(state.EXP_BASELINE)


def editor_text(set_id: str, case: Case, name: str) -> str:
    """A case editor's text widget's value ("" while it has none)."""
    return state.text(case_key(set_id, case, name))


def editor_flag(set_id: str, case: Case, name: str) -> bool:
    return state.flag(case_key(set_id, case, name))


def variant_rows() -> list[dict[str, Any]] | None:
    return state.listing(state.EXP_VARIANT_ROWS) if state.get(state.EXP_VARIANT_ROWS) is not None else None


def put_note(kind: str, text: str) -> None:
    """A message for the page's next run: `kind` is the st function that says it (error, success…)."""
    state.put(state.EXP_NOTE, (kind, text))


def take_note() -> tuple[str, str] | None:
    return state.note(state.EXP_NOTE)


def claimed() -> bool:
    return state.flag(state.EXP_CLAIMED)


def set_claimed() -> None:
    state.put(state.EXP_CLAIMED, True)


def uploader_key(prefix: str, counter: str) -> str:
    """An uploader's widget key: a new one (after a file was taken) is an empty uploader."""
    return f"{prefix}{state.whole(counter)}"


def count_upload(counter: str) -> None:
    state.put(counter, state.whole(counter) + 1)


def uploaded(key: str) -> UploadedFile | None:
    """The file an uploader holds, or None."""
    return state.of(key, UploadedFile)


def uploaded_files(key: str) -> list[UploadedFile]:
    """The files of an uploader that takes several (one, from one that takes one)."""
    one = state.of(key, UploadedFile)
    if one is not None:
        return [one]
    return [f for f in state.listing(key) if isinstance(f, UploadedFile)]
