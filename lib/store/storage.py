"""Sessions and the run log in SQLite: survives a browser refresh, a new tab and a server restart.

One file (./data/context_lab.db, or $CONTEXT_LAB_DB, read at each use), WAL mode so readers never
wait for a writer, and a `schema_migrations` table: `connect` applies the migrations a file lacks.
Writes take the lock up front (BEGIN IMMEDIATE), so concurrent savers queue instead of failing.
A session is stored as its schema JSON (lib/store/session.py), read back through the same schema, and
saved compare-and-set on its version: a writer that read an older version (a stale tab) is refused
with StaleSession, never applied. Nothing here ever holds an API key.

Sessions belong to someone (migration 7): each row has an `owner`, an opaque string the app makes
(ui/owner.py: `browser:<hash of the browser's cookie token>` on a single-user install, `user:<email>`
when sign-in is configured). Every call that reads or changes a session takes the caller's owner and
acts on that owner's rows only: another owner's session is NotYours, and nothing of it (not even its
size or date) is given. `owner=None` names the sessions nobody owns yet: those saved before migration 7
(and by scripts such as bench/), which `claim_unowned` hands to the first browser of a single-user
install. Sharing is explicit: `share` gives a session a random token, and `copy_shared` copies it
into another owner's sessions; the original stays its owner's.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from secrets import token_urlsafe
from typing import Any

from lib.analysis.compare import CompareSetup, Comparison, InvalidComparison
from lib.backends.errors import redact
from lib.backends.prices import billed
from lib.backends.providers import CallOutcome
from lib.context.conversation import clean_text
from lib.context.payload import RequestPlan
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
BUSY_TIMEOUT_S = 15.0

# Each migration is a list of statements; its version is its position + 1. Append, never edit.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    # 1: sessions (the schema JSON and what the list shows) and the run log.
    (
        """CREATE TABLE sessions (
            id TEXT PRIMARY KEY,
            title TEXT NOT NULL,
            label TEXT NOT NULL,
            message_count INTEGER NOT NULL,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            body TEXT NOT NULL
        )""",
        "CREATE INDEX sessions_by_update ON sessions (updated_at)",
        """CREATE TABLE calls (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            at TEXT NOT NULL,
            session_id TEXT NOT NULL,
            variant TEXT NOT NULL,
            provider TEXT NOT NULL,
            model TEXT NOT NULL,
            messages_sent INTEGER NOT NULL,
            predicted_prompt_tokens INTEGER NOT NULL,
            predicted_exact INTEGER NOT NULL,
            prompt_tokens INTEGER,
            completion_tokens INTEGER,
            payload_bytes INTEGER NOT NULL,
            latency_s REAL,
            ttft_s REAL,
            cost REAL,
            status TEXT NOT NULL,
            error TEXT
        )""",
        "CREATE INDEX calls_by_session ON calls (session_id, at)",
    ),
    # 2: compare-and-set saves. A row's version counts its saves; a deleted session leaves its id and
    # last version behind, so a tab still holding it is told, and nothing recreates it unseen.
    (
        "ALTER TABLE sessions ADD COLUMN version INTEGER NOT NULL DEFAULT 1",
        "CREATE TABLE deleted_sessions (id TEXT PRIMARY KEY, version INTEGER NOT NULL, deleted_at TEXT NOT NULL)",
    ),
    # 3: one id grammar (lib/session.SESSION_ID_PATTERN). Imports used to keep any 1-64 characters
    # ("Project notes v2.1"), which the URL cannot carry: such a session gets a new id, in its row,
    # its body and its run-log calls.
    (
        """CREATE TEMP TABLE renamed_sessions AS
           SELECT id AS old, lower(hex(randomblob(8))) AS new FROM sessions
           WHERE id = '' OR length(id) > 64 OR id GLOB '*[^A-Za-z0-9_-]*'""",
        """UPDATE calls SET session_id = (SELECT new FROM renamed_sessions WHERE old = session_id)
           WHERE session_id IN (SELECT old FROM renamed_sessions)""",
        """UPDATE sessions SET
             body = CASE WHEN json_valid(body)
                    THEN json_set(body, '$.id', (SELECT new FROM renamed_sessions WHERE old = id)) ELSE body END,
             id = (SELECT new FROM renamed_sessions WHERE old = id)
           WHERE id IN (SELECT old FROM renamed_sessions)""",
        "DROP TABLE renamed_sessions",
    ),
    # 4: Compare: each session's kept comparisons and its variant set-up, as JSON
    # (lib/compare to_dict/from_dict); a call's request body, answer and strategy for the run log.
    (
        """CREATE TABLE comparisons (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            session_id TEXT NOT NULL,
            created_at TEXT NOT NULL,
            body TEXT NOT NULL
        )""",
        "CREATE INDEX comparisons_by_session ON comparisons (session_id, id)",
        """CREATE TABLE compare_setups (
            session_id TEXT PRIMARY KEY,
            updated_at TEXT NOT NULL,
            body TEXT NOT NULL
        )""",
        """CREATE TABLE call_details (
            call_id INTEGER PRIMARY KEY,
            request_body TEXT,
            answer TEXT,
            strategy TEXT,
            finish_reason TEXT,
            queued_s REAL,
            notices TEXT
        )""",
    ),
    # 5: prompt tokens the server read from its cache (usage.prompt_tokens_details.cached_tokens).
    ("ALTER TABLE calls ADD COLUMN cached_tokens INTEGER",),
    # 6: Experiments (lib/analysis/experiments/store.py): test sets, runs, and each finished cell of a run.
    (
        """CREATE TABLE experiment_sets (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            body TEXT NOT NULL,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        )""",
        """CREATE TABLE experiment_runs (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            set_name TEXT NOT NULL,
            session_id TEXT NOT NULL,
            status TEXT NOT NULL,
            cells INTEGER NOT NULL,
            spec TEXT NOT NULL,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        )""",
        """CREATE TABLE experiment_cells (
            run_id TEXT NOT NULL,
            variant INTEGER NOT NULL,
            case_id TEXT NOT NULL,
            repeat INTEGER NOT NULL,
            status TEXT NOT NULL,
            answer TEXT NOT NULL,
            verdicts TEXT NOT NULL,
            body TEXT NOT NULL,
            predicted_prompt_tokens INTEGER NOT NULL,
            prompt_tokens INTEGER,
            completion_tokens INTEGER,
            cached_tokens INTEGER,
            latency_s REAL,
            cost REAL,
            error TEXT,
            notices TEXT NOT NULL,
            finished_at TEXT NOT NULL,
            PRIMARY KEY (run_id, variant, case_id, repeat)
        )""",
    ),
)
MIGRATIONS += (
    # 7: sessions belong to someone. Rows saved before have no owner (NULL): the first browser of a
    # single-user install claims them (claim_unowned); under sign-in they stay nobody's until assigned.
    # A share token lets its holder copy the session; the run log says who made each call.
    (
        "ALTER TABLE sessions ADD COLUMN owner TEXT",
        "ALTER TABLE sessions ADD COLUMN share_token TEXT",
        "CREATE INDEX sessions_by_owner ON sessions (owner, updated_at)",
        "CREATE UNIQUE INDEX sessions_by_share_token ON sessions (share_token)",
        "ALTER TABLE deleted_sessions ADD COLUMN owner TEXT",
        "ALTER TABLE calls ADD COLUMN owner TEXT",
    ),
)
SCHEMA_VERSION = len(MIGRATIONS)


def db_path() -> Path:
    """Where the database lives; read at each use so a test (or a user) can point it elsewhere."""
    return Path(os.environ.get(ENV_VAR) or DEFAULT_PATH)


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def migrate(conn: sqlite3.Connection) -> int:
    """Apply the migrations this file lacks; returns the schema version."""
    conn.execute("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT)")
    if _version(conn) == SCHEMA_VERSION:
        return SCHEMA_VERSION
    with transaction(conn):  # re-read under the lock: another process may have just migrated
        for version in range(_version(conn) + 1, SCHEMA_VERSION + 1):
            for statement in MIGRATIONS[version - 1]:
                conn.execute(statement)
            conn.execute("INSERT INTO schema_migrations VALUES (?, ?)", (version, now()))
    return SCHEMA_VERSION


def _version(conn: sqlite3.Connection) -> int:
    return conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_migrations").fetchone()[0]


def connect(path: str | Path | None = None) -> sqlite3.Connection:
    """An autocommit connection (transactions are explicit) to a migrated database in WAL mode."""
    path = Path(path) if path else db_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
    _set_up(conn)
    return conn


def _set_up(conn: sqlite3.Connection) -> None:
    # Switching a fresh file to WAL takes a lock that SQLite's busy handler does not wait for,
    # so two sessions opening a new database at once would see "database is locked": retry.
    deadline = time.monotonic() + BUSY_TIMEOUT_S
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")  # with WAL: durable across crashes of the app
            migrate(conn)
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


@contextmanager
def opened(path: str | Path | None = None) -> Iterator[sqlite3.Connection]:
    with closing(connect(path)) as conn:
        yield conn


# --- sessions --------------------------------------------------------------------------------


@dataclass(frozen=True)
class SessionInfo:
    """A row of the session list: enough to show and pick it without loading the history."""

    id: str
    label: str
    message_count: int
    updated_at: str
    version: int = 1


class StaleSession(Exception):
    """A save or a delete refused because the stored session is no longer the one the writer read:
    another tab saved it since (`stored` says what it holds now) or deleted it (`stored` is None)."""

    def __init__(self, session_id: str, stored: SessionInfo | None) -> None:
        super().__init__(
            f"Session {session_id} was {'changed' if stored else 'deleted'} by another writer since it was read."
        )
        self.session_id = session_id
        self.stored = stored

    @property
    def deleted(self) -> bool:
        return self.stored is None


class NotYours(Exception):
    """The id names a session of another owner that was not shared: nothing of it is given or changed."""

    def __init__(self, session_id: str) -> None:
        super().__init__(f"Session {session_id} belongs to someone else.")
        self.session_id = session_id


class DamagedSession(InvalidSession):
    """A stored row that is not the schema (not JSON, or not a session): named, never overwritten."""


_INFO = "SELECT id, label, message_count, updated_at, version FROM sessions"
_INSERT = """INSERT INTO sessions (id, title, label, message_count, created_at, updated_at, body, version, owner)
             VALUES (:id, :title, :label, :message_count, :created_at, :updated_at, :body, :version, :owner)"""


def _row(session: Session, owner: str | None) -> dict[str, Any]:
    return {"owner": owner,
        "id": session.id, "title": session.title, "label": session.label, "message_count": len(session.messages),
        "created_at": session.created_at, "updated_at": session.updated_at,
        "body": json.dumps(to_dict(session), ensure_ascii=False), "version": session.version,
    }  # fmt: skip


def _info(conn: sqlite3.Connection, session_id: str) -> SessionInfo | None:
    row = conn.execute(_INFO + " WHERE id = ?", (session_id,)).fetchone()
    return None if row is None else SessionInfo(*row)


def _check_owner(conn: sqlite3.Connection, session_id: str, owner: str | None) -> None:
    """NotYours if the id names a session, live or deleted, of another owner."""
    for table in ("sessions", "deleted_sessions"):
        row = conn.execute(f"SELECT owner FROM {table} WHERE id = ?", (session_id,)).fetchone()
        if row is not None and row[0] != owner:
            raise NotYours(session_id)


def is_deleted(conn: sqlite3.Connection, session_id: str, owner: str | None = None) -> bool:
    """Whether `owner` deleted this session (another owner's deletion is not theirs to know)."""
    row = conn.execute("SELECT owner FROM deleted_sessions WHERE id = ?", (session_id,)).fetchone()
    return row is not None and row[0] == owner


def is_taken(conn: sqlite3.Connection, session_id: str) -> bool:
    """Whether anyone holds or held this id (a new session must not take it)."""
    deleted = conn.execute("SELECT 1 FROM deleted_sessions WHERE id = ?", (session_id,)).fetchone()
    return _info(conn, session_id) is not None or deleted is not None


def save_session(conn: sqlite3.Connection, session: Session, owner: str | None = None) -> Session:
    """Compare-and-set: store `owner`'s `session` only over the version it was read as
    (`session.version`; 0: a session never saved, whose id nobody holds). Returns it as saved, with its
    new version and `updated_at`; raises StaleSession, writing nothing, when another writer saved or
    deleted it since, and NotYours when the id is another owner's."""
    expected = session.version
    saved = replace(session, updated_at=now(), version=expected + 1)
    with transaction(conn):
        _check_owner(conn, session.id, owner)
        if expected == 0:
            insert = _INSERT + " ON CONFLICT (id) DO NOTHING"
            written = 0 if is_deleted(conn, session.id, owner) else conn.execute(insert, _row(saved, owner)).rowcount
        else:
            written = conn.execute(
                """UPDATE sessions SET title = :title, label = :label, message_count = :message_count,
                   updated_at = :updated_at, body = :body, version = :version
                   WHERE id = :id AND version = :version - 1 AND owner IS :owner""",
                _row(saved, owner),
            ).rowcount
        if written != 1:
            raise StaleSession(session.id, _info(conn, session.id))
    return saved


def insert_new(conn: sqlite3.Connection, session: Session, owner: str | None = None) -> Session:
    """Save a session of `owner`'s that must not overwrite another (an import, a copy): an id that is
    taken (by anyone), was deleted, or cannot name a session in a URL gets a new one (the caller
    compares ids to say so)."""
    session = replace(session, updated_at=now(), version=1)
    with transaction(conn):
        while not is_session_id(session.id) or is_taken(conn, session.id):
            session = replace(session, id=new_session_id())
        conn.execute(_INSERT, _row(session, owner))
    return session


def load_session(conn: sqlite3.Connection, session_id: str, owner: str | None = None) -> Session | None:
    """`owner`'s stored session (None: there is none); NotYours if it is another owner's;
    DamagedSession if its row is not the schema."""
    row = conn.execute("SELECT body, version, owner FROM sessions WHERE id = ?", (session_id,)).fetchone()
    if row is None:
        return None
    if row[2] != owner:
        raise NotYours(session_id)
    return _parsed(session_id, row[0], row[1])


def _parsed(session_id: str, body: str, version: int) -> Session:
    try:
        session = from_dict(parse_json(body, "Its stored form"))
    except InvalidSession as problem:
        raise DamagedSession(f"The stored session {session_id} cannot be read: {problem}") from None
    return replace(session, id=session_id, version=version)


def list_sessions(conn: sqlite3.Connection, owner: str | None = None) -> list[SessionInfo]:
    """`owner`'s sessions, most recently updated first."""
    rows = conn.execute(_INFO + " WHERE owner IS ? ORDER BY updated_at DESC, id", (owner,))
    return [SessionInfo(*row) for row in rows]


def claim_unowned(conn: sqlite3.Connection, owner: str) -> int:
    """Give every session nobody owns (saved before sessions had owners) to `owner`; returns how many.
    For a single-user install: its first browser keeps the sessions it had."""
    with transaction(conn):
        count = conn.execute("UPDATE sessions SET owner = ? WHERE owner IS NULL", (owner,)).rowcount
        conn.execute("UPDATE deleted_sessions SET owner = ? WHERE owner IS NULL", (owner,))
    return count


def rename(conn: sqlite3.Connection, session_id: str, title: str, owner: str | None = None) -> Session | None:
    session = load_session(conn, session_id, owner)
    return None if session is None else save_session(conn, replace(session, title=title.strip()), owner)


def delete(conn: sqlite3.Connection, session_id: str, version: int | None = None, owner: str | None = None) -> bool:
    """Remove `owner`'s session, only as `version` when given (StaleSession otherwise: the deleter has
    not seen what it would remove). Its id is remembered; its calls stay in the run log (what was sent,
    and paid for, happened)."""
    with transaction(conn):
        _check_owner(conn, session_id, owner)
        found = _info(conn, session_id)
        if version is not None and (found.version if found else 0) != version:
            raise StaleSession(session_id, found)
        if found is None:
            return False
        conn.execute("DELETE FROM sessions WHERE id = ?", (session_id,))
        conn.execute(
            "INSERT OR REPLACE INTO deleted_sessions (id, version, deleted_at, owner) VALUES (?, ?, ?, ?)",
            (session_id, found.version, now(), owner),
        )
        return True


def duplicate(conn: sqlite3.Connection, session_id: str, owner: str | None = None) -> Session:
    original = _existing(conn, session_id, owner)
    return insert_new(conn, original.copy(f"Copy of {original.label}"), owner)


def fork(conn: sqlite3.Connection, session_id: str, message_id: str, owner: str | None = None) -> Session:
    """A new session of `owner`'s with the history up to and including `message_id`."""
    return insert_new(conn, _existing(conn, session_id, owner).forked(message_id), owner)


def _existing(conn: sqlite3.Connection, session_id: str, owner: str | None) -> Session:
    session = load_session(conn, session_id, owner)
    if session is None:
        raise KeyError(f"No session {session_id}")
    return session


# --- sharing: explicit, by a token only the owner hands out ---------------------------------------


def share(conn: sqlite3.Connection, session_id: str, owner: str | None) -> str:
    """The session's share token (made on first use): whoever holds it may copy the session
    (copy_shared), never change it. KeyError if `owner` has no such saved session."""
    with transaction(conn):
        _check_owner(conn, session_id, owner)
        conn.execute(
            "UPDATE sessions SET share_token = COALESCE(share_token, ?) WHERE id = ? AND owner IS ?",
            (token_urlsafe(18), session_id, owner),
        )
        row = conn.execute("SELECT share_token FROM sessions WHERE id = ?", (session_id,)).fetchone()
    if row is None:
        raise KeyError(f"No session {session_id}")
    return row[0]


def share_token(conn: sqlite3.Connection, session_id: str, owner: str | None) -> str | None:
    """The session's share token if `owner` shared it."""
    row = conn.execute("SELECT share_token FROM sessions WHERE id = ? AND owner IS ?", (session_id, owner)).fetchone()
    return None if row is None else row[0]


def unshare(conn: sqlite3.Connection, session_id: str, owner: str | None) -> None:
    """Stop sharing: the old token copies nothing any more (copies already made stay their owners')."""
    with transaction(conn):
        _check_owner(conn, session_id, owner)
        conn.execute("UPDATE sessions SET share_token = NULL WHERE id = ? AND owner IS ?", (session_id, owner))


def copy_shared(conn: sqlite3.Connection, token: str, owner: str | None) -> Session | None:
    """A copy of the session shared under `token`, saved as `owner`'s (None: no session is shared so)."""
    row = conn.execute("SELECT id, body, version FROM sessions WHERE share_token = ?", (token,)).fetchone()
    if row is None or not token:
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
    prompt_tokens: int | None
    completion_tokens: int | None
    payload_bytes: int
    latency_s: float | None
    ttft_s: float | None
    cost: (
        float | None
    )  # USD (lib.backends.prices.billed): reported usage where there is some, cached tokens as reported
    status: str  # "ok", "incomplete" (cut off mid-reply) or "error"
    error: str | None = None
    at: str = field(default_factory=now)
    cached_tokens: int | None = None  # as the server reported them; None when it reported none
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
    ) -> CallRecord:
        cost = billed(plan.model, plan.prompt_tokens, outcome)
        status = "ok" if outcome.ok else ("incomplete" if outcome.incomplete else "error")
        return cls(
            session_id, variant, provider, str(plan.body.get("model", plan.model.name)), len(plan.messages),
            plan.prompt_tokens, plan.count.exact, outcome.prompt_tokens, outcome.completion_tokens,
            plan.body_bytes, outcome.latency_s, outcome.ttft_s, cost, status,
            clean_text(redact(outcome.error, secrets)) if outcome.error else None,
            cached_tokens=outcome.cached_tokens, owner=owner,
        )  # fmt: skip


