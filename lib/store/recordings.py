"""Recorded demos: a session with the exact calls it made and the answers they got, replayed offline.

A `Recording` is made after the fact, from what the run log already keeps (`record`): the session (its
messages and settings — never a key), every call logged for it that answered (each the request body as
sent and the reply: text, tool calls, finish reason, usage, model), its kept comparisons and Compare
set-up, and the experiment runs made from it (their stored cells, answers included). Calls whose body
the run log keeps shortened (a message past lib/store/call_details.KEPT_MESSAGE_CHARS) or that failed
are left out, each named in `skipped`: a recording holds only what it can replay exactly.

It is kept in the store (the `recordings` table, one JSON body per row, owned as sessions are) and as
one JSON file (`export_json` / `parse_file`, read by lib/store/documents' bounded loader; a field that
could hold a key is dropped wherever it is). Replaying it is lib/backends/replay.py's: `book` gives its
calls to a ReplayBook. Opening it (`starting_session`, `copy_into`) makes a new session at the point the
demo began, with its comparisons and runs (marked replayed) beside it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import Connection, delete, insert, select

from lib.backends.replay import REPLAYED_SUFFIX, Exchange, RecordedReply, ReplayBook, canonical
from lib.context.conversation import Message, new_id
from lib.core.errors import DocumentError, InvalidRecording, InvalidSession
from lib.core.secrets import masked_json
from lib.store import session as session_file
from lib.store import storage
from lib.store.call_details import calls_with_details
from lib.store.documents import load_json
from lib.store.schema import experiment_cells, experiment_runs, recordings
from lib.store.session import Session, now, without_secrets

FORMAT = "context-lab-recording"
VERSION = 1
MAX_FILE_CHARS = 20 * 1024 * 1024  # a session file's cap (5 MB) four times: its calls' bodies come with it
REPLAYED = "replayed"
# Field names that hold a key, dropped wherever a file puts them: a key is never taken from a file. (Not
# "key" or "password": a tool's parameters may be named so, and a body must stay as it was sent.)
KEY_FIELDS = frozenset({"api_key", "apikey", "api-key", "authorization", "openai_api_key", "azure_openai_api_key"})


@dataclass(frozen=True)
class RecordedCall:
    """One call of the recording: what made it (`variant`: "chat", a Compare variant, "experiment · …"),
    the body as sent, and what came back."""

    variant: str
    body: dict[str, Any]
    reply: RecordedReply


@dataclass(frozen=True)
class Recording:
    id: str
    title: str
    created_at: str
    kind: str  # the backend it was recorded with (the session's); replaying builds bodies as it does
    model: str  # the model the chat's calls named
    session: Session
    calls: tuple[RecordedCall, ...]
    comparisons: tuple[dict, ...] = ()  # as lib/store/storage keeps them (Comparison.to_dict)
    compare_setup: dict | None = None
    runs: tuple[dict, ...] = ()  # {"run": the experiment_runs row, "cells": its experiment_cells rows}
    skipped: tuple[str, ...] = ()  # calls left out, each a sentence

    @property
    def questions(self) -> list[str]:
        """The chat's questions in the order they were asked: the demo's steps."""
        asked = []
        for call in self.calls:
            last = _last_message(call.body)
            if call.variant == "chat" and last is not None and last.get("role") == "user":
                content = last.get("content")
                asked.append(content if isinstance(content, str) else json.dumps(content, ensure_ascii=False))
        return asked


@dataclass(frozen=True)
class RecordingInfo:
    """A row of the list: enough to show and pick it."""

    id: str
    title: str
    created_at: str
    calls: int


def _last_message(body: dict[str, Any]) -> dict | None:
    messages = body.get("messages")
    last = messages[-1] if isinstance(messages, list) and messages else None
    return last if isinstance(last, dict) else None


# --- making one, from what the run log keeps ----------------------------------------------------------


def _model_of(calls: Iterable[RecordedCall]) -> str:
    chat = [c.body.get("model") for c in calls if c.variant == "chat"] or [c.body.get("model") for c in calls]
    named = [m for m in chat if isinstance(m, str) and m]
    return max(set(named), key=named.count) if named else ""


def record(
    conn: Connection,
    session: Session,
    title: str,
    owner: str | None = None,
    secrets: tuple[str, ...] = (),
) -> Recording:
    """A recording of `session` (as saved) from the run log, its comparisons and its experiment runs;
    `secrets` masked wherever they could have landed."""
    calls, skipped = [], []
    for record_, details in calls_with_details(conn, session.id):
        what = f"a {record_.variant} call of {record_.at[:19].replace('T', ' ')}"
        if details is None or details.body is None:
            skipped.append(f"{what}: logged before the run log kept request bodies")
        elif record_.status != "ok":
            skipped.append(f"{what}: it failed ({record_.status}), so there is no answer to replay")
        elif details.left_out_chars:
            skipped.append(f"{what}: a message past the run log's limit was kept shortened, not as sent")
        else:
            usage = record_.usage
            reply = RecordedReply(
                details.answer or "",
                details.finish_reason,
                tuple(_call_triple(call) for call in details.tool_calls),
                usage.prompt_tokens,
                usage.completion_tokens,
                usage.cached_tokens,
                record_.model,
            )
            calls.append(RecordedCall(record_.variant, details.body, reply))
    runs = []
    for run in conn.execute(select(experiment_runs).where(experiment_runs.c.session_id == session.id)).mappings():
        if run["owner"] != owner:
            continue
        cells = conn.execute(select(experiment_cells).where(experiment_cells.c.run_id == run["id"])).mappings()
        runs.append({"run": dict(run), "cells": [dict(cell) for cell in cells]})
    recording = Recording(
        new_id(),
        title.strip() or session.label,
        now(),
        str(session.settings.get("provider_kind") or "embedded"),
        _model_of(calls),
        without_secrets(session, secrets),
        tuple(calls),
        tuple(storage.comparison_bodies(conn, session.id)),
        storage.compare_setup_body(conn, session.id),
        tuple(runs),
        tuple(skipped),
    )
    return from_dict(json.loads(masked_json(json.dumps(to_dict(recording), ensure_ascii=False), secrets)))


def _call_triple(call: dict) -> tuple[str, str, str]:
    function = call.get("function")
    function = function if isinstance(function, dict) else {}
    return (str(call.get("id") or ""), str(function.get("name") or ""), str(function.get("arguments") or ""))


# --- as plain data, and back ------------------------------------------------------------------------


def to_dict(recording: Recording) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "version": VERSION,
        "id": recording.id,
        "title": recording.title,
        "created_at": recording.created_at,
        "kind": recording.kind,
        "model": recording.model,
        "session": session_file.to_dict(recording.session),
        "calls": [{"variant": c.variant, "body": c.body, "reply": c.reply.to_dict()} for c in recording.calls],
        "comparisons": list(recording.comparisons),
        "compare_setup": recording.compare_setup,
        "runs": list(recording.runs),
        "skipped": list(recording.skipped),
    }


def _keyless(value: Any) -> Any:
    """`value` with every field KEY_FIELDS names dropped, at any depth."""
    if isinstance(value, dict):
        return {k: _keyless(v) for k, v in value.items() if not (isinstance(k, str) and k.lower() in KEY_FIELDS)}
    if isinstance(value, list):
        return [_keyless(v) for v in value]
    return value


def _text(raw: dict, name: str, where: str) -> str:
    value = raw.get(name, "")
    if not isinstance(value, str):
        raise InvalidRecording(f"{where}.{name} must be text.")
    return value


def _count(raw: dict, name: str, where: str) -> int | None:
    value = raw.get(name)
    if value is None:
        return None
    if type(value) is not int or value < 0:
        raise InvalidRecording(f"{where}.{name} must be a whole number of tokens, not {str(value)[:20]!r}.")
    return value


def _reply(raw: Any, where: str) -> RecordedReply:
    if not isinstance(raw, dict):
        raise InvalidRecording(f"{where} must be an object.")
    finish = raw.get("finish_reason")
    if finish is not None and not isinstance(finish, str):
        raise InvalidRecording(f"{where}.finish_reason must be text or null.")
    calls = raw.get("tool_calls", [])
    if not isinstance(calls, list) or not all(isinstance(c, dict) for c in calls):
        raise InvalidRecording(f"{where}.tool_calls must be a list of objects.")
    triples = tuple(
        (_text(c, "id", f"{where}.tool_calls[{i}]"), _text(c, "name", where), _text(c, "arguments", where))
        for i, c in enumerate(calls)
    )
    usage = raw.get("usage") or {}
    if not isinstance(usage, dict):
        raise InvalidRecording(f"{where}.usage must be an object.")
    return RecordedReply(
        _text(raw, "content", where),
        finish,
        triples,
        _count(usage, "prompt_tokens", f"{where}.usage"),
        _count(usage, "completion_tokens", f"{where}.usage"),
        _count(usage, "cached_tokens", f"{where}.usage"),
        _text(raw, "model", where),
    )


def _objects(raw: dict, name: str) -> list[dict]:
    value = raw.get(name) or []
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise InvalidRecording(f"recording.{name} must be a list of objects.")
    return value


def from_dict(raw: Any) -> Recording:
    """A recording from its plain data, checked; InvalidRecording names the first problem and where."""
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        raise InvalidRecording(f'This is not a Context Lab recorded demo (no "format": "{FORMAT}").')
    if type(raw.get("version")) is not int or raw["version"] != VERSION:
        raise InvalidRecording(
            f"Recording version {str(raw.get('version'))[:20]} is not one this app reads ({VERSION})."
        )
    raw = _keyless(raw)
    try:
        session = session_file.from_dict(raw.get("session"))
    except InvalidSession as exc:
        raise InvalidRecording(f"recording.session: {exc}") from None
    calls = []
    for index, call in enumerate(_objects(raw, "calls")):
        where = f"recording.calls[{index}]"
        body = call.get("body")
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
            raise InvalidRecording(f"{where}.body must be a request body (an object with its messages).")
        calls.append(RecordedCall(_text(call, "variant", where), body, _reply(call.get("reply"), f"{where}.reply")))
    runs = _objects(raw, "runs")
    for index, run in enumerate(runs):
        if not isinstance(run.get("run"), dict) or not isinstance(run.get("cells"), list):
            raise InvalidRecording(f"recording.runs[{index}] must hold its run and its cells.")
    setup = raw.get("compare_setup")
    if setup is not None and not isinstance(setup, dict):
        raise InvalidRecording("recording.compare_setup must be an object or null.")
    skipped = raw.get("skipped") or []
    if not isinstance(skipped, list) or not all(isinstance(s, str) for s in skipped):
        raise InvalidRecording("recording.skipped must be a list of sentences.")
    return Recording(
        _text(raw, "id", "recording") or new_id(),
        _text(raw, "title", "recording") or session.label,
        _text(raw, "created_at", "recording") or now(),
        _text(raw, "kind", "recording") or "embedded",
        _text(raw, "model", "recording"),
        session,
        tuple(calls),
        tuple(_objects(raw, "comparisons")),
        setup,
        tuple(runs),
        tuple(skipped),
    )


def export_json(recording: Recording) -> str:
    return json.dumps(to_dict(recording), ensure_ascii=False, indent=1)


def parse_file(data: bytes | str) -> Recording:
    """A recording from an exported file, or InvalidRecording saying why the whole file is refused."""
    try:
        raw = load_json(data, max_chars=MAX_FILE_CHARS)
    except DocumentError as exc:
        raise InvalidRecording(f"The file cannot be read as a recorded demo: {exc}") from None
    return from_dict(raw)


# --- replaying and opening it -----------------------------------------------------------------------


def book(recording: Recording) -> ReplayBook:
    """Its calls, ready to answer (lib/backends/replay.py)."""
    exchanges = tuple(Exchange(canonical(call.body), call.reply) for call in recording.calls)
    return ReplayBook(recording.id, recording.title, exchanges)


def _same(message: Message, wire: dict) -> bool:
    return message.role == wire.get("role") and message.content == wire.get("content")


def starting_session(recording: Recording) -> Session:
    """A new session where the demo began: the recorded session's history before its first chat question,
    each message in or out of context as that question's call had it (so asking it again sends the
    recorded body); the settings as recorded; an empty draft."""
    recorded = recording.session
    first = next((c.body for c in recording.calls if c.variant == "chat"), None)
    messages = list(recorded.messages)
    if first is not None:
        sent = [m for m in first["messages"] if isinstance(m, dict)]
        question = sent[-1] if sent else {}
        cut = next((i for i, m in enumerate(messages) if _same(m, question)), len(messages))
        before = sent[:-1]
        messages = [replace(m, included=any(_same(m, w) for w in before)) for m in messages[:cut]]
    stamp = now()
    return replace(
        recorded,
        id=session_file.new_session_id(),
        title=f"Demo: {recording.title}",
        messages=tuple(messages),
        draft="",
        created_at=stamp,
        updated_at=stamp,
        version=0,
    )


def replayed_note(note: str, title: str) -> str:
    return f"{note} · {REPLAYED} from the recording “{title}”"


def is_replayed(note: str) -> bool:
    """Whether a comparison's note (its backend, model and runs) says its answers came from a recording:
    run under one (the backend "… (replayed)") or opened with one (`replayed_note`)."""
    return note.split(" · ", 1)[0].endswith(REPLAYED_SUFFIX) or f" · {REPLAYED} from the recording “" in note


def copy_into(conn: Connection, recording: Recording, session_id: str, owner: str | None) -> None:
    """The recording's comparisons, Compare set-up and experiment runs, as the session `session_id`'s:
    shown at once, without a call, each marked replayed."""
    for body in recording.comparisons:
        marked = {**body, "model_note": replayed_note(str(body.get("model_note") or ""), recording.title)}
        storage.save_comparison_body(conn, session_id, marked)
    if recording.compare_setup is not None:
        storage.save_compare_setup_body(conn, session_id, recording.compare_setup)
    run_columns, cell_columns = set(experiment_runs.c.keys()), set(experiment_cells.c.keys())
    with storage.writing(conn):
        for kept in recording.runs:
            run_id = new_id()
            run = {k: v for k, v in kept["run"].items() if k in run_columns}
            name = f"{run.get('name') or 'run'} · {REPLAYED}"
            conn.execute(
                insert(experiment_runs).values(
                    {**run, "id": run_id, "name": name, "session_id": session_id, "owner": owner}
                )
            )
            for cell in kept["cells"]:
                values = {k: v for k, v in cell.items() if k in cell_columns}
                notices = _listed(values.get("notices"))
                notices.append(f"{REPLAYED.capitalize()} from the recording “{recording.title}”: no call was made.")
                values["notices"] = json.dumps(notices, ensure_ascii=False)
                conn.execute(insert(experiment_cells).values({**values, "run_id": run_id}))


def _listed(text: Any) -> list:
    try:
        value = json.loads(text) if isinstance(text, str) else []
    except ValueError:
        return []
    return value if isinstance(value, list) else []


# --- in the store ------------------------------------------------------------------------------------


def save(conn: Connection, recording: Recording, owner: str | None = None) -> Recording:
    """Keep `recording` as `owner`'s (a new id if its own is taken); returns it as kept."""
    taken = conn.execute(select(recordings.c.id).where(recordings.c.id == recording.id)).first() is not None
    kept = replace(recording, id=new_id()) if taken else recording
    with storage.writing(conn):
        conn.execute(
            insert(recordings).values(
                id=kept.id,
                title=kept.title,
                created_at=kept.created_at,
                owner=owner,
                body=json.dumps(to_dict(kept), ensure_ascii=False),
            )
        )
    return kept


