"""The chat's history as the page draws it: each message with its controls (in context, pin, edit,
delete), its editor, Undo of a delete, what can be done next with it (retry, answer, regenerate), and the
pages of a long history. The callbacks change state only; the rerun that follows draws it."""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from lib.context import conversation as conv
from lib.context import tool_pairs
from lib.context.display import inert_inline, inert_markdown
from lib.context.paging import DEFAULT_PAGE_SIZE, PAGE_SIZES, Page, page_of
from lib.context.payload import RequestPlan
from lib.context.request import Request, captioned
from lib.context.strategies import Decision
from ui import demos, sessions, state, tools_panel
from ui.attribution import hooks as attribution
from ui.chat import calls
from ui.settings import Settings

ALL_DRAWN_NOTE_FROM = 300  # messages: past this, drawing them all takes a noticeable part of a second
ROLES: tuple[conv.Role, ...] = ("user", "assistant", "system", "developer")
UNDO_PREVIEW_CHARS = 40


@dataclass(frozen=True)
class Deleted:
    """The last message deleted, with what Undo needs to put it back, in the session it left."""

    removed: conv.Removed
    session_id: str


def _role(key: str) -> conv.Role | None:
    """A role picker's value."""
    value = state.optional_text(key)
    return next((role for role in ROLES if role == value), None)


# --- callbacks: they change state only; the rerun that follows renders it -------------------


def _set_included(message_id: str) -> None:
    included = state.flag(state.include_key(message_id))
    # A tool call's toggle carries the results that answer it (the API refuses either alone).
    state.set_history(tool_pairs.set_included(state.history(), message_id, included))


def _save_edit(message_id: str) -> None:
    content, role = state.text(state.edit_key(message_id)), _role(state.role_key(message_id))
    edited = conv.edit(state.history(), message_id, content=content, role=role)
    history, problem = tools_panel.saved_fields(edited, message_id)
    if problem:  # the editor stays open with everything typed in it
        state.flash("error", problem)
        return
    state.put(state.HISTORY, history)
    state.put(state.editor_key(message_id), False)  # closes the editor


def _toggle_editor(message_id: str) -> None:
    state.put(state.editor_key(message_id), not state.flag(state.editor_key(message_id)))


def _delete(message_id: str) -> None:
    """Delete at once, and offer Undo (kept until the next delete or send)."""
    history, removed = conv.remove(state.history(), message_id)
    if removed is None:
        return
    state.put(state.HISTORY, history)
    state.put(state.UNDO, Deleted(removed, sessions.current_id()))


def _undo_delete() -> None:
    deleted = state.pop_of(state.UNDO, Deleted)
    if deleted is not None and deleted.session_id == sessions.current_id():
        state.set_history(conv.put_back(state.history(), deleted.removed))


def add_by_hand() -> None:
    """The draft joins the history as a message of the chosen role; no model is called."""
    draft = state.draft()
    if not draft.strip():
        state.flash("error", "Type the message to add first: it joins the history as it is, with the role beside it.")
        return
    role = _role(state.ADD_ROLE) or "user"
    state.put(state.HISTORY, [*state.history(), conv.Message(role, draft)])
    state.put(state.DRAFT, "")
    state.pop(state.UNDO)
    state.put(state.HISTORY_PAGE, 0)


def _toggle_pin(message_id: str) -> None:
    message = next(m for m in state.history() if m.id == message_id)
    state.put(state.HISTORY, conv.update(state.history(), message_id, pinned=not message.pinned))


def include_all(included: bool) -> None:
    state.set_history(conv.include_all(state.history(), included))


def include_last_turns() -> None:
    state.set_history(conv.include_last_turns(state.history(), state.whole(state.LAST_TURNS)))


def _go_to_page(number: int) -> None:
    state.put(state.HISTORY_PAGE, number)


# --- drawing --------------------------------------------------------------------------------------


