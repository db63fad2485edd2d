"""Chat: the history the client keeps, what of it is sent, and what the call costs — before sending."""

from __future__ import annotations

import streamlit as st

from lib import conversation as conv
from lib import retry
from lib.display import for_screen, inert_markdown
from lib.paging import DEFAULT_PAGE_SIZE, PAGE_SIZES, Page, page_of
from lib.payload import RequestPlan, blocking_reason
from lib.providers import CallOutcome, stream_chat
from lib.strategies import STRATEGY_LABELS, Decision
from ui import resources, sessions, state
from ui.meter import last_call_report, meter, payload_preview
from ui.planning import ChatPlan, current_plan
from ui.settings import Settings, page_setup

ALL_DRAWN_NOTE_FROM = 300  # messages: past this, drawing them all takes a noticeable part of a second

# --- callbacks: they change state only; the rerun that follows renders it -------------------


def _set_included(message_id: str) -> None:
    included = state.get(state.include_key(message_id))
    state.put(state.HISTORY, conv.update(state.history(), message_id, included=included))


def _save_edit(message_id: str) -> None:
    content = state.get(state.edit_key(message_id))
    state.put(state.HISTORY, conv.update(state.history(), message_id, content=content))


def _delete(message_id: str) -> None:
    state.put(state.HISTORY, conv.delete(state.history(), message_id))


def _toggle_pin(message_id: str) -> None:
    message = next(m for m in state.history() if m.id == message_id)
    state.put(state.HISTORY, conv.update(state.history(), message_id, pinned=not message.pinned))


def _include_all(included: bool) -> None:
    state.set_history(conv.include_all(state.history(), included))


def _include_last_turns() -> None:
    state.set_history(conv.include_last_turns(state.history(), int(state.get(state.LAST_TURNS))))


def _queue_send(settings: Settings) -> None:
    draft = state.get(state.DRAFT) or ""
    reason = blocking_reason(_plan(settings, draft), draft)
    if reason:
        state.flash("error", reason)
        return
    history = conv.append(state.history(), "user", draft)
    state.set_history(history)
    state.put(state.DRAFT, "")
    state.put(state.PENDING, history[-1].id)
    state.put(state.HISTORY_PAGE, 0)  # the reply streams in below the newest messages


def _go_to_page(number: int) -> None:
    state.put(state.HISTORY_PAGE, number)


def _retry(message_id: str) -> None:
    state.put(state.PENDING, message_id)


# --- planning ----------------------------------------------------------------------------------


def _plan(settings: Settings, draft: str = "", upto: str | None = None) -> RequestPlan:
    """The request for the current selection (plus the draft), or up to message `upto` for a retry."""
    return current_plan(settings, draft, upto).plan


# --- rendering ---------------------------------------------------------------------------------


def _system_prompt_editor() -> None:
    with st.container(border=True):
        st.toggle("Send the system prompt", key=state.SYSTEM_INCLUDED)
        st.text_area("System prompt", key=state.SYSTEM_TEXT, height=80)


def _strategy_picker() -> None:
    cols = st.columns([2, 1], vertical_alignment="bottom")
    cols[0].selectbox(
        "Context strategy", list(STRATEGY_LABELS), format_func=STRATEGY_LABELS.__getitem__, key=state.STRATEGY_KIND,
        help="Which past messages the next call carries. Pinned messages and the system prompt are always kept.",
    )  # fmt: skip
    kind = state.get(state.STRATEGY_KIND)
    if kind in ("last_turns", "summarise"):
        cols[1].number_input("Turns kept", 0, 10_000, key=state.STRATEGY_TURNS)
    elif kind == "token_budget":
        cols[1].number_input("Budget (tokens)", 0, 10_000_000, step=64, key=state.STRATEGY_BUDGET)


def _summary_note(chat_plan: ChatPlan) -> None:
    summary = chat_plan.summary
    if summary is None:
        return
    if summary.error:
        st.warning(f"{summary.error} The older turns are left out without a summary.")
        return
    st.info(
        f"Older turns are sent as a summary (cached until they change; the summary call itself took "
        f"{summary.prompt_tokens or 0:,} prompt + {summary.completion_tokens or 0:,} completion tokens): "
        f"{summary.text}"
    )


def _bulk_actions() -> None:
    cols = st.columns([1, 1, 1, 1.5], vertical_alignment="bottom")
    cols[0].button("Include all", on_click=_include_all, args=(True,), width="stretch")
    cols[1].button("Exclude all", on_click=_include_all, args=(False,), width="stretch")
    cols[2].number_input("Last N turns", 0, 10_000, key=state.LAST_TURNS)
    cols[3].button("Keep last N turns", on_click=_include_last_turns, width="stretch")


