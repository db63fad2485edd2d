"""The composition bar: what fills the next call, against the window, and its largest messages.

`lib/context/composition.py` decides the split; this module draws it on the chat's meter (one bar of
HTML), per variant on Compare and per turn on the Cost timeline (plotly, horizontal stacked bars), and
lets a click on one of the largest messages bring that message into view on the chat page.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
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
PREVIEW = 28  # characters of a largest message's start: its button stays on one line in the meter's column


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
            name=LABELS[part],
            y=names,
            x=values,
            orientation="h",
            marker_color=COLOURS[part],
            hovertext=[_hover(part, c.tokens(part), c) for _, c in rows],
            hoverinfo="text",
        )
    fig.update_layout(
        barmode="stack",
        height=height or 60 + 34 * len(rows),
        margin={"t": 4, "b": 4, "l": 4, "r": 12},
        showlegend=False,  # the legend is drawn beside the chart (`legend`): plotly's own crowds a narrow column
        xaxis={"title": None, "tickformat": ","},
        yaxis={"autorange": "reversed", "showticklabels": len(rows) > 1},
        hoverlabel={"align": "left"},
    )
    return fig


def shares(composition: Composition, parts: Sequence[Part], whole: int) -> list[tuple[Part, int, float]]:
    """The parts that have tokens, in order, each with its tokens and its share of `whole` (0 of nothing)."""
    counted = [(part, composition.tokens(part)) for part in parts]
    return [(part, tokens, tokens / whole if whole else 0.0) for part, tokens in counted if tokens > 0]


def bar_html(composition: Composition, parts: Sequence[Part] = PARTS) -> str:
    """One composition as one bar of HTML: each part a block as wide as its share of the window, its
    numbers and meaning on hover, and the scale under it. The chat draws this on every page load and
    rerun: as a plotly chart it loaded plotly.js into every new tab and spent 0.4 s of the browser's
    JavaScript drawing one bar (bench/RESULTS.md, section 13). The labels and numbers are the app's own."""
    total = sum(composition.tokens(part) for part in parts) or 1
    blocks = []
    for part, tokens, share in shares(composition, parts, composition.window):
        of_window = f"{share:.1%}" if share >= 0.001 else "<0.1%"
        hover = escape(f"{LABELS[part]}: {tokens:,} tokens ({of_window} of the window). {EXPLANATIONS[part]}")
        blocks.append(
            f'<div data-part="{part}" data-tokens="{tokens}" title="{hover}" style="flex:{tokens} 0 0;'
            f'min-width:1px;background:{COLOURS[part]}"></div>'
        )
    return (
        '<div class="composition-bar" style="font-size:0.75rem;color:#666">'
        '<div style="display:flex;height:1.4rem;border:1px solid #ccc;border-radius:3px;overflow:hidden">'
        f"{''.join(blocks)}</div>"
        f'<div style="display:flex;justify-content:space-between"><span>0</span><span>{total:,} tokens</span></div>'
        "</div>"
    )


def legend(composition: Composition | None, parts: Sequence[Part] = PARTS, present: set[Part] | None = None) -> None:
    """The parts' colours and names (with their tokens and share when one composition is shown); each
    name explains itself on hover. The labels and numbers are the app's own: nothing a user typed."""
    items = []
    for part in parts:
        tokens = composition.tokens(part) if composition is not None else None
        if (tokens is not None and tokens <= 0) or (present is not None and part not in present):
            continue
        figure = ""
        if composition is not None and tokens is not None:
            share = tokens / composition.window if composition.window else 0
            figure = f" {tokens:,} ({share:.0%})" if share >= 0.005 else f" {tokens:,} (<1%)"
        items.append(
            f'<span title="{EXPLANATIONS[part]}" style="white-space:nowrap;margin-right:0.9em;cursor:help">'
            f'<span style="display:inline-block;width:0.8em;height:0.8em;background:{COLOURS[part]};'
            f'border:1px solid #999;margin-right:0.3em;vertical-align:-0.05em"></span>{LABELS[part]}'
            f'<span style="color:#666">{figure}</span></span>'
        )
    st.html(f'<div style="font-size:0.85rem;line-height:1.7">{"".join(items)}</div>')


