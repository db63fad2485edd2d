"""Chat: the history the client keeps, what of it is sent, and what the call costs — before sending."""

from __future__ import annotations

import time
from dataclasses import dataclass

import streamlit as st

from lib.backends import embedded
from lib.backends.reply import Reply, call_note
from lib.context import conversation as conv
from lib.context.display import inert_inline, inert_markdown
from lib.context.paging import DEFAULT_PAGE_SIZE, PAGE_SIZES, Page, page_of
from lib.context.payload import RequestPlan
from lib.context.request import Request, send_blocker, split_for_retry
from lib.context.strategies import STRATEGY_LABELS, Decision, spec_of
from lib.store import chat_replies
from lib.store.chat_replies import ChatReply, Regeneration
from ui import agent_example, attribution, composition, owner, resources, sessions, state
from ui.composer import draft_sync, page_style
from ui.meter import cache_meter, last_call, last_call_report, meter, money, payload_preview
from ui.planning import DRAFT_ID, next_request, request_for
from ui.settings import Settings, page_setup
from ui.summary import made_summary, make_summary, summary_plan

ALL_DRAWN_NOTE_FROM = 300  # messages: past this, drawing them all takes a noticeable part of a second
ROLES: tuple[conv.Role, ...] = ("user", "assistant", "system")
UNDO_PREVIEW_CHARS = 40


@dataclass(frozen=True)
class Deleted:
    """The last message deleted, with what Undo needs to put it back, in the session it left."""

    removed: conv.Removed
    session_id: str


# --- callbacks: they change state only; the rerun that follows renders it -------------------


def _set_included(message_id: str) -> None:
    included = state.get(state.include_key(message_id))
    state.put(state.HISTORY, conv.update(state.history(), message_id, included=included))


def _save_edit(message_id: str) -> None:
    content, role = state.get(state.edit_key(message_id)), state.get(state.role_key(message_id))
    state.put(state.HISTORY, conv.edit(state.history(), message_id, content=content, role=role))
    state.put(state.editor_key(message_id), False)  # closes the editor


def _toggle_editor(message_id: str) -> None:
    state.put(state.editor_key(message_id), not state.get(state.editor_key(message_id)))


def _delete(message_id: str) -> None:
    """Delete at once, and offer Undo (kept until the next delete or send)."""
    history, removed = conv.remove(state.history(), message_id)
    if removed is None:
        return
    state.put(state.HISTORY, history)
    state.put(state.UNDO, Deleted(removed, sessions.current_id()))


def _undo_delete() -> None:
    deleted: Deleted | None = state.pop(state.UNDO)
    if deleted is not None and deleted.session_id == sessions.current_id():
        state.set_history(conv.put_back(state.history(), deleted.removed))


def _add_by_hand() -> None:
    """The draft joins the history as a message of the chosen role; no model is called."""
    draft = state.get(state.DRAFT) or ""
    if not draft.strip():
        state.flash("error", "Type the message to add first: it joins the history as it is, with the role beside it.")
        return
    role = state.get(state.ADD_ROLE) or "user"
    state.put(state.HISTORY, [*state.history(), conv.Message(role, draft)])
    state.put(state.DRAFT, "")
    state.pop(state.UNDO)
    state.put(state.HISTORY_PAGE, 0)


def _toggle_pin(message_id: str) -> None:
    message = next(m for m in state.history() if m.id == message_id)
    state.put(state.HISTORY, conv.update(state.history(), message_id, pinned=not message.pinned))


def _include_all(included: bool) -> None:
    state.set_history(conv.include_all(state.history(), included))


def _include_last_turns() -> None:
    state.set_history(conv.include_last_turns(state.history(), int(state.get(state.LAST_TURNS))))


def _busy() -> bool:
    if state.get(state.IN_FLIGHT) is None and state.get(state.PENDING) is None:
        return False
    state.flash("info", "A reply is still arriving: wait for it, or press Stop.")
    return True


def _queue_send(settings: Settings) -> None:
    """Plan the call once, here, with the one builder, and send this very plan at once."""
    if _busy():
        return
    draft = state.get(state.DRAFT) or ""
    # Unanswered until its reply is recorded: a crash mid-call leaves it marked, with a Retry.
    question = conv.Message("user", draft, status="unanswered")
    request = request_for(settings, state.history(), question)
    reason = send_blocker(request)
    if reason:
        state.flash("error", reason)
        return
    state.set_history([*state.history(), question])
    state.put(state.DRAFT, "")
    state.pop(state.UNDO)
    shown = request.plan.body == state.get(state.SHOWN_BODY)
    state.put(state.PENDING, state.PendingCall(question.id, request, shown))
    state.put(state.HISTORY_PAGE, 0)  # the reply streams in below the newest messages
    _start_pending(settings)  # now, in the click's callback: the request leaves before the page is drawn


