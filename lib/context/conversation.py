"""The conversation as the client keeps it: the API remembers nothing, so this is the only memory.

Every function here is pure: it takes a list of messages and returns a new one.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from lib.core.errors import MessageShapeError

# Every Chat Completions role: `developer` is the newer models' name for system instructions; a
# `tool` message is a result answering an assistant's tool call (its `tool_call_id`).
Role = Literal["system", "developer", "user", "assistant", "tool"]
ROLES: tuple[Role, ...] = ("system", "developer", "user", "assistant", "tool")
# Roles that may carry a participant `name` (the API has none on a tool result).
NAMED_ROLES: tuple[Role, ...] = ("system", "developer", "user", "assistant")
# "unanswered": the call for this user message failed; "incomplete": a reply cut off mid-stream.
Status = Literal["ok", "unanswered", "incomplete"]


def new_id() -> str:
    return uuid.uuid4().hex[:12]


def clean_text(text: str) -> str:
    """Text as it can be counted, stored and sent. A lone surrogate (half of a UTF-16 pair, as a
    paste or a bad import can carry) fails every UTF-8 encoder, so it becomes U+FFFD, while a pair
    split in two becomes the one character it encodes; NUL, which C code reads as the end of the
    text, is dropped. Everything else, other control characters included, is kept as typed."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    return text.replace("\x00", "") if "\x00" in text else text


@dataclass(frozen=True)
class ToolCall:
    """One function call an assistant message makes. `arguments` is the JSON text exactly as sent or
    received (a model may write invalid JSON: it is kept as it came, and only text typed by hand is
    checked, by `checked_arguments`)."""

    id: str
    name: str
    arguments: str = "{}"

    def __post_init__(self) -> None:
        for name in ("id", "name", "arguments"):
            object.__setattr__(self, name, clean_text(getattr(self, name)))

    def as_api(self) -> dict[str, Any]:
        return {"id": self.id, "type": "function", "function": {"name": self.name, "arguments": self.arguments}}

    @classmethod
    def from_api(cls, raw: Any, where: str = "tool_calls[0]") -> ToolCall:
        if not isinstance(raw, dict):
            raise MessageShapeError(f"{where} must be an object with `id`, `type` and `function`.")
        kind = raw.get("type", "function")
        if kind != "function":
            raise MessageShapeError(f"{where}.type is {kind!r}: only function calls are supported.")
        function = raw.get("function")
        if not isinstance(function, dict):
            raise MessageShapeError(f"{where} has no `function` object (with `name` and `arguments`).")
        call_id, name, arguments = raw.get("id"), function.get("name"), function.get("arguments", "{}")
        if not isinstance(call_id, str) or not call_id:
            raise MessageShapeError(f"{where} has no `id`: a tool result names the call it answers by its id.")
        if not isinstance(name, str) or not name:
            raise MessageShapeError(f"{where}.function has no `name`.")
        if not isinstance(arguments, str):
            raise MessageShapeError(
                f'{where}.function.arguments must be JSON text (a string such as "{{}}"), '
                f"not {type(arguments).__name__}."
            )
        return cls(call_id, name, arguments)


def new_call_id() -> str:
    return "call_" + uuid.uuid4().hex[:24]


