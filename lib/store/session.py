"""A saved conversation, its versioned JSON form (docs/SESSION_SCHEMA.md) and its Markdown transcript.

The file format is a schema: `SessionFile` and the models under it (pydantic, strict: no "1" for 1,
no true for 1, no 1 for true) are the one description of it. An export is checked against it, and
so is every row the database gives back, so a file and a row are read by the same code. Every string
in it passes `clean_text` on the way in (a JSON "\\ud800" escape is valid JSON and a lone surrogate,
which no UTF-8 encoder, SQLite's included, accepts). A refusal is an `InvalidSession` naming the
first problem and where it is (`session.messages[2].role is 'bot'; …`). The reference tables of
docs/SESSION_SCHEMA.md are generated from the models: `python -m lib.store.session docs/SESSION_SCHEMA.md`.

Settings are the non-secret sidebar and strategy choices; a key is never one of them.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
import types
from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, TypeVar, Union, get_args, get_origin

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError
from pydantic_core import ErrorDetails

from lib.context.conversation import Message, SystemPrompt, ToolCall, clean_text, new_id
from lib.context.strategies import StrategyKind
from lib.context.tools import ToolDefinition, ToolDefinitionError, checked_choice
from lib.core.errors import DocumentError, InvalidSession, NotWellFormed, TooDeep, TooLong
from lib.core.secrets import MASK, mask_secrets
from lib.core.wire import Kind
from lib.store.documents import load_json

FORMAT = "context-lab-session"
SCHEMA_VERSION = 1
MAX_IMPORT_BYTES = 5 * 1024 * 1024
STATUSES = ("ok", "unanswered", "incomplete")
# One grammar for a session id, in a file, in the database and in the URL (`?session=`).
SESSION_ID_PATTERN = r"[A-Za-z0-9_-]{1,64}"
_SESSION_ID = re.compile(SESSION_ID_PATTERN)


def is_session_id(value: object) -> bool:
    """Whether `value` can name a session: in a file, a database row and a URL alike."""
    return isinstance(value, str) and _SESSION_ID.fullmatch(value) is not None


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def new_session_id() -> str:
    return new_id() + new_id()[:4]


def end_user_id(session_id: str) -> str:
    """What the provider may see of a session: a one-way hash, stable for the session, never the id."""
    return "cl-" + hashlib.sha256(f"context-lab-session:{session_id}".encode()).hexdigest()[:24]


def first_duplicate(items: Iterable[Hashable]) -> Hashable | None:
    """The first item seen twice, in one pass (a 50,000-message file is 50,000 set lookups, not
    50,000 scans of the list: the scans took 336 s of CPU on a 4.9 MB import)."""
    seen: set[Hashable] = set()
    for item in items:
        if item in seen:
            return item
        seen.add(item)
    return None


# --- the schema ------------------------------------------------------------------------------


def _cleaned(value: Any) -> Any:
    # Before the type check: pydantic cannot measure a string holding a lone surrogate.
    return clean_text(value) if isinstance(value, str) else value


# Every string of a file: a string (strict: 7 is no string), cleaned as the history is.
Text = Annotated[str, Field(strict=True), BeforeValidator(_cleaned)]
SessionId = Annotated[str, Field(strict=True, min_length=1, max_length=64), BeforeValidator(_cleaned)]
# JSON has one number type: 1 is a number here, true is not (strict mode refuses a bool).
Number = Annotated[float, Field(strict=True)]


class _Part(BaseModel):
    # Fields this version does not know are ignored: a newer file's optional additions, a hand-made
    # file's `api_key` (dropped, never stored).
    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)


class ToolCallRecord(_Part):
    """One function call of an assistant message."""

    id: Text = Field(description="the call's id, which the `tool` message answering it names")
    name: Text = Field(description="the function called")
    arguments: Text = Field(description="the arguments: JSON text, exactly as sent or received")


class MessageRecord(_Part):
    """One message of the history."""

    id: Text = Field("", description="unique within the session", json_schema_extra={"absent": "generated"})
    role: Literal["system", "developer", "user", "assistant", "tool"] = Field(description="who speaks")
    content: Text = Field(description="the text (may be empty for an assistant that only calls tools)")
    included: bool = Field(True, description="the *In context* toggle (the manual strategy)")
    status: Literal["ok", "unanswered", "incomplete"] = Field(
        "ok", description="`unanswered`: the call for this question failed; `incomplete`: a reply cut off mid-stream"
    )
    pinned: bool = Field(False, description="kept by every context strategy")
    tool_calls: list[ToolCallRecord] = Field([], description="an assistant message's function calls")
    tool_call_id: Text | None = Field(
        None, description="a `tool` message: the id of the call it answers (required there)"
    )
    name: Text | None = Field(None, description="a participant name (not on a `tool` message)")


class ToolRecord(_Part):
    """One tool definition (a function the model may call)."""

    id: Text = Field("", description="unique within the session", json_schema_extra={"absent": "generated"})
    name: Text = Field(description="the function's name, `^[a-zA-Z0-9_-]{1,64}$`")
    description: Text = Field("", description="what the function does (the model reads it)")
    parameters: dict[str, Any] = Field(
        {"type": "object", "properties": {}}, description="its arguments, a JSON Schema object"
    )
    included: bool = Field(True, description="sent with the request")
    strict: bool | None = Field(None, description="OpenAI's strict schema adherence; absent: not sent")


class SystemPromptRecord(_Part):
    content: Text = Field(description="the system prompt's text")
    included: bool = Field(True, description="whether it is sent")


def _unset(description: str, **limits: Any) -> Any:
    # A setting a file leaves out is unset (the sidebar's default applies); one it gives must be
    # valid, null included only where the type says so. The default is not validated.
    return Field(None, description=description, **limits)


ProviderKind = Kind  # the backends' kinds and the strategies' kinds, checked by the schema


class SettingsRecord(_Part):
    """The sidebar's non-secret fields and the chat's strategy (ui/state.PERSISTED_SETTINGS names the
    same keys). Ranges are the widgets' own, so a loaded value always fits its widget."""

    provider_kind: ProviderKind = _unset("the backend")
    openai_model: Text | None = _unset("OpenAI model name")
    azure_deployment: Text | None = _unset("Azure deployment name")
    compatible_model: Text | None = _unset("model name on an OpenAI-compatible server")
    base_url: Text | None = _unset("an OpenAI-compatible server's URL (a key typed for another never follows it)")
    azure_endpoint: Text | None = _unset("the Azure resource's endpoint")
    azure_api_version: Text | None = _unset("the Azure API version")
    priced_as: Text | None = _unset("the model whose prices apply")
    temperature: Number = _unset("sampling temperature", ge=0.0, le=2.0)
    max_tokens: int = _unset("the reply's token limit", ge=1, le=100_000)
    stream: bool = _unset("stream replies")
    custom_window: int = _unset("an unknown model's context window, in tokens", ge=256, le=10_000_000)
    custom_input_price: Number = _unset("USD per million prompt tokens (unknown model)", ge=0.0, le=1000.0)
    custom_output_price: Number = _unset("USD per million reply tokens (unknown model)", ge=0.0, le=1000.0)
    strategy_kind: StrategyKind = _unset("the chat's context strategy")
    strategy_turns: int = _unset("turns kept by *Last N turns* and *Summarise*", ge=0, le=10_000)
    strategy_budget: int = _unset("tokens kept by *Token budget*", ge=0, le=10_000_000)
    last_turns: int = _unset("the bulk row's *Keep last N turns*", ge=0, le=10_000)
    send_session_id: bool = _unset("send a hashed session id in the provider's end-user field")
    tool_choice: Text | None = _unset(
        "`auto`, `none`, `required` or a function name to force; null or absent: not sent (the API's auto)"
    )
    parallel_tool_calls: bool | None = _unset("whether the model may call several tools at once; null: not sent")


