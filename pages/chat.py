"""Chat: the history the client keeps, what of it is sent, and what the call costs — before sending.

The page lays out the chat and the next call's meter; ui/chat/ holds its glue: `calls` (send, retry,
regenerate, stream, stop, the finished reply) and `history` (the messages with their controls)."""

from __future__ import annotations

import streamlit as st

from lib.context.display import inert_markdown
from lib.context.request import Request
from lib.context.strategies import STRATEGY_LABELS, spec_of
from ui import agent_example, composition, demo_conversations, state, tools_panel
from ui.chat import calls
from ui.chat.history import ROLES, add_by_hand, history, include_all, include_last_turns
from ui.composer import draft_sync, page_style
from ui.glossary import strategy_help
from ui.import_context import context_exchange
from ui.meter import cache_meter, last_call_report, meter, money, payload_preview
from ui.planning import DRAFT_ID, next_request
from ui.settings import Settings, page_setup
from ui.summary import made_summary, make_summary, summary_plan


def _want_summary() -> None:
    state.put(state.SUMMARY_WANTED, True)


# --- rendering ---------------------------------------------------------------------------------


def _system_prompt_editor() -> None:
    with st.container(border=True):
        st.toggle("Send the system prompt", key=state.SYSTEM_INCLUDED)
        st.text_area("System prompt", key=state.SYSTEM_TEXT, height=80)


def _strategy_picker() -> None:
    cols = st.columns([2, 1], vertical_alignment="bottom")
    cols[0].selectbox(
        "Context strategy",
        list(STRATEGY_LABELS),
        format_func=STRATEGY_LABELS.__getitem__,
        key=state.STRATEGY_KIND,
        help=strategy_help() + "\n\nPinned messages (the pin on a message) and the system prompt are always kept.",
    )
    kind = state.strategy_kind()
    if kind != "manual":
        st.caption("The strategy decides what each call carries; the *In context* toggles apply under Manual.")
    for parameter in spec_of(kind).parameters:
        cols[1].number_input(
            parameter.label,
            parameter.minimum,
            parameter.maximum,
            step=parameter.step,
            key=state.strategy_key(parameter),
        )


def _summary_box(request: Request, settings: Settings) -> None:
    """The summarising strategy: what its summary call costs before it is made, or the summary sent."""
    if request.strategy.kind != "summarise" or not request.to_summarise:
        return
    made = made_summary(request.to_summarise, settings)
    if made is not None:
        st.info(
            f"{len(request.to_summarise):,} older messages are sent as this summary (made in this session; "
            f"{made.usage.prompt_tokens or 0:,} prompt + {made.usage.completion_tokens or 0:,} completion tokens): "
            + inert_markdown(made.text)
        )
        return
    plan = summary_plan(request.to_summarise, settings)
    estimate = "" if plan.count.exact else " (estimate)"
    with st.container(border=True):
        st.markdown(
            f"**{len(request.to_summarise):,} older messages are to be summarised** before the next call can be sent. "
            f"The summary is a call of its own: {plan.prompt_tokens:,} prompt tokens{estimate}, at most "
            f"{plan.max_tokens:,} completion tokens, input {money(plan.input_cost)}. It is made when you ask, "
            "logged in the run log, and reused until one of those messages changes."
        )
        st.button("Make the summary", icon=":material/summarize:", on_click=_want_summary, key="make_summary")
    if state.pop(state.SUMMARY_WANTED):
        with st.spinner("Summarising the older messages…"):
            error = make_summary(request.to_summarise, settings)
        if error:
            state.flash("error", error)
        st.rerun()


def _bulk_actions() -> None:
    # Folded: four controls a newcomer does not need before the per-message toggles make sense.
    cols = st.expander("Include or exclude in bulk").columns([1, 1, 1, 1.5], vertical_alignment="bottom")
    cols[0].button("Include all", on_click=include_all, args=(True,), width="stretch")
    cols[1].button("Exclude all", on_click=include_all, args=(False,), width="stretch")
    cols[2].number_input("Last N turns", 0, 10_000, key=state.LAST_TURNS)
    cols[3].button("Keep last N turns", on_click=include_last_turns, width="stretch")


def _flash() -> None:
    message = state.note(state.FLASH)
    if message:
        kind, text = message
        getattr(st, kind)(inert_markdown(text))  # errors carry a server's words


