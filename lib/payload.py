"""From the selected messages to the request plan: the exact body the SDK will POST, and its cost.

The plan's `body` is the very dict passed to `client.chat.completions.create(**body)`; the preview
renders it, and `body_bytes` is its length serialised the way the `openai` SDK serialises it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property
from typing import Literal

from lib.conversation import Message, clean_text
from lib.models import ModelInfo
from lib.tokens import PromptCount, PromptCounter

TokenLimitField = Literal["max_tokens", "max_completion_tokens"]
EndUserField = Literal["user", "safety_identifier"]


@dataclass(frozen=True)
class Sampling:
    temperature: float = 0.7
    max_tokens: int = 256
    # OpenAI's newer models take max_completion_tokens; most compatible servers only max_tokens.
    token_limit_field: TokenLimitField = "max_tokens"
    stream: bool = True
    # A hashed session id (lib/session.end_user_id) lets a provider tie the stateless calls together.
    end_user: str | None = None
    end_user_field: EndUserField = "user"


def serialise(body: dict) -> bytes:
    """The UTF-8 JSON body exactly as the `openai` SDK writes it on the wire."""
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()


def build_body(model: str, messages: list[dict], sampling: Sampling, reasoning: bool = False) -> dict:
    # Cleaned again here, for bodies built from text that never was a Message: the SDK's own
    # UTF-8 encoding would fail on a lone surrogate, and then nothing would be sent at all.
    messages = [
        {**m, "content": clean_text(m["content"])} if isinstance(m.get("content"), str) else m for m in messages
    ]
    body: dict = {"model": model, "messages": messages}
    if not reasoning:
        body["temperature"] = sampling.temperature
    body[sampling.token_limit_field] = sampling.max_tokens
    body["stream"] = sampling.stream
    if sampling.stream:
        body["stream_options"] = {"include_usage": True}  # else most servers omit usage when streaming
    if sampling.end_user:
        body[sampling.end_user_field] = sampling.end_user
    return body


@dataclass(frozen=True)
class RequestPlan:
    messages: tuple[Message, ...]  # what is sent, in order (the system prompt has id "system")
    body: dict
    body_bytes: int
    count: PromptCount
    model: ModelInfo
    max_tokens: int

    @property
    def prompt_tokens(self) -> int:
        return self.count.total

    @property
    def context_share(self) -> float:
        return self.count.total / self.model.context_window

    @property
    def input_cost(self) -> float | None:
        return self.model.input_cost(self.count.total)

    @property
    def fits(self) -> bool:
        return self.count.total <= self.model.context_window

    @property
    def reply_room(self) -> int:
        """Tokens left in the window for the answer."""
        return self.model.context_window - self.count.total

    def tokens_of(self, message_id: str) -> int | None:
        return self._tokens_by_id.get(message_id)

    @cached_property
    def _tokens_by_id(self) -> dict[str, int]:
        return {m.id: n for m, n in zip(self.messages, self.count.per_message, strict=True)}


def plan_request(
    messages: list[Message],
    model: ModelInfo,
    counter: PromptCounter,
    sampling: Sampling,
    wire_model: str | None = None,
) -> RequestPlan:
    """`wire_model` is the name the server knows (an Azure deployment, a server alias)."""
    api_messages = [m.as_api() for m in messages]
    body = build_body(wire_model or model.name, api_messages, sampling, model.reasoning)
    return RequestPlan(
        messages=tuple(messages),
        body=body,
        body_bytes=len(serialise(body)),
        count=counter.count(api_messages),
        model=model,
        max_tokens=sampling.max_tokens,
    )


def blocking_reason(plan: RequestPlan, new_message: str) -> str | None:
    """Why this plan must not be sent, or None if it may."""
    if not clean_text(new_message).strip():
        return "The message is empty: type something to send."
    if not plan.fits:
        return (
            f"The prompt is {plan.prompt_tokens:,} tokens but {plan.model.name}'s context window is "
            f"{plan.model.context_window:,}. Leave some messages out or shorten them."
        )
    return None
