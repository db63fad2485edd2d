"""Experiments belong to someone: test sets and runs get an `owner`, as sessions have one.

Rows already there keep NULL (made before experiments had owners): on a single-user install the first
browser to open the Experiments page claims them (lib/analysis/experiments/store.claim_unowned), as the
first browser claims the sessions from before owners; under sign-in they stay nobody's. A run's cells
need no owner of their own: they are reached through their run.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # batch: SQLite alters a table by copying it where ALTER TABLE cannot (ADD COLUMN it can, in place)
    with op.batch_alter_table("experiment_sets") as table:
        table.add_column(sa.Column("owner", sa.Text(), nullable=True))
        table.create_index("experiment_sets_by_owner", ["owner", "updated_at"])
    with op.batch_alter_table("experiment_runs") as table:
        table.add_column(sa.Column("owner", sa.Text(), nullable=True))
        table.create_index("experiment_runs_by_owner", ["owner", "created_at"])
