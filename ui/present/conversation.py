"""The presenter's conversation: each message with one big in/out toggle (the chat's own choice, in the
session the chat reads), the two big numbers of the next call, its composition bar, and Ask.

Nothing here plans or sends on its own: the numbers are the one request builder's (ui/planning.next_request,
what the chat's meter shows), a toggle changes the history the chat keeps (as the chat's toggle does),
and Ask is the chat's Send (ui/chat/calls.queue_send): whichever backend the settings pick answers it."""

from __future__ import annotations

import streamlit as st

from lib.analysis.presenting import cost_text, priced
from lib.context import tool_pairs
from lib.context.display import inert_inline, inert_markdown
from lib.context.request import Request, captioned
from lib.context.strategies import STRATEGY_LABELS
from ui import composition, state, tools_panel
from ui.chat import calls
from ui.present import price
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
                row.toggle("In context", key=key, on_change=_set_included, args=(message.id,), disabled=not manual)
                verdict = (
                    '<span class="present-in">sent</span>'
                    if decision.kept
                    else '<span class="present-out">left out</span>'
                )
                row.html(f'<span class="present-role">{ROLE_WORDS.get(message.role, "Message")}</span> · {verdict}')
                tools_panel.message_body(message, True, {}, history)


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


def numbers(request: Request, settings: Settings) -> None:
    """Tokens sent and their cost at the picked hosted model's price, then the composition bar."""
    plan = request.plan
    priced_as = price.chosen()
    model = priced(plan.model, priced_as)
    cost = cost_text(model.input_cost(plan.prompt_tokens), model.name)
    label = "" if plan.count.exact else " (estimate)"
    with st.container(key="present_numbers"):
        tokens, money = st.columns(2)
        tokens.metric(
            f"Tokens sent{label}",
            f"{plan.prompt_tokens:,}",
            f"{len(plan.messages):,} messages",
            "off",
            delta_arrow="off",
            help="Everything this call carries: the API keeps nothing between calls.",
        )
        money.metric(
            "Cost of this call's input",
            cost.value,
            cost.detail,
            "off",
            delta_arrow="off",
            help="The prompt's tokens at the input price of the model named under it.",
        )
    bar(request, settings)


def bar(request: Request, settings: Settings) -> None:
    """The context's composition as one bar (the chat's, without its list of largest messages)."""
    made = composition.composition_of(request, settings)
    with st.container(key="present_bar"):
        st.plotly_chart(
            composition.figure([("Next call", made)], height=110),
            width="stretch",
            key="present_composition_chart",
            config={"displayModeBar": False, "staticPlot": True},
        )
        composition.legend(made)


def flash() -> None:
    message = state.note(state.FLASH)
    if message:
        kind, text = message
        getattr(st, kind)(inert_markdown(text))  # errors carry a server's words
