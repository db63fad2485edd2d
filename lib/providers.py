"""Every backend through the `openai` SDK: OpenAI, Azure OpenAI, any compatible URL, the embedded model.

One code path: a `ProviderConfig` makes a client, `stream_chat` sends a plan's body and records
what came back (text, usage, timings) in a `CallOutcome`; `describe_error` turns any failure into
a sentence a user can act on, with secrets redacted.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Literal

import openai

from lib.payload import TokenLimitField

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
    def secrets(self) -> tuple[str, ...]:
        return (self.api_key,) if self.api_key and self.api_key != PLACEHOLDER_KEY else ()

    def missing(self) -> str | None:
        """What the user still has to fill in, or None when the config can make a call."""
        if self.kind in ("openai", "azure") and not self.api_key:
            return "an API key"
        if self.kind in ("azure", "compatible", "embedded") and not self.base_url:
            return "the endpoint URL" if self.kind == "azure" else "the base URL"
        if not self.model:
            return "the deployment name" if self.kind == "azure" else "a model"
        return None


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
    latency_s: float | None = None
    ttft_s: float | None = None
    finish_reason: str | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def incomplete(self) -> bool:
        """A reply that began streaming and then broke off."""
        return self.error is not None and bool(self.text)


def stream_chat(
    client: openai.OpenAI, body: dict, outcome: CallOutcome, secrets: tuple[str, ...] = ()
) -> Iterator[str]:
    """Send `body`, yield the reply's text as it arrives, and fill `outcome` as it goes."""
    started = time.perf_counter()
    try:
        if body.get("stream"):
            yield from _read_stream(client.chat.completions.create(**body), outcome, started)
        else:
            yield from _read_whole(client.chat.completions.create(**body), outcome, started)
        if outcome.finish_reason is None:
            outcome.error = (
                "The reply was cut off before it finished: the partial answer is kept. Retry for a full one."
                if outcome.text
                else "The server answered with no reply at all (no choices). Try again."
            )
    except openai.OpenAIError as exc:
        outcome.error = describe_error(exc, secrets)
    finally:
        outcome.latency_s = time.perf_counter() - started


def _record_usage(usage, outcome: CallOutcome) -> None:
    if usage is not None:
        outcome.prompt_tokens = usage.prompt_tokens
        outcome.completion_tokens = usage.completion_tokens


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


def redact(text: str, secrets: tuple[str, ...] = ()) -> str:
    """Remove keys from text meant for display: the user's own, and anything shaped like one."""
    for secret in secrets:
        if len(secret) >= 4:
            text = text.replace(secret, "***")
    return _KEY_PATTERN.sub("***", text)


def _server_detail(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        body = body.get("error", body)
        if isinstance(body, dict):
            body = body.get("message", body)
    detail = str(body or exc.message or "").strip()
    return detail[:400]


_STATUS_ADVICE: dict[int, str] = {
    400: "The server refused the request (400)",
    401: "The API key was rejected (401): check the key in the sidebar or your environment",
    403: "The key is not allowed to use this model or resource (403)",
    404: "Not found (404): check the model or deployment name and the base URL",
    408: "The server timed out (408): try again",
    413: "The request is too large for the server (413): leave some messages out",
    422: "The server could not process the request (422)",
    429: "Rate limited (429): wait a moment, then retry",
}


def describe_error(exc: Exception, secrets: tuple[str, ...] = ()) -> str:
    """One clear sentence about what went wrong and what to do."""
    if isinstance(exc, openai.APITimeoutError):
        message = "No answer before the timeout: the server may be busy or slow. Retry, or raise the timeout."
    elif isinstance(exc, openai.APIConnectionError):
        url = str(getattr(getattr(exc, "request", None), "url", "")) or "the server"
        message = f"Could not connect to {url}: is the server running and the URL right?"
    elif isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        advice = _STATUS_ADVICE.get(
            status,
            f"The server failed ({status}): retry in a moment" if status >= 500 else f"The server answered {status}",
        )
        retry_after = exc.response.headers.get("retry-after") if exc.response is not None else None
        if retry_after:
            advice += f" (the server asks to wait {retry_after} s)"
        detail = _server_detail(exc)
        message = f"{advice}. Server said: {detail}" if detail else f"{advice}."
    else:
        message = f"The call failed: {type(exc).__name__}: {exc}"
    return redact(message, secrets)
