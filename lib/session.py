"""A saved conversation, and its versioned JSON form (docs/SESSION_SCHEMA.md) and Markdown transcript.

The database stores a session as the same JSON object an export carries, so there is one format to
validate: `from_dict` checks every field and refuses a whole file with a message naming the first
problem. Settings are the non-secret sidebar and strategy choices; a key is never one of them.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from lib.conversation import Message, SystemPrompt, new_id
from lib.providers import KIND_LABELS
from lib.strategies import STRATEGY_LABELS

FORMAT = "context-lab-session"
SCHEMA_VERSION = 1
MAX_IMPORT_BYTES = 5 * 1024 * 1024
ROLES = ("system", "user", "assistant")
STATUSES = ("ok", "unanswered", "incomplete")


class InvalidSession(ValueError):
    """A session file or record that cannot be read; the message says what is wrong and where."""


@dataclass(frozen=True)
class SettingSpec:
    kind: type  # str, int, float or bool
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] = ()
    nullable: bool = False


# The persisted settings: the sidebar's non-secret fields and the chat's strategy (ui/state.py
# names the same keys). Ranges are the widgets' own, so a loaded value always fits its widget.
SETTINGS: dict[str, SettingSpec] = {
    "provider_kind": SettingSpec(str, choices=tuple(KIND_LABELS)),
    "openai_model": SettingSpec(str, nullable=True),
    "azure_deployment": SettingSpec(str, nullable=True),
    "compatible_model": SettingSpec(str, nullable=True),
    "base_url": SettingSpec(str, nullable=True),
    "azure_endpoint": SettingSpec(str, nullable=True),
    "azure_api_version": SettingSpec(str, nullable=True),
    "priced_as": SettingSpec(str, nullable=True),
    "temperature": SettingSpec(float, 0.0, 2.0),
    "max_tokens": SettingSpec(int, 1, 100_000),
    "stream": SettingSpec(bool),
    "custom_window": SettingSpec(int, 256, 10_000_000),
    "custom_input_price": SettingSpec(float, 0.0, 1000.0),
    "custom_output_price": SettingSpec(float, 0.0, 1000.0),
    "strategy_kind": SettingSpec(str, choices=tuple(STRATEGY_LABELS)),
    "strategy_turns": SettingSpec(int, 0, 10_000),
    "strategy_budget": SettingSpec(int, 0, 10_000_000),
    "last_turns": SettingSpec(int, 0, 10_000),
    "send_session_id": SettingSpec(bool),
}


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def new_session_id() -> str:
    return new_id() + new_id()[:4]


def end_user_id(session_id: str) -> str:
    """What the provider may see of a session: a one-way hash, stable for the session, never the id."""
    return "cl-" + hashlib.sha256(f"context-lab-session:{session_id}".encode()).hexdigest()[:24]


@dataclass(frozen=True)
class Session:
    id: str
    title: str = ""  # empty: labelled by its first question
    system: SystemPrompt = field(default_factory=SystemPrompt)
    messages: tuple[Message, ...] = ()
    settings: dict[str, Any] = field(default_factory=dict)
    draft: str = ""  # typed, not yet sent
    created_at: str = field(default_factory=now)
    updated_at: str = field(default_factory=now)

    @property
    def label(self) -> str:
        if self.title.strip():
            return self.title.strip()
        first = next((m.content for m in self.messages if m.role == "user" and m.content.strip()), "")
        first = " ".join(first.split())
        return (first[:40] + "…" if len(first) > 40 else first) or "New session"

    def copy(self, title: str) -> Session:
        stamp = now()
        return replace(self, id=new_session_id(), title=title, created_at=stamp, updated_at=stamp)

    def forked(self, message_id: str) -> Session:
        """A new session holding the history up to and including `message_id`."""
        cut = next((i for i, m in enumerate(self.messages) if m.id == message_id), None)
        if cut is None:
            raise KeyError(f"No message {message_id} in session {self.id}")
        fork = self.copy(f"Fork of {self.label}")
        return replace(fork, messages=self.messages[: cut + 1], draft="")


# --- JSON ------------------------------------------------------------------------------------


def _message_dict(message: Message) -> dict:
    return {
        "id": message.id, "role": message.role, "content": message.content,
        "included": message.included, "status": message.status, "pinned": message.pinned,
    }  # fmt: skip


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
    }


def export_dict(session: Session) -> dict:
    return {"format": FORMAT, "schema_version": SCHEMA_VERSION, "exported_at": now(), "session": to_dict(session)}


def export_json(session: Session) -> str:
    return json.dumps(export_dict(session), ensure_ascii=False, indent=2)


_TYPE_NAMES = {
    str: "a string", int: "an integer", float: "a number", bool: "true or false", dict: "an object", list: "a list",
}  # fmt: skip


def _typed(value: Any, kind: type, where: str, *, nullable: bool = False) -> Any:
    if value is None and nullable:
        return None
    # bool is an int in Python; JSON's true is no number here, and 1 is no boolean.
    ok = isinstance(value, kind) and not (kind is not bool and isinstance(value, bool))
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if not ok:
        raise InvalidSession(f"{where} must be {_TYPE_NAMES.get(kind, kind.__name__)}, not {json.dumps(value)[:60]}.")
    return value


def _field(obj: dict, name: str, kind: type, where: str, default: Any = ..., nullable: bool = False) -> Any:
    if name not in obj:
        if default is ...:
            raise InvalidSession(f"{where} has no `{name}` field.")
        return default
    return _typed(obj[name], kind, f"{where}.{name}", nullable=nullable)


def _setting(name: str, value: Any) -> Any:
    spec = SETTINGS[name]
    where = f"session.settings.{name}"
    value = _typed(value, spec.kind, where, nullable=spec.nullable)
    if value is None:
        return None
    if spec.choices and value not in spec.choices:
        raise InvalidSession(f"{where} is {value!r}; expected one of {', '.join(spec.choices)}.")
    if spec.low is not None and not spec.low <= value <= spec.high:
        raise InvalidSession(f"{where} is {value}; expected {spec.low:g} to {spec.high:g}.")
    return value


def _settings(raw: dict) -> dict[str, Any]:
    # Keys this version does not know (an API key among them) are dropped, never stored.
    return {name: _setting(name, value) for name, value in raw.items() if name in SETTINGS}


def _message(raw: Any, index: int) -> Message:
    where = f"session.messages[{index}]"
    if not isinstance(raw, dict):
        raise InvalidSession(f"{where} must be an object.")
    role = _field(raw, "role", str, where)
    if role not in ROLES:
        raise InvalidSession(f"{where}.role is {role!r}; expected one of {', '.join(ROLES)}.")
    status = _field(raw, "status", str, where, "ok")
    if status not in STATUSES:
        raise InvalidSession(f"{where}.status is {status!r}; expected one of {', '.join(STATUSES)}.")
    message_id = _field(raw, "id", str, where, None) or new_id()
    return Message(
        role, _field(raw, "content", str, where), _field(raw, "included", bool, where, True), message_id,
        status, _field(raw, "pinned", bool, where, False),
    )  # fmt: skip


def from_dict(raw: Any) -> Session:
    """A session from the schema's `session` object, checked field by field."""
    if not isinstance(raw, dict):
        raise InvalidSession("`session` must be an object.")
    where = "session"
    session_id = _field(raw, "id", str, where)
    if not session_id.strip() or len(session_id) > 64:
        raise InvalidSession("session.id must be 1 to 64 characters.")
    system = _field(raw, "system_prompt", dict, where)
    messages_raw = _field(raw, "messages", list, where)
    messages = tuple(_message(m, i) for i, m in enumerate(messages_raw))
    ids = [m.id for m in messages]
    if len(set(ids)) != len(ids):
        duplicate = next(i for i in ids if ids.count(i) > 1)
        raise InvalidSession(f"session.messages: the id {duplicate!r} is used twice.")
    stamp = now()
    return Session(
        id=session_id,
        title=_field(raw, "title", str, where, ""),
        system=SystemPrompt(
            _field(system, "content", str, "session.system_prompt"),
            _field(system, "included", bool, "session.system_prompt", True),
        ),
        messages=messages,
        settings=_settings(_field(raw, "settings", dict, where, {})),
        draft=_field(raw, "draft", str, where, ""),
        created_at=_field(raw, "created_at", str, where, stamp),
        updated_at=_field(raw, "updated_at", str, where, stamp),
    )


