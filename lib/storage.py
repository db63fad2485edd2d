"""Sessions and the run log in SQLite: survives a browser refresh, a new tab and a server restart.

One file (./data/context_lab.db, or $CONTEXT_LAB_DB, read at each use), WAL mode so readers never
wait for a writer, and a `schema_migrations` table: `connect` applies the migrations a file lacks.
Writes take the lock up front (BEGIN IMMEDIATE), so concurrent savers queue instead of failing.
A session is stored as its schema JSON (lib/session.py); nothing here ever holds an API key.
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

from lib.payload import RequestPlan
from lib.providers import CallOutcome, redact
from lib.session import Session, from_dict, new_session_id, now, to_dict

DEFAULT_PATH = Path("data") / "context_lab.db"
ENV_VAR = "CONTEXT_LAB_DB"
BUSY_TIMEOUT_S = 15.0

# Each migration is a list of statements; its version is its position + 1. Append, never edit.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
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
    # Experiments (lib/experiments/store.py): test sets, runs, and each finished cell of a run.
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


def _row(session: Session) -> tuple:
    return (
        session.id, session.title, session.label, len(session.messages), session.created_at, session.updated_at,
        json.dumps(to_dict(session), ensure_ascii=False),
    )  # fmt: skip


def save_session(conn: sqlite3.Connection, session: Session) -> Session:
    """Insert or replace; returns the session as saved (with its new `updated_at`)."""
    saved = replace(session, updated_at=now())
    with transaction(conn):
        conn.execute(
            """INSERT INTO sessions VALUES (?, ?, ?, ?, ?, ?, ?)
               ON CONFLICT (id) DO UPDATE SET title = excluded.title, label = excluded.label,
               message_count = excluded.message_count, updated_at = excluded.updated_at, body = excluded.body""",
            _row(saved),
        )
    return saved


def insert_new(conn: sqlite3.Connection, session: Session) -> Session:
    """Save a session that must not overwrite another (an import): a taken id gets a new one."""
    session = replace(session, updated_at=now())
    with transaction(conn):
        while conn.execute("SELECT 1 FROM sessions WHERE id = ?", (session.id,)).fetchone():
            session = replace(session, id=new_session_id())
        conn.execute("INSERT INTO sessions VALUES (?, ?, ?, ?, ?, ?, ?)", _row(session))
    return session


def load_session(conn: sqlite3.Connection, session_id: str) -> Session | None:
    row = conn.execute("SELECT body FROM sessions WHERE id = ?", (session_id,)).fetchone()
    return None if row is None else from_dict(json.loads(row[0]))


def list_sessions(conn: sqlite3.Connection) -> list[SessionInfo]:
    """Most recently updated first."""
    rows = conn.execute("SELECT id, label, message_count, updated_at FROM sessions ORDER BY updated_at DESC, id")
    return [SessionInfo(*row) for row in rows]


def rename(conn: sqlite3.Connection, session_id: str, title: str) -> Session | None:
    session = load_session(conn, session_id)
    return None if session is None else save_session(conn, replace(session, title=title.strip()))


def delete(conn: sqlite3.Connection, session_id: str) -> bool:
    """Remove the session; its calls stay in the run log (what was sent, and paid for, happened)."""
    with transaction(conn):
        return conn.execute("DELETE FROM sessions WHERE id = ?", (session_id,)).rowcount > 0


def duplicate(conn: sqlite3.Connection, session_id: str) -> Session:
    original = _existing(conn, session_id)
    return insert_new(conn, original.copy(f"Copy of {original.label}"))


def fork(conn: sqlite3.Connection, session_id: str, message_id: str) -> Session:
    """A new session with the history up to and including `message_id`."""
    return insert_new(conn, _existing(conn, session_id).forked(message_id))


def _existing(conn: sqlite3.Connection, session_id: str) -> Session:
    session = load_session(conn, session_id)
    if session is None:
        raise KeyError(f"No session {session_id}")
    return session


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
    cost: float | None  # USD: reported usage where there is some, else the prediction; None if unpriced
    status: str  # "ok", "incomplete" (cut off mid-reply) or "error"
    error: str | None = None
    at: str = field(default_factory=now)

    @classmethod
    def of(
        cls,
        session_id: str,
        variant: str,
        provider: str,
        plan: RequestPlan,
        outcome: CallOutcome,
        secrets: tuple[str, ...] = (),
    ) -> CallRecord:
        prompt = outcome.prompt_tokens if outcome.prompt_tokens is not None else plan.prompt_tokens
        cost = plan.model.input_cost(prompt)
        if cost is not None and outcome.completion_tokens is not None:
            cost += plan.model.output_cost(outcome.completion_tokens) or 0.0
        status = "ok" if outcome.ok else ("incomplete" if outcome.incomplete else "error")
        return cls(
            session_id, variant, provider, str(plan.body.get("model", plan.model.name)), len(plan.messages),
            plan.prompt_tokens, plan.count.exact, outcome.prompt_tokens, outcome.completion_tokens,
            plan.body_bytes, outcome.latency_s, outcome.ttft_s, cost, status,
            redact(outcome.error, secrets) if outcome.error else None,
        )  # fmt: skip


_CALL_COLUMNS = tuple(f.name for f in fields(CallRecord))


def record_call(conn: sqlite3.Connection, record: CallRecord) -> None:
    values = asdict(record)
    with transaction(conn):
        conn.execute(
            f"INSERT INTO calls ({', '.join(_CALL_COLUMNS)}) VALUES ({', '.join('?' * len(_CALL_COLUMNS))})",
            [values[name] for name in _CALL_COLUMNS],
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
