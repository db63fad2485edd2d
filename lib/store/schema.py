"""The store's tables in SQLAlchemy Core: one description for SQLite and PostgreSQL. Its tables
as revision 0001 made them are the schema lib/store/sqlite_migrations.py 1-7 built on SQLite (same names,
columns and indexes), so a SQLite file from before Alembic is already at the baseline; every change since
is an Alembic revision (lib/store/migrations/versions), and this file is kept in step with their sum
(tests/store/test_db.py compares a migrated store with it). Times are ISO-8601 text, JSON bodies text:
as the app has always stored them."""

from __future__ import annotations

from sqlalchemy import Column, Float, Index, Integer, MetaData, Table, Text

metadata = MetaData()


def _text(name: str, nullable: bool = False, **kwargs) -> Column:
    return Column(name, Text, nullable=nullable, **kwargs)


sessions = Table(
    "sessions",
    metadata,
    _text("id", primary_key=True),
    _text("title"),
    _text("label"),
    Column("message_count", Integer, nullable=False),
    _text("created_at"),
    _text("updated_at"),
    _text("body"),
    Column("version", Integer, nullable=False, server_default="1"),
    _text("owner", nullable=True),
    _text("share_token", nullable=True),
    Index("sessions_by_update", "updated_at"),
    Index("sessions_by_owner", "owner", "updated_at"),
    Index("sessions_by_share_token", "share_token", unique=True),
)

deleted_sessions = Table(
    "deleted_sessions",
    metadata,
    _text("id", primary_key=True),
    Column("version", Integer, nullable=False),
    _text("deleted_at"),
    _text("owner", nullable=True),
)

calls = Table(
    "calls",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    _text("at"),
    _text("session_id"),
    _text("variant"),
    _text("provider"),
    _text("model"),
    Column("messages_sent", Integer, nullable=False),
    Column("predicted_prompt_tokens", Integer, nullable=False),
    Column("predicted_exact", Integer, nullable=False),
    Column("prompt_tokens", Integer),
    Column("completion_tokens", Integer),
    Column("payload_bytes", Integer, nullable=False),
    Column("latency_s", Float),
    Column("ttft_s", Float),
    Column("cost", Float),
    _text("status"),
    _text("error", nullable=True),
    Column("cached_tokens", Integer),
    _text("owner", nullable=True),
    _text("implausible_usage", nullable=True),
    Index("calls_by_session", "session_id", "at"),
    sqlite_autoincrement=True,
)

comparisons = Table(
    "comparisons",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    _text("session_id"),
    _text("created_at"),
    _text("body"),
    Index("comparisons_by_session", "session_id", "id"),
    sqlite_autoincrement=True,
)

compare_setups = Table(
    "compare_setups",
    metadata,
    _text("session_id", primary_key=True),
    _text("updated_at"),
    _text("body"),
)

call_details = Table(
    "call_details",
    metadata,
    Column("call_id", Integer, primary_key=True, autoincrement=False),
    _text("request_body", nullable=True),
    _text("answer", nullable=True),
    _text("strategy", nullable=True),
    _text("finish_reason", nullable=True),
    Column("queued_s", Float),
    _text("notices", nullable=True),
)

# Experiments belong to their owner as sessions do (`owner`: ui/owner.py's string; NULL: made before
# experiments had owners, revision 0002, until claimed).
experiment_sets = Table(
    "experiment_sets",
    metadata,
    _text("id", primary_key=True),
    _text("name"),
    _text("body"),
    _text("created_at"),
    _text("updated_at"),
    _text("owner", nullable=True),
    Index("experiment_sets_by_owner", "owner", "updated_at"),
)

experiment_runs = Table(
    "experiment_runs",
    metadata,
    _text("id", primary_key=True),
    _text("name"),
    _text("set_name"),
    _text("session_id"),
    _text("status"),
    Column("cells", Integer, nullable=False),
    _text("spec"),
    _text("created_at"),
    _text("updated_at"),
    _text("owner", nullable=True),
    Index("experiment_runs_by_owner", "owner", "created_at"),
)

experiment_cells = Table(
    "experiment_cells",
    metadata,
    _text("run_id", primary_key=True),
    Column("variant", Integer, primary_key=True, autoincrement=False),
    _text("case_id", primary_key=True),
    Column("repeat", Integer, primary_key=True, autoincrement=False),
    _text("status"),
    _text("answer"),
    _text("verdicts"),
    _text("body"),
    Column("predicted_prompt_tokens", Integer, nullable=False),
    Column("prompt_tokens", Integer),
    Column("completion_tokens", Integer),
    Column("cached_tokens", Integer),
    Column("latency_s", Float),
    Column("cost", Float),
    _text("error", nullable=True),
    _text("notices"),
    _text("finished_at"),
)

# Recorded demos (lib/store/recordings.py): one JSON body each, owned as sessions are.
recordings = Table(
    "recordings",
    metadata,
    _text("id", primary_key=True),
    _text("title"),
    _text("created_at"),
    _text("owner", nullable=True),
    _text("body"),
    Index("recordings_by_owner", "owner", "created_at"),
)
