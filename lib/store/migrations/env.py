"""Alembic's environment: always called from lib/store/db.upgrade with an open connection (never from a
command line holding its own URL), so the app and its tests migrate exactly the store they use."""

from alembic import context

from lib.store.schema import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
