"""The conversation as the client keeps it: the API remembers nothing, so this is the only memory.

Every function here is pure: it takes a list of messages and returns a new one.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace
from typing import Literal

Role = Literal["system", "user", "assistant"]
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
class Message:
    role: Role
    content: str
    included: bool = True
    id: str = field(default_factory=new_id)
    status: Status = "ok"
    pinned: bool = False  # kept by every context strategy

    def __post_init__(self) -> None:
        # Every way into the history (typing, editing, importing, a reply) passes here.
        object.__setattr__(self, "content", clean_text(self.content))

    def as_api(self) -> dict[str, str]:
        return {"role": self.role, "content": self.content}


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
