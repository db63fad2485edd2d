"""The composition bar: what fills the next call, against the window, and its largest messages.

`lib/context/composition.py` decides the split; this module draws it (plotly, one horizontal stacked
bar) on the chat's meter, per variant on Compare and per turn on the Cost timeline, and lets a click
on one of the largest messages bring that message into view on the chat page.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import streamlit as st

from lib.context.composition import EXPLANATIONS, LABELS, PARTS, PROMPT_PARTS, Composition, Part, compose
from lib.context.display import inert_inline
from lib.context.paging import page_count
from lib.context.request import Request
from ui import state

if TYPE_CHECKING:
    import plotly.graph_objects as go

    from ui.settings import Settings

# One colour per part, the same on every page: tool results stand out (they are what piles up),
# the reserve and the free space are pale (room, not content).
COLOURS: dict[Part, str] = {
    "system": "#4c78a8",
    "tools": "#9d755d",
    "pinned": "#b279a2",
    "conversation": "#72b7b2",
    "tool_calls": "#f58518",
    "tool_results": "#e45756",
    "summary": "#54a24b",
    "question": "#1f3b73",
    "overhead": "#bab0ac",
    "reserve": "#d6d6d6",
    "free": "#f0f0f0",
}
LARGEST = 5


def composition_of(request: Request, settings: Settings) -> Composition:
    """The request's composition against its model's window: the server's when the settings got one
    (their model carries it), the table's for a Compare variant on another model."""
    model = request.plan.model
    source = settings.window_source if model == settings.model else "the model table"
    return compose(request, window=model.context_window, window_source=source)


def _hover(part: Part, tokens: int, composition: Composition) -> str:
    share = tokens / composition.window if composition.window else 0
    return f"<b>{LABELS[part]}</b>: {tokens:,} tokens ({share:.1%} of the window)<br>{EXPLANATIONS[part]}"


def figure(
    rows: Sequence[tuple[str, Composition]], parts: Sequence[Part] = PARTS, height: int | None = None
) -> go.Figure:
    """One stacked horizontal bar per (label, composition), the parts in the same order and colours."""
    import plotly.graph_objects as go

    fig = go.Figure()
    names = [label for label, _ in rows]
    for part in parts:
        values = [c.tokens(part) for _, c in rows]
        if not any(values):
            continue
        fig.add_bar(
            name=LABELS[part], y=names, x=values, orientation="h", marker_color=COLOURS[part],
            hovertext=[_hover(part, c.tokens(part), c) for _, c in rows], hoverinfo="text",
        )  # fmt: skip
    fig.update_layout(
        barmode="stack",
        height=height or 90 + 34 * len(rows),
        margin={"t": 10, "b": 10, "l": 10, "r": 10},
        legend={"orientation": "h", "y": -0.25 if len(rows) == 1 else -0.08, "yanchor": "top", "x": 0},
        xaxis={"title": None, "tickformat": ","},
        yaxis={"autorange": "reversed", "showticklabels": len(rows) > 1},
        hoverlabel={"align": "left"},
    )
    return fig