def _message_controls(decision: Decision, tokens: int, manual: bool) -> None:
    message = decision.message
    key = state.include_key(message.id)
    state.default(key, message.included)
    # One horizontal row, not st.columns: 5 columns are 6 more elements per message, and Streamlit's
    # cost is per element (bench/RESULTS.md).
    row = st.container(horizontal=True, vertical_alignment="center", gap="small")
    row.toggle(
        "Send", key=key, on_change=_set_included, args=(message.id,), disabled=not manual,
        help=None if manual else "The context strategy decides: pick Manual to choose by hand.",
    )  # fmt: skip
    sent = f"{tokens:,} tokens" + ("" if decision.kept else " · not sent")
    reason = "" if manual and not message.pinned else f" · {decision.reason}"
    status = {"unanswered": " · ⚠ unanswered", "incomplete": " · ⚠ incomplete"}.get(message.status, "")
    row.caption(sent + reason + status, width="stretch")
    row.button(
        "", icon=":material/keep:" if not message.pinned else ":material/keep_off:", key=f"pin_{message.id}",
        help="Unpin" if message.pinned else "Pin: every strategy keeps it", on_click=_toggle_pin, args=(message.id,),
        type="primary" if message.pinned else "secondary",
    )  # fmt: skip
    editor = row.popover(
        "", icon=":material/edit:", help="Edit this message, or fork from it", key=state.editor_key(message.id),
        on_change="rerun",
    )  # fmt: skip
    # Drawn only while open: every text area scans the whole session state, so one per message
    # made a rerun quadratic in the history's length (bench/RESULTS.md).
    if editor.open:
        with editor:
            state.default(state.edit_key(message.id), message.content)
            st.text_area("Content", key=state.edit_key(message.id), height=160)
            st.button("Save", key=f"save_{message.id}", on_click=_save_edit, args=(message.id,))
            st.button(
                "Fork from here", key=f"fork_{message.id}", icon=":material/call_split:", on_click=sessions.fork_at,
                args=(message.id,), help="A new session holding the history up to this message",
            )  # fmt: skip
    row.button(
        "", icon=":material/delete:", key=f"delete_{message.id}", help="Delete this message",
        on_click=_delete, args=(message.id,),
    )  # fmt: skip


def _history(chat_plan: ChatPlan, settings: Settings) -> None:
    counter = settings.counter()
    manual = state.get(state.STRATEGY_KIND) == "manual"
    page = _page(chat_plan)
    if page.count > 1 or len(chat_plan.decisions) > PAGE_SIZES[0]:
        _pager(page, chat_plan)
    for decision in chat_plan.decisions[page.start : page.end]:
        message = decision.message
        with st.chat_message(message.role):
            tokens = chat_plan.plan.tokens_of(message.id)
            if tokens is None:
                tokens = counter.count([message.as_api()]).per_message[0]
            _message_controls(decision, tokens, manual)
            if decision.kept:
                st.markdown(inert_markdown(message.content))
            else:
                st.caption(inert_markdown(message.content))
            if message.status == "unanswered" and message.id != state.get(state.PENDING):
                st.button("Retry", key=f"retry_{message.id}", on_click=_retry, args=(message.id,))
    if not page.is_newest:
        st.button(
            "Newest messages", icon=":material/last_page:", key="page_newest_below", on_click=_go_to_page, args=(0,)
        )


def _page(chat_plan: ChatPlan) -> Page:
    return page_of(len(chat_plan.decisions), int(state.get(state.PAGE_SIZE)), int(state.get(state.HISTORY_PAGE)))


def _pager(page: Page, chat_plan: ChatPlan) -> None:
    """Which page of the history is drawn, the buttons to page through it, and what the other
    pages hold: their messages are not drawn, but they are counted and sent all the same."""
    cols = st.columns([2.2, 0.45, 0.45, 0.45, 0.45, 1.3], vertical_alignment="bottom")
    cols[0].markdown(f"**{page.label()}**")
    buttons = (
        ("first_page", "Oldest messages", page.count - 1, page.is_oldest),
        ("chevron_left", "Older messages", page.number + 1, page.is_oldest),
        ("chevron_right", "Newer messages", page.number - 1, page.is_newest),
        ("last_page", "Newest messages", 0, page.is_newest),
    )
    for col, (icon, label, number, disabled) in zip(cols[1:5], buttons, strict=True):
        col.button(
            "", icon=f":material/{icon}:", help=label, key=f"page_{icon}", disabled=disabled, on_click=_go_to_page,
            args=(number,), width="stretch",
        )  # fmt: skip
    cols[5].selectbox(
        "Messages per page", PAGE_SIZES, key=state.PAGE_SIZE, on_change=_go_to_page, args=(0,),
        format_func=lambda size: f"{size}" if size else "All",
    )  # fmt: skip
    if page.hidden:
        st.caption(_hidden_note(page, chat_plan))
    elif page.total > ALL_DRAWN_NOTE_FROM:
        st.caption(
            f"All {page.total:,} messages are drawn, each with its controls: every click redraws them all. "
            f"Pages of {DEFAULT_PAGE_SIZE} keep the page quick."
        )