def _go_to_page(number: int) -> None:
    state.put(state.HISTORY_PAGE, number)


def _plan_retry(settings: Settings, message_id: str, history: list[conv.Message] | None = None) -> bool:
    """Plan asking `message_id` again with the context before it (in `history`, or the page's);
    False, with the reason shown, when that call may not be sent."""
    before, question = split_for_retry(history if history is not None else state.history(), message_id)
    request = request_for(settings, before, question)
    reason = send_blocker(request)
    if reason:
        state.flash("error", reason)
        return False
    shown = request.plan.body == state.get(state.SHOWN_BODY)
    state.put(state.PENDING, state.PendingCall(message_id, request, shown))
    state.put(state.HISTORY_PAGE, 0)
    return True


def _retry(settings: Settings, message_id: str) -> None:
    if not _busy() and _plan_retry(settings, message_id):
        _start_pending(settings)


def _regenerate(settings: Settings) -> None:
    """Ask the last question again with the same context (what came before it)."""
    if _busy():
        return
    history = state.history()
    question = conv.regenerable(history)
    if question is None:
        return
    keep = bool(state.get(state.KEEP_OLD_ANSWER))
    if _plan_retry(settings, question.id):
        state.put(state.REGENERATING, Regeneration(question.id, history[-1].id, keep))
        _start_pending(settings)


def _rerun_here(settings: Settings, message_id: str) -> None:
    """Save the edit and ask this message again; what followed it is dropped (the button says so)."""
    if _busy():
        return
    content = state.get(state.edit_key(message_id))
    history = conv.cut_after(conv.edit(state.history(), message_id, content=content), message_id)
    if _plan_retry(settings, message_id, history):
        state.put(state.HISTORY, history)
        state.put(state.editor_key(message_id), False)
        state.pop(state.UNDO)
        _start_pending(settings)


def _rerun_in_fork(settings: Settings, message_id: str) -> None:
    """Save the edit, open a new session holding the history up to this message, ask it there:
    this session keeps what followed."""
    if _busy():
        return
    content = state.get(state.edit_key(message_id))
    state.put(state.HISTORY, conv.edit(state.history(), message_id, content=content))
    source = sessions.current_id()
    sessions.fork_at(message_id)  # saves this session first
    history = state.history()
    opened = sessions.current_id() != source and history and history[-1].id == message_id
    if opened and _plan_retry(settings, message_id):
        _start_pending(settings)


def _stop() -> None:
    call: ChatCall | None = state.get(state.IN_FLIGHT)
    if call is not None:
        call.reply.stop()


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
        "Context strategy", list(STRATEGY_LABELS), format_func=STRATEGY_LABELS.__getitem__, key=state.STRATEGY_KIND,
        help="Which past messages the next call carries. Pinned messages (the pin on a message) and the system "
        "prompt are always kept.",
    )  # fmt: skip
    kind = state.get(state.STRATEGY_KIND)
    if kind != "manual":
        st.caption("The strategy decides what each call carries; the *In context* toggles apply under Manual.")
    for parameter in spec_of(kind).parameters:
        cols[1].number_input(
            parameter.label, parameter.minimum, parameter.maximum, step=parameter.step,
            key=state.strategy_key(parameter),
        )  # fmt: skip


