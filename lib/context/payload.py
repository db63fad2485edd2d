"""From the selected messages to the request plan: the exact body the SDK will POST, and its cost.

The plan's `body` is the very dict passed to `client.chat.completions.create(**body)`, its keys in
the order the SDK writes them: `serialise(body)` is byte for byte what the server receives, the
preview renders it, and `body_bytes` is its length.
"""

from __future__ import annotations

import contextlib
import inspect
import json
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import Any

from lib.context.conversation import Message, clean_text
from lib.context.tokens import PromptCount, PromptCounter
from lib.context.tools import NO_TOOLS, ToolSettings
from lib.core.models import ModelInfo
from lib.core.wire import EndUserField, TokenLimitField


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
    seed: int | None = None  # Compare's repeated runs ask for the same sampling each time


def serialise(body: dict) -> bytes:
    """The UTF-8 JSON body exactly as the `openai` SDK writes it on the wire (`openapi_dumps`)."""
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()


# Arguments of `create()` that are not fields of the body.
_REQUEST_OPTIONS = {"extra_headers", "extra_query", "extra_body", "timeout"}


class _Probed(Exception):
    pass


@lru_cache(maxsize=1)
def wire_order() -> tuple[str, ...]:
    """The order in which the installed `openai` SDK writes the body's top-level keys.

    `create()` rebuilds the body from its keyword arguments in an order of its own (today: model,
    stream, service_tier, messages, then the rest alphabetically), which is neither the order it was
    given nor its signature's. Rather than copy that order here, ask the SDK: one call with every
    field, through a transport that keeps the bytes and sends nothing."""
    import httpx2
    import openai
    from openai.resources.chat.completions import Completions

    fields = [
        name
        for name, parameter in inspect.signature(Completions.create).parameters.items()
        if parameter.kind is inspect.Parameter.KEYWORD_ONLY and name not in _REQUEST_OPTIONS
    ]
    sent: list[bytes] = []

    def keep(request: httpx2.Request) -> httpx2.Response:
        sent.append(request.content)
        raise _Probed

    http = httpx2.Client(transport=httpx2.MockTransport(keep))
    client = openai.OpenAI(base_url="http://probe.invalid/v1", api_key="probe", max_retries=0, http_client=http)
    # The transport's refusal ends the call, as it is or wrapped by the SDK: the bytes are kept.
    with client, contextlib.suppress(_Probed, openai.APIConnectionError):
        probe: dict[str, Any] = {**dict.fromkeys(fields), "model": "m", "messages": [], "stream": False}
        client.chat.completions.create(**probe)
    return tuple(json.loads(sent[0]))


def in_wire_order(body: dict) -> dict:
    """`body` with its keys in the SDK's order; a key the SDK does not know (an extra) stays last."""
    rank = {name: index for index, name in enumerate(wire_order())}
    return {key: body[key] for key in sorted(body, key=lambda key: rank.get(key, len(rank)))}


def build_body(
    model: str, messages: list[dict], sampling: Sampling, reasoning: bool = False, tools: ToolSettings = NO_TOOLS
) -> dict:
    """The request body. `tools`, `tool_choice` and `parallel_tool_calls` are in it only when at least
    one tool is included (the API refuses a tool_choice without tools)."""
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
    if sampling.seed is not None:
        body["seed"] = sampling.seed
    body.update(tools.body_fields())
    return in_wire_order(body)


@dataclass(frozen=True)
class RequestPlan:
    messages: tuple[Message, ...]  # what is sent, in order (the system prompt has id "system")
    body: dict
    body_bytes: int
    count: PromptCount
    model: ModelInfo
    max_tokens: int
    tools: ToolSettings = NO_TOOLS  # the tools the body carries (their included definitions)

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
        """Whether the prompt leaves room for at least one reply token: llama.cpp refuses a prompt
        that fills the window exactly ("Requested tokens (8192) exceed context window of 8192")."""
        return self.count.total < self.model.context_window

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
    tools: ToolSettings = NO_TOOLS,
) -> RequestPlan:
    """`wire_model` is the name the server knows (an Azure deployment, a server alias)."""
    api_messages = [m.as_api() for m in messages]
    body = build_body(wire_model or model.name, api_messages, sampling, model.reasoning, tools)
    # The definitions the body carries are read by the model too: the counter counts them with the
    # messages (a counter without tool support is never given any).
    api_tools = body.get("tools")
    count = counter.count(api_messages, tools=api_tools) if api_tools else counter.count(api_messages)
    return RequestPlan(
        messages=tuple(messages),
        body=body,
        body_bytes=len(serialise(body)),
        count=count,
        model=model,
        max_tokens=sampling.max_tokens,
        tools=tools,
    )


def blocking_reason(plan: RequestPlan, new_message: str) -> str | None:
    """Why this plan must not be sent, or None if it may."""
    if not clean_text(new_message).strip():
        return "The message is empty: type something to send."
    if plan.model.encoding == "embedded" and any(m.role == "developer" for m in plan.messages):
        # Measured: llama-cpp-python's server answers a developer message with a 500 (its request
        # model lists system, user, assistant, tool and function only).
        return (
            "The embedded model's server refuses the developer role (it takes system, user, assistant and "
            "tool): change that message's role to system, or leave it out."
        )
    if not plan.fits:
        window = f"{plan.model.name}'s context window is {plan.model.context_window:,}"
        if plan.reply_room == 0:
            problem = f"The prompt is {plan.prompt_tokens:,} tokens and {window}: no room is left for the reply."
        else:
            problem = f"The prompt is {plan.prompt_tokens:,} tokens but {window}."
        return f"{problem} Leave some messages out or shorten them."
    return None
