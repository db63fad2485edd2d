"""What fills the next call: the prompt split into parts a stakeholder can name, against the window.

Every agent CLI now shows this (system prompt, tool schemas, messages, tool results, free space):
the API is stateless, so every call resends all of it, and in a tool-using context the old tool
results are usually the largest part. The split is made from the planned request itself (the one
request builder's `Request`), so its prompt parts add up to exactly the meter's prompt tokens:
each message's count (its chat-format wrapping included, as the counter reports it) goes to one
part; what belongs to no message (the reply priming, a template's additions, the tool definitions
the template renders) is the rest.

Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from lib.context import glossary
from lib.context.conversation import Message, is_tool_call, is_tool_result
from lib.context.request import Request
from lib.context.strategies import SUMMARY_ID

Part = Literal[
    "system",
    "tools",
    "pinned",
    "conversation",
    "tool_calls",
    "tool_results",
    "summary",
    "question",
    "overhead",
    "reserve",
    "free",
]

# In the bar's order: what is fixed first, then the history, the question, and the window's rest.
PARTS: tuple[Part, ...] = (
    "system",
    "tools",
    "pinned",
    "conversation",
    "tool_calls",
    "tool_results",
    "summary",
    "question",
    "overhead",
    "reserve",
    "free",
)
PROMPT_PARTS: tuple[Part, ...] = PARTS[:9]

LABELS: dict[Part, str] = {
    "system": "System prompt",
    "tools": "Tool definitions",
    "pinned": "Pinned messages",
    "conversation": "Conversation",
    "tool_calls": "Tool calls",
    "tool_results": "Tool results",
    "summary": "Summary note",
    "question": "The question",
    "overhead": "Chat format",
    "reserve": "Reserved for the reply",
    "free": "Free space",
}

# One sentence each, for the hover: what the part is and why the call carries it.
EXPLANATIONS: dict[Part, str] = {
    "system": "The instructions sent first in every call.",
    "tools": "The tools the model may call, described in JSON Schema: resent with every call.",
    "pinned": "Messages you pinned: every strategy keeps them.",
    "conversation": "Earlier questions and answers the strategy keeps: the model's only memory.",
    "tool_calls": "The model's earlier requests to run a tool (name and arguments).",
    "tool_results": "What the tools returned: resent in every later call until a strategy clears them.",
    "summary": "A short note that stands in for older messages the summarising strategy left out.",
    "question": "The new message this call asks the model to answer.",
    "overhead": glossary.explain("chat_format_extra"),  # the same words as on the meter (lib/context/glossary.py)
    "reserve": glossary.explain("reply_reserve"),
    "free": "What is left of the model's context window.",
}


@dataclass(frozen=True)
class Segment:
    part: Part
    tokens: int

    @property
    def label(self) -> str:
        return LABELS[self.part]

    @property
    def explanation(self) -> str:
        return EXPLANATIONS[self.part]


@dataclass(frozen=True)
class Contributor:
    """One message of the call and what it adds: the bar's list names the largest."""

    message_id: str
    role: str
    part: Part
    tokens: int
    preview: str  # the message's start, on one line (rendered inert by the page)


@dataclass(frozen=True)
class Composition:
    segments: tuple[Segment, ...]  # one per part, in PARTS order (zero-sized ones included)
    prompt_tokens: int  # the meter's number: the prompt parts add up to it
    window: int
    window_source: str  # where the window's size comes from ("reported by the server", "the model table")
    max_tokens: int
    contributors: tuple[Contributor, ...]  # every message sent, largest first
    exact: bool

    def tokens(self, part: Part) -> int:
        return next(s.tokens for s in self.segments if s.part == part)

    @property
    def over(self) -> int:
        """Tokens by which the prompt and the reply limit together exceed the window (0: they fit)."""
        return max(0, self.prompt_tokens + self.max_tokens - self.window)

    def largest(self, count: int = 5) -> tuple[Contributor, ...]:
        return self.contributors[:count]

    def shown(self) -> tuple[Segment, ...]:
        """The parts with any tokens, for a bar or a legend."""
        return tuple(s for s in self.segments if s.tokens > 0)


PREVIEW_CHARS = 60


def part_of(message: Message, question_id: str | None) -> Part:
    """Where a sent message belongs. The question and the system prompt are what they are even when
    pinned; a pinned message of any other shape counts as pinned (every strategy keeps it)."""
    if message.id == "system":
        return "system"
    if message.id == SUMMARY_ID:
        return "summary"
    if question_id is not None and message.id == question_id:
        return "question"
    if message.pinned:
        return "pinned"
    if is_tool_call(message):
        return "tool_calls"
    if is_tool_result(message):
        return "tool_results"
    return "conversation"


def _preview(message: Message) -> str:
    text = " ".join((message.content or "").split())
    if not text and message.tool_calls:
        text = ", ".join(f"{call.name}({call.arguments})" for call in message.tool_calls)
    return text[:PREVIEW_CHARS] + "…" if len(text) > PREVIEW_CHARS else text


def compose(request: Request, window: int | None = None, window_source: str = "the model table") -> Composition:
    """The request's prompt by part, with the reply's reserve and the free space against `window`
    (the model table's when None). The tool definitions are what the counter says the model reads
    of them (`PromptCount.tool_tokens`: in the total, in no message); the chat format is the rest."""
    plan = request.plan
    question_id = request.question.id if request.question is not None else None
    sums: dict[Part, int] = dict.fromkeys(PARTS, 0)
    contributors = []
    for message, tokens in zip(plan.messages, plan.count.per_message, strict=True):
        part = part_of(message, question_id)
        sums[part] += tokens
        contributors.append(Contributor(message.id, message.role, part, tokens, _preview(message)))
    # What no message carries: the tool definitions as the model reads them, and the chat format.
    rest = plan.prompt_tokens - sum(plan.count.per_message)
    sums["tools"] = getattr(plan.count, "tool_tokens", 0)
    sums["overhead"] = rest - sums["tools"]
    size = plan.model.context_window if window is None else window
    prompt = plan.prompt_tokens
    sums["reserve"] = max(0, min(plan.max_tokens, size - prompt))
    sums["free"] = max(0, size - prompt - sums["reserve"])
    contributors.sort(key=lambda c: c.tokens, reverse=True)
    return Composition(
        segments=tuple(Segment(part, sums[part]) for part in PARTS),
        prompt_tokens=prompt,
        window=size,
        window_source=window_source,
        max_tokens=plan.max_tokens,
        contributors=tuple(contributors),
        exact=plan.count.exact,
    )