def _focus(message_id: str) -> None:
    """A contributor's click: the page that holds the message is drawn, and the message is scrolled to."""
    history = state.history()
    index = next((i for i, m in enumerate(history) if m.id == message_id), None)
    if index is not None:
        size = state.whole(state.PAGE_SIZE)
        pages = page_count(len(history), size)
        # Pages count from the newest (0): the message's page is how many full pages lie after it.
        state.put(state.HISTORY_PAGE, 0 if pages == 1 else (len(history) - 1 - index) // size)
    state.put(state.FOCUS_MESSAGE, message_id)


_SCROLL_JS = """
export default function (component) {
  const { data } = component;
  // The history is drawn after the meter in the same rerun, and a loaded machine takes seconds: look
  // for the message for up to 30 s; once found, bring it to the middle again while the rest of the
  // page still arrives and moves it.
  const started = Date.now();
  let found = null;
  let timer = null;
  const step = () => {
    const row = document.querySelector(data.selector);
    if (row) {
      const message = row.closest('[data-testid="stChatMessage"]') || row;
      if (!found) {
        message.style.outline = "3px solid #e45756";
        message.style.outlineOffset = "2px";
        setTimeout(() => { message.style.outline = ""; }, 3000);
        found = Date.now();
      }
      row.scrollIntoView({ block: "center" });  // the row with its controls: a long message is taller than the screen
    }
    const more = found ? Date.now() - found < 2000 : Date.now() - started < 30000;
    timer = more ? setTimeout(step, 150) : null;
  };
  step();
  return () => clearTimeout(timer);
}
"""

_scroll = st.components.v2.component("context_lab_scroll_to_message", js=_SCROLL_JS, isolate_styles=False)


def chat_bar(request: Request, settings: Settings) -> None:
    """The chat meter's bar and its largest messages, each a button that goes to the message."""
    composition = composition_of(request, settings)
    with st.container(key="composition"):
        st.markdown("**What fills the next call**")
        st.html(bar_html(composition))
        legend(composition)
        st.caption(_summary_line(composition))
        largest = [c for c in composition.largest(LARGEST + 2) if c.message_id in _history_ids()][:LARGEST]
        if largest:
            st.caption("Largest messages in this call (click one to see it in the conversation):")
            st.html(_BUTTON_STYLE)
            for contributor in largest:
                st.button(
                    f"{contributor.tokens:,} tokens · {LABELS[contributor.part]} · "
                    f"{inert_inline(contributor.preview, limit=PREVIEW) or '(empty)'}",
                    key=f"contributor_{contributor.message_id}",
                    on_click=_focus,
                    args=(contributor.message_id,),
                    type="tertiary",
                    help=f"Show this {contributor.role} message in the conversation",
                )
    focused = state.pop_of(state.FOCUS_MESSAGE, str)
    if focused:
        _scroll(key=f"scroll_{focused}", data={"selector": f".st-key-msgrow_{focused}"}, width="content")


# The largest messages read as a list: each button's text starts at the left, as lines of a list do.
_BUTTON_STYLE = """<style>
.st-key-composition .stButton button { justify-content: flex-start; text-align: left; min-height: 0; }
.st-key-composition .stButton button p { text-align: left; }
</style>"""


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
    legend(None, present={part for _, c in rows for part in PARTS if c.tokens(part) > 0})


def turn_bars(rows: Sequence[tuple[int, Composition]], strategy_label: str) -> None:
    """The Cost timeline: each turn's prompt by part (no reserve, no free space: the turns' sizes are compared)."""
    if not rows:
        return
    st.markdown(f"**What each turn's call carries ({inert_inline(strategy_label)})**")
    st.plotly_chart(
        figure([(f"Turn {turn}", c) for turn, c in rows], parts=PROMPT_PARTS, height=120 + 18 * len(rows)),
        width="stretch",
        key="timeline_composition",
        config={"displayModeBar": False},
    )
    legend(None, PROMPT_PARTS, present={part for _, c in rows for part in PROMPT_PARTS if c.tokens(part) > 0})


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
