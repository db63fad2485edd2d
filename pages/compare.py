"""Compare: the same question under different contexts, side by side, with what each one cost.

The page lays out the parts; ui/compare/ holds its glue: `setup` (the variant slots, kept with the
session, planned by the one builder), `cards` (the variant cards), `before` (the Run row, the summaries
still to make, what each variant sends), `runs` (a run started, held, drawn while it goes, kept and
logged) and `results` (the answers side by side, the kept comparisons). What a run sends and what it
cost is lib/analysis/compare.py's."""

from __future__ import annotations

import streamlit as st

from ui import composition, state
from ui.compare import before, cards, results, runs, setup
from ui.settings import Settings, page_setup


def render(settings: Settings) -> None:
    st.title("Compare contexts")
    st.caption(
        "One question, several contexts: which history is sent, which system prompt, which model. "
        "See what each would cost before sending, then how the answers differ."
    )
    setup.load_for_session()
    state.default(state.COMPARE_BASELINE, 0)
    state.default(state.COMPARE_ONE_AT_A_TIME, False)
    state.default(state.COMPARE_DIFF, False)
    st.caption(f"The conversation has {len(state.history())} messages (edit it on the Chat page).")
    question = st.text_area("The next user message", key=state.COMPARE_QUESTION, height=70)
    st.text_input(
        "Expected answer (optional)",
        key=state.COMPARE_EXPECTED,
        placeholder="e.g. Priya",
        help="What a right answer contains (ignoring case). Each answer is then marked correct or not beside its "
        "similarity, so a wrong baseline shows as wrong.",
    )
    variants = setup.variants()
    requests = setup.requests(variants, question, settings)
    before.run_row(variants, requests, question, settings)
    if len(variants) < 2:
        st.warning("Add at least two variants to compare.")
    before.missing_summaries(requests, variants, settings)
    live = st.container()  # the run in flight, drawn last (its loop holds the script) but shown here
    results.kept_comparisons(settings, before.price_as())
    st.divider()
    cards.variant_cards(settings)
    if variants:
        before.before_running(variants, requests)
        composition.variant_bars([v.name for v in variants], requests, settings)
    setup.save_if_changed()
    run = runs.run_in_flight()
    if run is not None:
        with live:
            runs.show(run)


render(page_setup())
