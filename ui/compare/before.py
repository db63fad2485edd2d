"""The Compare page before a run: the Run row (its button priced, the run's options), the summaries a
variant still needs, and what each variant sends (the table, the chart, the exact bodies)."""

from __future__ import annotations

import json

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from lib.analysis.compare import Variant, input_estimate, plan_rows, seeded, seeds_for
from lib.analysis.report import plan_figure
from lib.context.display import inert_inline, shortened_body
from lib.context.payload import RequestPlan
from lib.context.request import Request
from lib.core.models import ModelInfo
from ui import price_as as shared_price
from ui import state
from ui.compare import runs
from ui.glossary import columns
from ui.meter import money
from ui.settings import Settings
from ui.summary import summaries_button, summaries_cost

OWN_PRICES = ""


def price_as() -> str:
    """The hosted model a free model's calls are priced at ("": each model's own): the one choice the chat
    meter and the presenter's view show too (ui/price_as.py)."""
    return shared_price.chosen()


def priced_at(models: list[ModelInfo]) -> str:
    """`price_as()` where it reprices something (a free model among `models`), else "": the tables and the Run
    button then say "priced as" only when a cost is not the model's own."""
    return price_as() if any(model.free for model in models) else OWN_PRICES


def priced_note(price_as: str) -> str:
    return f"priced as {price_as}" if price_as else ""


def run_row(variants: list[Variant], requests: list[Request], question: str, settings: Settings) -> None:
    """At the top, by the question: the Run button and the run's options."""
    priced = priced_at([r.plan.model for r in requests])
    total = input_estimate([r.plan for r in requests], priced, state.whole(state.COMPARE_REPEATS))
    running = runs.run_in_flight() is not None
    cols = st.columns([2.2, 1, 1, 1.6], vertical_alignment="bottom")
    note = f", {priced_note(priced)}" if priced else ""
    cols[0].button(
        f"Run {len(variants)} variants (input ≈ {money(total)}{note})",
        type="primary",
        icon=":material/play_arrow:",
        disabled=running or len(variants) < 2 or not question.strip(),
        on_click=runs.start,
        args=(variants, requests, question, settings),
        width="stretch",
    )
    cols[1].number_input(
        "Runs per variant",
        1,
        10,
        key=state.COMPARE_REPEATS,
        help="Repeat each variant (temperature > 0) to tell the context's effect from sampling noise.",
    )
    cols[2].number_input(
        "First seed",
        0,
        2**31,
        key=state.COMPARE_SEED,
        help="Repeat i uses seed + i, sent in the request's `seed` field.",
    )
    shared_price.picker(cols[3], "Price the run")  # the chat meter's choice, and the presenter's
    st.caption(settings.provider.limits.describe() + " Set both in the sidebar.")
    if settings.provider.backend.answers_one_at_a_time:
        st.caption(
            "The embedded model answers one request at a time: the variants are sent one after another, so each "
            "one's latency is its own; the wait for its turn is shown apart, as *queued*."
        )
    else:
        st.toggle(
            "Send one at a time",
            key=state.COMPARE_ONE_AT_A_TIME,
            help="For a server that answers one request at a time (a local llama.cpp or Ollama): sent at once, "
            "the variants would only queue there, and the last one served would look slowest.",
        )


def missing_summaries(requests: list[Request], variants: list[Variant], settings: Settings) -> None:
    """A summarising variant needs its summary made before it can run: say what that call costs."""
    wanted = {r.to_summarise: v.name for r, v in zip(requests, variants, strict=True) if r.needs_summary}
    if not wanted:
        return
    tokens, input_cost = summaries_cost(list(wanted), settings)
    st.warning(
        f"{', '.join(wanted.values())}: the older messages must be summarised first — {len(wanted)} call(s), "
        f"{tokens:,} prompt tokens, input {money(input_cost)}. Until then that variant is not run."
    )
    summaries_button(list(wanted), settings, "compare_make_summaries", "summary (compare)")


def before_running(variants: list[Variant], requests: list[Request]) -> None:
    plans = [r.plan for r in requests]
    priced = priced_at([plan.model for plan in plans])
    rows = plan_rows(variants, plans, priced)
    st.subheader("Before running: what each variant sends")
    cost = f"input cost $ ({priced_note(priced)})" if priced else "input cost $"
    frame = pd.DataFrame(rows).rename(columns={"input cost $": cost})
    st.dataframe(
        frame,
        hide_index=True,
        width="stretch",
        column_config=columns(frame.columns, {cost: st.column_config.NumberColumn(format="%.6f")}),
    )
    st.plotly_chart(_plan_chart(rows, priced_note(priced)), width="stretch")
    _request_preview(variants, plans)


@st.cache_resource(max_entries=32, show_spinner=False)
def _plan_chart(rows: list[dict], note: str) -> go.Figure:
    """The chart of `rows`, made once for the same rows: plotly's checks make it 30-55 ms, and the page
    reruns with every keystroke and toggle while the plan does not change. Shared, never changed after
    it is made (Streamlit serialises it to draw it)."""
    return plan_figure(rows, priced_note=note)


def _request_preview(variants: list[Variant], plans: list[RequestPlan]) -> None:
    """Each variant's body exactly as it is sent (the first run's; repeat i sends seed + i)."""
    seeds = seeds_for(state.whole(state.COMPARE_REPEATS), state.whole(state.COMPARE_SEED))
    with st.expander("What each variant sends (the exact request bodies)"):
        if seeds[0] is not None:
            st.caption(f"The first run of each variant is shown; run i sends seed {seeds[0]} + i.")
        tabs = st.tabs([f"{i + 1}. {inert_inline(v.name)}" for i, v in enumerate(variants)])
        for tab, plan in zip(tabs, plans, strict=True):
            body, left_out = shortened_body(seeded(plan, seeds[0]).body)
            if left_out:
                tab.caption(f"{left_out:,} characters of very long messages are not shown here; the call sends them.")
            tab.code(json.dumps(body, ensure_ascii=False, indent=2), language="json", wrap_lines=True)