def checked_arguments(text: str) -> str:
    """Arguments typed by hand: JSON text holding an object, returned as typed, or MessageShapeError
    saying where the JSON breaks."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise MessageShapeError(
            f"The arguments are not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}). "
            'Write an object, for example {"city": "Paris"}.'
        ) from None
    if not isinstance(value, dict):
        raise MessageShapeError(
            f'The arguments must be a JSON object such as {{"city": "Paris"}}, '
            f"not {type(value).__name__} {text.strip()[:40]}."
        )
    return text


@dataclass(frozen=True)
class Message:
    role: Role
    content: str
    included: bool = True
    id: str = field(default_factory=new_id)
    status: Status = "ok"
    pinned: bool = False  # kept by every context strategy
    # Changed by hand after it was written or received (its text or its role). Kept in memory; the
    # session file carries it once its schema has the field (docs/SESSION_SCHEMA.md).
    edited: bool = False
    tool_calls: tuple[ToolCall, ...] = ()  # an assistant's function calls (its content may be empty)
    tool_call_id: str | None = None  # a `tool` message: the call it answers
    name: str | None = None  # a participant name (system, developer, user, assistant)

    def __post_init__(self) -> None:
        # Every way into the history (typing, editing, importing, a reply) passes here.
        object.__setattr__(self, "content", clean_text(self.content))
        if self.name is not None:
            object.__setattr__(self, "name", clean_text(self.name) or None)
        if self.tool_call_id is not None:
            object.__setattr__(self, "tool_call_id", clean_text(self.tool_call_id))
        if not isinstance(self.tool_calls, tuple):
            object.__setattr__(self, "tool_calls", tuple(self.tool_calls))

    def as_api(self) -> dict[str, Any]:
        """The Chat Completions wire dict: what the request body carries for this message."""
        if self.role == "tool":
            return {"role": "tool", "tool_call_id": self.tool_call_id or "", "content": self.content}
        wire: dict[str, Any] = {"role": self.role, "content": self.content}
        if self.name and self.role in NAMED_ROLES:
            wire["name"] = self.name
        if self.tool_calls and self.role == "assistant":
            # An assistant that only calls tools says nothing: sent as "" rather than the null OpenAI's
            # replies carry, since llama-cpp-python's server refuses a null assistant content (a 500
            # naming 7 validation errors) and OpenAI's API takes either.
            wire["tool_calls"] = [call.as_api() for call in self.tool_calls]
        return wire

    @classmethod
    def from_api(cls, raw: Any, where: str = "message", **fields: Any) -> Message:
        """The message a Chat Completions wire dict describes (the inverse of `as_api`), or
        MessageShapeError naming what is malformed and where. `fields` (id, included…) are the app's own."""
        if not isinstance(raw, dict):
            raise MessageShapeError(f"{where} must be an object with a `role`.")
        role = raw.get("role")
        if role == "function":
            raise MessageShapeError(
                f"{where} has the retired `function` role: write it as a `tool` message answering a tool call."
            )
        if role not in ROLES:
            raise MessageShapeError(f"{where}.role is {role!r}; expected one of {', '.join(ROLES)}.")
        content = _content_text(raw.get("content"), f"{where}.content")
        name = raw.get("name")
        if name is not None and not isinstance(name, str):
            raise MessageShapeError(f"{where}.name must be a string.")
        calls: tuple[ToolCall, ...] = ()
        raw_calls = raw.get("tool_calls")
        if raw_calls is not None:
            if role != "assistant":
                raise MessageShapeError(f"{where} has `tool_calls` but only an assistant message can call tools.")
            if not isinstance(raw_calls, list):
                raise MessageShapeError(f"{where}.tool_calls must be a list.")
            calls = tuple(ToolCall.from_api(c, f"{where}.tool_calls[{i}]") for i, c in enumerate(raw_calls))
        call_id = raw.get("tool_call_id")
        if role == "tool":
            if not isinstance(call_id, str) or not call_id:
                raise MessageShapeError(
                    f"{where} is a tool result without `tool_call_id`: it must name the call it answers."
                )
            name = None
        elif call_id is not None:
            raise MessageShapeError(f"{where} has `tool_call_id` but only a `tool` message answers a call.")
        if role == "assistant" and not calls and raw.get("content") is None:
            content = ""
        answered = call_id if role == "tool" else None
        return cls(role, content, tool_calls=calls, tool_call_id=answered, name=name, **fields)