class SessionRecord(_Part):
    """The `session` object: what an export carries and the database stores."""

    id: SessionId = Field(
        description=f"the session's id, `{SESSION_ID_PATTERN}` (the `?session=` URL parameter); "
        "an import holding another gets a new id, and says so"
    )
    title: Text = Field("", description='the user\'s title; empty: "labelled by its first question"')
    created_at: Text | None = Field(None, description="ISO 8601 UTC", json_schema_extra={"absent": "import time"})
    updated_at: Text | None = Field(None, description="ISO 8601 UTC", json_schema_extra={"absent": "import time"})
    system_prompt: SystemPromptRecord = Field(description="below")
    messages: list[MessageRecord] = Field(description="the history, oldest first (may be empty)")
    settings: SettingsRecord = Field(SettingsRecord(), description="the sidebar and strategy choices below")
    draft: Text = Field("", description="a message typed and not yet sent")
    tools: list[ToolRecord] = Field([], description="the tool definitions (sent when included and any is)")


class SessionFile(_Part):
    """An export file. Its top-level fields are checked first, for a message that says what the file is."""

    format: Literal["context-lab-session"] = Field(description=f'always `"{FORMAT}"`')
    schema_version: Literal[1] = Field(description=f"`{SCHEMA_VERSION}`; any other value is refused (see *Versions*)")
    exported_at: Text | None = Field(None, description="ISO 8601 UTC time of the export; informative only")
    session: SessionRecord = Field(description="below")


