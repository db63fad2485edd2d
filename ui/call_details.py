"""Run-log rows that open: a call's request body, its answer, the strategy and the timings.

`log_call` records a call with its details (lib/store/call_details.py); `run_log_with_details` reads the
run log back with them; `table_with_details` draws the run log's table, and the call of the row the
user picks under it (`show_call`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd
import streamlit as st

from lib.context.display import inert_markdown
from lib.context.payload import RequestPlan
from lib.core.errors import STORE_FAILED
from lib.core.outcome import CallOutcome
from lib.store import storage
from lib.store.call_details import CallDetails, calls_with_details, timings
from lib.store.call_details import log_call as lib_log_call
from ui import sessions, state
from ui.glossary import columns
from ui.keys import known_secrets
from ui.owner import describe, owner
from ui.settings import Settings

TABLE_KEY = "run_log_rows"


def _store_failed(exc: Exception) -> None:
    reason = storage.problem(exc).rstrip(".")
    state.put(state.SESSION_NOTE, ("warning", f"The run log ({storage.shown()}) failed: {reason}."))


def log_call(
    settings: Settings,
    plan: RequestPlan,
    outcome: CallOutcome,
    variant: str = "chat",
    session_id: str | None = None,
    strategy: str | None = None,
    queued_s: float | None = None,
    notices: Sequence[str] = (),
) -> None:
    """Record a call the page made in the run log (lib.store.call_details.log_call, the one writer),
    with its body, answer, strategy and retries; a failing store is said on the page. Call it from the
    script's thread (after joining workers)."""
    secrets = (*settings.provider.secrets, *known_secrets())
    session_id = session_id or sessions.current_id()
    try:
        with storage.opened() as conn:
            lib_log_call(
                conn,
                session_id,
                variant,
                settings.provider.backend.logged_as(),
                plan,
                outcome,
                secrets,
                owner(),
                strategy,
                queued_s,
                tuple(notices),
            )
    except STORE_FAILED as exc:
        _store_failed(exc)


@dataclass(frozen=True)
class RunLog:
    """The run log as one read gave it: every call, oldest first, each call's details (None for a call
    logged without them), and why the store could not be read (None when it could)."""

    records: list[storage.CallRecord]
    details: list[CallDetails | None]
    failure: str | None = None


def run_log_with_details() -> RunLog:
    """The run log with each call's details, in one read of the store; a store that fails gives no calls
    and the reason (so the page says the store failed, not that nothing was ever called)."""
    try:
        with storage.opened() as conn:
            pairs = calls_with_details(conn)
    except STORE_FAILED as exc:
        return RunLog([], [], f"The session store ({storage.shown()}) failed: {storage.problem(exc).rstrip('.')}.")
    return RunLog([record for record, _ in pairs], [details for _, details in pairs])


def where() -> str:
    """Where the run log is kept, as the page names it (a path, or a database URL without its password)."""
    return storage.shown()


def table_with_details(
    frame: pd.DataFrame, records: list[storage.CallRecord], details: list[CallDetails | None]
) -> None:
    """The run log's table, newest first (`frame` is lib.analysis.runlog.calls_frame's, filtered: its index is
    the call's position in `records`); the row picked opens below it."""
    newest_first = frame.iloc[::-1]
    event = st.dataframe(
        newest_first,
        hide_index=True,
        width="stretch",
        on_select="rerun",
        selection_mode="single-row",
        key=TABLE_KEY,
        column_config=columns(newest_first.columns),
    )
    picked = list(event.selection.rows) if event is not None else []
    if not picked:
        st.caption("Pick a row to open the call: its request body, its answer, the strategy and the timings.")
        return
    position = int(newest_first.index[picked[0]])
    show_call(records[position], details[position])


def show_call(record: storage.CallRecord, details: CallDetails | None) -> None:
    with st.container(border=True):
        st.markdown(
            f"**{inert_markdown(record.variant)}** · {inert_markdown(record.model)} · {record.at} · {record.status}"
        )
        for column, (label, value) in zip(st.columns(4), timings(record, details), strict=True):
            column.metric(label, value)
        if record.owner is not None and record.owner != owner():
            # A team's run log shows who ran what and its figures; what was sent and answered stays theirs.
            st.info(f"Made by {inert_markdown(describe(record.owner))}: its request and its answer are theirs.")
            return
        if record.error:
            st.error(record.error)
        if record.usage.flag:  # what the server said, named (its own column in the table): not priced
            st.warning(inert_markdown(record.usage.flag), icon=":material/warning:")
        if details is None:
            st.info("This call was logged before the run log kept bodies and answers: only its figures are known.")
            return
        finish = f" · finish reason `{details.finish_reason}`" if details.finish_reason else ""
        st.caption(f"Strategy: {inert_markdown(details.strategy or 'not recorded')}{finish}")
        for notice in details.notices:
            st.caption(inert_markdown(notice))
        answer, body = st.tabs(["Answer", "Request body"])
        answer.markdown(inert_markdown(details.answer or "") or "*(no answer)*")
        if details.left_out_chars:
            body.caption(
                f"{details.left_out_chars:,} characters of very long messages were not kept; the call sent them."
            )
        body.code(details.request_body or "", language="json", wrap_lines=True)