def _next_call_note(request: Request) -> None:
    """What the request below is, when it is not simply the draft as the next question."""
    if request.question is not None:
        if request.question.role == "tool":
            st.caption("Your tool results end this request: *Get an answer* under the last one sends exactly this.")
        elif request.question.id != DRAFT_ID:
            st.caption("Your last message is unanswered: this is what its Retry sends.")
        return
    history = state.history()
    last = history[-1] if history else None
    if last is not None and last.role == "user":
        st.info(
            "**No new message.** This request ends with your last message, which has no answer yet: "
            "*Get an answer* under it sends exactly this. Or type a new message below."
        )
        return
    ends = {None: "the system prompt", "assistant": "the last reply", "system": "a system message"}
    ending = ends.get(last.role if last else None, "a message")
    st.info(
        f"**No question yet.** This request ends with {ending}: a call needs a new "
        "message at its end. Type one below; the meter counts it as you type."
    )


BUSY_NOTE = "A reply is on its way: Send (and Ctrl+Enter) wait until it ends or you stop it. The draft stays here."


def _composer(settings: Settings) -> None:
    st.text_area(
        "Your message", key=state.DRAFT, height=100, placeholder="Ask something… (Ctrl+Enter sends; Enter: new line)"
    )
    busy = calls.in_flight() is not None
    row = st.container(horizontal=True, vertical_alignment="center", gap="small", key="composer_row")
    row.button(
        "Send",
        type="primary",
        key="send",
        on_click=calls.queue_send,
        args=(settings,),
        disabled=busy,
        shortcut="Ctrl+Enter",
        help="Send the request the meter shows (Ctrl+Enter, or Cmd+Enter on a Mac)",
    )
    # Adding by hand folded into one button (a popover): three controls on the first screen were one.
    by_hand = row.popover("Add without sending", icon=":material/playlist_add:", key="add_by_hand_open")
    by_hand.selectbox("Role of the message to add", ROLES, key=state.ADD_ROLE, format_func=str.capitalize)
    by_hand.button(
        "Add the draft with this role",
        key="add_by_hand",
        icon=":material/playlist_add:",
        on_click=add_by_hand,
        help="Adds the draft to the history with the role above, without calling the model: few-shot "
        "examples, or an answer written by hand.",
    )
    with row:
        draft_sync(state.DRAFT)
    if busy:  # the disabled button takes no shortcut either: say why nothing happens
        st.caption(BUSY_NOTE)


def render(settings: Settings) -> None:
    page_style()
    calls.start_pending(settings)  # a call planned but not started yet (Send and Retry start theirs at once)
    calls.attach()
    st.title("Context Lab")
    st.caption(
        "The Chat Completions API remembers nothing: every call carries the whole context. "
        "Choose what is sent, and see its size and cost before you send it."
    )
    draft = state.draft()
    request = next_request(settings, draft)
    state.put(state.SHOWN_BODY, request.plan.body)
    context_exchange(settings, request)
    # Two keyed containers side by side rather than st.columns: ui/composer.py sizes them and keeps the
    # meter's in view as the chat scrolls, by their own classes (a rule matching the column *around*
    # one, with :has(), made the browser restyle the page on every change: seconds per click).
    layout = st.container(horizontal=True, gap="medium", key="chat_layout")
    chat_column = layout.container(key="chat_column")
    with layout.container(key="next_call"):
        st.subheader("Next call")
        with st.container():  # always drawn, empty or not: the preview below keeps its place (and stays open)
            _next_call_note(request)
        with st.container():  # the meters draw more or fewer lines as the call changes; the preview stays put
            meter(request.plan)
            composition.chat_bar(request, settings)
            cache_meter(settings, request)
        tools_panel.tools_editor(request.plan)  # part of every call, beside what it costs
        preview = st.expander("Payload preview (exactly what is sent)", key=state.PREVIEW_OPEN, on_change="rerun")
        if preview.open:  # drawn only while open: the body three times over (JSON, curl, Python) per rerun
            with preview:  # made every click wait seconds on a long history (bench/RESULTS.md)
                payload_preview(request.plan, settings.provider)
        last = state.last_call()
        if last is not None:
            st.subheader("Last call")
            last_call_report(last)
    with chat_column:
        _system_prompt_editor()
        if not state.history():
            demo_conversations.offer()  # the demos measured on the embedded model (ui/demo_conversations.py)
            agent_example.offer()  # a built-in conversation with tool rounds (ui/agent_example.py)
        if state.history():
            _strategy_picker()
            if state.strategy_kind() == "manual":
                _bulk_actions()
            _summary_box(request, settings)
        history(request, settings)
        reply_slot = st.container()  # above the composer, filled last: see below
        _flash()
        _composer(settings)
        tools_panel.add_tool_messages()
        # The reply streams last, when the composer is already drawn (empty after a Send): a click
        # during the stream then cannot bring the sent question back into the input.
        with reply_slot:
            calls.stream_reply(settings)


render(page_setup())
