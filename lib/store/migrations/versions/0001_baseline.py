"""The baseline: the tables of lib/store/schema.py, as lib/store/sqlite_migrations.py 1-7 left a SQLite file.

A new store gets them all; a SQLite file that the old migrations brought to version 7 has them
already (checkfirst), and is only stamped. Later changes are revisions of their own (op.add_column…),
never edits of this one.

Revision ID: 0001
Revises:
"""

from alembic import op

from lib.store.schema import metadata

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    metadata.create_all(op.get_bind(), checkfirst=True)