def _summary_box(request: Request, settings: Settings) -> None:
    """The summarising strategy: what its summary call costs before it is made, or the summary sent."""
    if request.strategy.kind != "summarise" or not request.to_summarise:
        return
    made = made_summary(request.to_summarise, settings)
    if made is not None:
        st.info(
            f"{len(request.to_summarise):,} older messages are sent as this summary (made in this session; "
            f"{made.prompt_tokens or 0:,} prompt + {made.completion_tokens or 0:,} completion tokens): "
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
    cols = st.columns([1, 1, 1, 1.5], vertical_alignment="bottom")
    cols[0].button("Include all", on_click=_include_all, args=(True,), width="stretch")
    cols[1].button("Exclude all", on_click=_include_all, args=(False,), width="stretch")
    cols[2].number_input("Last N turns", 0, 10_000, key=state.LAST_TURNS)
    cols[3].button("Keep last N turns", on_click=_include_last_turns, width="stretch")


def _message_controls(decision: Decision, tokens: int, manual: bool, in_flight: str | None) -> None:
    message = decision.message
    key = state.include_key(message.id)
    state.default(key, message.included)
    # One horizontal row, not st.columns: 5 columns are 6 more elements per message, and Streamlit's
    # cost is per element (bench/RESULTS.md). Its key lets ui/composer.py keep it on one line.
    row = st.container(horizontal=True, vertical_alignment="center", gap="small", key=f"msgrow_{message.id}")
    row.toggle("In context", key=key, on_change=_set_included, args=(message.id,), disabled=not manual)
    sent = f"{tokens:,} tokens" + ("" if decision.kept else " · not sent")
    # Inert: a cleared tool result's reason quotes the tool's name and arguments (a model wrote them).
    # Under Manual the toggle says it all, unless a tool round's pairing overrode it.
    plain = manual and not message.pinned and decision.kept == message.included
    reason = "" if plain else f" · {inert_inline(decision.reason)}"
    status = {"unanswered": " · ⚠ unanswered", "incomplete": " · ⚠ incomplete"}.get(message.status, "")
    if message.id == in_flight:
        status = " · being answered"
    edited = " · edited" if message.edited else ""
    row.caption(sent + reason + status + edited, width="stretch")
    # Icon buttons with names (hidden on screen by ui/composer.py): a screen reader says "Pin", not "keep icon".
    # A tooltip only on a pinned message's pin: each tooltip is a component of its own in the browser, and
    # one on every button of every drawn message added a tenth of a second to each click (bench/RESULTS.md).
    row.button(
        "Pinned" if message.pinned else "Pin", icon=":material/keep:", key=f"pin_{message.id}",
        help="Pinned: every strategy sends it. Click to unpin." if message.pinned else None,
        on_click=_toggle_pin, args=(message.id,), type="primary" if message.pinned else "secondary",
    )  # fmt: skip
    # The editor opens in the message itself: a popover per message was a floating overlay per
    # message in the browser, paid on every click (bench/RESULTS.md).
    editing = bool(state.get(state.editor_key(message.id)))
    row.button(
        "Edit", icon=":material/edit:", key=f"open_editor_{message.id}", on_click=_toggle_editor, args=(message.id,),
        type="primary" if editing else "secondary",
    )  # fmt: skip
    row.button("Delete", icon=":material/delete:", key=f"delete_{message.id}", on_click=_delete, args=(message.id,))


def _editor(message: conv.Message, settings: Settings) -> None:
    """A message's text and role, editable in place, and what can be done from it. Drawn only while
    open: every text area scans the whole session state, so one per message made a rerun quadratic in
    the history's length (bench/RESULTS.md)."""
    state.default(state.edit_key(message.id), message.content)
    state.default(state.role_key(message.id), message.role)
    with st.container(border=True):
        st.radio("Role", ROLES, key=state.role_key(message.id), horizontal=True, format_func=str.capitalize)
        st.text_area("Content", key=state.edit_key(message.id), height=160)
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
                key=f"rerun_{message.id}", icon=":material/replay:", on_click=_rerun_here,
                args=(settings, message.id), width="stretch",
                help="Sends this message again with the context before it. What followed it is removed from "
                "this session: ask in a fork to keep it.",
            )  # fmt: skip
            if later:
                st.button(
                    "Save and ask again in a fork (keeps them here)", key=f"rerun_fork_{message.id}",
                    icon=":material/call_split:", on_click=_rerun_in_fork, args=(settings, message.id),
                    width="stretch",
                    help="A new session with the history up to this message, asked again there; this session "
                    "keeps everything that followed.",
                )  # fmt: skip
        st.button(
            "Fork from here", key=f"fork_{message.id}", icon=":material/call_split:", on_click=sessions.fork_at,
            args=(message.id,), help="A new session holding the history up to this message", width="stretch",
        )  # fmt: skip


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
    idle = in_flight is None and state.get(state.PENDING) is None
    if message.status == "unanswered" and message.id != in_flight and state.get(state.PENDING) is None:
        st.button("Retry", key=f"retry_{message.id}", on_click=_retry, args=(settings, message.id))
    elif last and idle and message.role == "user":  # added by hand: nothing has asked it yet
        st.button(
            "Get an answer", key=f"answer_{message.id}", icon=":material/send:", on_click=_retry,
            args=(settings, message.id), help="Send the history up to this message, as the meter shows it",
        )  # fmt: skip
    elif last and idle and message.role == "assistant" and conv.regenerable(state.history()) is not None:
        row = st.container(horizontal=True, vertical_alignment="center", gap="medium", key="regenerate_row")
        row.button(
            "Regenerate", icon=":material/refresh:", key="regenerate", on_click=_regenerate, args=(settings,),
            help="Ask the last question again, with the same context as before",
        )  # fmt: skip
        row.toggle(
            "Keep this answer", key=state.KEEP_OLD_ANSWER,
            help="On: this answer stays in the history, left out of the context, and the new one follows it. "
            "Off: the new answer replaces it.",
        )  # fmt: skip


