"""Where the store lives: `CONTEXT_LAB_DB` names a SQLite file (a path, the default, or `sqlite:///…`)
or a PostgreSQL server (`postgresql://user:password@host:port/db`), shared by every replica of a team
deployment. One SQLAlchemy Engine per URL and process: for PostgreSQL it holds a pool of psycopg 3
connections (checked before use, so a restarted server costs one retry, not an error page).
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, Engine, create_engine, event, inspect
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from lib.core.errors import BadStoreUrl
from lib.store import sqlite_migrations

POOL_SIZE = 5  # per replica: a Streamlit process serves many browser sessions from a few threads
POOL_OVERFLOW = 10
CONNECT_TIMEOUT_S = 10  # a PostgreSQL server that does not answer is said so, not waited for
BUSY_TIMEOUT_S = 15.0  # a SQLite writer waits this long for another's lock


@dataclass(frozen=True)
class StoreUrl:
    kind: Literal["sqlite", "postgresql"]
    url: str  # as SQLAlchemy takes it (the driver named)
    shown: str  # for messages: the password masked

    @property
    def sqlite_path(self) -> Path | None:
        return Path(make_url(self.url).database or "") if self.kind == "sqlite" else None


def store_url(value: str) -> StoreUrl:
    """Read CONTEXT_LAB_DB: a plain path is a SQLite file; a URL names its dialect."""
    if "://" not in value:
        return StoreUrl("sqlite", f"sqlite:///{value}", value)
    scheme, rest = value.split("://", 1)
    userinfo, _at, host = rest.split("?", 1)[0].rpartition("@")
    if "@" in userinfo:
        # SQLAlchemy ends the password at its first "@" and makes the rest part of the host: the
        # password's tail would show in every message ("lab:***@ss@host") and the login would fail.
        # Which "@" ends the password cannot be told (a user name may hold one too): say how to write it.
        raise BadStoreUrl(
            f"CONTEXT_LAB_DB ({scheme[:20]}://***@{host}) has an '@' in its user name or password: write each "
            "one there as %40 (a password a@b is written a%40b)."
        )
    try:
        url = make_url(value)
    except (ArgumentError, ValueError):
        scheme = value.split("://", 1)[0][:20]  # not the rest: it may hold a password
        raise BadStoreUrl(f"CONTEXT_LAB_DB ({scheme}://…) is not a URL SQLAlchemy can read.") from None
    shown = url.render_as_string(hide_password=True)
    backend = url.get_backend_name()
    if backend == "sqlite":
        return StoreUrl("sqlite", url.render_as_string(hide_password=False), shown)
    if backend in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg")
        return StoreUrl("postgresql", url.render_as_string(hide_password=False), shown)
    raise BadStoreUrl(f"CONTEXT_LAB_DB names a {backend} database ({shown}): use a SQLite path or a postgresql:// URL.")


_ENGINES: dict[StoreUrl, Engine] = {}
_UPGRADED: set[StoreUrl] = set()
_LOCK = threading.Lock()


def engine(url: StoreUrl) -> Engine:
    """The process's engine for `url` (made once: its pool is shared by every browser session)."""
    with _LOCK:
        made = _ENGINES.get(url)
        if made is None:
            made = _ENGINES[url] = _made(url)
        return made


def _made(url: StoreUrl) -> Engine:
    if url.kind == "postgresql":
        return create_engine(
            url.url,
            pool_size=POOL_SIZE,
            max_overflow=POOL_OVERFLOW,
            pool_pre_ping=True,
            connect_args={"connect_timeout": CONNECT_TIMEOUT_S},
        )
    path = url.sqlite_path
    if path is not None and str(path) not in ("", ":memory:"):
        path.parent.mkdir(parents=True, exist_ok=True)
    made = create_engine(url.url, connect_args={"timeout": BUSY_TIMEOUT_S})

    @event.listens_for(made, "connect")
    def _wal(dbapi_connection, _record) -> None:
        dbapi_connection.isolation_level = None  # reads autocommit; writes begin IMMEDIATE (writing)
        # Switching a fresh file to WAL takes a lock that SQLite's busy handler does not wait for: two
        # processes opening a new file at once would see "database is locked". Retried, as long as a writer.
        deadline = time.monotonic() + BUSY_TIMEOUT_S
        while True:
            try:
                dbapi_connection.execute("PRAGMA journal_mode=WAL")  # readers never wait for a writer
                break
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.02)
        dbapi_connection.execute("PRAGMA synchronous=NORMAL")  # with WAL: durable across crashes of the app

    return made


def ready(url: StoreUrl) -> Engine:
    """`url`'s engine, its store upgraded to the newest revision (once per URL and process)."""
    if url not in _UPGRADED:
        with _UPGRADE_LOCK:
            if url not in _UPGRADED:
                upgrade(url)
                _UPGRADED.add(url)
    return engine(url)


_UPGRADE_LOCK = threading.Lock()


def forget(url: StoreUrl) -> None:
    """Close `url`'s pooled connections and forget its engine (a test's store, removed after it)."""
    with _LOCK:
        made = _ENGINES.pop(url, None)
        _UPGRADED.discard(url)
    if made is not None:
        made.dispose()


MIGRATIONS_DIR = Path(__file__).with_name("migrations")


def _alembic() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def revision(url: StoreUrl) -> str | None:
    """The store's Alembic revision (None: never migrated by Alembic)."""
    with engine(url).connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(url: StoreUrl, to: str = "head") -> str | None:
    """Bring the store to the newest revision (or to revision `to`: a test's store as it was); returns
    it. A SQLite file from before Alembic first gets the old migrations it lacks
    (lib/store/sqlite_migrations.py), which leave it at the baseline."""
    made = engine(url)
    path = url.sqlite_path
    if path is not None and "schema_migrations" in inspect(made).get_table_names():
        with closing(sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None)) as old:
            sqlite_migrations.migrate(old)
    # Processes starting together: one migrates, the others wait (SQLite: BEGIN IMMEDIATE; PostgreSQL:
    # an advisory lock), then find it done.
    with made.connect() as conn, writing(conn):
        if url.kind == "postgresql":
            conn.exec_driver_sql("SELECT pg_advisory_xact_lock(7401)")
        config = _alembic()
        config.attributes["connection"] = conn
        command.upgrade(config, to)
    return revision(url)


@contextmanager
def writing(conn: Connection) -> Iterator[Connection]:
    """One write transaction. On SQLite it takes the lock up front (BEGIN IMMEDIATE), so concurrent
    savers queue instead of failing; on PostgreSQL rows lock as they are written. The connection's
    implicit transaction, if one is open (reads since the last write), is committed first."""
    if conn.in_transaction():
        conn.commit()
    with conn.begin():
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        yield conn