SETTINGS: tuple[str, ...] = tuple(SettingsRecord.model_fields)
M = TypeVar("M", bound=BaseModel)


# --- reading: a refusal names the first problem and where it is --------------------------------

_TYPE_WORDS = {
    "string_type": "a string",
    "int_type": "an integer",
    "float_type": "a number",
    "bool_type": "true or false",
    "list_type": "a list",
    "model_type": "an object",
    "dict_type": "an object",
    "model_attributes_type": "an object",
}


def _where(root: str, loc: tuple[int | str, ...]) -> str:
    path = root + "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in loc)
    return path.removeprefix(".") or "The file"


def _shown(value: Any) -> str:
    try:
        return json.dumps(value)[:60]
    except (TypeError, ValueError):
        return repr(value)[:60]


def _limits(model: type[BaseModel], name: str) -> tuple[float | None, float | None]:
    low = high = None
    for item in model.model_fields[name].metadata:
        low = getattr(item, "ge", low)
        high = getattr(item, "le", high)
    return low, high


def _problem(error: ErrorDetails, root: str) -> str:
    loc, kind, value = tuple(error["loc"]), error["type"], error.get("input")
    where = _where(root, loc)
    if kind == "missing":
        return f"{_where(root, loc[:-1])} has no `{loc[-1]}` field."
    if kind in _TYPE_WORDS:
        return f"{where} must be {_TYPE_WORDS[kind]}, not {_shown(value)}."
    if kind == "literal_error":
        return f"{where} is {value!r}; expected one of {error.get('ctx', {}).get('expected', '')}."
    if kind in ("greater_than_equal", "less_than_equal") and loc[-2:-1] == ("settings",):
        low, high = _limits(SettingsRecord, str(loc[-1]))
        return f"{where} is {value}; expected {_number(low)} to {_number(high)}."
    if kind in ("string_too_short", "string_too_long"):  # only a session id has a length
        return f"{where} must be 1 to 64 characters."
    return f"{where}: {error['msg']}."


def _number(value: float | None) -> str:
    if value is None:
        return "any"
    return f"{int(value):,}" if float(value).is_integer() else f"{value:,}"


def _validated(model: type[M], raw: Any, root: str) -> M:
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise InvalidSession(_problem(exc.errors()[0], root)) from None


