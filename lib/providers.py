"""Every backend through the `openai` SDK: OpenAI, Azure OpenAI, any compatible URL, the embedded model.

One code path: a `ProviderConfig` makes a client, `stream_chat` sends a plan's body and records
what came back (text, usage, timings) in a `CallOutcome`; `describe_error` turns any failure into
a sentence a user can act on, with secrets redacted.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import openai
import pydantic

from lib.backends import (  # noqa: F401 - KIND_LABELS and OPENAI_BASE_URL are read through this module too
    BACKENDS,
    KIND_LABELS,
    OPENAI_BASE_URL,
    PLACEHOLDER_KEY,
    Backend,
    Kind,
)
from lib.payload import EndUserField, TokenLimitField
from lib.retry import parse_retry_after

DEFAULT_AZURE_API_VERSION = "2024-10-21"
# Keys the local servers' own guides tell everyone to use: not secrets, so not masked out of text
# (masking "ollama" would blank the word out of every reply about Ollama).
PUBLIC_KEYS = frozenset({PLACEHOLDER_KEY, "ollama", "lm-studio", "EMPTY", "sk-no-key-required", "none", "dummy"})


@dataclass(frozen=True)
class ProviderConfig:
    kind: Kind
    model: str  # the name on the wire: an OpenAI model, an Azure deployment, a server's model id
    base_url: str = ""  # compatible servers and the embedded one; the Azure endpoint for Azure
    api_key: str = field(default="", repr=False)
    api_version: str = DEFAULT_AZURE_API_VERSION
    timeout_s: float = 60.0

    @property
    def backend(self) -> Backend:
        return BACKENDS[self.kind]

    @property
    def endpoint(self) -> str:
        """Where the POST goes, for the preview and the snippets."""
        return self.backend.endpoint(self)

    @property
    def token_limit_field(self) -> TokenLimitField:
        return self.backend.token_limit_field

    @property
    def end_user_field(self) -> EndUserField:
        return self.backend.end_user_field

    @property
    def secrets(self) -> tuple[str, ...]:
        return (self.api_key,) if is_secret(self.api_key) else ()

    def missing(self) -> str | None:
        """What the user still has to fill in, or None when the config can make a call."""
        backend = self.backend
        if backend.needs_key and not self.api_key:
            return "an API key"
        if not valid_base_url(backend.base_url(self)):
            what = backend.address_name
            return f"{what} (a full http:// or https:// address)" if self.base_url else what
        if not self.model:
            return backend.model_name
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
    return config.backend.client(config)


def key_scope(kind: str, base_url: str = "") -> tuple[str, str]:
    """Where a key for this backend goes: the kind and its endpoint, written one way (lower-case
    scheme and host, the port spelt out, no trailing slash). A key is bound to the scope it was
    typed for and sent nowhere else: a base URL changed by hand or by an import does not inherit it."""
    backend = BACKENDS.get(kind)  # type: ignore[call-overload]  # a kind read from a file may be anything
    url = (backend.base_url(ProviderConfig(backend.kind, "", base_url)) if backend else base_url).strip()
    if not valid_base_url(url):
        return kind, url
    parts = urlsplit(url)
    port = parts.port or {"http": 80, "https": 443}[parts.scheme.lower()]
    host = parts.hostname or ""
    host = f"[{host}]" if ":" in host else host
    return kind, f"{parts.scheme.lower()}://{host}:{port}{parts.path.rstrip('/')}"


# A listed id is offered as it is, or not at all: a server may list anything (a megabyte of text, a
# lone surrogate, a line break, bidi overrides), and an id changed to be shown would not be the
# server's any more. Real ids are short (a path to a weights file at most); lists, a few hundred.
MAX_MODEL_ID_CHARS = 256
MAX_LISTED_MODELS = 1_000


def model_id_choices(values: Iterable[object]) -> list[str]:
    """The listed ids that can be offered: strings of printable text on one line, without spaces at
    either end, at most MAX_MODEL_ID_CHARS long; sorted, each once, at most MAX_LISTED_MODELS."""
    ids = {
        value
        for value in values
        if isinstance(value, str) and 0 < len(value) <= MAX_MODEL_ID_CHARS and value.isprintable()
        and value.strip() == value
    }  # fmt: skip
    return sorted(ids)[:MAX_LISTED_MODELS]


def list_models(client: openai.OpenAI) -> list[str]:
    """Model ids the server lists at /models; empty where it has no such list, fails, or answers
    anything but a list of models (an HTML page, an image, `[]`, `{"data": "notalist"}`)."""
    try:
        listed = getattr(client.models.list(), "data", None)  # one page: a hostile server cannot page forever
        if not isinstance(listed, list):
            return []
        return model_id_choices(getattr(model, "id", None) for model in listed)
    except Exception:  # the server is not ours: whatever it answers means "no list", never a traceback
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

    It never raises for what the server does: every failure ends as `outcome.error`, a sentence.
    A reply that echoes a key, or any KEY_FRAGMENT characters of one, has it masked here, before
    anything shows, keeps or stores the text (`outcome.text` is the masked reply)."""
    started = time.perf_counter()
    masker = SecretMasker(secrets)
    try:
        stream = None
        if body.get("stream"):
            stream = client.chat.completions.create(**body)
            reply = _read_stream(stream, outcome, started)
        else:
            reply = _read_whole(client.chat.completions.create(**body), outcome, started)
        try:
            for delta in reply:
                yield from _shown(masker.feed(delta), outcome)
            yield from _shown(masker.finish(), outcome)
        finally:
            if stream is not None:
                stream.close()  # a reader that stops early hangs up: the server stops generating
        if outcome.finish_reason is None:
            outcome.error = cut_off("the stream ended without a finish") if outcome.text else _nothing(outcome)
    except Exception as exc:  # the server is not ours: whatever it sends must end as a message, not a traceback
        yield from _shown(masker.finish(), outcome)
        _record_failure(exc, outcome, secrets)
    finally:
        outcome.latency_s = time.perf_counter() - started


