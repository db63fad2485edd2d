"""The answer's context, split into the units attribution scores: every message sent before the question.

A unit is one message of the request as it was sent: the system prompt, a summary note, each kept
history message (pinned ones too). The question is never a unit: without it there is nothing to
answer. An ablated context is the same request with some units left out, built by the one request
builder (`lib.context.request.build_request`), so what is scored or sent is exactly what the chat would send:
the same tool definitions (and tool_choice), and tool rounds whole — leaving out a tool call leaves out
the results that answer it, and leaving out a result leaves out its call and that call's other results.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cached_property

from lib.context.conversation import Message, SystemPrompt
from lib.context.payload import RequestPlan, Sampling
from lib.context.request import Request, Target, build_request
from lib.context.strategies import SUMMARY_ID, Strategy
from lib.context.tool_pairs import pair_of
from lib.core.errors import AttributionError
from lib.core.wire import EndUserField, TokenLimitField

# A kept/left-out flag per unit, in the order the units are sent (True: the unit is sent).
Mask = tuple[bool, ...]
SYSTEM_ID = "system"  # the id lib.context.conversation gives the system prompt's message
SNIPPET_CHARS = 80


@dataclass(frozen=True)
class Unit:
    index: int
    message: Message  # as sent: the system prompt has id "system", a summary note id "summary"
    tokens: int  # its tokens in the full request, chat-format wrapping included
    of: int = 0  # how many units the context has (0: not said)

    @property
    def kind(self) -> str:
        if self.message.id == SYSTEM_ID:
            return "system prompt"
        if self.message.id == SUMMARY_ID:
            return "summary"
        return ("pinned " if self.message.pinned else "") + self.message.role

    @property
    def snippet(self) -> str:
        """The message's start on one line, for labels."""
        text = " ".join(self.message.content.split())
        return text if len(text) <= SNIPPET_CHARS else text[: SNIPPET_CHARS - 1].rstrip() + "…"

    @property
    def label(self) -> str:
        """Its position as a position ("message 3 of 7"), never "#3", which reads as a rank."""
        position = f"message {self.index + 1} of {self.of}" if self.of else f"message {self.index + 1}"
        return f"{position} ({self.kind})"


def sampling_of(body: dict) -> Sampling:
    """The sampling a planned body was built with (for a request known only by its plan: Compare's)."""
    field: TokenLimitField = "max_completion_tokens" if "max_completion_tokens" in body else "max_tokens"
    end_user_field: EndUserField = "safety_identifier" if "safety_identifier" in body else "user"
    return Sampling(
        temperature=float(body.get("temperature", 1.0)),
        max_tokens=int(body.get(field) or 256),
        token_limit_field=field,
        stream=bool(body.get("stream", False)),
        end_user=body.get(end_user_field),
        end_user_field=end_user_field,
        seed=body.get("seed"),
    )


@dataclass(frozen=True)
class AnswerContext:
    """An answer and the request that carried its question: the units, and any ablation of them."""

    plan: RequestPlan  # the full request; its last message is the question
    answer: str
    target: Target
    sampling: Sampling  # what every ablated request is built with (regeneration: temperature 0)

    def __post_init__(self) -> None:
        if not self.plan.messages or self.plan.messages[-1].role != "user":
            raise AttributionError("This answer has no question before it: there is nothing to attribute it to.")
        if not self.units:
            raise AttributionError("Only the question was sent for this answer: there is no context to attribute.")

    @classmethod
    def of(cls, request: Request | RequestPlan, answer: str, target: Target, sampling: Sampling | None = None):
        plan = request.plan if isinstance(request, Request) else request
        return cls(plan, answer, target, sampling or sampling_of(plan.body))

    @property
    def question(self) -> Message:
        return self.plan.messages[-1]

    @cached_property
    def units(self) -> tuple[Unit, ...]:
        sent = self.plan.messages[:-1]
        pairs = list(zip(sent, self.plan.count.per_message, strict=False))
        return tuple(Unit(i, m, n, len(pairs)) for i, (m, n) in enumerate(pairs))

    @property
    def full(self) -> Mask:
        return (True,) * len(self.units)

    def paired(self, kept: Mask) -> Mask:
        """`kept` with tool rounds whole: a unit left out takes the rest of its pair with it (a call and
        every result that answers it), since the API refuses a result without its call and a call
        without its results. Without tool calls in the context, `kept` itself."""
        messages = [u.message for u in self.units]
        if not any(m.tool_calls or m.role == "tool" for m in messages):
            return kept
        out = {
            id(m)
            for unit, sent in zip(self.units, kept, strict=True)
            if not sent
            for m in pair_of(messages, unit.message)
        }
        return tuple(sent and id(unit.message) not in out for unit, sent in zip(self.units, kept, strict=True))

    def request_for(self, kept: Mask) -> Request:
        """The same request with the units `kept` says are left out removed (with the rest of their
        tool round: `paired`), from the one builder, with the tool definitions the request sent."""
        if len(kept) != len(self.units):
            raise AttributionError(f"A mask of {len(kept)} for {len(self.units)} units.")
        system = SystemPrompt("", included=False)
        history: list[Message] = []
        for unit, sent in zip(self.units, self.paired(kept), strict=True):
            if not sent:
                continue
            if unit.message.id == SYSTEM_ID:
                system = SystemPrompt(unit.message.content)
            else:
                # "full" keeps every message given, pinned or not, in order; a summary note given as a
                # message lands where the summarising strategy puts it: right after the system prompt.
                history.append(replace(unit.message, included=True))
        return build_request(
            system, history, self.question, Strategy("full"), self.target, self.sampling, tools=self.plan.tools
        )

    def prompt_tokens(self, kept: Mask) -> int:
        return self.request_for(kept).plan.prompt_tokens

    def kept_units(self, kept: Mask) -> list[Unit]:
        return [u for u, sent in zip(self.units, kept, strict=True) if sent]