def _content_text(content: Any, where: str) -> str:
    """A message's content as text: a string, null (an assistant that only calls tools), or a list
    of text parts (joined: the model reads them as one text)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = []
        for i, part in enumerate(content):
            if not isinstance(part, dict) or part.get("type") != "text" or not isinstance(part.get("text"), str):
                kind = part.get("type") if isinstance(part, dict) else type(part).__name__
                raise MessageShapeError(f"{where}[{i}] is a {kind!r} part: only text parts are supported.")
            texts.append(part["text"])
        return "".join(texts)
    raise MessageShapeError(f"{where} must be text, not {type(content).__name__}.")


def is_tool_call(message: Message) -> bool:
    """An assistant message that calls at least one tool."""
    return message.role == "assistant" and bool(message.tool_calls)


def is_tool_result(message: Message) -> bool:
    return message.role == "tool"


@dataclass(frozen=True)
class SystemPrompt:
    content: str = "You are a helpful assistant."
    included: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "content", clean_text(self.content))

    def as_message(self) -> Message | None:
        if not self.included or not self.content.strip():
            return None
        return Message(role="system", content=self.content, id="system")


def append(history: list[Message], role: Role, content: str, **kwargs) -> list[Message]:
    return [*history, Message(role=role, content=content, **kwargs)]


def update(history: list[Message], message_id: str, **changes) -> list[Message]:
    return [replace(m, **changes) if m.id == message_id else m for m in history]


def delete(history: list[Message], message_id: str) -> list[Message]:
    return [m for m in history if m.id != message_id]


def include_all(history: list[Message], included: bool) -> list[Message]:
    return [replace(m, included=included) for m in history]


def turn_starts(history: list[Message]) -> list[int]:
    """Indexes where a turn begins: each user message opens one (leading replies form turn 0)."""
    starts = [i for i, m in enumerate(history) if m.role == "user"]
    if history and (not starts or starts[0] != 0):
        starts.insert(0, 0)
    return starts


def include_last_turns(history: list[Message], turns: int) -> list[Message]:
    """Include only the messages of the last `turns` turns (a turn = a user message and its replies)."""
    if turns <= 0:
        return include_all(history, False)
    starts = turn_starts(history)
    first_kept = starts[-turns] if turns <= len(starts) else 0
    return [replace(m, included=i >= first_kept) for i, m in enumerate(history)]


def selected(system: SystemPrompt, history: list[Message]) -> list[Message]:
    """The messages that will be sent, in order: the system prompt (if included), then the rest."""
    head = system.as_message()
    return ([head] if head else []) + [m for m in history if m.included]


def count_turns(history: list[Message]) -> int:
    return len(turn_starts(history))


# --- editing the history by hand -------------------------------------------------------------


def edit(
    history: list[Message], message_id: str, content: str | None = None, role: Role | None = None
) -> list[Message]:
    """`message_id` with new text and/or a new role, marked edited when either really changed."""

    def changed(m: Message) -> Message:
        new_content = m.content if content is None else clean_text(content)
        new_role = m.role if role is None else role
        if new_content == m.content and new_role == m.role:
            return m
        return replace(m, content=new_content, role=new_role, edited=True)

    return [changed(m) if m.id == message_id else m for m in history]


@dataclass(frozen=True)
class Removed:
    """A message taken out of the history, and where it was: enough to put it back (Undo)."""

    message: Message
    index: int
    after_id: str | None  # the message it followed (None: it was first)
    before_id: str | None  # the message that followed it (None: it was last)


def _position(history: list[Message], message_id: str | None) -> int | None:
    return next((i for i, m in enumerate(history) if m.id == message_id), None)


def remove(history: list[Message], message_id: str) -> tuple[list[Message], Removed | None]:
    """The history without `message_id`, and what it takes to undo that (None: no such message)."""
    index = _position(history, message_id)
    if index is None:
        return history, None
    after_id = history[index - 1].id if index > 0 else None
    before_id = history[index + 1].id if index + 1 < len(history) else None
    return history[:index] + history[index + 1 :], Removed(history[index], index, after_id, before_id)


def put_back(history: list[Message], removed: Removed) -> list[Message]:
    """Undo `remove`: the message returns between its old neighbours (after the one it followed, or
    else before the one that followed it, or else at its old position); never twice."""
    if _position(history, removed.message.id) is not None:
        return history
    after = _position(history, removed.after_id)
    before = _position(history, removed.before_id)
    if removed.after_id is None:
        index = 0
    elif after is not None:
        index = after + 1
    elif before is not None:
        index = before
    else:
        index = min(removed.index, len(history))
    return [*history[:index], removed.message, *history[index:]]


def answers_to(history: list[Message], question_id: str) -> list[Message]:
    """The replies that follow `question_id`: the assistant messages up to the next other message."""
    index = next((i for i, m in enumerate(history) if m.id == question_id), None)
    if index is None:
        return []
    answers = []
    for message in history[index + 1 :]:
        if message.role != "assistant":
            break
        answers.append(message)
    return answers


def regenerable(history: list[Message]) -> Message | None:
    """The question a Regenerate asks again: the last user message, when only its replies follow it."""
    for message in reversed(history):
        if message.role == "user":
            return message if answers_to(history, message.id) else None
        if message.role != "assistant":
            return None
    return None


def after(history: list[Message], message_id: str) -> list[Message]:
    """The messages that follow `message_id` (what re-running from it drops)."""
    index = next((i for i, m in enumerate(history) if m.id == message_id), None)
    return [] if index is None else history[index + 1 :]


def cut_after(history: list[Message], message_id: str) -> list[Message]:
    """The history up to and including `message_id`."""
    index = next((i for i, m in enumerate(history) if m.id == message_id), None)
    return history if index is None else history[: index + 1]


def without(history: list[Message], ids: set[str] | frozenset[str]) -> list[Message]:
    return [m for m in history if m.id not in ids]


def insert_after(history: list[Message], anchor_id: str, messages: list[Message]) -> list[Message]:
    """`messages` placed right after `anchor_id` (at the end if it is gone)."""
    index = next((i for i, m in enumerate(history) if m.id == anchor_id), len(history) - 1)
    return [*history[: index + 1], *messages, *history[index + 1 :]]


def with_old_answers(
    history: list[Message], question_id: str, old: list[Message], answered: bool, keep: bool
) -> list[Message]:
    """After a Regenerate of `question_id` (its `old` answers taken out while it ran): a new answer
    replaces them, or `keep` puts them back before it, left out of the next call (an alternative to
    read, not to send); if no new answer came, they come back as they were and the question, still
    answered, is not marked unanswered."""
    if answered:
        kept = [replace(m, included=False) for m in old] if keep else []
        return insert_after(history, question_id, kept) if kept else history
    if not old:
        return history
    return insert_after(update(history, question_id, status="ok"), question_id, old)
