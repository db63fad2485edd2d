"""The presenter's conversation: each message with one big in/out toggle (the chat's own choice, in the
session the chat reads), the two big numbers of the next call, its composition bar, and Ask.

Nothing here plans or sends on its own: the numbers are the one request builder's (ui/planning.next_request,
what the chat's meter shows), a toggle changes the history the chat keeps (as the chat's toggle does),
and Ask is the chat's Send (ui/chat/calls.queue_send): whichever backend the settings pick answers it."""

from __future__ import annotations

import streamlit as st

from lib.analysis.presenting import CostText, cost_text, price_name, priced
from lib.context import tool_pairs
from lib.context.composition import EXPLANATIONS, LABELS, PROMPT_PARTS, Composition
from lib.context.display import inert_inline, inert_markdown
from lib.context.request import Request, captioned
from lib.context.strategies import STRATEGY_LABELS
from ui import composition, demos, state, tools_panel
from ui import price_as as price  # the shared *price as* (the chat meter's and Compare's)
from ui.chat import calls
from ui.glossary import explain
from ui.settings import Settings

ROLE_WORDS = {"user": "You", "assistant": "Model", "system": "System", "developer": "Developer", "tool": "Tool result"}


def toggle_key(message_id: str) -> str:
    """A message's big toggle. Not the chat's own key: a widget of another page under the chat's key
    would leave the chat's toggle drawn off when the chat page comes back."""
    return f"present_include_{message_id}"


def _set_included(message_id: str) -> None:
    """The toggle's callback: the history the chat keeps changes (a tool call carries its results along,
    as the chat's own toggle does)."""
    included = state.flag(toggle_key(message_id))
    state.set_history(tool_pairs.set_included(state.history(), message_id, included))


def _shown_request(request: Request) -> Request:
    """The call the toggles caption: the one the numbers show or, while a reply is arriving, the one sent."""
    call = calls.in_flight()
    pending = call.pending if call is not None else calls.pending()
    return pending.request if pending is not None else request


def messages(request: Request) -> None:
    """The conversation, each message with its big toggle and whether the next call sends it."""
    history = state.history()
    manual = state.strategy_kind() == "manual"
    if not manual:
        kind = state.strategy_kind()
        label = {str(k): v for k, v in STRATEGY_LABELS.items()}.get(kind, kind)
        st.caption(
            f"Strategy: {inert_inline(label)}: it decides what is sent; the toggles apply under Manual "
            "(set it on the chat page)."
        )
    if not history:
        st.info("No conversation yet. Load a demo conversation on the chat page, or ask a question below.")
    with st.container(key="present_conversation"):
        for decision in captioned(_shown_request(request), history):
            message = decision.message
            key = toggle_key(message.id)
            # Set on every run from the history the chat keeps (not seeded once): a choice made on the
            # chat page since shows here, and this toggle's own widget never holds a stale value.
            state.put(key, message.included)
            side = "in" if decision.kept else "out"
            with st.container(key=f"present_msg_{side}_{message.id}", border=True):
                row = st.container(horizontal=True, vertical_alignment="center", gap="medium")
                row.toggle(
                    "In context",
                    key=key,
                    on_change=_set_included,
                    args=(message.id,),
                    disabled=not manual,
                    label_visibility="collapsed",  # the words beside it say it: "sent" or "left out"
                )
                verdict = (
                    '<span class="present-in">sent</span>'
                    if decision.kept
                    else '<span class="present-out">left out</span>'
                )
                replayed = (
                    f' · <span class="present-replayed">{demos.REPLAYED_CAPTION}</span>'
                    if demos.replayed(message.id)
                    else ""
                )
                role = ROLE_WORDS.get(message.role, "Message")
                row.html(f'<span class="present-role">{role}</span> · {verdict}{replayed}')
                tools_panel.message_body(message, True, {}, history)
    _follow_new_messages(len(history))


_SCROLL_JS = """
export default function (component) {
  // New messages (a reply that just arrived) are at the bottom of the conversation's own scrolling box:
  // bring them into view once the box is drawn.
  let tries = 0;
  const step = () => {
    const box = document.querySelector(".st-key-present_conversation");
    if (box) { box.scrollTop = box.scrollHeight; }
    if (++tries < 10) { timer = setTimeout(step, 150); }
  };
  let timer = setTimeout(step, 50);
  return () => clearTimeout(timer);
}
"""

_scroll = st.components.v2.component("context_lab_present_scroll", js=_SCROLL_JS, isolate_styles=False)


def _follow_new_messages(count: int) -> None:
    """Scroll the box to the newest messages when there are more than on the last run (not on the page's
    first run: a presenter starts from the top of the story)."""
    seen = state.get(state.PRESENT_SEEN)
    state.put(state.PRESENT_SEEN, count)
    if isinstance(seen, int) and count > seen:
        _scroll(key=f"present_scroll_{count}", data={}, width="content")


