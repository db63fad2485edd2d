"""The SQLite schema as the app built it before Alembic: seven migrations applied by raw sqlite3, recorded
in a `schema_migrations` table. Kept only as the upgrade path of such a file: lib/store/db.upgrade runs
the ones it lacks, which leave it exactly at Alembic's baseline (lib/store/migrations), then Alembic
takes over. Never extended: a change of schema is an Alembic revision now.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

from lib.store.session import now

# Each migration is a list of statements; its version is its position + 1. Frozen: never edited, never extended.
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


@contextmanager
def _transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def migrate(conn: sqlite3.Connection, upto: int = SCHEMA_VERSION) -> int:
    """Apply the migrations this file lacks up to `upto` (a test builds an older file so), on an
    autocommit connection; returns the schema version."""
    conn.execute("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT)")
    if version(conn) >= upto:
        return version(conn)
    with _transaction(conn):  # re-read under the lock: another process may have just migrated
        for number in range(version(conn) + 1, upto + 1):
            for statement in MIGRATIONS[number - 1]:
                conn.execute(statement)
            conn.execute("INSERT INTO schema_migrations VALUES (?, ?)", (number, now()))
    return upto


def version(conn: sqlite3.Connection) -> int:
    return conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_migrations").fetchone()[0]