def _drawn_decisions(request: Request) -> list[Decision]:
    """One decision per history message, as the page captions them: those of the call the meter shows
    or, while a reply is on its way, of the call being answered — the captions do not change on Send."""
    call: ChatCall | None = state.get(state.IN_FLIGHT)
    pending: state.PendingCall | None = call.pending if call is not None else state.get(state.PENDING)
    shown = pending.request if pending is not None else request
    question_id = shown.question.id if shown.question is not None else None
    decided = {d.message.id: d for d in shown.decisions}
    drawn = []
    for message in state.history():
        decision = decided.get(message.id)
        if message.id == question_id:
            decision = Decision(message, True, "the question")
        elif decision is None:
            decision = Decision(message, False, "after the question: not in this call")
        drawn.append(Decision(message, decision.kept, decision.reason))
    return drawn


def _history(request: Request, settings: Settings) -> None:
    decisions = _drawn_decisions(request)
    call: ChatCall | None = state.get(state.IN_FLIGHT)
    in_flight = call.pending.question_id if call is not None else None
    plan = call.pending.request.plan if call is not None else request.plan
    page = _page(decisions)
    if page.count > 1 or len(decisions) > PAGE_SIZES[0]:
        _pager(page, decisions, plan)
    deleted: Deleted | None = state.get(state.UNDO)
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
    decisions: list[Decision], plan: RequestPlan, settings: Settings, in_flight: str | None,
    deleted: Deleted | None, last_id: str | None,
) -> None:  # fmt: skip
    counter = settings.counter()
    manual = state.get(state.STRATEGY_KIND) == "manual"
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
            if state.get(state.editor_key(message.id)):
                _editor(message, settings)
            elif decision.kept:
                st.markdown(inert_markdown(message.content))
            else:
                st.caption(inert_markdown(message.content))
            attribution.chat_answer(settings, message)  # "What did this answer use?" (ui/attribution.py)
            _after_message(message, settings, in_flight, message.id == last_id)
    if deleted is not None:
        _undo_bar(deleted)


def _page(decisions: list[Decision]) -> Page:
    return page_of(len(decisions), int(state.get(state.PAGE_SIZE)), int(state.get(state.HISTORY_PAGE)))


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
            "", icon=f":material/{icon}:", help=label, key=f"page_{icon}", disabled=disabled, on_click=_go_to_page,
            args=(number,), width="stretch",
        )  # fmt: skip
    cols[5].selectbox(
        "Messages per page", PAGE_SIZES, key=state.PAGE_SIZE, on_change=_go_to_page, args=(0,),
        format_func=lambda size: f"{size}" if size else "All",
    )  # fmt: skip
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


@dataclass(frozen=True)
class ChatCall:
    """A chat call this page shows: what was planned, the reply (owned by the process, lib/store/chat_replies.py:
    it goes on, and is recorded, whatever becomes of this page), the session it belongs to."""

    pending: state.PendingCall
    reply: ChatReply
    session_id: str