def from_dict(raw: Any) -> Session:
    """A session from the schema's `session` object (a database row's), checked whole."""
    if not isinstance(raw, dict):
        raise InvalidSession("`session` must be an object.")
    return _session(_validated(SessionRecord, raw, "session"))


def _message(m: MessageRecord, where: str) -> Message:
    """A record as a message, checked as a whole: the shapes the API refuses are refused here."""
    if m.role == "tool" and not m.tool_call_id:
        raise InvalidSession(f"{where} is a tool result without `tool_call_id`: it must name the call it answers.")
    if m.role != "tool" and m.tool_call_id is not None:
        raise InvalidSession(f"{where} has `tool_call_id` but only a `tool` message answers a call.")
    if m.role != "assistant" and m.tool_calls:
        raise InvalidSession(f"{where} has `tool_calls` but only an assistant message can call tools.")
    if m.role == "tool" and m.name is not None:
        raise InvalidSession(f"{where} is a tool result with a `name`: the API takes none there.")
    calls = tuple(ToolCall(c.id, c.name, c.arguments) for c in m.tool_calls)
    for i, call in enumerate(calls):
        if not call.id or not call.name:
            raise InvalidSession(f"{where}.tool_calls[{i}] needs a non-empty `id` and `name`.")
    duplicate = first_duplicate(c.id for c in calls)
    if duplicate is not None:
        raise InvalidSession(f"{where}.tool_calls: the call id {duplicate!r} is used twice.")
    return Message(
        m.role,
        m.content,
        m.included,
        m.id or new_id(),
        m.status,
        m.pinned,
        tool_calls=calls,
        tool_call_id=m.tool_call_id,
        name=m.name,
    )


def _tool(t: ToolRecord, where: str) -> ToolDefinition:
    try:
        return ToolDefinition(t.name, t.description, t.parameters, t.included, t.id or new_id(), t.strict)
    except ToolDefinitionError as exc:
        raise InvalidSession(f"{where}: {exc}") from None


def _session(record: SessionRecord) -> Session:
    messages = tuple(_message(m, f"session.messages[{i}]") for i, m in enumerate(record.messages))
    duplicate = first_duplicate(m.id for m in messages)
    if duplicate is not None:
        raise InvalidSession(f"session.messages: the id {duplicate!r} is used twice.")
    tools = tuple(_tool(t, f"session.tools[{i}]") for i, t in enumerate(record.tools))
    duplicate = first_duplicate(t.id for t in tools)
    if duplicate is not None:
        raise InvalidSession(f"session.tools: the id {duplicate!r} is used twice.")
    try:
        checked_choice(record.settings.tool_choice)
    except ToolDefinitionError as exc:
        raise InvalidSession(f"session.settings.tool_choice: {exc}") from None
    stamp = now()
    return Session(
        id=record.id,
        title=record.title,
        system=SystemPrompt(record.system_prompt.content, record.system_prompt.included),
        messages=messages,
        settings=record.settings.model_dump(exclude_unset=True),
        draft=record.draft,
        tools=tools,
        created_at=record.created_at or stamp,
        updated_at=record.updated_at or stamp,
    )


def parse_json(text: str | bytes, what: str = "The file", max_chars: int = sys.maxsize) -> Any:
    """JSON, or InvalidSession saying why not; bounded in depth and digits, and in size by `max_chars`
    (an import's cap; a stored row is as long as the conversation grew), by lib/store/documents."""
    try:
        return load_json(text, max_chars=max_chars)
    except NotWellFormed as exc:
        if exc.column is None:  # not text at all
            raise InvalidSession(f"{what} is not UTF-8 text: is it a session export?") from None
        raise InvalidSession(
            f"{what} is not valid JSON (line {exc.line}, column {exc.column}: {exc.problem}); is it truncated?"
        ) from None
    except TooDeep as exc:
        raise InvalidSession(f"{what} nests too deeply to be a session export ({exc}).") from None
    except TooLong as exc:
        where = f" (line {exc.line})" if exc.line else ""
        raise InvalidSession(f"{what} holds {exc.problem}{where}; no field of a session is that long.") from None
    except DocumentError as exc:  # every refusal of the loader is one of the above; this one names a new one
        raise InvalidSession(f"{what}: {exc}") from None


