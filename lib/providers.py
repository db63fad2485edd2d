"""Every backend through the `openai` SDK: OpenAI, Azure OpenAI, any compatible URL, the embedded model.

One code path: a `ProviderConfig` makes a client, `stream_chat` sends a plan's body and records
what came back (text, usage, timings) in a `CallOutcome`; `describe_error` turns any failure into
a sentence a user can act on, with secrets redacted.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import urlsplit

import openai
import pydantic

from lib.payload import EndUserField, TokenLimitField
from lib.retry import parse_retry_after

Kind = Literal["embedded", "openai", "azure", "compatible"]
KIND_LABELS: dict[Kind, str] = {
    "embedded": "Embedded (SmolLM2-135M, offline)",
    "openai": "OpenAI",
    "azure": "Azure OpenAI",
    "compatible": "OpenAI-compatible URL (Ollama, vLLM, LM Studio, llama.cpp)",
}
OPENAI_BASE_URL = "https://api.openai.com/v1"
DEFAULT_AZURE_API_VERSION = "2024-10-21"
# Servers that check no key still need a non-empty one for the SDK.
PLACEHOLDER_KEY = "not-needed"


@dataclass(frozen=True)
class ProviderConfig:
    kind: Kind
    model: str  # the name on the wire: an OpenAI model, an Azure deployment, a server's model id
    base_url: str = ""  # compatible servers and the embedded one; the Azure endpoint for Azure
    api_key: str = field(default="", repr=False)
    api_version: str = DEFAULT_AZURE_API_VERSION
    timeout_s: float = 60.0

    @property
    def endpoint(self) -> str:
        """Where the POST goes, for the preview and the snippets."""
        if self.kind == "openai":
            return f"{OPENAI_BASE_URL}/chat/completions"
        if self.kind == "azure":
            root = self.base_url.rstrip("/")
            return f"{root}/openai/deployments/{self.model}/chat/completions?api-version={self.api_version}"
        return f"{self.base_url.rstrip('/')}/chat/completions"

    @property
    def token_limit_field(self) -> TokenLimitField:
        return "max_completion_tokens" if self.kind in ("openai", "azure") else "max_tokens"

    @property
    def end_user_field(self) -> EndUserField:
        # OpenAI documents `safety_identifier` in place of the older `user`; `user` is the field the
        # other backends have long taken (llama-cpp-python's server declares it, not the new one).
        return "safety_identifier" if self.kind == "openai" else "user"

    @property
    def secrets(self) -> tuple[str, ...]:
        return (self.api_key,) if self.api_key and self.api_key != PLACEHOLDER_KEY else ()

    def missing(self) -> str | None:
        """What the user still has to fill in, or None when the config can make a call."""
        if self.kind in ("openai", "azure") and not self.api_key:
            return "an API key"
        if self.kind in ("azure", "compatible", "embedded") and not valid_base_url(self.base_url):
            what = "the endpoint URL" if self.kind == "azure" else "the base URL"
            return f"{what} (a full http:// or https:// address)" if self.base_url else what
        if not self.model:
            return "the deployment name" if self.kind == "azure" else "a model"
        return None


def valid_base_url(url: str) -> bool:
    """Whether `url` can be a server's address: the SDK refuses a bad one (say, a bad port) with an exception."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - parsing the port is the check: it raises on a bad one
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def make_client(config: ProviderConfig) -> openai.OpenAI:
    # Retries are the user's to see and trigger, not the SDK's to hide.
    common = {"timeout": config.timeout_s, "max_retries": 0}
    if config.kind == "azure":
        return openai.AzureOpenAI(
            azure_endpoint=config.base_url,
            api_key=config.api_key,
            api_version=config.api_version,
            **common,
        )
    base_url = OPENAI_BASE_URL if config.kind == "openai" else config.base_url
    return openai.OpenAI(base_url=base_url, api_key=config.api_key or PLACEHOLDER_KEY, **common)


def list_models(client: openai.OpenAI) -> list[str]:
    """Model ids the server lists at /models; empty where it has no such list or fails."""
    try:
        return sorted(m.id for m in client.models.list())
    except (openai.OpenAIError, ValueError, TypeError):
        return []


@dataclass
class CallOutcome:
    text: str = ""
    prompt_tokens: int | None = None  # as the server reports it; None when it reports none
    completion_tokens: int | None = None
    # Prompt tokens the server did not evaluate again (its prompt cache): usage.prompt_tokens_details.
    cached_tokens: int | None = None
    latency_s: float | None = None
    ttft_s: float | None = None
    finish_reason: str | None = None
    error: str | None = None
    # For deciding whether to retry (lib/retry.py): the HTTP status, the error's code, the wait asked for.
    status_code: int | None = None
    error_code: str | None = None
    retry_after_s: float | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def truncated(self) -> bool:
        """A whole reply that stopped at the reply-token limit rather than where the model ended it."""
        return self.ok and self.finish_reason == "length"

    @property
    def incomplete(self) -> bool:
        """A reply that began streaming and then broke off."""
        return self.error is not None and bool(self.text)


