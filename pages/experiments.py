"""Experiments: a test set run across context variants, scored — which context keeps the answers
right, at what cost. lib/analysis/experiments decides; ui/experiments/ holds each section's glue (its
callbacks, its calls to the store); this page lays the sections out and draws the comparison of two runs."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from lib.analysis.experiments import results, setup, store
from ui import experiments_state, state
from ui.experiments import results as run_results
from ui.experiments import run, test_sets
from ui.experiments.common import claim_unowned, mine, show_note
from ui.settings import Settings, page_setup

SECTIONS = ("Test set", "Run", "Results", "Compare runs")


def _compare_section() -> None:
    runs = mine(store.list_runs) or []
    if runs:
        st.dataframe(
            pd.DataFrame(
                [
                    {
                        "run": r.name,
                        "status": setup.status_word(r),
                        "test set": r.set_name,
                        "cells": r.cells,
                        "finished": r.finished,
                        "started": r.created_at[:19].replace("T", " "),
                    }
                    for r in runs
                ]
            ),
            hide_index=True,
            width="stretch",
        )
    if len(runs) < 2:
        st.info("Two runs are needed to compare (say, before and after a system-prompt edit).")
        return
    labels = run_results.run_labels(runs)
    ids = list(labels)
    state.default(state.EXP_COMPARE_A, ids[1])
    state.default(state.EXP_COMPARE_B, ids[0])
    columns = st.columns(2)
    a = columns[0].selectbox("Run A", ids, format_func=labels.__getitem__, key=state.EXP_COMPARE_A)
    b = columns[1].selectbox("Run B", ids, format_func=labels.__getitem__, key=state.EXP_COMPARE_B)
    spec_a, spec_b = mine(store.load_spec, a), mine(store.load_spec, b)
    if spec_a is None or spec_b is None:
        return
    cells_a, cells_b = mine(store.cells, a) or [], mine(store.cells, b) or []
    rows, changed = results.compare_runs((spec_a, cells_a), (spec_b, cells_b))
    if spec_a.test_set.name != spec_b.test_set.name:
        st.caption("The two runs used different test sets: only the cases and variants both have are compared.")
    st.markdown("**Per variant** (matched by name)")
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
    st.markdown(f"**Cases whose verdict changed:** {len(changed)}")
    if changed:
        st.dataframe(pd.DataFrame(changed), hide_index=True, width="stretch")
    columns = st.columns(2)
    for column, spec, cells, name in ((columns[0], spec_a, cells_a, "A"), (columns[1], spec_b, cells_b, "B")):
        figure = results.frontier_figure(spec, results.summaries(spec, cells))
        figure.update_layout(title=f"Run {name}")
        column.plotly_chart(figure, width="stretch", key=f"exp_compare_frontier_{name}")


def render(settings: Settings) -> None:
    st.title("Experiments")
    st.caption(
        "A test set of questions, run across context variants and scored: which context keeps the answers right, "
        "at what cost. Every call is planned by the same builder as the chat's, and written down as it finishes."
    )
    experiments_state.seed_defaults(opened_on_a_run=bool(st.query_params.get(run_results.URL_RUN)))
    claim_unowned()
    show_note()
    section = st.radio("Section", SECTIONS, key=state.EXP_SECTION, horizontal=True, label_visibility="collapsed")
    if section == "Test set":
        test_sets.section()
    elif section == "Run":
        run.section(settings)
    elif section == "Results":
        run_results.section(settings)
    else:
        _compare_section()


render(page_setup())