def parse_export(data: bytes | str) -> Session:
    """A session from an export file, or InvalidSession saying why the whole file is refused."""
    raw_bytes = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    if len(raw_bytes) > MAX_IMPORT_BYTES:
        raise InvalidSession(
            f"The file is {len(raw_bytes) / 1024 / 1024:.1f} MB; imports are limited to "
            f"{MAX_IMPORT_BYTES // 1024 // 1024} MB."
        )
    try:
        text = raw_bytes.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidSession("The file is not UTF-8 text: is it a session export?") from None
    document = parse_json(text, max_chars=MAX_IMPORT_BYTES)
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise InvalidSession(
            f'This is not a Context Lab session export (no "format": "{FORMAT}"). A request body, a messages '
            "array, curl, a log, a Responses request, ChatGPT's export or OpenTelemetry spans come in through "
            "*Bring your own context* on the chat page."
        )
    version = document.get("schema_version")
    if type(version) is not int or version != SCHEMA_VERSION:  # true == 1 in Python, not in the schema
        raise InvalidSession(
            f"Schema version {_shown(version)} is not supported: this app reads version {SCHEMA_VERSION}."
        )
    if "session" not in document:
        raise InvalidSession("The file has no `session` field.")
    if not isinstance(document["session"], dict):
        raise InvalidSession("`session` must be an object.")
    return _session(_validated(SessionFile, document, "").session)


# --- the session -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Session:
    id: str
    title: str = ""  # empty: labelled by its first question
    system: SystemPrompt = field(default_factory=SystemPrompt)
    messages: tuple[Message, ...] = ()
    settings: dict[str, Any] = field(default_factory=dict)
    draft: str = ""  # typed, not yet sent
    tools: tuple[ToolDefinition, ...] = ()  # the tool definitions; settings hold tool_choice & co
    created_at: str = field(default_factory=now)
    updated_at: str = field(default_factory=now)
    # The database row's version this form was read from or saved as (0: never saved). A save is
    # applied only over that version (lib/store/storage.save_session). Not part of the file, and not of
    # what the session *is*: two forms differing only here are the same session.
    version: int = field(default=0, compare=False)

    @property
    def label(self) -> str:
        if self.title.strip():
            return self.title.strip()
        first = next((m.content for m in self.messages if m.role == "user" and m.content.strip()), "")
        first = " ".join(first.split())
        return (first[:40] + "…" if len(first) > 40 else first) or "New session"

    def copy(self, title: str) -> Session:
        stamp = now()
        return replace(self, id=new_session_id(), title=title, created_at=stamp, updated_at=stamp, version=0)

    def forked(self, message_id: str) -> Session:
        """A new session holding the history up to and including `message_id`."""
        cut = next((i for i, m in enumerate(self.messages) if m.id == message_id), None)
        if cut is None:
            raise KeyError(f"No message {message_id} in session {self.id}")
        fork = self.copy(f"Fork of {self.label}")
        return replace(fork, messages=self.messages[: cut + 1], draft="")


def _message_dict(message: Message) -> dict:
    record = {
        "id": message.id,
        "role": message.role,
        "content": message.content,
        "included": message.included,
        "status": message.status,
        "pinned": message.pinned,
    }
    # The tool fields only where set: a plain conversation's file is what it always was.
    if message.tool_calls:
        record["tool_calls"] = [{"id": c.id, "name": c.name, "arguments": c.arguments} for c in message.tool_calls]
    if message.tool_call_id is not None:
        record["tool_call_id"] = message.tool_call_id
    if message.name is not None:
        record["name"] = message.name
    return record


