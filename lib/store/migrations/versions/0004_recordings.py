"""Recorded demos: a table `recordings`, one row per recording (lib/store/recordings.py).

A recording is kept as one JSON body (the session it was made from, the request bodies its calls sent
and the replies they got, the comparisons and experiment runs it includes), with its owner, as a
session is. No row exists before this revision: nothing to move.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "recordings",
        sa.Column("id", sa.Text(), primary_key=True, nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("created_at", sa.Text(), nullable=False),
        sa.Column("owner", sa.Text(), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
    )
    op.create_index("recordings_by_owner", "recordings", ["owner", "created_at"])
