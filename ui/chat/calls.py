"""A chat call's life on the page: Send, Retry, Regenerate and asking again after an edit plan the call
once, with the one builder, and hand it to the process (lib/store/chat_replies.send) in the click's own
callback; the page then shows it arrive, with Stop, and draws the finished reply. The process records it
whatever becomes of the page (a click, a refresh, a closed tab)."""

from __future__ import annotations

import time
from dataclasses import dataclass

import streamlit as st

from lib.backends import embedded
from lib.backends.reply import call_note
from lib.context import conversation as conv
from lib.context.answers import Regeneration
from lib.context.display import inert_markdown
from lib.context.request import send_blocker, split_for_retry
from lib.store import chat_replies
from lib.store.chat_replies import ChatReply
from ui import demos, owner, resources, sessions, state
from ui.meter import last_call
from ui.planning import request_for
from ui.settings import Settings


@dataclass(frozen=True)
class ChatCall:
    """A chat call this page shows: what was planned, the reply (owned by the process, lib/store/chat_replies.py:
    it goes on, and is recorded, whatever becomes of this page), the session it belongs to."""

    pending: state.PendingCall
    reply: ChatReply
    session_id: str


def in_flight() -> ChatCall | None:
    """The call this page shows arriving, if any."""
    return state.of(state.IN_FLIGHT, ChatCall)


def pending() -> state.PendingCall | None:
    """A call planned and not started yet."""
    return state.pending()


def busy() -> bool:
    if in_flight() is None and pending() is None:
        return False
    state.flash("info", "A reply is still arriving: wait for it, or press Stop.")
    return True


def queue_send(settings: Settings) -> None:
    """Plan the call once, here, with the one builder, and send this very plan at once."""
    if busy():
        return
    draft = state.draft()
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
    start_pending(settings)  # now, in the click's callback: the request leaves before the page is drawn


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


def retry(settings: Settings, message_id: str) -> None:
    if not busy() and _plan_retry(settings, message_id):
        start_pending(settings)


def regenerate(settings: Settings) -> None:
    """Ask the last question again with the same context (what came before it)."""
    if busy():
        return
    history = state.history()
    question = conv.regenerable(history)
    if question is None:
        return
    keep = state.flag(state.KEEP_OLD_ANSWER)
    if _plan_retry(settings, question.id):
        state.put(state.REGENERATING, Regeneration(question.id, history[-1].id, keep))
        start_pending(settings)


def rerun_here(settings: Settings, message_id: str) -> None:
    """Save the edit and ask this message again; what followed it is dropped (the button says so)."""
    if busy():
        return
    content = state.text(state.edit_key(message_id))
    history = conv.cut_after(conv.edit(state.history(), message_id, content=content), message_id)
    if _plan_retry(settings, message_id, history):
        state.put(state.HISTORY, history)
        state.put(state.editor_key(message_id), False)
        state.pop(state.UNDO)
        start_pending(settings)


def rerun_in_fork(settings: Settings, message_id: str) -> None:
    """Save the edit, open a new session holding the history up to this message, ask it there:
    this session keeps what followed."""
    if busy():
        return
    content = state.text(state.edit_key(message_id))
    state.put(state.HISTORY, conv.edit(state.history(), message_id, content=content))
    source = sessions.current_id()
    sessions.fork_at(message_id)  # saves this session first
    history = state.history()
    opened = sessions.current_id() != source and history and history[-1].id == message_id
    if opened and _plan_retry(settings, message_id):
        start_pending(settings)


def stop() -> None:
    call = in_flight()
    if call is not None:
        call.reply.stop()


def start_pending(settings: Settings) -> None:
    """Send the planned call as it was planned: its body goes out untouched. Called from the click's
    callback, so the request leaves before the page is drawn again."""
    planned = state.pop_of(state.PENDING, state.PendingCall)
    regeneration = state.pop_of(state.REGENERATING, Regeneration)
    if planned is None or not any(m.id == planned.question_id for m in state.history()):
        return
    missing = settings.provider.missing()
    if missing:  # nothing to send it with: the question stays, unanswered, with a Retry
        state.flash("error", f"Set {missing} in the sidebar, then retry.")
        return
    # The question is stored before it is sent: the reply is written into the stored session by the
    # process (whatever becomes of this tab), and a process that dies mid-call leaves it unanswered.
    sessions.autosave()
    key = chat_replies.ReplyKey(owner.owner(), sessions.current_id(), planned.question_id)
    try:
        chat = chat_replies.send(
            key,
            resources.client(settings.provider),
            planned.request,
            settings.provider,
            sessions.secrets_known(),
            regeneration,
            page=planned,
        )
    except RuntimeError:  # another tab of this session is asking this very question: this one shows it
        attach()
        return
    if settings.provider.backend.replays:  # its answer comes from a recorded demo: captioned so
        demos.mark_replayed(chat.answer.reply_id)
    state.put(state.IN_FLIGHT, ChatCall(planned, chat, key.session_id))


def attach() -> None:
    """A reply to this session still arriving, asked from a page that is gone (a refresh, a closed tab)
    or from another tab: this page shows it arrive, with its Stop, and then the reply."""
    if in_flight() is not None:
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


def stream_reply(settings: Settings) -> None:
    """Show the reply as it arrives. A click anywhere interrupts this run, not the reply: it is read
    on its own thread, and the next run picks it up here until it is done, then records it once."""
    call = in_flight()
    if call is None:
        return
    with st.chat_message("assistant"):
        status, box = st.empty(), st.empty()
        st.button(
            "Stop",
            icon=":material/stop_circle:",
            key="stop_reply",
            on_click=stop,
            help="End the reply here; what arrived is kept, marked incomplete.",
        )
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
        replaying = demos.replayed(call.reply.answer.reply_id)
        return f"{'Replaying the recorded answer' if replaying else 'Streaming'}… {waited:.1f} s"
    if queue is not None and queue.ahead:
        # The embedded model answers one request at a time: other tabs' calls go first.
        return f"Waiting for the model ({queue.ahead} ahead)… {waited:.1f} s"
    return f"Waiting for the first token… {waited:.1f} s"


def _finish(settings: Settings, call: ChatCall) -> None:
    """Show a finished call: the last-call report, its notes, the reply in the history. The process has
    recorded it already (the run log, the stored session): this only draws it, and may run in every tab
    that showed it arriving."""
    if in_flight() is not call:
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
        state.flash("error", f"{outcome.error or 'The call failed.'} {note}".strip())  # shown inert by the page
    regeneration = chat.answer.regeneration
    if regeneration is not None:  # its include toggle, already drawn in this run, follows it on the next
        state.pop(state.include_key(regeneration.answer_id))
    # Idempotent (the reply's id is known): a history that caught up with the store already has it.
    state.put(state.HISTORY, chat.answer.applied(state.history()))