def _tool_dict(tool: ToolDefinition) -> dict:
    record = {
        "id": tool.id,
        "name": tool.name,
        "description": tool.description,
        "parameters": tool.parameters,
        "included": tool.included,
    }
    if tool.strict is not None:
        record["strict"] = tool.strict
    return record


def to_dict(session: Session) -> dict:
    """The `session` object of the schema (what the database stores)."""
    return {
        "id": session.id,
        "title": session.title,
        "created_at": session.created_at,
        "updated_at": session.updated_at,
        "system_prompt": {"content": session.system.content, "included": session.system.included},
        "messages": [_message_dict(m) for m in session.messages],
        "settings": dict(session.settings),
        "draft": session.draft,
        **({"tools": [_tool_dict(t) for t in session.tools]} if session.tools else {}),
    }


def export_dict(session: Session) -> dict:
    return {"format": FORMAT, "schema_version": SCHEMA_VERSION, "exported_at": now(), "session": to_dict(session)}


def export_json(session: Session) -> str:
    return json.dumps(export_dict(session), ensure_ascii=False, indent=2)


# --- Markdown --------------------------------------------------------------------------------


def _flags(message: Message) -> str:
    flags = [] if message.included else ["not sent"]
    flags += [message.status] if message.status != "ok" else []
    flags += ["pinned"] if message.pinned else []
    return f" ({', '.join(flags)})" if flags else ""


def to_markdown(session: Session) -> str:
    """A readable transcript: the system prompt, then every message with its include flag."""
    lines = [
        f"# {session.label}",
        "",
        f"Context Lab session `{session.id}` · created {session.created_at} · updated {session.updated_at} · "
        f"{len(session.messages)} messages",
        "",
        f"## System prompt{'' if session.system.included else ' (not sent)'}",
        "",
        session.system.content,
    ]
    if session.tools:
        lines += ["", "## Tools", ""]
        lines += [f"- `{t.name}`{'' if t.included else ' (not sent)'}: {t.description}" for t in session.tools]
    for number, message in enumerate(session.messages, 1):
        who = message.role.capitalize() + (f" ({message.name})" if message.name else "")
        if message.role == "tool":
            who = f"Tool result for `{message.tool_call_id}`"
        lines += ["", f"## {number}. {who}{_flags(message)}", "", message.content]
        lines += [f"Calls `{c.name}` with `{c.arguments}` (id `{c.id}`)" for c in message.tool_calls]
    return "\n".join(lines) + "\n"


def without_secrets(session: Session, secrets: tuple[str, ...]) -> Session:
    """The session with every occurrence of a secret (say, a key pasted in the wrong field, or a reply
    that echoed one) masked: the whole key and any run of KEY_FRAGMENT characters of it, as on screen."""
    text = json.dumps(to_dict(session), ensure_ascii=False)
    needles = [s for s in secrets if len(s) >= 4]
    masked = mask_secrets(text, needles)
    for secret in needles:  # a key holding a quote or a backslash is escaped in the JSON text
        masked = masked.replace(json.dumps(secret)[1:-1], MASK)
    if masked == text:
        return session
    return replace(from_dict(json.loads(masked)), version=session.version)


# --- the reference tables of docs/SESSION_SCHEMA.md, generated from the models ------------------

_GENERATED = re.compile(r"(<!-- generated: (\w+) -->\n).*?(<!-- end generated -->)", re.DOTALL)
_EXAMPLE = Session(
    "3f9c1a2b7d4e8f01",
    title="Foxes",
    messages=(
        Message("user", "My name is Ada.", id="a1b2c3d4e5f6"),
        Message("assistant", "Hello Ada!", included=False, id="0f1e2d3c4b5a"),
    ),
    settings={"provider_kind": "embedded", "temperature": 0.7, "max_tokens": 256, "stream": True},
    created_at="2026-01-01T09:00:00.000+00:00",
    updated_at="2026-01-01T09:59:12.345+00:00",
)