def _focus(message_id: str) -> None:
    """A contributor's click: the page that holds the message is drawn, and the message is scrolled to."""
    history = state.history()
    index = next((i for i, m in enumerate(history) if m.id == message_id), None)
    if index is not None:
        size = int(state.get(state.PAGE_SIZE) or 0)
        pages = page_count(len(history), size)
        # Pages count from the newest (0): the message's page is how many full pages lie after it.
        state.put(state.HISTORY_PAGE, 0 if pages == 1 else (len(history) - 1 - index) // size)
    state.put(state.FOCUS_MESSAGE, message_id)


_SCROLL_JS = """
export default function (component) {
  const { data } = component;
  let tries = 0;
  const find = () => {
    const row = document.querySelector(data.selector);
    if (row) {
      const message = row.closest('[data-testid="stChatMessage"]') || row;
      message.scrollIntoView({ block: "center" });
      message.style.outline = "3px solid #e45756";
      message.style.outlineOffset = "2px";
      setTimeout(() => { message.style.outline = ""; }, 2500);
    } else if (tries++ < 40) {
      setTimeout(find, 100);  // the history is drawn after the meter in the same rerun
    }
  };
  find();
}
"""

_scroll = st.components.v2.component("context_lab_scroll_to_message", js=_SCROLL_JS, isolate_styles=False)


def chat_bar(request: Request, settings: Settings) -> None:
    """The chat meter's bar and its largest messages, each a button that goes to the message."""
    composition = composition_of(request, settings)
    with st.container(key="composition"):
        st.markdown("**What fills the next call**")
        st.plotly_chart(figure([("Next call", composition)]), width="stretch", key="composition_chart",
                        config={"displayModeBar": False})  # fmt: skip
        st.caption(_summary_line(composition))
        largest = [c for c in composition.largest(LARGEST + 2) if c.message_id in _history_ids()][:LARGEST]
        if largest:
            st.caption("Largest messages in this call (click to see one):")
            for contributor in largest:
                st.button(
                    f"{contributor.tokens:,} tokens · {LABELS[contributor.part]} · "
                    f"{inert_inline(contributor.preview) or '(empty)'}",
                    key=f"contributor_{contributor.message_id}", on_click=_focus, args=(contributor.message_id,),
                    type="tertiary", help=f"Show this {contributor.role} message in the conversation",
                )  # fmt: skip
    focused = state.pop(state.FOCUS_MESSAGE)
    if focused:
        _scroll(key=f"scroll_{focused}", data={"selector": f".st-key-msgrow_{focused}"}, width="content")


def _history_ids() -> set[str]:
    return {m.id for m in state.history()}


def _summary_line(composition: Composition) -> str:
    prompt, window = composition.prompt_tokens, composition.window
    line = (
        f"{prompt:,} prompt tokens + {composition.max_tokens:,} reserved for the reply, of a "
        f"{window:,}-token window ({composition.window_source})"
    )
    if composition.over:
        line += f": {composition.over:,} tokens short of room for the whole reply"
    else:
        line += f": {composition.tokens('free'):,} free"
    return line + ("" if composition.exact else " · counts are estimates")


def variant_bars(names: Sequence[str], requests: Sequence[Request], settings: Settings) -> None:
    """Compare: the same bar for each variant, one under another."""
    rows = [
        (inert_inline(name), composition_of(request, settings)) for name, request in zip(names, requests, strict=True)
    ]
    if not rows:
        return
    st.markdown("**What fills each variant's call**")
    st.plotly_chart(figure(rows), width="stretch", key="compare_composition", config={"displayModeBar": False})


def turn_bars(rows: Sequence[tuple[int, Composition]], strategy_label: str) -> None:
    """The Cost timeline: each turn's prompt by part (no reserve, no free space: the turns' sizes are compared)."""
    if not rows:
        return
    st.markdown(f"**What each turn's call carries ({inert_inline(strategy_label)})**")
    st.plotly_chart(
        figure([(f"Turn {turn}", c) for turn, c in rows], parts=PROMPT_PARTS, height=120 + 18 * len(rows)),
        width="stretch", key="timeline_composition", config={"displayModeBar": False},
    )  # fmt: skip


def timeline_section(history: list, strategies: Sequence, system, settings: Settings) -> None:
    """The Cost timeline's bar per turn, for one of its strategies (the full history by default)."""
    from lib.analysis.timeline import compositions
    from ui.planning import target_of

    labels = [s.describe() for s in strategies]
    chosen = st.selectbox("Composition per turn, under", labels, key="timeline_composition_strategy")
    strategy = strategies[labels.index(chosen)] if chosen in labels else strategies[0]
    target = target_of(settings)
    rows = compositions(history, strategy, system, target, settings.sampling, None, settings.window_source)
    turn_bars(rows, chosen or labels[0])
