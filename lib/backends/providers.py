"""Every backend through the `openai` SDK: OpenAI, Azure OpenAI, any compatible URL, the embedded model.

One code path: a `ProviderConfig` makes a client, `stream_chat` sends a plan's body and records
what came back (text, usage, timings) in a `CallOutcome`; `describe_error` turns any failure into
a sentence a user can act on, with secrets redacted.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Generator, Iterable, Iterator
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import openai

from lib.backends.errors import NO_CHOICES, NOT_OPENAI_HINT, cut_off, describe_error
from lib.backends.kinds import BACKENDS, Backend
from lib.backends.replay import ReplayBackend, ReplayBook
from lib.backends.retry import parse_retry_after
from lib.core.outcome import CallOutcome, usage_of
from lib.core.secrets import SecretMasker, is_secret, mask_secrets
from lib.core.wire import EndUserField, Kind, TokenLimitField

DEFAULT_AZURE_API_VERSION = "2024-10-21"


@dataclass(frozen=True)
class ProviderConfig:
    kind: Kind
    model: str  # the name on the wire: an OpenAI model, an Azure deployment, a server's model id
    base_url: str = ""  # compatible servers and the embedded one; the Azure endpoint for Azure
    api_key: str = field(default="", repr=False)
    api_version: str = DEFAULT_AZURE_API_VERSION
    timeout_s: float = 60.0  # each wait for the server (connecting, the next bytes): the SDK's timeout
    deadline_s: float = 300.0  # the whole call, however the server trickles (CallLimits)
    max_reply_bytes: int = 1_000_000
    # A recorded demo replayed: the backend of `kind` (as the recording was made with it) answering from
    # the recording (lib/backends/replay.py); None: live.
    replay: ReplayBook | None = None

    @property
    def limits(self) -> CallLimits:
        return CallLimits(self.deadline_s, self.max_reply_bytes)

    @property
    def backend(self) -> Backend:
        recorded = BACKENDS[self.kind]
        return recorded if self.replay is None else ReplayBackend(recorded, self.replay)

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
        if isinstance(value, str)
        and 0 < len(value) <= MAX_MODEL_ID_CHARS
        and value.isprintable()
        and value.strip() == value
    }
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


# --- a call's own limits ---------------------------------------------------------------------------
# The SDK's timeout bounds each wait for the next bytes, not a call: a server that sends one token a
# second, or tokens forever, never trips it. A call therefore has a deadline (its whole wall time)
# and a size cap (the reply's UTF-8 bytes); a reply that reaches either is kept, marked incomplete,
# with the limit named, and the connection is closed so the server stops too.


@dataclass(frozen=True)
class CallLimits:
    deadline_s: float = 300.0
    max_reply_bytes: int = 1_000_000

    def describe(self) -> str:
        """For the pages that plan calls: what ends one early."""
        return (
            f"Each call stops after {format_seconds(self.deadline_s)} (its deadline) or at "
            f"{format_size(self.max_reply_bytes)} of reply (the size cap); what arrived is kept, marked incomplete."
        )


DEFAULT_LIMITS = CallLimits()


def format_seconds(seconds: float) -> str:
    return f"{seconds:g} s"


def format_size(size: int) -> str:
    """1 MB, 250 KB, 900 B: decimal units, as the cap is set."""
    for unit, scale in (("MB", 1_000_000), ("KB", 1_000)):
        if size >= scale:
            return f"{size / scale:g} {unit}"
    return f"{size} B"


DEADLINE, SIZE_CAP, HUNG_UP = "deadline", "size cap", "hung up"


def limit_message(reason: str, limits: CallLimits, with_text: bool) -> str:
    """Why a call that reached one of its limits ended, and what to do."""
    if reason == SIZE_CAP:
        why = f"stopped at {format_size(limits.max_reply_bytes)}: the reply size cap"
        advice = "raise the reply size cap in the sidebar for a longer one"
    else:
        why = f"stopped after {format_seconds(limits.deadline_s)}: the call's deadline"
        advice = "raise the call deadline in the sidebar for a longer one"
    if with_text:
        return f"The reply is incomplete ({why}): the partial answer is kept, marked incomplete; {advice}."
    return (
        f"No reply text before the call was {why.replace(': ', ' (', 1)}): the server may be stuck. Retry, or {advice}."
    )


class Line:
    """The open HTTP exchange of one call, which another thread can hang up: Stop, Cancel, the
    deadline. Hanging up shuts the socket down, which wakes the reader at once (a thread blocked
    reading a socket is not woken by closing it); the reader then closes the stream itself."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._response = None
        self.reason: str | None = None

    def attach(self, response) -> None:
        with self._lock:
            self._response = response
            cut = self.reason is not None
        if cut:
            _shut_down(response)

    def hang_up(self, reason: str = HUNG_UP) -> None:
        with self._lock:
            self.reason = self.reason or reason
            response = self._response
        if response is not None:
            _shut_down(response)


def _shut_down(response) -> None:
    """End the connection under an SDK stream's (or an HTTP response's) feet."""
    http = getattr(response, "response", response)  # openai.Stream holds the httpx response
    network = getattr(http, "extensions", {}).get("network_stream")
    sock = network.get_extra_info("socket") if network is not None else None
    try:
        if sock is not None:
            sock.shutdown(socket.SHUT_RDWR)
        else:
            http.close()
    except (OSError, RuntimeError):  # already closed: the reply had ended anyway
        pass