def _message_controls(decision: Decision, tokens: int, manual: bool, in_flight: str | None) -> None:
    message = decision.message
    key = state.include_key(message.id)
    state.default(key, message.included)
    # One horizontal row, not st.columns: 5 columns are 6 more elements per message, and Streamlit's
    # cost is per element (bench/RESULTS.md). Its key lets ui/composer.py keep it on one line.
    row = st.container(horizontal=True, vertical_alignment="center", gap="small", key=f"msgrow_{message.id}")
    row.toggle("In context", key=key, on_change=_set_included, args=(message.id,), disabled=not manual)
    sent = f"{tokens:,} tokens" + ("" if decision.kept else " · not sent")
    # Under Manual the toggle says it all, unless a tool round's pairing overrode it. Inert: a cleared
    # tool result's reason quotes the tool's name and arguments (a model wrote them).
    plain = manual and not message.pinned and decision.kept == message.included
    reason = "" if plain else f" · {inert_inline(decision.reason)}"
    status = {"unanswered": " · ⚠ unanswered", "incomplete": " · ⚠ incomplete"}.get(message.status, "")
    if message.id == in_flight:
        status = " · being answered"
    edited = " · edited" if message.edited else ""
    replayed = f" · {demos.REPLAYED_CAPTION}" if demos.replayed(message.id) else ""
    row.caption(sent + reason + status + edited + replayed, width="stretch")
    # Icon buttons with names (hidden on screen by ui/composer.py): a screen reader says "Pin", not "keep icon".
    # A tooltip only on a pinned message's pin: each tooltip is a component of its own in the browser, and
    # one on every button of every drawn message added a tenth of a second to each click (bench/RESULTS.md).
    row.button(
        "Pinned" if message.pinned else "Pin",
        icon=":material/keep:",
        key=f"pin_{message.id}",
        help="Pinned: every strategy sends it. Click to unpin." if message.pinned else None,
        on_click=_toggle_pin,
        args=(message.id,),
        type="primary" if message.pinned else "secondary",
    )
    # The editor opens in the message itself: a popover per message was a floating overlay per
    # message in the browser, paid on every click (bench/RESULTS.md).
    editing = state.flag(state.editor_key(message.id))
    row.button(
        "Edit",
        icon=":material/edit:",
        key=f"open_editor_{message.id}",
        on_click=_toggle_editor,
        args=(message.id,),
        type="primary" if editing else "secondary",
    )
    row.button("Delete", icon=":material/delete:", key=f"delete_{message.id}", on_click=_delete, args=(message.id,))


def _editor(message: conv.Message, settings: Settings) -> None:
    """A message's text and role, editable in place, and what can be done from it. Drawn only while
    open: every text area scans the whole session state, so one per message made a rerun quadratic in
    the history's length (bench/RESULTS.md)."""
    state.default(state.edit_key(message.id), message.content)
    state.default(state.role_key(message.id), message.role)
    with st.container(border=True):
        st.radio("Role", (*ROLES, "tool"), key=state.role_key(message.id), horizontal=True, format_func=str.capitalize)
        st.text_area("Content", key=state.edit_key(message.id), height=160)
        tools_panel.message_fields_editor(message)
        # Two to a row by st.columns, which ui/composer.py's rules for message rows leave alone.
        save, cancel = st.columns(2)
        save.button(
            "Save", key=f"save_{message.id}", on_click=_save_edit, args=(message.id,), type="primary", width="stretch"
        )
        cancel.button(
            "Cancel", key=f"cancel_{message.id}", on_click=_toggle_editor, args=(message.id,), width="stretch"
        )
        if message.role == "user":
            later = len(conv.after(state.history(), message.id))
            st.button(
                f"Save and ask again here (drops the {later:,} after it)" if later else "Save and ask again",
                key=f"rerun_{message.id}",
                icon=":material/replay:",
                on_click=calls.rerun_here,
                args=(settings, message.id),
                width="stretch",
                help="Sends this message again with the context before it. What followed it is removed from "
                "this session: ask in a fork to keep it.",
            )
            if later:
                st.button(
                    "Save and ask again in a fork (keeps them here)",
                    key=f"rerun_fork_{message.id}",
                    icon=":material/call_split:",
                    on_click=calls.rerun_in_fork,
                    args=(settings, message.id),
                    width="stretch",
                    help="A new session with the history up to this message, asked again there; this session "
                    "keeps everything that followed.",
                )
        st.button(
            "Fork from here",
            key=f"fork_{message.id}",
            icon=":material/call_split:",
            on_click=sessions.fork_at,
            args=(message.id,),
            help="A new session holding the history up to this message",
            width="stretch",
        )


def _undo_bar(deleted: Deleted) -> None:
    message = deleted.removed.message
    text = " ".join(message.content.split())
    text = text[:UNDO_PREVIEW_CHARS] + "…" if len(text) > UNDO_PREVIEW_CHARS else text
    row = st.container(horizontal=True, vertical_alignment="center", gap="small", key="undo_row")
    row.button("Undo", icon=":material/undo:", key="undo_delete", on_click=_undo_delete)
    article = "an" if message.role == "assistant" else "a"
    row.caption(f"Deleted {article} {message.role} message: “{inert_markdown(text)}”", width="stretch")