_CALL_COLUMNS = tuple(f.name for f in fields(CallRecord))


def record_call(conn: sqlite3.Connection, record: CallRecord) -> None:
    """Log a call; one logged without an owner is the owner's of its session (who alone can open it)."""
    values = asdict(record)
    columns = [name for name in _CALL_COLUMNS if name != "owner"]
    with transaction(conn):
        conn.execute(
            f"""INSERT INTO calls ({", ".join(columns)}, owner)
                VALUES ({", ".join("?" * len(columns))}, COALESCE(?, (SELECT owner FROM sessions WHERE id = ?)))""",
            [*(values[name] for name in columns), record.owner, record.session_id],
        )


def calls(conn: sqlite3.Connection, session_id: str | None = None) -> list[CallRecord]:
    """The run log, oldest first; one session's calls when `session_id` is given."""
    query = f"SELECT {', '.join(_CALL_COLUMNS)} FROM calls"
    rows = (
        conn.execute(query + " WHERE session_id = ? ORDER BY at, id", (session_id,))
        if session_id
        else conn.execute(query + " ORDER BY at, id")
    )
    return [_record(row) for row in rows]


def _record(row: tuple) -> CallRecord:
    values = dict(zip(_CALL_COLUMNS, row, strict=True))
    values["predicted_exact"] = bool(values["predicted_exact"])
    return CallRecord(**values)