def _mine(owner: str | None):
    return recordings.c.owner.is_not_distinct_from(owner)


def list_recordings(conn: Connection, owner: str | None = None) -> list[RecordingInfo]:
    """`owner`'s recordings, newest first."""
    rows = conn.execute(
        select(recordings.c.id, recordings.c.title, recordings.c.created_at, recordings.c.body)
        .where(_mine(owner))
        .order_by(recordings.c.created_at.desc())
    )
    listed = []
    for row in rows:
        try:
            calls = len(json.loads(row.body).get("calls") or [])
        except (ValueError, AttributeError):
            calls = 0
        listed.append(RecordingInfo(row.id, row.title, row.created_at, calls))
    return listed


def load(conn: Connection, recording_id: str, owner: str | None = None) -> Recording | None:
    """`owner`'s recording `recording_id`; None if there is none (or it is another owner's)."""
    body = conn.execute(
        select(recordings.c.body).where(recordings.c.id == recording_id, _mine(owner))
    ).scalar_one_or_none()
    return None if body is None else from_dict(json.loads(body))


def remove(conn: Connection, recording_id: str, owner: str | None = None) -> bool:
    with storage.writing(conn):
        gone = conn.execute(delete(recordings).where(recordings.c.id == recording_id, _mine(owner)))
    return bool(gone.rowcount)
