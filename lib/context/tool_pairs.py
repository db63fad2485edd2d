"""Tool calls and the results that answer them: which belongs to which, and what the API would refuse.

The API checks the pairs of every body it gets: each `tool` message must answer a call of the
assistant message right before it (or before its sibling results), and every call of that message
must be answered before anything else is said. A history edited by hand, a strategy that keeps
one half of a pair, an import from another tool (Agenta PR #4406: a replayed trace failed on a
`tool` message answering a call no assistant declared) all make bodies the API refuses with a 400.
So: strategies keep or drop a call together with its results (`keep_pairs`), the include toggle of
a call carries its results (`set_included`), and whatever is still wrong in a body is a named
`Finding`, which `send_blocker` shows instead of sending.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Literal

from lib.context.conversation import Message, MessageShapeError, ToolCall, checked_arguments, new_call_id
from lib.context.tools import checked_name

FindingKind = Literal["orphan_result", "unknown_call", "unanswered_call", "duplicate_call_id"]


@dataclass(frozen=True)
class Finding:
    """Something in a body the API would refuse: what, on which message, and how to fix it."""

    kind: FindingKind
    message_id: str  # the message to look at (a tool result, or the assistant message that calls)
    call_id: str
    text: str


def _call_names(messages: Iterable[Message]) -> dict[str, str]:
    """Each call id of `messages` and the function it calls."""
    return {call.id: call.name for m in messages for call in m.tool_calls}


def call_of(history: Sequence[Message], result: Message) -> Message | None:
    """The assistant message whose call `result` answers (None: no message of `history` makes it)."""
    if result.role != "tool":
        return None
    return next((m for m in history if any(c.id == result.tool_call_id for c in m.tool_calls)), None)


def results_of(history: Sequence[Message], calling: Message) -> list[Message]:
    """The `tool` messages of `history` that answer one of `calling`'s calls, in order."""
    ids = {c.id for c in calling.tool_calls}
    return [m for m in history if m.role == "tool" and m.tool_call_id in ids] if ids else []


def pair_of(history: Sequence[Message], message: Message) -> list[Message]:
    """The whole pair `message` belongs to: a call and all its results (just itself otherwise)."""
    calling = message if message.tool_calls else call_of(history, message)
    if calling is None:
        return [message]
    return [calling, *results_of(history, calling)]


def set_included(history: list[Message], message_id: str, included: bool) -> list[Message]:
    """Include or leave out `message_id`; a tool call carries the results that answer it along (a
    result without its call is refused by the API, and a call without its results too)."""
    target = next((m for m in history if m.id == message_id), None)
    if target is None:
        return history
    ids = {message_id}
    if target.tool_calls:
        ids |= {m.id for m in results_of(history, target)}
    return [replace(m, included=included) if m.id in ids else m for m in history]


def _describe(message: Message, names: dict[str, str]) -> str:
    name = names.get(message.tool_call_id or "")
    return (
        f"The tool result for {name} ({message.tool_call_id})" if name else f"The tool result {message.tool_call_id!r}"
    )


def findings(messages: Sequence[Message], history: Sequence[Message] = ()) -> list[Finding]:
    """What the API would refuse in a body sending `messages` in this order; `history` (everything
    the conversation holds, sent or not) only makes the sentences more precise."""
    everywhere = _call_names([*history, *messages])
    found: list[Finding] = []
    open_calls: dict[str, str] = {}  # the calls of the last assistant message still to be answered
    answerable: set[str] = set()  # every call id of that message (a result may follow its siblings)
    calling_id = ""
    seen_ids: set[str] = set()
    for message in messages:
        if message.role == "tool":
            call_id = message.tool_call_id or ""
            if call_id in answerable:
                open_calls.pop(call_id, None)
                continue
            if call_id in everywhere:
                text = (
                    f"{_describe(message, everywhere)} is sent without the assistant message that makes its call "
                    "right before it (it is left out, or another message comes between them): the API refuses "
                    "a tool message that answers no call. Include the call (its results follow it) or leave "
                    "this result out."
                )
                found.append(Finding("orphan_result", message.id, call_id, text))
            else:
                text = (
                    f"{_describe(message, everywhere)} names a tool_call_id that no assistant message calls: "
                    "the API refuses it. Edit its call id to one of the conversation's calls, or leave it out."
                )
                found.append(Finding("unknown_call", message.id, call_id, text))
            continue
        found += _unanswered(calling_id, open_calls, before=message)
        open_calls, answerable, calling_id = {}, set(), ""
        if message.role == "assistant" and message.tool_calls:
            for call in message.tool_calls:
                if call.id in seen_ids or call.id in open_calls:
                    text = (
                        f"The call id {call.id!r} ({call.name}) is used twice: a result could not say which "
                        "call it answers, and the API refuses it. Give each call its own id."
                    )
                    found.append(Finding("duplicate_call_id", message.id, call.id, text))
                open_calls[call.id] = call.name
            seen_ids |= set(open_calls)
            answerable, calling_id = set(open_calls), message.id
    found += _unanswered(calling_id, open_calls, before=None)
    return found


def _unanswered(calling_id: str, open_calls: dict[str, str], before: Message | None) -> list[Finding]:
    where = f"before the {before.role} message that follows it" if before is not None else "at the end of the body"
    return [
        Finding(
            "unanswered_call",
            calling_id,
            call_id,
            f"The call {name} ({call_id}) has no result {where}: the API refuses a tool call that is not "
            "answered before the conversation goes on. Write its result (Add → Tool result), include the "
            "result, or leave the call out.",
        )
        for call_id, name in open_calls.items()
    ]