def _type_words(annotation: Any) -> str:
    args = get_args(annotation)
    if get_origin(annotation) in (types.UnionType, Union):
        return " or ".join(_type_words(a) for a in args if a is not type(None)) + " or null"
    if get_origin(annotation) is Literal:
        quoted = [f"`{json.dumps(a)}`" for a in args]
        return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " or " + quoted[-1]
    if get_origin(annotation) is list:
        return "list of objects"
    if get_origin(annotation) is dict:
        return "object"
    if get_origin(annotation) is Annotated:
        return _type_words(args[0])
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "object"
    return {str: "string", bool: "boolean", int: "integer", float: "number"}[annotation]


def _lengths(metadata: list[Any]) -> str:
    low = next((m.min_length for m in metadata if hasattr(m, "min_length")), None)
    high = next((m.max_length for m in metadata if hasattr(m, "max_length")), None)
    return f", {low}–{high} characters" if low is not None and high is not None else ""


def _absent(info: Any) -> str:
    if info.is_required():
        return "yes"
    extra = info.json_schema_extra or {}
    if "absent" in extra:
        return f"no ({extra['absent']})"
    default = info.get_default(call_default_factory=True)
    if isinstance(default, BaseModel):
        default = default.model_dump(exclude_unset=True)
    return "no" if default is None else f"no (`{json.dumps(default)}`)"


def _field_rows(model: type[BaseModel], prefix: str) -> list[str]:
    rows = []
    for name, info in model.model_fields.items():
        words = _type_words(info.annotation) + _lengths(info.metadata)
        rows.append(f"| `{prefix}{name}` | {words} | {_absent(info)} | {info.description or ''} |")
    return rows


def _fields_table() -> str:
    rows = ["| Field | Type | Required | Meaning |", "|---|---|---|---|"]
    rows += _field_rows(SessionFile, "")
    rows += _field_rows(SessionRecord, "session.")
    rows += _field_rows(SystemPromptRecord, "session.system_prompt.")
    rows += _field_rows(MessageRecord, "session.messages[].")
    rows += _field_rows(ToolCallRecord, "session.messages[].tool_calls[].")
    rows += _field_rows(ToolRecord, "session.tools[].")
    return "\n".join(rows)


def _settings_table() -> str:
    rows = ["| Key | Type | Values | Meaning |", "|---|---|---|---|"]
    for name, info in SettingsRecord.model_fields.items():
        low, high = _limits(SettingsRecord, name)
        values = f"{_number(low)} to {_number(high)}" if low is not None else ""
        words = _type_words(info.annotation)
        if get_origin(info.annotation) is Literal:
            words, values = "string", words
        rows.append(f"| `{name}` | {words} | {values} | {info.description or ''} |")
    return "\n".join(rows)


def _example() -> str:
    document = export_dict(_EXAMPLE) | {"exported_at": "2026-01-01T10:00:00.000+00:00"}
    return "```json\n" + json.dumps(document, ensure_ascii=False, indent=2) + "\n```"


GENERATED_SECTIONS = {"example": _example, "fields": _fields_table, "settings": _settings_table}


def schema_doc(doc: str) -> str:
    """`doc` (docs/SESSION_SCHEMA.md) with each generated section rewritten from the models."""
    return _GENERATED.sub(lambda m: f"{m.group(1)}{GENERATED_SECTIONS[m.group(2)]()}\n{m.group(3)}", doc)


if __name__ == "__main__":  # python -m lib.store.session docs/SESSION_SCHEMA.md
    from pathlib import Path

    target = Path(sys.argv[1])
    target.write_text(schema_doc(target.read_text(encoding="utf-8")), encoding="utf-8")
