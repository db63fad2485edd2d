"""The baseline: the store's tables as lib/store/sqlite_migrations.py 1-7 left a SQLite file.

A new store gets them all; a SQLite file that the old migrations brought to version 7 has them
already (checkfirst), and is only stamped. The tables are written out here as they were at this
revision, not taken from lib/store/schema.py: that file follows the newest revision, and a new store
built from it here would already hold what the later revisions add (their op.add_column would fail).
Later changes are revisions of their own, never edits of this one.

Revision ID: 0001
Revises:
"""

from alembic import op
from sqlalchemy import Column, Float, Index, Integer, MetaData, Table, Text

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _text(name: str, nullable: bool = False, **kwargs) -> Column:
    return Column(name, Text, nullable=nullable, **kwargs)


def baseline() -> MetaData:
    """The tables as they were at revision 0001."""
    metadata = MetaData()
    Table(
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
    Table(
        "deleted_sessions",
        metadata,
        _text("id", primary_key=True),
        Column("version", Integer, nullable=False),
        _text("deleted_at"),
        _text("owner", nullable=True),
    )
    Table(
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
        Index("calls_by_session", "session_id", "at"),
        sqlite_autoincrement=True,
    )
    Table(
        "comparisons",
        metadata,
        Column("id", Integer, primary_key=True, autoincrement=True),
        _text("session_id"),
        _text("created_at"),
        _text("body"),
        Index("comparisons_by_session", "session_id", "id"),
        sqlite_autoincrement=True,
    )
    Table(
        "compare_setups",
        metadata,
        _text("session_id", primary_key=True),
        _text("updated_at"),
        _text("body"),
    )
    Table(
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
    Table(
        "experiment_sets",
        metadata,
        _text("id", primary_key=True),
        _text("name"),
        _text("body"),
        _text("created_at"),
        _text("updated_at"),
    )
    Table(
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
    )
    Table(
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
    return metadata


def upgrade() -> None:
    baseline().create_all(op.get_bind(), checkfirst=True)
