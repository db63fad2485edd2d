"""The run log keeps a call's implausible-usage flag in a column of its own, `implausible_usage`.

Until now the flag (lib.core.outcome.implausible_usage: "The server reported implausible usage: …")
was appended to the call's `error` text and found there again by searching for its opening words. A
row logged with it gets it moved into the new column, its error as it was before the flag was
appended; every other row reads as not flagged (NULL).

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

IMPLAUSIBLE = "The server reported implausible usage"  # frozen: the words the rows were written with


def upgrade() -> None:
    # ADD COLUMN works in place on both dialects (no batch copy of the table needed)
    op.add_column("calls", sa.Column("implausible_usage", sa.Text(), nullable=True))
    calls = sa.table(
        "calls", sa.column("id", sa.Integer), sa.column("error", sa.Text), sa.column("implausible_usage", sa.Text)
    )
    conn = op.get_bind()
    flagged = conn.execute(sa.select(calls.c.id, calls.c.error).where(calls.c.error.contains(IMPLAUSIBLE))).all()
    for call_id, error in flagged:
        at = error.find(IMPLAUSIBLE)
        conn.execute(
            sa.update(calls)
            .where(calls.c.id == call_id)
            .values(error=error[:at].rstrip() or None, implausible_usage=error[at:])
        )
