"""Presenter view: the chat's session for a room. One switch hides the sidebar and the settings; the type
fills a projector; the conversation shows each message's in/out state as one big toggle, the next call as
two big numbers (tokens sent; cost at a hosted model's price) and one composition bar; a saved comparison
or experiment run steps one variant at a time (arrow keys). ui/present/ holds its glue."""

from __future__ import annotations

import streamlit as st

from ui import price_as as price  # the shared *price as* (the chat meter's and Compare's)
from ui import state
from ui.chat import calls
from ui.planning import next_request
from ui.present import conversation, steps, style
from ui.settings import Settings, page_setup

SHOWS = {"conversation": "Conversation", "steps": "Step through"}


def _top_row() -> None:
    state.default(state.PRESENTING, True)
    state.default(state.PRESENT_SHOW, "conversation")
    row = st.container(horizontal=True, vertical_alignment="center", gap="medium", key="present_top")
    row.segmented_control(
        "Show", list(SHOWS), format_func=SHOWS.__getitem__, key=state.PRESENT_SHOW, label_visibility="collapsed"
    )
    row.space("stretch")
    row.toggle(
        "Presenting",
        key=state.PRESENTING,
        help="On: the sidebar, the settings and the page list are hidden. Off: they come back.",
    )


def _settings_row() -> None:
    """What the presenter sets before the room looks: hidden with the rest while presenting."""
    row = st.container(horizontal=True, vertical_alignment="bottom", gap="medium", key="present_settings")
    price.picker(row.container(width=420))
    row.page_link("pages/chat.py", label="Back to the chat", icon=":material/chat:")


def _conversation(settings: Settings) -> None:
    request = next_request(settings, state.draft())
    state.put(state.SHOWN_BODY, request.plan.body)  # Ask compares what it sends with what was shown
    talk, figures = st.columns([3, 2], gap="large")
    with talk:
        conversation.replay_line()
        conversation.messages(request)
        reply = st.container()
        conversation.flash()
        conversation.ask_row(settings)
    with figures:
        conversation.numbers(request, settings)
    with reply:  # last, as on the chat page: the composer is drawn before the reply streams in
        calls.stream_reply(settings)


def render(settings: Settings) -> None:
    style.projector()
    calls.start_pending(settings)
    calls.attach()
    _top_row()
    presenting = state.flag(state.PRESENTING)
    if presenting:
        style.hide_controls()
    else:
        _settings_row()
    if state.text(state.PRESENT_SHOW) == "steps":
        steps.stepping()
    else:
        _conversation(settings)


render(page_setup())
