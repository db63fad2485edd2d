"""What is kept: the session file's schema, storage of sessions and the run log in SQLite or PostgreSQL
(one SQLAlchemy Core implementation; Alembic migrations), run-log tables. Disk and database I/O.
"""