def blocker(messages: Sequence[Message], history: Sequence[Message] = ()) -> str | None:
    """The first thing the API would refuse in a body sending `messages`, as a sentence (None: nothing)."""
    found = findings(messages, history)
    if not found:
        return None
    more = f" ({len(found) - 1:,} more tool pair problems after this one.)" if len(found) > 1 else ""
    return found[0].text + more


def pair_changes(kept: Sequence[tuple[Message, bool]]) -> dict[str, tuple[bool, str]]:
    """What a strategy's choices (each message and whether it is kept) become when a tool call and
    the results answering it are kept or dropped together: a pinned half keeps the whole pair, a
    dropped call drops its results, a kept call keeps its results. Only the changed messages, by id,
    each with the reason the captions show; empty for a history without tool messages."""
    history = [m for m, _ in kept]
    if not any(m.tool_calls for m in history):
        return {}
    is_kept = {m.id: k for m, k in kept}
    changed: dict[str, tuple[bool, str]] = {}
    for calling in (m for m in history if m.tool_calls):
        results = results_of(history, calling)
        if not results:
            continue
        names = ", ".join(c.name for c in calling.tool_calls)
        pair = (calling, *results)
        pinned = next((m for m in pair if m.pinned), None)
        if pinned is not None:
            half = "call" if pinned is calling else "result"
            changed |= {m.id: (True, f"kept with its pinned tool {half}") for m in pair if not is_kept[m.id]}
        elif not is_kept[calling.id]:
            reason = f"left out with its tool call ({names}): a result needs its call"
            changed |= {m.id: (False, reason) for m in results if is_kept[m.id]}
        else:
            reason = f"kept with its tool call ({names}): a call needs its results"
            changed |= {m.id: (True, reason) for m in results if not is_kept[m.id]}
    return changed


# --- writing calls and results by hand ------------------------------------------------------------


@dataclass(frozen=True)
class KnownCall:
    call: ToolCall
    message_id: str  # the assistant message that makes it
    answered: bool  # a tool message of the history answers it


def known_calls(history: Sequence[Message]) -> list[KnownCall]:
    """Every call of the history, in order, and whether a result answers it (the results' picker)."""
    answered = {m.tool_call_id for m in history if m.role == "tool"}
    return [KnownCall(c, m.id, c.id in answered) for m in history for c in m.tool_calls]


def with_call(history: list[Message], name: str, arguments: str, text: str = "", join: bool = False) -> list[Message]:
    """`history` with a call of `name` (arguments typed by hand: checked JSON, a checked name) made
    by a new assistant message or, `join`ed, by the last message when it is an assistant's tool call
    not answered yet (parallel calls are one message). MessageShapeError / ToolDefinitionError say
    what to fix."""
    call = ToolCall(new_call_id(), checked_name(name, "The function name"), checked_arguments(arguments))
    last = history[-1] if history else None
    if join and last is not None and last.tool_calls and not results_of(history, last):
        return [*history[:-1], replace(last, tool_calls=(*last.tool_calls, call), edited=True)]
    return [*history, Message("assistant", text, tool_calls=(call,))]


def with_result(history: list[Message], call_id: str, content: str) -> list[Message]:
    """`history` with a tool result answering `call_id`, placed right after the call's message and the
    results it already has (where the API wants it), not at the end."""
    calling = next((m for m in history if any(c.id == call_id for c in m.tool_calls)), None)
    if calling is None:
        raise MessageShapeError(f"No assistant message calls {call_id!r}: add the tool call first, then its result.")
    result = Message("tool", content, tool_call_id=call_id)
    after = max(i for i, m in enumerate(history) if m.id == calling.id or m in results_of(history, calling))
    return [*history[: after + 1], result, *history[after + 1 :]]


def edited_calls(text: str, before: tuple[ToolCall, ...]) -> tuple[ToolCall, ...]:
    """An assistant's calls as edited by hand: a JSON list of {"id", "name", "arguments"} (arguments as
    JSON text or as an object). A changed or new call's arguments must be a JSON object; one left as
    it was received is kept as it is (a model may write invalid JSON: that is what was said)."""
    try:
        raw = json.loads(text) if text.strip() else []
    except json.JSONDecodeError as exc:
        raise MessageShapeError(
            f"The tool calls are not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})."
        ) from None
    if not isinstance(raw, list):
        raise MessageShapeError('The tool calls must be a JSON list: [{"id": …, "name": …, "arguments": {…}}].')
    old = {(c.id, c.name, c.arguments) for c in before}
    calls: list[ToolCall] = []
    for i, item in enumerate(raw):
        if not isinstance(item, dict):
            raise MessageShapeError(f"Tool call {i + 1} must be an object with id, name and arguments.")
        arguments = item.get("arguments", "{}")
        arguments = arguments if isinstance(arguments, str) else json.dumps(arguments, ensure_ascii=False)
        call_id = item.get("id") or new_call_id()
        if not isinstance(call_id, str):
            raise MessageShapeError(f"Tool call {i + 1}: its id must be text.")
        name = checked_name(item.get("name"), f"Tool call {i + 1}'s name")
        if (call_id, name, arguments) not in old:
            checked_arguments(arguments)
        calls.append(ToolCall(call_id, name, arguments))
    duplicate = next((c.id for i, c in enumerate(calls) if c.id in {d.id for d in calls[:i]}), None)
    if duplicate:
        raise MessageShapeError(f"The call id {duplicate!r} is used twice: give each call its own id.")
    return tuple(calls)


def calls_text(calls: tuple[ToolCall, ...]) -> str:
    """The calls as the editor shows them (the inverse of `edited_calls`)."""
    return json.dumps(
        [{"id": c.id, "name": c.name, "arguments": c.arguments} for c in calls], ensure_ascii=False, indent=2
    )
