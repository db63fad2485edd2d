"""Sessions, the run log and Compare's kept results (as plain data), in the store CONTEXT_LAB_DB names: a SQLite file (a
path, the default ./data/context_lab.db: one user, one machine) or a PostgreSQL server (a postgresql://
URL: a team, several app replicas). One implementation for both, in SQLAlchemy Core (lib/store/schema.py);
lib/store/db.py makes one engine per store and process and brings the store to the newest Alembic
revision on its first use.

`opened()` gives a `sqlalchemy.Connection`; each function here takes one and runs its writes in one
transaction (lib/store/db.writing: on SQLite BEGIN IMMEDIATE, so concurrent savers queue instead of
failing). A session is stored as its schema JSON (lib/store/session.py), read back through the same
schema, and saved compare-and-set on its version: `UPDATE … WHERE version = <the version read>`. A writer
that read an older version (a stale tab, another replica) changes no row and is refused with StaleSession,
never applied: on PostgreSQL under READ COMMITTED a second writer waits for the first's row lock, then
finds the version moved. Nothing here ever holds an API key.

Sessions belong to someone: each row has an `owner`, an opaque string the app makes (ui/owner.py:
`browser:<hash of the browser's cookie token>` on a single-user install, `user:<email>` when sign-in is
configured). Every call that reads or changes a session takes the caller's owner and acts on that
owner's rows only: another owner's session is NotYours, and nothing of it (not even its size or date) is
given. `owner=None` names the sessions nobody owns yet: those saved before owners existed (and by
scripts such as bench/), which `claim_unowned` hands to the first browser of a single-user install.
Sharing is explicit: `share` gives a session a random token, and `copy_shared` copies it into another
owner's sessions; the original stays its owner's.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from secrets import token_urlsafe
from typing import Any

from sqlalchemy import Connection, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from lib.backends.replay import REPLAYED_SUFFIX
from lib.context.conversation import clean_text
from lib.context.payload import RequestPlan
from lib.core.errors import BadStoreUrl, DamagedSession, NotYours, StaleSession
from lib.core.outcome import CallOutcome, Usage
from lib.core.prices import billed
from lib.core.secrets import masked_json, redact
from lib.store import db
from lib.store.db import StoreUrl, writing
from lib.store.schema import calls as calls_table
from lib.store.schema import compare_setups, comparisons, deleted_sessions, sessions
from lib.store.session import (
    InvalidSession,
    Session,
    from_dict,
    is_session_id,
    new_session_id,
    now,
    parse_json,
    to_dict,
)

DEFAULT_PATH = Path("data") / "context_lab.db"
ENV_VAR = "CONTEXT_LAB_DB"

transaction = writing  # one write transaction (the name the store's callers have always used)

# What a failing store raises, for a page to catch and say (`shown`, `problem`) while keeping its work:
# lib.core.errors.STORE_FAILED (SQLAlchemy wraps every driver's errors: a server that cannot be reached, a
# refused statement, a locked or unreadable file; OSError for a disk; BadStoreUrl for a CONTEXT_LAB_DB
# that names no usable store).


# --- where the store is ----------------------------------------------------------------------------


def db_path() -> str:
    """Where the store is, as set: CONTEXT_LAB_DB (a path or a URL) or the default file. Read at each use
    so a test (or a user) can point it elsewhere. Holds a password if the URL does: show `shown()`."""
    return os.environ.get(ENV_VAR) or str(DEFAULT_PATH)


def store_url(where: str | Path | StoreUrl | None = None) -> StoreUrl:
    """The store `where` names (a path, a sqlite:/// or postgresql:// URL), or CONTEXT_LAB_DB's.
    BadStoreUrl (a ValueError) says what a value that names no usable store should be."""
    if isinstance(where, StoreUrl):
        return where
    return db.store_url(str(where) if where else db_path())


def shown(where: str | Path | StoreUrl | None = None) -> str:
    """The store's name for a message or a page: its password masked."""
    try:
        return store_url(where).shown
    except BadStoreUrl:
        return f"{ENV_VAR} (not a store this app can use)"


def problem(exc: BaseException, where: str | Path | StoreUrl | None = None) -> str:
    """What went wrong, in one line: the driver's own message (not the SQL and the values SQLAlchemy
    appends to it), the store's password masked should the message repeat it."""
    reason = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    lines = str(reason).strip().splitlines()
    text = lines[0].strip() if lines else type(reason).__name__
    try:
        password = make_url(store_url(where).url).password
    except (BadStoreUrl, ValueError):
        password = None
    return text.replace(str(password), "***") if password else text


@contextmanager
def opened(where: str | Path | StoreUrl | None = None) -> Iterator[Connection]:
    """A connection to the store (upgraded to the newest schema on first use in this process); what it
    wrote outside `transaction` is committed when the block ends without an error."""
    with connect(where) as conn:
        yield conn
        if conn.in_transaction():
            conn.commit()


def connect(where: str | Path | StoreUrl | None = None) -> Connection:
    """A connection from the store's pool; the caller closes it (`opened` does)."""
    return db.ready(store_url(where)).connect()


# --- sessions --------------------------------------------------------------------------------


@dataclass(frozen=True)
class SessionInfo:
    """A row of the session list: enough to show and pick it without loading the history."""

    id: str
    label: str
    message_count: int
    updated_at: str
    version: int = 1


_INFO = (sessions.c.id, sessions.c.label, sessions.c.message_count, sessions.c.updated_at, sessions.c.version)


def _row(session: Session, owner: str | None) -> dict[str, Any]:
    return _storable(
        {
            "id": session.id,
            "title": session.title,
            "label": session.label,
            "message_count": len(session.messages),
            "created_at": session.created_at,
            "updated_at": session.updated_at,
            "body": json.dumps(to_dict(session), ensure_ascii=False),
            "version": session.version,
            "owner": owner,
        }
    )


def _storable(values: dict[str, Any]) -> dict[str, Any]:
    """Every text as both backends store it (lib.context.conversation.clean_text): PostgreSQL refuses
    a NUL in a text column, which SQLite kept; a lone surrogate fails any UTF-8 encoder. A JSON body
    carries a NUL escaped (\\u0000), which PostgreSQL takes."""
    return {name: clean_text(value) if isinstance(value, str) else value for name, value in values.items()}


def _dialect_insert(conn: Connection, table):
    """INSERT with ON CONFLICT, in the connection's dialect (both spell it alike)."""
    return (postgresql if conn.dialect.name == "postgresql" else sqlite).insert(table)


def _mine(owner: str | None):
    return sessions.c.owner.is_not_distinct_from(owner)  # None is "nobody's", matched as such


def _info(conn: Connection, session_id: str) -> SessionInfo | None:
    row = conn.execute(select(*_INFO).where(sessions.c.id == session_id)).first()
    return None if row is None else SessionInfo(*row)


def _check_owner(conn: Connection, session_id: str, owner: str | None) -> None:
    """NotYours if the id names a session, live or deleted, of another owner."""
    for table in (sessions, deleted_sessions):
        row = conn.execute(select(table.c.owner).where(table.c.id == session_id)).first()
        if row is not None and row[0] != owner:
            raise NotYours("session", session_id)


def is_deleted(conn: Connection, session_id: str, owner: str | None = None) -> bool:
    """Whether `owner` deleted this session (another owner's deletion is not theirs to know)."""
    row = conn.execute(select(deleted_sessions.c.owner).where(deleted_sessions.c.id == session_id)).first()
    return row is not None and row[0] == owner


def is_taken(conn: Connection, session_id: str) -> bool:
    """Whether anyone holds or held this id (a new session must not take it)."""
    deleted = conn.execute(select(deleted_sessions.c.id).where(deleted_sessions.c.id == session_id)).first()
    return _info(conn, session_id) is not None or deleted is not None


def _insert_if_free(conn: Connection, values: dict[str, Any]) -> bool:
    """Insert the row unless its id is held (by a writer that got there first, even one not committed
    yet: PostgreSQL waits for it); whether it was inserted."""
    statement = _dialect_insert(conn, sessions).values(**values).on_conflict_do_nothing(index_elements=["id"])
    # RETURNING, not rowcount: psycopg reports -1 for an INSERT ... ON CONFLICT in some transactions
    return conn.execute(statement.returning(sessions.c.id)).first() is not None


def save_session(conn: Connection, session: Session, owner: str | None = None) -> Session:
    """Compare-and-set: store `owner`'s `session` only over the version it was read as
    (`session.version`; 0: a session never saved, whose id nobody holds). Returns it as saved, with its
    new version and `updated_at`; raises StaleSession, writing nothing, when another writer saved or
    deleted it since, and NotYours when the id is another owner's."""
    expected = session.version
    saved = replace(session, updated_at=now(), version=expected + 1)
    with writing(conn):
        _check_owner(conn, session.id, owner)
        if expected == 0:
            written = not is_deleted(conn, session.id, owner) and _insert_if_free(conn, _row(saved, owner))
        else:
            values = {k: v for k, v in _row(saved, owner).items() if k not in ("id", "created_at", "owner")}
            changed = conn.execute(
                update(sessions)
                .where(sessions.c.id == session.id, sessions.c.version == expected, _mine(owner))
                .values(**values)
            )
            written = changed.rowcount == 1
        if not written:
            raise StaleSession(session.id, _info(conn, session.id))
    return saved


def insert_new(conn: Connection, session: Session, owner: str | None = None) -> Session:
    """Save a session of `owner`'s that must not overwrite another (an import, a copy): an id that is
    taken (by anyone), was deleted, or cannot name a session in a URL gets a new one (the caller
    compares ids to say so)."""
    session = replace(session, updated_at=now(), version=1)
    with writing(conn):
        while not _stored_as_new(conn, session, owner):
            session = replace(session, id=new_session_id())
    return session


def _stored_as_new(conn: Connection, session: Session, owner: str | None) -> bool:
    """Whether `session` was stored under its own id: one a URL can carry, nobody's ever, still free."""
    return is_session_id(session.id) and not is_taken(conn, session.id) and _insert_if_free(conn, _row(session, owner))


def load_session(conn: Connection, session_id: str, owner: str | None = None) -> Session | None:
    """`owner`'s stored session (None: there is none); NotYours if it is another owner's;
    DamagedSession if its row is not the schema."""
    row = conn.execute(
        select(sessions.c.body, sessions.c.version, sessions.c.owner).where(sessions.c.id == session_id)
    ).first()
    if row is None:
        return None
    if row[2] != owner:
        raise NotYours("session", session_id)
    return _parsed(session_id, row[0], row[1])


def _parsed(session_id: str, body: str, version: int) -> Session:
    try:
        session = from_dict(parse_json(body, "Its stored form"))
    except InvalidSession as problem:
        raise DamagedSession(f"The stored session {session_id} cannot be read: {problem}") from None
    return replace(session, id=session_id, version=version)


def list_sessions(conn: Connection, owner: str | None = None) -> list[SessionInfo]:
    """`owner`'s sessions, most recently updated first."""
    rows = conn.execute(select(*_INFO).where(_mine(owner)).order_by(sessions.c.updated_at.desc(), sessions.c.id))
    return [SessionInfo(*row) for row in rows]


def claim_unowned(conn: Connection, owner: str) -> int:
    """Give every session nobody owns (saved before sessions had owners) to `owner`; returns how many.
    For a single-user install: its first browser keeps the sessions it had."""
    with writing(conn):
        count = conn.execute(update(sessions).where(sessions.c.owner.is_(None)).values(owner=owner)).rowcount
        conn.execute(update(deleted_sessions).where(deleted_sessions.c.owner.is_(None)).values(owner=owner))
    return count


def rename(conn: Connection, session_id: str, title: str, owner: str | None = None) -> Session | None:
    session = load_session(conn, session_id, owner)
    return None if session is None else save_session(conn, replace(session, title=title.strip()), owner)


def delete(conn: Connection, session_id: str, version: int | None = None, owner: str | None = None) -> bool:
    """Remove `owner`'s session, only as `version` when given (StaleSession otherwise: the deleter has
    not seen what it would remove). Its id is remembered; its calls stay in the run log (what was sent,
    and paid for, happened)."""
    with writing(conn):
        _check_owner(conn, session_id, owner)
        gone = sessions.delete().where(sessions.c.id == session_id, _mine(owner))
        if version is not None:  # in the DELETE itself: a save committed meanwhile is not removed unseen
            gone = gone.where(sessions.c.version == version)
        removed = conn.execute(gone.returning(sessions.c.version)).first()
        if removed is None:
            found = _info(conn, session_id)
            if version is not None and (found.version if found else 0) != version:
                raise StaleSession(session_id, found)
            return False
        remembered = {"id": session_id, "version": removed[0], "deleted_at": now(), "owner": owner}
        conn.execute(
            _dialect_insert(conn, deleted_sessions)
            .values(**remembered)
            .on_conflict_do_update(index_elements=["id"], set_=remembered)
        )
        return True


def duplicate(conn: Connection, session_id: str, owner: str | None = None) -> Session:
    original = _existing(conn, session_id, owner)
    return insert_new(conn, original.copy(f"Copy of {original.label}"), owner)


def fork(conn: Connection, session_id: str, message_id: str, owner: str | None = None) -> Session:
    """A new session of `owner`'s with the history up to and including `message_id`."""
    return insert_new(conn, _existing(conn, session_id, owner).forked(message_id), owner)


def _existing(conn: Connection, session_id: str, owner: str | None) -> Session:
    session = load_session(conn, session_id, owner)
    if session is None:
        raise KeyError(f"No session {session_id}")
    return session


# --- sharing: explicit, by a token only the owner hands out ---------------------------------------


def share(conn: Connection, session_id: str, owner: str | None) -> str:
    """The session's share token (made on first use): whoever holds it may copy the session
    (copy_shared), never change it. KeyError if `owner` has no such saved session."""
    with writing(conn):
        _check_owner(conn, session_id, owner)
        conn.execute(
            update(sessions)
            .where(sessions.c.id == session_id, _mine(owner))
            .values(share_token=func.coalesce(sessions.c.share_token, token_urlsafe(18)))
        )
        row = conn.execute(select(sessions.c.share_token).where(sessions.c.id == session_id)).first()
    if row is None:
        raise KeyError(f"No session {session_id}")
    return row[0]


def share_token(conn: Connection, session_id: str, owner: str | None) -> str | None:
    """The session's share token if `owner` shared it."""
    return conn.execute(
        select(sessions.c.share_token).where(sessions.c.id == session_id, _mine(owner))
    ).scalar_one_or_none()


def unshare(conn: Connection, session_id: str, owner: str | None) -> None:
    """Stop sharing: the old token copies nothing any more (copies already made stay their owners')."""
    with writing(conn):
        _check_owner(conn, session_id, owner)
        conn.execute(update(sessions).where(sessions.c.id == session_id, _mine(owner)).values(share_token=None))


def copy_shared(conn: Connection, token: str, owner: str | None) -> Session | None:
    """A copy of the session shared under `token`, saved as `owner`'s (None: no session is shared so)."""
    if not token:
        return None
    row = conn.execute(
        select(sessions.c.id, sessions.c.body, sessions.c.version).where(sessions.c.share_token == token)
    ).first()
    if row is None:
        return None
    original = _parsed(*row)
    return insert_new(conn, original.copy(f"Copy of {original.label}"), owner)


# --- the run log -------------------------------------------------------------------------------


@dataclass(frozen=True)
class CallRecord:
    """One call as the run log shows it: what was predicted, what the server reported, what it cost."""

    session_id: str
    variant: str  # "chat" for the chat page; the compare page's variant name
    provider: str
    model: str  # the name sent on the wire
    messages_sent: int
    predicted_prompt_tokens: int
    predicted_exact: bool
    usage: Usage  # as the server reported it: plausible counts in their columns, the flag in its own
    payload_bytes: int
    latency_s: float | None
    ttft_s: float | None
    cost: float | None  # USD (lib.core.prices.billed): reported usage where there is some, cached tokens as reported
    status: str  # "ok", "incomplete" (cut off mid-reply) or "error"
    error: str | None = None
    at: str = field(default_factory=now)
    owner: str | None = None  # who made the call (ui/owner.py); None: the session's owner when logged

    @classmethod
    def of(
        cls,
        session_id: str,
        variant: str,
        provider: str,
        plan: RequestPlan,
        outcome: CallOutcome,
        secrets: tuple[str, ...] = (),
        owner: str | None = None,
        batch: bool = False,  # an answer from the Batch API: billed at its rate
    ) -> CallRecord:
        # A replayed call (a recorded demo answering) was sent nowhere and cost nothing: its usage is the
        # recording's, its price would count the rehearsal's spending again in the run log's totals.
        replayed = provider.endswith(REPLAYED_SUFFIX)
        cost = 0.0 if replayed else billed(plan.model.prices, plan.prompt_tokens, outcome.usage, batch)
        status = "ok" if outcome.ok else ("incomplete" if outcome.incomplete else "error")
        error = clean_text(redact(outcome.error, secrets)) if outcome.error else None
        return cls(
            session_id,
            variant,
            provider,
            str(plan.body.get("model", plan.model.name)),
            len(plan.messages),
            plan.prompt_tokens,
            plan.count.exact,
            outcome.usage,
            plan.body_bytes,
            outcome.latency_s,
            outcome.ttft_s,
            cost,
            status,
            error,
            owner=owner,
        )

    def columns(self) -> dict[str, Any]:
        """The record as its row in the run log's table (CALL_COLUMNS)."""
        return {
            "session_id": self.session_id,
            "variant": self.variant,
            "provider": self.provider,
            "model": self.model,
            "messages_sent": self.messages_sent,
            "predicted_prompt_tokens": self.predicted_prompt_tokens,
            "predicted_exact": int(self.predicted_exact),
            "prompt_tokens": self.usage.prompt_tokens,
            "completion_tokens": self.usage.completion_tokens,
            "payload_bytes": self.payload_bytes,
            "latency_s": self.latency_s,
            "ttft_s": self.ttft_s,
            "cost": self.cost,
            "status": self.status,
            "error": self.error,
            "at": self.at,
            "cached_tokens": self.usage.cached_tokens,
            "owner": self.owner,
            # The server's word in words: the count columns hold only plausible numbers (10^30 fits no
            # INTEGER column), and this is what the run log shows beside the call.
            "implausible_usage": self.usage.flag,
        }


# The run log's columns, in the order `call_record` reads them.
CALL_COLUMNS = tuple(CallRecord("", "", "", "", 0, 0, False, Usage(), 0, None, None, None, "").columns())


def record_call(conn: Connection, record: CallRecord) -> int:
    """Log a call; one logged without an owner is the owner's of its session (who alone can open it).
    Returns the call's id."""
    values: dict[str, Any] = _storable(record.columns())
    if values["owner"] is None:
        values["owner"] = select(sessions.c.owner).where(sessions.c.id == record.session_id).scalar_subquery()
    with writing(conn):
        return conn.execute(insert(calls_table).values(**values).returning(calls_table.c.id)).scalar_one()


def calls(conn: Connection, session_id: str | None = None) -> list[CallRecord]:
    """The run log, oldest first; one session's calls when `session_id` is given."""
    query = select(*(calls_table.c[name] for name in CALL_COLUMNS)).order_by(calls_table.c.at, calls_table.c.id)
    if session_id:
        query = query.where(calls_table.c.session_id == session_id)
    return [call_record(row) for row in conn.execute(query)]


def call_record(row: Any) -> CallRecord:
    """A run-log row (its first columns in CALL_COLUMNS' order) as the record it was logged as; a row
    from before the flag had its column reads as not flagged (lib/store/migrations 0003 moved the ones
    that were flagged)."""
    v = dict(zip(CALL_COLUMNS, row[: len(CALL_COLUMNS)], strict=True))
    usage = Usage(v["prompt_tokens"], v["completion_tokens"], v["cached_tokens"], flag=v["implausible_usage"])
    return CallRecord(
        v["session_id"],
        v["variant"],
        v["provider"],
        v["model"],
        v["messages_sent"],
        v["predicted_prompt_tokens"],
        bool(v["predicted_exact"]),
        usage,
        v["payload_bytes"],
        v["latency_s"],
        v["ttft_s"],
        v["cost"],
        v["status"],
        v["error"],
        v["at"],
        v["owner"],
    )


# --- Compare: kept comparisons and the variant set-up, per session ------------------------------
# Kept as the plain data lib/analysis/compare_store.py gives and reads back (`Comparison.to_dict`,
# `CompareSetup.to_dict`): what a comparison means is the analysis layer's to say, not the store's.


def _json_object(body: str) -> dict | None:
    """A stored body as the object it was written as; None for one that is not (damaged, or not JSON)."""
    try:
        value = json.loads(body)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def save_comparison_body(conn: Connection, session_id: str, body: dict, secrets: tuple[str, ...] = ()) -> int:
    """Keep a finished comparison (its plain data) with its session, keys masked; returns its row id."""
    text = masked_json(json.dumps(body, ensure_ascii=False), secrets)
    with writing(conn):
        kept = insert(comparisons).values(session_id=session_id, created_at=now(), body=text)
        return conn.execute(kept.returning(comparisons.c.id)).scalar_one()


def comparison_bodies(conn: Connection, session_id: str) -> list[dict]:
    """The session's kept comparisons as stored, oldest first; a body that is not a JSON object is skipped."""
    rows = conn.execute(
        select(comparisons.c.body).where(comparisons.c.session_id == session_id).order_by(comparisons.c.id)
    )
    return [value for (body,) in rows if (value := _json_object(body)) is not None]


def save_compare_setup_body(conn: Connection, session_id: str, body: dict, secrets: tuple[str, ...] = ()) -> None:
    """Keep the session's Compare set-up (its plain data), keys masked, over the one it had."""
    values = {
        "session_id": session_id,
        "updated_at": now(),
        "body": masked_json(json.dumps(body, ensure_ascii=False), secrets),
    }
    with writing(conn):
        conn.execute(
            _dialect_insert(conn, compare_setups)
            .values(**values)
            .on_conflict_do_update(index_elements=["session_id"], set_=values)
        )


def compare_setup_body(conn: Connection, session_id: str) -> dict | None:
    """The session's Compare set-up as stored; None if it has none, or one that is not a JSON object."""
    body = conn.execute(
        select(compare_setups.c.body).where(compare_setups.c.session_id == session_id)
    ).scalar_one_or_none()
    return None if body is None else _json_object(body)