def _shown(text: str, outcome: CallOutcome) -> Iterator[str]:
    if text:
        outcome.text += text
        yield text


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
                yield delta


def _read_whole(completion, outcome: CallOutcome, started: float) -> Iterator[str]:
    _record_usage(completion.usage, outcome)
    outcome.ttft_s = time.perf_counter() - started
    for choice in completion.choices[:1]:
        outcome.finish_reason = choice.finish_reason
        if choice.message.content:
            yield choice.message.content


_KEY_PATTERN = re.compile(r"\b(sk-[A-Za-z0-9_\-*]{3,}|[A-Fa-f0-9]{32,})\b")
# Servers echo part of a rejected key ("Incorrect API key provided: abcd1234…"), and a model can be
# talked into echoing any part of one: a run this long copied from the key is masked too. Keys are
# random, so a chance match this long does not happen.
KEY_FRAGMENT = 6
MASK = "***"


def is_secret(value: str) -> bool:
    """Whether `value` (a key) must be kept out of what is shown, stored and exported."""
    return len(value) >= 4 and value not in PUBLIC_KEYS


def _fragments(secrets: Iterable[str]) -> dict[int, frozenset[str]]:
    """Every run of KEY_FRAGMENT characters of each secret (all of a shorter one), by length."""
    runs: dict[int, set[str]] = {}
    for secret in secrets:
        if is_secret(secret):
            size = min(KEY_FRAGMENT, len(secret))
            runs.setdefault(size, set()).update(secret[i : i + size] for i in range(len(secret) - size + 1))
    return {size: frozenset(pieces) for size, pieces in runs.items()}


def _mark(text: str, fragments: dict[int, frozenset[str]], masked: bytearray) -> None:
    """Set `masked[i]` for every character of `text` inside a fragment."""
    for size, pieces in fragments.items():
        for piece in pieces:
            at = text.find(piece)
            while at >= 0:
                masked[at : at + size] = b"\x01" * size
                at = text.find(piece, at + 1)


def _masked(text: str, masked: bytearray, start: int, end: int, inside: bool) -> tuple[str, bool]:
    """text[start:end] with each run of masked characters one MASK (none where the run goes on from
    before `start`, when `inside`), and whether it ends inside a run."""
    out, position = [], start
    while position < end:
        if masked[position]:
            if not inside:
                out.append(MASK)
            stop = masked.find(0, position, end)
            position, inside = (end if stop < 0 else stop), True
        else:
            stop = masked.find(1, position, end)
            stop = end if stop < 0 else stop
            out.append(text[position:stop])
            position, inside = stop, False
    return "".join(out), inside


def mask_secrets(text: str, secrets: Iterable[str]) -> str:
    """`text` with each secret, and each run of KEY_FRAGMENT or more characters copied from one,
    replaced by MASK (overlapping and touching runs by one). For a model's reply, before it is shown,
    kept or stored; it leaves key-shaped strings that are no known key alone (see `redact`)."""
    fragments = _fragments(secrets)
    if not fragments or not any(piece in text for pieces in fragments.values() for piece in pieces):
        return text
    masked = bytearray(len(text))
    _mark(text, fragments, masked)
    return _masked(text, masked, 0, len(text), False)[0]


class SecretMasker:
    """`mask_secrets` for a text arriving in pieces: `feed` each piece, then `finish`; what they
    return, joined, is `mask_secrets` of the whole. The last KEY_FRAGMENT - 1 characters wait for the
    next piece, which may make them part of a fragment."""

    def __init__(self, secrets: Iterable[str]) -> None:
        self._fragments = _fragments(secrets)
        self._held = max(self._fragments, default=1) - 1
        self._pending = ""  # not returned yet: the held characters, then the new piece
        self._masked = bytearray()
        self._inside = False  # whether what was returned ends inside a masked run

    def feed(self, piece: str) -> str:
        if not self._fragments:
            return piece
        # A fragment not seen yet ends in the new piece, so it starts among the pending characters.
        self._pending += piece
        self._masked += bytes(len(piece))
        _mark(self._pending, self._fragments, self._masked)
        return self._release(len(self._pending) - self._held)

    def finish(self) -> str:
        return self._release(len(self._pending))

    def _release(self, end: int) -> str:
        if end <= 0:
            return ""
        out, self._inside = _masked(self._pending, self._masked, 0, end, self._inside)
        self._pending, self._masked = self._pending[end:], self._masked[end:]
        return out


def redact(text: str, secrets: tuple[str, ...] = ()) -> str:
    """Remove keys from text meant for display: the user's own (whole or any part of it a server
    echoes), and anything shaped like one."""
    return _KEY_PATTERN.sub(MASK, mask_secrets(text, secrets))


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