def _start_pending(settings: Settings) -> None:
    """Send the planned call as it was planned: its body goes out untouched. Called from the click's
    callback, so the request leaves before the page is drawn again."""
    pending: state.PendingCall | None = state.pop(state.PENDING)
    regeneration: Regeneration | None = state.pop(state.REGENERATING)
    if pending is None or not any(m.id == pending.question_id for m in state.history()):
        return
    missing = settings.provider.missing()
    if missing:  # nothing to send it with: the question stays, unanswered, with a Retry
        state.flash("error", f"Set {missing} in the sidebar, then retry.")
        return
    # The question is stored before it is sent: the reply is written into the stored session by the
    # process (whatever becomes of this tab), and a process that dies mid-call leaves it unanswered.
    sessions.autosave()
    reply = Reply(
        resources.client(settings.provider), pending.request.plan.body, settings.provider.secrets,
        limits=settings.provider.limits,
    )  # fmt: skip
    key = chat_replies.ReplyKey(owner.owner(), sessions.current_id(), pending.question_id)
    log = chat_replies.CallLog(
        settings.provider.kind, pending.request.strategy.describe(),
        (*settings.provider.secrets, *sessions.secrets_known()),
    )  # fmt: skip
    if regeneration is not None and regeneration.question_id != pending.question_id:
        regeneration = None
    try:
        chat = chat_replies.start(key, reply, pending.request.plan, log, regeneration, page=pending)
    except RuntimeError:  # another tab of this session is asking this very question: this one shows it
        _attach()
        return
    state.put(state.IN_FLIGHT, ChatCall(pending, chat, key.session_id))


def _attach() -> None:
    """A reply to this session still arriving, asked from a page that is gone (a refresh, a closed tab)
    or from another tab: this page shows it arrive, with its Stop, and then the reply."""
    if state.get(state.IN_FLIGHT) is not None:
        return
    asked = {m.id for m in state.history()}
    for chat in chat_replies.running(owner.owner(), sessions.current_id()):
        if chat.key.question_id in asked and isinstance(chat.page, state.PendingCall):
            state.put(state.IN_FLIGHT, ChatCall(chat.page, chat, chat.key.session_id))
            return
    # One that ended since this run's autosave looked is no longer running, but its write is known by
    # now (a completion is remembered before it stops running): take it in on this run, not the next.
    sessions.catch_up()


POLL_S = 0.05
FIRST_TEXT_POLL_S = 0.01  # until the reply's first text: it is drawn within 10 ms of arriving, not 50
# Until the first token the status line's clock ticks four times a second, not twenty: every write is
# page and browser work on the cores the model is reading the prompt on (bench/RESULTS.md, section 7).
WAITING_STATUS_S = 0.25
QUEUE_POLL_S = 0.5  # the embedded server's queue is read twice a second while nothing has arrived


def _stream_reply(settings: Settings) -> None:
    """Show the reply as it arrives. A click anywhere interrupts this run, not the reply: it is read
    on its own thread, and the next run picks it up here until it is done, then records it once."""
    call: ChatCall | None = state.get(state.IN_FLIGHT)
    if call is None:
        return
    with st.chat_message("assistant"):
        status, box = st.empty(), st.empty()
        st.button("Stop", icon=":material/stop_circle:", key="stop_reply", on_click=_stop,
                  help="End the reply here; what arrived is kept, marked incomplete.")  # fmt: skip
        shown, queue, written, asked = None, None, 0.0, 0.0
        while not call.reply.wait(POLL_S if shown else FIRST_TEXT_POLL_S):
            text = call.reply.text
            if text != shown:
                box.markdown(inert_markdown(text))
                shown = text
            now = time.monotonic()
            if now - written < (POLL_S if text else WAITING_STATUS_S):
                continue
            written = now
            if not text and settings.provider.backend.started_by_the_app and now - asked >= QUEUE_POLL_S:
                queue = embedded.queue_state(settings.provider.base_url)  # lock-free: answered mid-generation
                asked = now
            # Written every poll even when nothing changed: a click is acted on at the next element.
            status.caption(_progress(call, queue if not text else None))
        box.markdown(inert_markdown(call.reply.text))
    _finish(settings, call)
    st.rerun()


def _progress(call: ChatCall, queue: embedded.QueueState | None) -> str:
    waited = time.monotonic() - call.reply.started_at
    notices = call.reply.reply.notices
    if notices:
        return f"{notices[-1]} · {waited:.1f} s"
    if call.reply.text:
        return f"Streaming… {waited:.1f} s"
    if queue is not None and queue.ahead:
        # The embedded model answers one request at a time: other tabs' calls go first.
        return f"Waiting for the model ({queue.ahead} ahead)… {waited:.1f} s"
    return f"Waiting for the first token… {waited:.1f} s"


