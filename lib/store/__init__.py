"""What is kept: the session file's schema, SQLite storage of sessions and the run log, run-log tables.
Disk I/O.
"""
