"""Replaying a recorded demo: one more backend, which answers from a recording instead of a server.

A recorded demo (lib/store/recordings.py) holds the exact request bodies a session's calls sent and the
replies they got. Replaying it, every call the app makes goes through the same `Reply` / `CallOutcome`
path as a live one, to a `ReplayClient` that plays the part of the SDK's client: a body equal to a
recorded one gets the recorded reply back (streamed in pieces, so the page looks live; finish reason,
tool calls and usage as recorded); any other body gets `NotRecorded`, a sentence naming what differs from
the nearest recorded body and saying to switch to live. Nothing is sent anywhere.

Equal means equal as JSON values (canonical JSON: the SDK and a stored body may order keys differently),
leaving out what carries the call rather than what it asks: `stream`, `stream_options` (a reply recorded
streamed is replayed whole, and the other way round), and the end-user field (a hash of the session id:
a recording opens as a new session). No I/O: the recording is handed in as plain data (`ReplayBook`).
"""

from __future__ import annotations

import difflib
import json
import re
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from lib.backends.kinds import Backend, ProviderConfig
from lib.core.errors import NotRecorded

# What carries a call rather than what it asks: left out when bodies are compared.
NOT_COMPARED = ("stream", "stream_options", "user", "safety_identifier")
REPLAYED_SUFFIX = " (replayed)"  # after the recorded backend's name, where a call is logged or noted
REPLAY_BASE_URL = "http://replay.invalid/v1"  # `.invalid` never resolves: nothing is sent anywhere
SWITCH_TO_LIVE = "Switch to live to ask the model."
MAX_DIFFERENCES = 3  # named in the sentence; the rest counted
SNIPPET_CHARS = 40
MAX_PIECES = 40  # a reply streams in at most this many pieces
PACE_S = 0.02  # between two pieces: the page shows the reply arrive, as it would live
MAX_STREAM_S = 1.0  # ...but a long reply takes at most this long in all


def canonical(body: Mapping[str, Any]) -> str:
    """The body as compared: its fields but NOT_COMPARED, as JSON with sorted keys."""
    kept = {key: value for key, value in body.items() if key not in NOT_COMPARED}
    return json.dumps(kept, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


@dataclass(frozen=True)
class RecordedReply:
    """What a recorded call got back."""

    content: str
    finish_reason: str | None = "stop"
    tool_calls: tuple[tuple[str, str, str], ...] = ()  # (id, function name, arguments), in order
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cached_tokens: int | None = None
    model: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "content": self.content,
            "finish_reason": self.finish_reason,
            "tool_calls": [{"id": i, "name": n, "arguments": a} for i, n, a in self.tool_calls],
            "usage": {
                "prompt_tokens": self.prompt_tokens,
                "completion_tokens": self.completion_tokens,
                "cached_tokens": self.cached_tokens,
            },
            "model": self.model,
        }


@dataclass(frozen=True)
class Exchange:
    """One recorded call: its body (`canonical`) and its reply."""

    body: str
    reply: RecordedReply


@dataclass(frozen=True, eq=False)
class ReplayBook:
    """A recording's calls, ready to answer: a body's replies in the order they were recorded (a body
    asked again gets the next one, round and round: Compare's repeats get their own answers back).
    Equal and hashed by identity: a ProviderConfig holding it is a key of the page's caches."""

    recording_id: str
    title: str
    exchanges: tuple[Exchange, ...]
    pace_s: float = PACE_S
    _served: dict[str, int] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def answer(self, body: Mapping[str, Any]) -> RecordedReply:
        """The recorded reply to `body`; NotRecorded (a sentence) when the recording holds none."""
        key = canonical(body)
        replies = [exchange.reply for exchange in self.exchanges if exchange.body == key]
        if not replies:
            raise NotRecorded(self.difference(body))
        with self._lock:
            turn = self._served.get(key, 0)
            self._served[key] = turn + 1
        return replies[turn % len(replies)]

    def holds(self, body: Mapping[str, Any]) -> bool:
        key = canonical(body)
        return any(exchange.body == key for exchange in self.exchanges)

    def difference(self, body: Mapping[str, Any]) -> str:
        """Why `body` gets no recorded reply, naming what differs from the nearest recorded body."""
        if not self.exchanges:
            return f"This recording holds no calls. {SWITCH_TO_LIVE}"
        here = json.loads(canonical(body))
        recorded = [json.loads(exchange.body) for exchange in self.exchanges]
        nearest = max(recorded, key=lambda there: _likeness(here, there))
        found = _differences(here, nearest)
        if len(found) > MAX_DIFFERENCES:
            found = [*found[:MAX_DIFFERENCES], f"and {len(found) - MAX_DIFFERENCES} more difference(s)"]
        what = "; ".join(found) or "the request differs"
        return f"This context was not recorded: {what}. {SWITCH_TO_LIVE}"