def stream_chat(
    client: openai.OpenAI, body: dict, outcome: CallOutcome, secrets: tuple[str, ...] = ()
) -> Iterator[str]:
    """Send `body`, yield the reply's text as it arrives, and fill `outcome` as it goes.

    It never raises for what the server does: every failure ends as `outcome.error`, a sentence."""
    started = time.perf_counter()
    try:
        if body.get("stream"):
            stream = client.chat.completions.create(**body)
            try:
                yield from _read_stream(stream, outcome, started)
            finally:
                stream.close()  # a reader that stops early hangs up: the server stops generating
        else:
            yield from _read_whole(client.chat.completions.create(**body), outcome, started)
        if outcome.finish_reason is None:
            outcome.error = cut_off("the stream ended without a finish") if outcome.text else _nothing(outcome)
    except Exception as exc:  # the server is not ours: whatever it sends must end as a message, not a traceback
        _record_failure(exc, outcome, secrets)
    finally:
        outcome.latency_s = time.perf_counter() - started


NOT_OPENAI_HINT = "check that the base URL is an OpenAI-compatible API (it usually ends in /v1), then retry."
NO_CHOICES = (
    "The server answered, but with no reply (an empty choices list): a content filter or a server fault. "
    "Retry, or try another model."
)


STREAM_ERROR = "The server stopped the reply with an error: retry, or try another model"


def _nothing(outcome: CallOutcome) -> str:
    """An answer with no text and no finish: empty choices, or (not even usage) no reply data at all."""
    return NO_CHOICES if outcome.prompt_tokens is not None else f"The server sent no reply data: {NOT_OPENAI_HINT}"


def cut_off(why: str) -> str:
    return (
        f"The reply was cut off part-way ({why}): the partial answer is kept, marked incomplete. Retry for a full one."
    )


def _record_failure(exc: Exception, outcome: CallOutcome, secrets: tuple[str, ...]) -> None:
    if isinstance(exc, openai.APIStatusError):
        outcome.status_code = exc.status_code
        outcome.error_code = exc.code if isinstance(getattr(exc, "code", None), str) else None
        outcome.retry_after_s = parse_retry_after(exc.response.headers) if exc.response is not None else None
    if not outcome.text:
        outcome.error = describe_error(exc, secrets)
    elif isinstance(exc, openai.APITimeoutError):
        outcome.error = cut_off("no more text before the timeout")
    elif isinstance(exc, openai.APIConnectionError):
        outcome.error = cut_off("the connection dropped")
    else:
        outcome.error = cut_off(describe_error(exc, secrets).rstrip("."))


def _record_usage(usage, outcome: CallOutcome) -> None:
    if usage is not None:
        outcome.prompt_tokens = usage.prompt_tokens
        outcome.completion_tokens = usage.completion_tokens
        cached = getattr(getattr(usage, "prompt_tokens_details", None), "cached_tokens", None)
        outcome.cached_tokens = cached if isinstance(cached, int) and not isinstance(cached, bool) else None


def _read_stream(stream, outcome: CallOutcome, started: float) -> Iterator[str]:
    for chunk in stream:
        _record_usage(chunk.usage, outcome)
        for choice in chunk.choices:
            outcome.finish_reason = choice.finish_reason or outcome.finish_reason
            delta = choice.delta.content if choice.delta else None
            if delta:
                if outcome.ttft_s is None:
                    outcome.ttft_s = time.perf_counter() - started
                outcome.text += delta
                yield delta


def _read_whole(completion, outcome: CallOutcome, started: float) -> Iterator[str]:
    _record_usage(completion.usage, outcome)
    outcome.ttft_s = time.perf_counter() - started
    for choice in completion.choices[:1]:
        outcome.finish_reason = choice.finish_reason
        outcome.text = choice.message.content or ""
        if outcome.text:
            yield outcome.text


_KEY_PATTERN = re.compile(r"\b(sk-[A-Za-z0-9_\-*]{3,}|[A-Fa-f0-9]{32,})\b")
# Servers echo part of a rejected key ("Incorrect API key provided: abcd1234…"): a run this long
# copied from the key is masked too. Keys are random, so a chance match this long does not happen.
KEY_FRAGMENT = 6


def _mask_fragments(text: str, secret: str) -> str:
    if len(secret) < 4:
        return text
    size = min(KEY_FRAGMENT, len(secret))
    pieces = {secret[i : i + size] for i in range(len(secret) - size + 1)}
    spans: list[list[int]] = []  # [start, end) of overlapping matches, merged
    for start in range(len(text) - size + 1):
        if text[start : start + size] in pieces:
            if spans and start <= spans[-1][1]:
                spans[-1][1] = start + size
            else:
                spans.append([start, start + size])
    for start, end in reversed(spans):
        text = text[:start] + "***" + text[end:]
    return text