def _finish(settings: Settings, call: ChatCall) -> None:
    """Show a finished call: the last-call report, its notes, the reply in the history. The process has
    recorded it already (the run log, the stored session): this only draws it, and may run in every tab
    that showed it arriving."""
    if state.get(state.IN_FLIGHT) is not call:
        return
    state.pop(state.IN_FLIGHT)
    chat = call.reply
    outcome, plan = chat.reply.outcome, call.pending.request.plan
    state.put(state.LAST_CALL, last_call(settings, call.pending.request, outcome, call.pending.shown))
    if chat.log_problem:
        state.put(state.SESSION_NOTE, ("warning", chat.log_problem))
    if call.session_id != sessions.current_id():
        where = "is saved in that session" if chat.stored else "is in the run log only"
        state.flash("warning", f"The reply arrived after another session was opened: it {where}.")
        return
    note = call_note(chat.reply, plan.max_tokens)
    if outcome.ok:
        if note:
            state.flash("warning" if outcome.truncated else "info", note)
    else:
        state.flash("error", f"{outcome.error or 'The call failed.'} {note}".strip())  # shown inert by _flash
    regeneration = chat.answer.regeneration
    if regeneration is not None:  # its include toggle, already drawn in this run, follows it on the next
        state.pop(state.include_key(regeneration.answer_id))
    # Idempotent (the reply's id is known): a history that caught up with the store already has it.
    state.put(state.HISTORY, chat.answer.applied(state.history()))


def _flash() -> None:
    message = state.pop(state.FLASH)
    if message:
        kind, text = message
        getattr(st, kind)(inert_markdown(text))  # errors carry a server's words


def _next_call_note(request: Request) -> None:
    """What the request below is, when it is not simply the draft as the next question."""
    if request.question is not None:
        if request.question.id != DRAFT_ID:
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
    st.info(
        f"**No question yet.** This request ends with {ends[last.role if last else None]}: a call needs a new "
        "message at its end. Type one below; the meter counts it as you type."
    )


def _composer(settings: Settings) -> None:
    st.text_area(
        "Your message", key=state.DRAFT, height=100, placeholder="Ask something… (Ctrl+Enter sends; Enter: new line)"
    )
    busy = state.get(state.IN_FLIGHT) is not None
    row = st.container(horizontal=True, vertical_alignment="center", gap="small", key="composer_row")
    row.button(
        "Send", type="primary", key="send", on_click=_queue_send, args=(settings,), disabled=busy,
        shortcut="Ctrl+Enter", help="Send the request the meter shows (Ctrl+Enter, or Cmd+Enter on a Mac)",
    )  # fmt: skip
    row.selectbox(
        "Role of the message to add", ROLES, key=state.ADD_ROLE, format_func=str.capitalize,
        label_visibility="collapsed", width=125,
    )  # fmt: skip
    row.button(
        "Add without sending", key="add_by_hand", icon=":material/playlist_add:", on_click=_add_by_hand,
        help="Adds the draft to the history with the role beside it, without calling the model: few-shot "
        "examples, or an answer written by hand.",
    )  # fmt: skip
    with row:
        draft_sync(state.DRAFT)


def render(settings: Settings) -> None:
    page_style()
    _start_pending(settings)  # a call planned but not started yet (Send and Retry start theirs at once)
    _attach()
    st.title("Context Lab")
    st.caption(
        "The Chat Completions API remembers nothing: every call carries the whole context. "
        "Choose what is sent, and see its size and cost before you send it."
    )
    draft = state.get(state.DRAFT) or ""
    request = next_request(settings, draft)
    state.put(state.SHOWN_BODY, request.plan.body)
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
        preview = st.expander("Payload preview (exactly what is sent)", key=state.PREVIEW_OPEN, on_change="rerun")
        if preview.open:  # drawn only while open: the body three times over (JSON, curl, Python) per rerun
            with preview:  # made every click wait seconds on a long history (bench/RESULTS.md)
                payload_preview(request.plan, settings.provider)
        last = state.get(state.LAST_CALL)
        if last is not None:
            st.subheader("Last call")
            last_call_report(last)
    with chat_column:
        _system_prompt_editor()
        if not state.history():
            agent_example.offer()  # a built-in conversation with tool rounds (ui/agent_example.py)
        if state.history():
            _strategy_picker()
            if state.get(state.STRATEGY_KIND) == "manual":
                _bulk_actions()
            _summary_box(request, settings)
        _history(request, settings)
        reply_slot = st.container()  # above the composer, filled last: see below
        _flash()
        _composer(settings)
        # The reply streams last, when the composer is already drawn (empty after a Send): a click
        # during the stream then cannot bring the sent question back into the input.
        with reply_slot:
            _stream_reply(settings)


render(page_setup())
