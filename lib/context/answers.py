"""What a finished chat call does to the history: pure functions on it, whoever applies them (the page
that showed the reply, the process that stored it: lib/store/chat_replies.py, a tab catching up).

`record_reply` puts the reply after its question, or marks the question unanswered. `answered` is the
whole merge: a Regenerate's new answer replaces the old one or follows it (`Regeneration`), and a history
that already holds the reply (it has its id before it arrives) is left as it is, so it is idempotent.
"""

from __future__ import annotations

from dataclasses import dataclass

from lib.context.conversation import (
    Message,
    MessageShapeError,
    ToolCall,
    new_id,
    update,
    with_old_answers,
    without,
)
from lib.core.outcome import CallOutcome


@dataclass(frozen=True)
class Regeneration:
    """A Regenerate on its way: the question asked again, the answer it replaces or keeps beside it."""

    question_id: str
    answer_id: str
    keep: bool  # True: the old answer stays, left out of the context; False: the new one replaces it


def record_reply(
    history: list[Message], question_id: str, outcome: CallOutcome, reply_id: str | None = None
) -> list[Message]:
    """The history once the call for `question_id` is over: its reply follows it (after any incomplete
    replies earlier attempts left, which are kept), or the question is marked unanswered; a reply that
    broke off is kept, marked incomplete and left out of the next call. The reply gets `reply_id` when
    given (the id it was promised before it arrived: lib/store/chat_replies.py)."""
    reply_id = reply_id or new_id()
    position = next((i for i, m in enumerate(history) if m.id == question_id), None)
    if position is None:  # the question was deleted meanwhile: nothing to attach a reply to
        return history
    position += 1
    while position < len(history) and history[position].status == "incomplete":
        position += 1
    if outcome.ok:
        history = update(history, question_id, status="ok")
        # A reply that asks for tools keeps its calls: the user writes each result next.
        reply = Message("assistant", outcome.text, id=reply_id, tool_calls=reply_calls(outcome))
    else:
        history = update(history, question_id, status="unanswered")
        if not outcome.text:
            return history
        reply = Message("assistant", outcome.text, included=False, status="incomplete", id=reply_id)
    return [*history[:position], reply, *history[position:]]


def reply_calls(outcome: CallOutcome) -> tuple[ToolCall, ...]:
    """The tool calls a reply asked for; a call the server sent without an id or a name (which no
    result could answer) is left out, and lib/backends/reply.call_note says so."""
    calls = []
    for index, raw in enumerate(outcome.tool_calls):
        try:
            calls.append(ToolCall.from_api(raw, f"tool_calls[{index}]"))
        except MessageShapeError:
            continue
    return tuple(calls)


def answered(
    history: list[Message],
    question_id: str,
    reply_id: str,
    outcome: CallOutcome,
    regeneration: Regeneration | None = None,
) -> list[Message]:
    """The history once the call for `question_id` is over, a regenerated answer replacing the old one or
    following it; unchanged if it already holds the reply `reply_id`."""
    if any(m.id == reply_id for m in history):
        return history
    if regeneration is None or regeneration.question_id != question_id:
        return record_reply(history, question_id, outcome, reply_id)
    old = [m for m in history if m.id == regeneration.answer_id]
    recorded = record_reply(without(history, {regeneration.answer_id}), question_id, outcome, reply_id)
    return with_old_answers(recorded, question_id, old, outcome.ok, regeneration.keep)