def redact(text: str, secrets: tuple[str, ...] = ()) -> str:
    """Remove keys from text meant for display: the user's own (whole or any part of it a server
    echoes), and anything shaped like one."""
    for secret in secrets:
        text = _mask_fragments(text, secret)
    return _KEY_PATTERN.sub("***", text)


def _server_detail(exc: openai.APIError) -> str:
    body = exc.body
    if isinstance(body, dict):
        body = body.get("error", body)
        if isinstance(body, dict):
            body = body.get("message", body)
    detail = " ".join(str(body or exc.message or "").split())  # an HTML error page spans many lines
    return detail[:400]


_STATUS_ADVICE: dict[int, str] = {
    400: "The server refused the request (400): check the model's settings in the sidebar",
    401: "The API key was rejected (401): check the key in the sidebar or your environment",
    403: "The key is not allowed to use this model or resource (403): check the key's project and "
    "permissions, or pick another model",
    404: "Not found (404): check the model or deployment name and the base URL",
    408: "The server timed out (408): try again",
    413: "The request is too large for the server (413): leave some messages out",
    422: "The server could not process the request (422)",
    429: "Rate limited (429): wait a moment, then retry",
}


# Error codes that name the problem better than the status does.
_CODE_ADVICE: dict[str, str] = {
    "context_length_exceeded": "The prompt is longer than the model's context window{status}: leave messages "
    "out, pick a strategy that sends less, or correct the context window in the sidebar",
    "insufficient_quota": "The account's quota is used up (429 insufficient_quota): check the plan and billing; "
    "retrying will not help",
}
# llama.cpp says "Requested tokens (8192) exceed context window of 8192", with no code, even for a
# prompt that fills the window exactly; OpenAI "This model's maximum context length is …".
_CONTEXT_HINTS = ("context length", "context window", "maximum context", "too many tokens", "exceeds the context")


def _advice(code: str, status: int | None, detail: str) -> str | None:
    """The sentence an error code, or a context-length complaint, calls for; None if neither."""
    if code not in _CODE_ADVICE and any(hint in detail.lower() for hint in _CONTEXT_HINTS) and status in (400, None):
        code = "context_length_exceeded"
    advice = _CODE_ADVICE.get(code)
    return advice and advice.format(status=f" ({status})" if status else "")


def _status_advice(exc: openai.APIStatusError, detail: str) -> str:
    code = exc.code if isinstance(getattr(exc, "code", None), str) else ""
    status = exc.status_code
    return _advice(code, status, detail) or _STATUS_ADVICE.get(
        status, f"The server failed ({status}): retry in a moment" if status >= 500 else f"The server answered {status}"
    )


def describe_error(exc: Exception, secrets: tuple[str, ...] = ()) -> str:
    """One clear sentence about what went wrong and what to do."""
    if isinstance(exc, openai.APITimeoutError):
        message = (
            "No answer before the timeout: the server may be busy or slow. Retry, or raise the timeout in the sidebar."
        )
    elif isinstance(exc, openai.APIConnectionError):
        url = str(getattr(getattr(exc, "request", None), "url", "")) or "the server"
        message = f"Could not connect to {url}: is the server running and the URL right?"
    elif isinstance(exc, openai.APIStatusError):
        detail = _server_detail(exc)
        advice = _status_advice(exc, detail)
        retry_after = parse_retry_after(exc.response.headers) if exc.response is not None else None
        if retry_after is not None:
            advice += f" (the server asks to wait {retry_after:g} s)"
        message = f"{advice}. Server said: {detail}" if detail else f"{advice}."
    elif type(exc) is openai.APIError:
        # An `error` event in a stream that began with 200 (the embedded server's way, and OpenAI's,
        # to fail once the status line is sent): no status, the server's own code and message.
        detail = _server_detail(exc)
        code = exc.code if isinstance(exc.code, str) else ""
        advice = _advice(code, None, detail) or STREAM_ERROR
        message = f"{advice}. Server said: {detail}" if detail else f"{advice}."
    elif isinstance(exc, json.JSONDecodeError):
        message = f"The server's answer is not valid JSON ({exc.msg} at character {exc.pos}): {NOT_OPENAI_HINT}"
    elif isinstance(exc, (pydantic.ValidationError, AttributeError, TypeError)):
        # The SDK builds replies without validating them: a wrong shape shows when a field is read.
        message = f"The server's answer is not in the OpenAI format ({type(exc).__name__}): {NOT_OPENAI_HINT}"
    else:
        message = f"The call failed: {type(exc).__name__}: {exc}. Retry; if it fails again, check the backend settings."
    return redact(message, secrets)