def _messages(body: Mapping[str, Any]) -> list[str]:
    messages = body.get("messages")
    return [json.dumps(m, sort_keys=True, ensure_ascii=False) for m in messages] if isinstance(messages, list) else []


def _likeness(here: Mapping[str, Any], there: Mapping[str, Any]) -> tuple[float, int]:
    """How near a recorded body is: its messages' likeness first, then how many other fields agree."""
    ratio = difflib.SequenceMatcher(None, _messages(here), _messages(there), autojunk=False).ratio()
    fields = {key for key in (*here, *there) if key != "messages"}
    return ratio, sum(here.get(key) == there.get(key) for key in fields)


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, sort_keys=True)
    text = " ".join(text.split())
    return text if len(text) <= SNIPPET_CHARS else text[: SNIPPET_CHARS - 1] + "…"


def _described(message_json: str) -> str:
    message = json.loads(message_json)
    if not isinstance(message, dict):
        return f"“{_short(message)}”"
    return f"{message.get('role', '?')}: “{_short(message.get('content') or '')}”"


def _differences(here: Mapping[str, Any], there: Mapping[str, Any]) -> list[str]:
    found = []
    for key in sorted({*here, *there} - {"messages"}):
        if key not in there:
            found.append(f"{key} is {_short(here[key])} here, it was not sent when recorded")
        elif key not in here:
            found.append(f"{key} is not sent here, it was {_short(there[key])} when recorded")
        elif here[key] != there[key]:
            found.append(f"{key} is {_short(here[key])} here, it was {_short(there[key])} when recorded")
    ours, theirs = _messages(here), _messages(there)
    matcher = difflib.SequenceMatcher(None, ours, theirs, autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "replace" and i2 - i1 == j2 - j1:  # as many here as then: each one changed
            for offset in range(i2 - i1):
                found.append(
                    f"message {i1 + offset + 1} is {_described(ours[i1 + offset])} here, it was "
                    f"{_described(theirs[j1 + offset])} when recorded"
                )
            continue
        if op in ("replace", "delete"):
            for index in range(i1, i2):
                found.append(f"message {index + 1} ({_described(ours[index])}) is in here, it was not when recorded")
        if op in ("replace", "insert"):
            for index in range(j1, j2):
                found.append(
                    f"message {index + 1} of the recorded call ({_described(theirs[index])}) is left out here, "
                    "it was in when recorded"
                )
    return found


# --- the client that answers from the recording ----------------------------------------------------


_PIECE = re.compile(r"\s*\S+\s*|\s+")


def pieces(text: str) -> list[str]:
    """`text` in at most MAX_PIECES pieces that join back to it exactly."""
    words = _PIECE.findall(text)
    if not words:
        return []
    size = -(-len(words) // MAX_PIECES)
    return ["".join(words[at : at + size]) for at in range(0, len(words), size)]


def _usage(reply: RecordedReply) -> SimpleNamespace | None:
    if reply.prompt_tokens is None and reply.completion_tokens is None:
        return None
    details = None if reply.cached_tokens is None else SimpleNamespace(cached_tokens=reply.cached_tokens)
    return SimpleNamespace(
        prompt_tokens=reply.prompt_tokens, completion_tokens=reply.completion_tokens, prompt_tokens_details=details
    )


def _call(index: int, call: tuple[str, str, str]) -> SimpleNamespace:
    call_id, name, arguments = call
    return SimpleNamespace(
        index=index, id=call_id, type="function", function=SimpleNamespace(name=name, arguments=arguments)
    )


class ReplayStream:
    """A recorded reply as the SDK's stream of chunks: its text in pieces, its tool calls, its finish, its usage."""

    def __init__(self, reply: RecordedReply, pace_s: float):
        self.reply, self._closed = reply, threading.Event()
        texts = pieces(reply.content)
        self.pace_s = min(pace_s, MAX_STREAM_S / len(texts)) if texts else 0.0
        self._texts = texts

    def _chunk(self, content: str | None = None, calls: list | None = None, finish: str | None = None, usage=None):
        delta = SimpleNamespace(content=content, tool_calls=calls, role="assistant")
        choices = [] if usage is not None else [SimpleNamespace(index=0, delta=delta, finish_reason=finish)]
        return SimpleNamespace(choices=choices, usage=usage, model=self.reply.model)

    def __iter__(self) -> Iterator[SimpleNamespace]:
        for text in self._texts:
            if self._closed.wait(self.pace_s):  # hung up (Stop, the deadline): no more pieces
                return
            yield self._chunk(content=text)
        if self.reply.tool_calls:
            yield self._chunk(calls=[_call(i, call) for i, call in enumerate(self.reply.tool_calls)])
        yield self._chunk(finish=self.reply.finish_reason)
        usage = _usage(self.reply)
        if usage is not None:
            yield self._chunk(usage=usage)

    def close(self) -> None:
        self._closed.set()


class _Completions:
    def __init__(self, book: ReplayBook):
        self.book = book

    def create(self, **body: Any) -> Any:
        reply = self.book.answer(body)
        if body.get("stream"):
            return ReplayStream(reply, self.book.pace_s)
        message = SimpleNamespace(
            role="assistant",
            content=reply.content,
            tool_calls=[_call(i, call) for i, call in enumerate(reply.tool_calls)] or None,
        )
        choice = SimpleNamespace(index=0, message=message, finish_reason=reply.finish_reason)
        return SimpleNamespace(choices=[choice], usage=_usage(reply), model=reply.model)


class ReplayClient:
    """What `stream_chat` (and anything else that calls `client.chat.completions.create`) is handed while
    a recording is replayed: the recording answers, nothing is sent."""

    def __init__(self, book: ReplayBook):
        self.book = book
        self.chat = SimpleNamespace(completions=_Completions(book))
        models = sorted({exchange.reply.model for exchange in book.exchanges if exchange.reply.model})
        self.models = SimpleNamespace(list=lambda: SimpleNamespace(data=[SimpleNamespace(id=m) for m in models]))

    def close(self) -> None:
        pass


# --- the backend ----------------------------------------------------------------------------------

# The facts of the backend a recording was made with that shape the body and its count (which field
# limits the reply, how a JSON answer is asked for, which tokenizer counts): kept, so a body built now
# is built as it was then.
_KEPT = (
    "kind",
    "label",
    "token_limit_field",
    "end_user_field",
    "needs_key",
    "address_name",
    "model_name",
    "counts_in_process",
    "one_model",
    "names_deployments",
    "address_is_endpoint",
    "bounds_json_strings",
    "cache_rule",
)


class ReplayBackend(Backend):
    """The backend a recording was made with, answering from the recording: the body is built as that
    backend builds it; the client is a ReplayClient; no server is asked anything (its window, its
    tokenizer, its queue)."""

    replays = True
    asks_its_server = False
    may_count_on_server = False
    started_by_the_app = False  # no queue to wait on: the recording answers at once
    answers_one_at_a_time = False
    needs_key = False

    def __init__(self, recorded: Backend, book: ReplayBook):
        for name in _KEPT:
            setattr(self, name, getattr(recorded, name))
        self.needs_key = False  # nothing is sent: no key is needed (nor used)
        self.recorded, self.book = recorded, book

    def rule_for(self, counter: object = None):
        return self.recorded.rule_for(counter)

    def json_answer_format(self, name: str, schema: dict[str, Any]) -> dict[str, Any]:
        return self.recorded.json_answer_format(name, schema)

    def base_url(self, config: ProviderConfig) -> str:
        return REPLAY_BASE_URL

    def endpoint(self, config: ProviderConfig) -> str:
        return self.recorded.endpoint(config)

    def client(self, config: ProviderConfig) -> Any:
        return ReplayClient(self.book)

    def key_header(self, config: ProviderConfig) -> str | None:
        return self.recorded.key_header(config)

    def python_client(self, config: ProviderConfig) -> tuple[str, str]:
        return self.recorded.python_client(config)

    def logged_as(self) -> str:
        return f"{self.recorded.logged_as()}{REPLAYED_SUFFIX}"