def stream_chat(
    client: openai.OpenAI,
    body: dict,
    outcome: CallOutcome,
    secrets: tuple[str, ...] = (),
    limits: CallLimits = DEFAULT_LIMITS,
    line: Line | None = None,
) -> Generator[str]:
    """Send `body`, yield the reply's text as it arrives, and fill `outcome` as it goes.

    It never raises for what the server does: every failure ends as `outcome.error`, a sentence.
    A reply that echoes a key, or any KEY_FRAGMENT characters of one, has it masked here, before
    anything shows, keeps or stores the text (`outcome.text` is the masked reply). `limits` end a
    call that runs too long or sends too much (kept, incomplete, the limit named); `line` lets
    another thread hang it up (Stop, Cancel)."""
    started = time.perf_counter()
    masker = SecretMasker(secrets)
    line = line or Line()
    # The deadline also ends a call that waits: for its first bytes, or between trickled ones.
    timer = threading.Timer(limits.deadline_s, line.hang_up, (DEADLINE,))
    timer.daemon = True
    timer.start()
    try:
        stream = None
        if body.get("stream"):
            stream = client.chat.completions.create(**body)
            line.attach(stream)
            reply = _read_stream(stream, outcome, started)
        else:
            reply = _read_whole(client.chat.completions.create(**body), outcome, started)
        try:
            size = 0
            for delta in reply:
                if time.perf_counter() - started >= limits.deadline_s:
                    line.hang_up(DEADLINE)
                if line.reason is not None:
                    break
                size += len(delta.encode("utf-8", "surrogatepass"))
                if size > limits.max_reply_bytes:  # keep what fits, not a character more
                    fits = len(delta.encode("utf-8", "surrogatepass")) - (size - limits.max_reply_bytes)
                    delta = delta.encode("utf-8", "surrogatepass")[:fits].decode("utf-8", "ignore")
                    line.hang_up(SIZE_CAP)
                yield from _shown(masker.feed(delta), outcome)
            yield from _shown(masker.finish(), outcome)
        finally:
            if stream is not None:
                stream.close()  # a reader that stops early hangs up: the server stops generating
        # A key echoed in a call's arguments is masked as one echoed in the text is.
        for call in outcome.tool_calls:
            call["function"]["arguments"] = mask_secrets(call["function"]["arguments"], secrets)
        if line.reason is not None:
            _record_limit(line.reason, limits, outcome)
        elif outcome.finish_reason is None:
            outcome.error = cut_off("the stream ended without a finish") if outcome.text else _nothing(outcome)
    except Exception as exc:  # the server is not ours: whatever it sends must end as a message, not a traceback
        yield from _shown(masker.finish(), outcome)
        if line.reason is not None:  # the read failed because the line was hung up here: say why
            _record_limit(line.reason, limits, outcome)
        else:
            _record_failure(exc, outcome, secrets)
    finally:
        timer.cancel()
        outcome.latency_s = time.perf_counter() - started


def _record_limit(reason: str, limits: CallLimits, outcome: CallOutcome) -> None:
    """A call this side ended: by a limit (named), or hung up by Stop or Cancel (the caller says so)."""
    outcome.finish_reason = None  # whatever came before the cut, the reply did not finish
    if reason in (DEADLINE, SIZE_CAP):
        outcome.error = limit_message(reason, limits, bool(outcome.text))
    else:
        outcome.error = cut_off("the call was hung up")


def _shown(text: str, outcome: CallOutcome) -> Iterator[str]:
    if text:
        outcome.text += text
        yield text


def _nothing(outcome: CallOutcome) -> str:
    """An answer with no text and no finish: empty choices, or (not even usage) no reply data at all."""
    if outcome.usage.prompt_tokens is not None:
        return NO_CHOICES
    return f"The server sent no reply data: {NOT_OPENAI_HINT}"


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
    read = usage_of(usage)
    if read is not None:
        outcome.usage = read


def _read_stream(stream, outcome: CallOutcome, started: float) -> Iterator[str]:
    for chunk in stream:
        _record_usage(chunk.usage, outcome)
        for choice in chunk.choices:
            outcome.finish_reason = choice.finish_reason or outcome.finish_reason
            if choice.delta is not None and choice.delta.tool_calls:
                if outcome.ttft_s is None:
                    outcome.ttft_s = time.perf_counter() - started
                _add_call_pieces(outcome.tool_calls, choice.delta.tool_calls)
            delta = choice.delta.content if choice.delta else None
            if delta:
                if outcome.ttft_s is None:
                    outcome.ttft_s = time.perf_counter() - started
                yield delta


def _add_call_pieces(calls: list[dict], pieces: Iterable) -> None:
    """A streamed tool call arrives in pieces, by `index`: the first carries its id and name, the
    next ones more of its arguments' text, which are joined in order."""
    for piece in pieces:
        index = piece.index if isinstance(getattr(piece, "index", None), int) else len(calls)
        while len(calls) <= index:
            calls.append({"id": "", "type": "function", "function": {"name": "", "arguments": ""}})
        call, function = calls[index], getattr(piece, "function", None)
        call["id"] = piece.id or call["id"]
        if function is not None:
            call["function"]["name"] = function.name or call["function"]["name"]
            call["function"]["arguments"] += function.arguments or ""


def _whole_calls(message) -> list[dict]:
    calls = []
    for call in getattr(message, "tool_calls", None) or ():
        function = getattr(call, "function", None)
        if function is None:  # a custom (non-function) tool call: not a shape this app keeps
            continue
        calls.append(
            {
                "id": call.id or "",
                "type": "function",
                "function": {"name": function.name or "", "arguments": function.arguments or ""},
            }
        )
    return calls


def _read_whole(completion, outcome: CallOutcome, started: float) -> Iterator[str]:
    _record_usage(completion.usage, outcome)
    outcome.ttft_s = time.perf_counter() - started
    for choice in completion.choices[:1]:
        outcome.finish_reason = choice.finish_reason
        outcome.tool_calls = _whole_calls(choice.message)
        if choice.message.content:
            yield choice.message.content