def _after_message(message: conv.Message, settings: Settings, in_flight: str | None, last: bool) -> None:
    """What can be done next with this message: retry it, answer it, regenerate its answer."""
    idle = in_flight is None and calls.pending() is None
    if message.status == "unanswered" and message.id != in_flight and calls.pending() is None:
        st.button("Retry", key=f"retry_{message.id}", on_click=calls.retry, args=(settings, message.id))
    elif last and idle and message.role in ("user", "tool"):  # added by hand: nothing has asked it yet
        st.button(
            "Get an answer",
            key=f"answer_{message.id}",
            icon=":material/send:",
            on_click=calls.retry,
            args=(settings, message.id),
            help="Send the history up to this message, as the meter shows it",
        )
    elif last and idle and message.role == "assistant" and conv.regenerable(state.history()) is not None:
        row = st.container(horizontal=True, vertical_alignment="center", gap="medium", key="regenerate_row")
        row.button(
            "Regenerate",
            icon=":material/refresh:",
            key="regenerate",
            on_click=calls.regenerate,
            args=(settings,),
            help="Ask the last question again, with the same context as before",
        )
        row.toggle(
            "Keep this answer",
            key=state.KEEP_OLD_ANSWER,
            help="On: this answer stays in the history, left out of the context, and the new one follows it. "
            "Off: the new answer replaces it.",
        )


def _drawn_decisions(request: Request) -> list[Decision]:
    """The decisions the page captions: those of the call the meter shows or, while a reply is on its way,
    of the call being answered — the captions do not change on Send."""
    call = calls.in_flight()
    pending = call.pending if call is not None else calls.pending()
    return captioned(pending.request if pending is not None else request, state.history())


def history(request: Request, settings: Settings) -> None:
    """The history, a page of it at a time, each message with its controls."""
    decisions = _drawn_decisions(request)
    call = calls.in_flight()
    in_flight = call.pending.question_id if call is not None else None
    plan = call.pending.request.plan if call is not None else request.plan
    page = _page(decisions)
    if page.count > 1 or len(decisions) > PAGE_SIZES[0]:
        _pager(page, decisions, plan)
    deleted = state.of(state.UNDO, Deleted)
    if deleted is not None and deleted.session_id != sessions.current_id():
        deleted = None
    last_id = decisions[-1].message.id if decisions else None
    with st.container(key="history"):  # ui/composer.py lays out the rows inside it by this key
        _messages(decisions[page.start : page.end], plan, settings, in_flight, deleted, last_id)
    if not page.is_newest:
        st.button(
            "Newest messages", icon=":material/last_page:", key="page_newest_below", on_click=_go_to_page, args=(0,)
        )


def _messages(
    decisions: list[Decision],
    plan: RequestPlan,
    settings: Settings,
    in_flight: str | None,
    deleted: Deleted | None,
    last_id: str | None,
) -> None:
    counter = settings.counter()
    manual = state.strategy_kind() == "manual"
    history = state.history()
    flags = tools_panel.pair_flags(plan, history)
    for decision in decisions:
        message = decision.message
        if deleted is not None and message.id == deleted.removed.before_id:
            _undo_bar(deleted)  # where the deleted message was
            deleted = None
        with st.chat_message(message.role):
            tokens = plan.tokens_of(message.id)
            if tokens is None:
                tokens = counter.count([message.as_api()]).per_message[0]
            _message_controls(decision, tokens, manual, in_flight)
            if state.flag(state.editor_key(message.id)):
                _editor(message, settings)
            else:
                tools_panel.message_body(message, decision.kept, flags, history)
            attribution.chat_answer(settings, message)  # "What did this answer use?" (ui/attribution/)
            _after_message(message, settings, in_flight, message.id == last_id)
    if deleted is not None:
        _undo_bar(deleted)


def _page(decisions: list[Decision]) -> Page:
    return page_of(len(decisions), state.whole(state.PAGE_SIZE), state.whole(state.HISTORY_PAGE))


def _pager(page: Page, decisions: list[Decision], plan: RequestPlan) -> None:
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
            "",
            icon=f":material/{icon}:",
            help=label,
            key=f"page_{icon}",
            disabled=disabled,
            on_click=_go_to_page,
            args=(number,),
            width="stretch",
        )
    cols[5].selectbox(
        "Messages per page",
        PAGE_SIZES,
        key=state.PAGE_SIZE,
        on_change=_go_to_page,
        args=(0,),
        format_func=lambda size: f"{size}" if size else "All",
    )
    if page.hidden:
        st.caption(_hidden_note(page, decisions, plan))
    elif page.total > ALL_DRAWN_NOTE_FROM:
        st.caption(
            f"All {page.total:,} messages are drawn, each with its controls: every click redraws them all. "
            f"Pages of {DEFAULT_PAGE_SIZE} keep the page quick."
        )


def _hidden_note(page: Page, decisions: list[Decision], plan: RequestPlan) -> str:
    others = decisions[: page.start] + decisions[page.end :]
    sent = [d.message.id for d in others if d.kept]
    tokens = sum(plan.tokens_of(message_id) or 0 for message_id in sent)
    return (
        f"{page.hidden:,} messages on other pages are not drawn here; the context strategy still sees "
        f"them: {len(sent):,} of them are in the next call ({tokens:,} tokens)."
    )