def _hidden_note(page: Page, chat_plan: ChatPlan) -> str:
    others = chat_plan.decisions[: page.start] + chat_plan.decisions[page.end :]
    sent = [d.message.id for d in others if d.kept]
    tokens = sum(chat_plan.plan.tokens_of(message_id) or 0 for message_id in sent)
    return (
        f"{page.hidden:,} messages on other pages are not drawn here; the context strategy still sees "
        f"them: {len(sent):,} of them are in the next call ({tokens:,} tokens)."
    )


def _send_pending(settings: Settings) -> None:
    """Stream the reply to the pending user message; keep everything if the call fails."""
    message_id = state.pop(state.PENDING)
    if message_id is None or not any(m.id == message_id for m in state.history()):
        return
    plan = _plan(settings, upto=message_id)
    call = state.LastCall(plan.prompt_tokens, plan.count.exact, plan.body_bytes, plan.model.name)
    with st.chat_message("assistant"):
        call.outcome, retries = _answer(settings, plan)
    outcome: CallOutcome = call.outcome
    state.put(state.LAST_CALL, call)
    sessions.log_call(settings, plan, outcome)
    _record_reply(message_id, outcome, _call_note(outcome, retries, plan))
    st.rerun()


def _answer(settings: Settings, plan: RequestPlan) -> tuple[CallOutcome, list[str]]:
    """Stream the reply. A rate limit or a server fault is retried a few times, every wait shown;
    returns the outcome of the last attempt and the notices of the retries."""
    missing = settings.provider.missing()
    if missing:
        return CallOutcome(error=f"Set {missing} in the sidebar, then retry."), []
    client, policy, retries = resources.client(settings.provider), retry.DEFAULT_POLICY, []
    while True:
        outcome = CallOutcome()
        st.write_stream(for_screen(stream_chat(client, plan.body, outcome, settings.provider.secrets)))
        wait = policy.next_wait(outcome, len(retries) + 1)
        if wait is None:
            return outcome, retries
        retries.append(retry.notice(outcome, wait, len(retries) + 2, policy.attempts))
        st.info(retries[-1])
        retry.wait(wait)


def _call_note(outcome: CallOutcome, retries: list[str], plan: RequestPlan) -> str:
    """What the user should know about a call beyond its reply: the retries, a reply cut at the limit."""
    notes = [retry.attempts_note(retries, outcome.ok)]
    if outcome.truncated:
        notes.append(
            f'The reply stopped at the {plan.max_tokens:,}-token limit (finish_reason "length"): raise '
            "Max reply tokens in the sidebar for a longer one."
        )
    return " ".join(note for note in notes if note)


def _record_reply(message_id: str, outcome: CallOutcome, note: str = "") -> None:
    history = state.history()
    position = next(i for i, m in enumerate(history) if m.id == message_id) + 1
    # A retry's reply goes after the incomplete ones an earlier attempt left, which are kept.
    while position < len(history) and history[position].status == "incomplete":
        position += 1
    if outcome.ok:
        reply = conv.Message("assistant", outcome.text)
        history = conv.update(history, message_id, status="ok")
        if note:
            state.flash("warning" if outcome.truncated else "info", note)
    else:
        state.flash("error", f"{outcome.error or 'The call failed.'} {note}".strip())
        history = conv.update(history, message_id, status="unanswered")
        if not outcome.text:
            state.put(state.HISTORY, history)
            return
        reply = conv.Message("assistant", outcome.text, included=False, status="incomplete")
    state.put(state.HISTORY, [*history[:position], reply, *history[position:]])


def _flash() -> None:
    message = state.pop(state.FLASH)
    if message:
        kind, text = message
        getattr(st, kind)(text)


def render(settings: Settings) -> None:
    st.title("Context Lab")
    st.caption(
        "The Chat Completions API remembers nothing: every call carries the whole context. "
        "Choose what is sent, and see its size and cost before you send it."
    )
    draft = state.get(state.DRAFT) or ""
    chat_plan = current_plan(settings, draft)
    chat_column, meter_column = st.columns([3, 2], gap="large")
    with meter_column:
        st.subheader("Next call")
        meter(chat_plan.plan)
        with st.expander("Payload preview (exactly what is sent)"):
            payload_preview(chat_plan.plan, settings.provider)
        last = state.get(state.LAST_CALL)
        if last is not None:
            st.subheader("Last call")
            last_call_report(last)
    with chat_column:
        _system_prompt_editor()
        if state.history():
            _strategy_picker()
            if state.get(state.STRATEGY_KIND) == "manual":
                _bulk_actions()
            _summary_note(chat_plan)
        _history(chat_plan, settings)
        _send_pending(settings)
        _flash()
        st.text_area("Your message", key=state.DRAFT, height=100, placeholder="Ask something…")
        st.button("Send", type="primary", on_click=_queue_send, args=(settings,))


render(page_setup())