def replay_line() -> None:
    """While a recorded demo answers: say so (the sidebar that says it is hidden), and the way back to live."""
    replay = demos.replaying()
    if replay is None:
        return
    row = st.container(horizontal=True, vertical_alignment="center", gap="medium", key="present_replay")
    row.caption(
        f"{demos.REPLAYED_CAPTION}: the recorded demo “{inert_inline(replay.title, limit=60)}” answers; "
        "nothing is sent.",
        width="content",
    )
    row.button("Switch to live", icon=":material/podcasts:", key="present_live", on_click=demos.switch_to_live)


def ask_row(settings: Settings) -> None:
    """The question (the chat's own draft: the numbers count it) and Ask, the chat's Send."""
    busy = calls.in_flight() is not None
    row = st.container(horizontal=True, vertical_alignment="bottom", gap="small", key="present_ask")
    row.text_input("Question", key=state.DRAFT, placeholder="Ask the model…", width="stretch")
    row.button(
        "Ask",
        type="primary",
        key="present_send",
        on_click=calls.queue_send,
        args=(settings,),
        disabled=busy,
        shortcut="Ctrl+Enter",
        help="Send this question with the context shown (Ctrl+Enter)",
    )
    demos.next_question_button(row)  # a recorded demo replayed: its next question (the sidebar is hidden here)


def numbers(request: Request, settings: Settings) -> None:
    """Tokens sent and their cost at the picked hosted model's price, then the composition bar."""
    plan = request.plan
    # As the chat meter prices it: a free model at the hosted model picked, a hosted one at its own prices.
    priced_as = price.chosen()
    model = priced(plan.model, priced_as)
    cost = cost_text(model.input_cost(plan.prompt_tokens), price_name(plan.model, priced_as))
    big_numbers(
        plan.prompt_tokens,
        "" if plan.count.exact else " (estimate)",
        f"{len(plan.messages):,} message{'s' if len(plan.messages) != 1 else ''}, every one sent again with each call",
        "Cost of this call's input",
        cost,
    )
    bar(request, settings)


def big_numbers(
    tokens: int, estimate: str, tokens_note: str, cost_label: str, cost: CostText, cost_term: str = "input_cost"
) -> None:
    """The two numbers a room reads: one above the other, each with its line in words under it (a
    metric's own delta line is cut short in a narrow column)."""
    with st.container(key="present_numbers"):
        st.metric(
            f"Tokens sent{estimate}",
            f"{tokens:,}",
            help=explain("prompt_tokens"),  # the glossary's words, as on the chat meter
        )
        st.caption(tokens_note)
        st.metric(cost_label, cost.value, help=f"{explain(cost_term)} {explain('price_as')}")
        st.caption(cost.detail)


def bar(request: Request, settings: Settings) -> None:
    """The next call's composition as one bar."""
    prompt_bar(composition.composition_of(request, settings), "present_composition_chart")


def prompt_bar(made: Composition, key: str) -> None:
    """What the prompt is made of, as one bar filled by its parts (against the whole window, a short
    prompt was a sliver a room could not see), each part's tokens under it, its share of the window in words."""
    figure = composition.figure([("Sent", made)], parts=PROMPT_PARTS, height=70)
    figure.update_xaxes(visible=False)  # the legend gives the numbers; the ticks were cut at projector size
    figure.update_layout(margin={"t": 0, "b": 0, "l": 0, "r": 0})
    with st.container(key="present_bar"):
        st.markdown("**What the call is made of**")
        st.plotly_chart(figure, width="stretch", key=key, config={"displayModeBar": False, "staticPlot": True})
        st.html(_legend(made))
        share = made.prompt_tokens / made.window if made.window else 0
        said = f"{share:.1%}" if share >= 0.001 else "under 0.1%"
        st.caption(f"{made.prompt_tokens:,} tokens: {said} of the model's {made.window:,}-token window")


def _legend(made: Composition) -> str:
    """Each part's colour, name and tokens (its share of the prompt, which the bar shows); the name explains
    itself on hover. The app's own labels and numbers only: nothing a user typed."""
    items = []
    for part, tokens, share in composition.shares(made, PROMPT_PARTS, made.prompt_tokens):
        items.append(
            f'<span class="present-part" title="{EXPLANATIONS[part]}"><span class="present-swatch" '
            f'style="background:{composition.COLOURS[part]}"></span>{LABELS[part]} <b>{tokens:,}</b> '
            f'<span class="present-share">({share:.0%})</span></span>'
        )
    return f'<div class="present-legend">{"".join(items)}</div>'


def flash() -> None:
    message = state.note(state.FLASH)
    if message:
        kind, text = message
        getattr(st, kind)(inert_markdown(text))  # errors carry a server's words
