"""Run log: every call from every session and page — what was predicted, what the server reported, the cost."""

from __future__ import annotations

import streamlit as st

from lib.analysis.runlog import calls_frame, csv_text, filtered, run_log_figures
from lib.core.prices import data_label
from ui import call_details, owner, sessions
from ui.meter import money
from ui.settings import page_setup

FILTERS = {"session": "Session", "variant": "Variant", "model": "Model", "status": "Status"}


def render() -> None:
    st.title("Run log")
    st.caption(
        f"Every call made, kept in `{call_details.where()}` "
        "(`CONTEXT_LAB_DB` moves it: a path or a postgresql:// URL). "
        "The API remembers none of them: each one carried its whole context."
    )
    log = call_details.run_log_with_details()  # each call with its body, answer and timings
    if log.failure:
        st.error(f"The run log cannot be read: {log.failure} Calls made meanwhile are not recorded.")
        return
    records, details = log.records, log.details
    frame = calls_frame(records, sessions.session_labels())
    frame["who"] = frame["who"].map(owner.describe)  # a user by name, a browser by its hash's start
    if frame.empty:
        st.info("No calls yet: send a message on the Chat page, or run a comparison.")
        return
    cols = st.columns(len(FILTERS))
    choices = {
        column: cols[i].multiselect(label, sorted(frame[column].dropna().unique()), placeholder="All")
        for i, (column, label) in enumerate(FILTERS.items())
    }
    shown = filtered(frame, **choices)
    totals = st.columns(4)
    totals[0].metric("Calls", f"{len(shown):,}")
    totals[1].metric("Prompt tokens reported", f"{int(shown['prompt tokens'].sum()):,}")
    cost = shown["cost $"]
    totals[2].metric(
        "Cost",
        money(cost.sum() if cost.notna().any() else None),
        help=f"Cached tokens billed as the server reported them; prices: {data_label()}. Empty for unpriced models",
    )
    totals[3].metric("Failed", f"{int((shown['status'] != 'ok').sum()):,}")
    if shown.empty:
        st.info("No call matches the filters.")
        return
    over_time, scatter = run_log_figures(shown)
    left, right = st.columns(2)
    left.plotly_chart(over_time, width="stretch")
    right.plotly_chart(scatter, width="stretch")
    call_details.table_with_details(shown, records, details)  # newest first; a row picked opens below
    st.download_button(
        "Download as CSV",
        csv_text(shown),
        "context-lab-run-log.csv",
        "text/csv",
        icon=":material/download:",
    )


page_setup()
render()