def parse_export(data: bytes | str) -> Session:
    """A session from an export file, or InvalidSession saying why the whole file is refused."""
    raw_bytes = data.encode() if isinstance(data, str) else data
    if len(raw_bytes) > MAX_IMPORT_BYTES:
        raise InvalidSession(
            f"The file is {len(raw_bytes) / 1024 / 1024:.1f} MB; imports are limited to "
            f"{MAX_IMPORT_BYTES // 1024 // 1024} MB."
        )
    try:
        document = json.loads(raw_bytes.decode("utf-8"))
    except UnicodeDecodeError:
        raise InvalidSession("The file is not UTF-8 text: is it a session export?") from None
    except json.JSONDecodeError as exc:
        raise InvalidSession(
            f"The file is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}); is it truncated?"
        ) from None
    except RecursionError:
        raise InvalidSession("The file nests too deeply to be a session export.") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise InvalidSession(f'This is not a Context Lab session export (no "format": "{FORMAT}").')
    version = document.get("schema_version")
    if version != SCHEMA_VERSION:
        raise InvalidSession(f"Schema version {version!r} is not supported: this app reads version {SCHEMA_VERSION}.")
    if "session" not in document:
        raise InvalidSession("The file has no `session` field.")
    return from_dict(document["session"])


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
    for number, message in enumerate(session.messages, 1):
        lines += ["", f"## {number}. {message.role.capitalize()}{_flags(message)}", "", message.content]
    return "\n".join(lines) + "\n"


def without_secrets(session: Session, secrets: tuple[str, ...]) -> Session:
    """The session with every occurrence of a secret (say, a key pasted in the wrong field) masked."""
    text = json.dumps(to_dict(session), ensure_ascii=False)
    needles = [s for s in secrets if len(s) >= 4]
    if not any(s in text or json.dumps(s)[1:-1] in text for s in needles):
        return session
    for secret in needles:
        text = text.replace(json.dumps(secret)[1:-1], "***").replace(secret, "***")
    return from_dict(json.loads(text))