# --- Compare: kept comparisons and the variant set-up, per session ------------------------------


def _masked(text: str, secrets: tuple[str, ...]) -> str:
    """JSON text with every occurrence of a secret masked (as lib.store.session.without_secrets does)."""
    for secret in (s for s in secrets if len(s) >= 4):
        text = text.replace(json.dumps(secret)[1:-1], "***").replace(secret, "***")
    return text


def save_comparison(
    conn: sqlite3.Connection, session_id: str, comparison: Comparison, secrets: tuple[str, ...] = ()
) -> int:
    """Keep a finished comparison with its session; returns its row id."""
    body = _masked(json.dumps(comparison.to_dict(), ensure_ascii=False), secrets)
    with transaction(conn):
        cursor = conn.execute(
            "INSERT INTO comparisons (session_id, created_at, body) VALUES (?, ?, ?)", (session_id, now(), body)
        )
    assert cursor.lastrowid is not None  # an INSERT always has one
    return cursor.lastrowid


def list_comparisons(conn: sqlite3.Connection, session_id: str) -> list[Comparison]:
    """The session's comparisons, oldest first. One that cannot be read back (another format) is
    skipped: the others, and the page, must not be lost to it."""
    rows = conn.execute("SELECT body FROM comparisons WHERE session_id = ? ORDER BY id", (session_id,))
    kept = []
    for (body,) in rows:
        try:
            kept.append(Comparison.from_dict(json.loads(body)))
        except (ValueError, InvalidComparison):
            continue
    return kept


def save_compare_setup(
    conn: sqlite3.Connection, session_id: str, setup: CompareSetup, secrets: tuple[str, ...] = ()
) -> None:
    body = _masked(json.dumps(setup.to_dict(), ensure_ascii=False), secrets)
    with transaction(conn):
        conn.execute(
            """INSERT INTO compare_setups VALUES (?, ?, ?)
               ON CONFLICT (session_id) DO UPDATE SET updated_at = excluded.updated_at, body = excluded.body""",
            (session_id, now(), body),
        )


def load_compare_setup(conn: sqlite3.Connection, session_id: str) -> CompareSetup | None:
    """The session's Compare set-up; None if it has none (or one this version cannot read)."""
    row = conn.execute("SELECT body FROM compare_setups WHERE session_id = ?", (session_id,)).fetchone()
    if row is None:
        return None
    try:
        return CompareSetup.from_dict(json.loads(row[0]))
    except (ValueError, InvalidComparison):
        return None
