"""The cost of statelessness: tokens resent at every turn, and billed in total, per strategy."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from lib.analysis.runlog import csv_text
from lib.analysis.timeline import MAX_TURNS, cost_figure, sample_conversation, timeline, timeline_figures, verdict
from lib.context import glossary
from lib.context.display import inert_markdown
from lib.context.strategies import Strategy
from ui import composition, state
from ui.glossary import columns, explain
from ui.planning import target_of
from ui.settings import Settings, page_setup


def render(settings: Settings) -> None:
    st.title("The cost of statelessness")
    st.caption(
        "The API keeps no memory, so every call resends the context it needs. With the full history, each turn "
        "sends more than the last and the total billed grows quadratically; bounded strategies level off."
    )
    history = state.history()
    use_sample = st.toggle("Use a sample 30-turn conversation", value=len(history) < 4, key=state.TIMELINE_SAMPLE)
    if use_sample:
        history = sample_conversation()
    if not any(m.role == "user" for m in history):
        st.info("The conversation has no turns yet: chat first, or use the sample.")
        return
    cols = st.columns(2)
    turns = cols[0].number_input(
        "Last N turns", 1, 1000, value=state.whole(state.STRATEGY_TURNS) or 2, help=glossary.STRATEGIES["last_turns"]
    )
    budget = cols[1].number_input(
        "Token budget", 16, 10_000_000, value=state.whole(state.STRATEGY_BUDGET), help=explain("token_budget")
    )
    strategies = [
        Strategy("full"),
        Strategy("last_turns", last_turns=int(turns)),
        Strategy("token_budget", token_budget=int(budget)),
        Strategy("none"),
    ]
    rule = settings.provider.backend.rule_for(settings.counter())
    rows = timeline(history, strategies, state.system_prompt(), target_of(settings), settings.sampling, rule)
    st.caption(
        f"{settings.model.name} · {settings.counter().count([]).method} · each turn planned by the same request "
        "builder as the chat: the system prompt, the history the strategy keeps, the question, the chat format. "
        f"The token budget ({int(budget):,}) covers the system prompt and the history; the question and the chat "
        "format's own tokens come on top of it. The summarising strategy is left out (it adds a call of its own)."
        + (f" · first {MAX_TURNS:,} turns" if len(rows) // len(strategies) >= MAX_TURNS else "")
    )
    summary = verdict(rows, settings.model.name, settings.model.prices.source)
    if summary:
        st.info(inert_markdown(summary))
    st.caption(
        f"Prompt caching (the server reuses its work on the start a call shares with the last one): {rule.note}. "
        "Each strategy is its own session: turn t reads what turn t-1 of the same "
        "strategy left in the cache (its prompt" + (" and its reply" if rule.holds_reply else "") + "). The full "
        "history repeats the previous prompt as its prefix; a sliding window drops the oldest messages, which "
        "shifts the rest and breaks the prefix from there on.",
        help=explain("cached_tokens"),
    )
    per_turn, cumulative = timeline_figures(rows)
    left, right = st.columns(2)
    left.plotly_chart(per_turn, width="stretch")
    right.plotly_chart(cumulative, width="stretch")
    composition.timeline_section(history, strategies, state.system_prompt(), settings)
    costs = cost_figure(rows)
    if costs is not None:
        st.plotly_chart(costs, width="stretch")
    frame = pd.DataFrame(rows)
    st.dataframe(frame, hide_index=True, width="stretch", column_config=columns(frame.columns))
    st.download_button(
        "Download as CSV",
        csv_text(frame),
        "context-lab-timeline.csv",
        "text/csv",
        icon=":material/download:",
    )


render(page_setup())
