"""Sessions and the run log through SQLAlchemy Core: the rules of lib/storage.py (compare-and-set saves
on a version, owners, deleted ids remembered, explicit sharing) on SQLite and on PostgreSQL alike.

Each function takes an open `Connection` (lib/db.engine(url).connect()) and runs its writes in one
transaction. On PostgreSQL a compare-and-set UPDATE ... WHERE version = read version is safe under
READ COMMITTED: a second writer waits for the first's row lock, then finds the version moved and
writes nothing (StaleSession). Owners compare with IS NOT DISTINCT FROM (`None` is "nobody's").
Not wired into the app yet: lib/storage.py (sqlite3) still serves it.
"""

from __future__ import annotations

import json
from dataclasses import asdict, replace
from secrets import token_urlsafe

from sqlalchemy import Connection, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from lib.store.db import writing
from lib.store.schema import calls as calls_table
from lib.store.schema import deleted_sessions, sessions
from lib.store.session import (
    InvalidSession,
    Session,
    from_dict,
    is_session_id,
    new_session_id,
    now,
    parse_json,
    to_dict,
)
from lib.store.storage import CallRecord, DamagedSession, NotYours, SessionInfo, StaleSession

_INFO = (sessions.c.id, sessions.c.label, sessions.c.message_count, sessions.c.updated_at, sessions.c.version)


def _row(session: Session, owner: str | None) -> dict:
    return {
        "id": session.id, "title": session.title, "label": session.label, "message_count": len(session.messages),
        "created_at": session.created_at, "updated_at": session.updated_at,
        "body": json.dumps(to_dict(session), ensure_ascii=False), "version": session.version, "owner": owner,
    }  # fmt: skip


def _mine(owner: str | None):
    return sessions.c.owner.is_not_distinct_from(owner)


def _info(conn: Connection, session_id: str) -> SessionInfo | None:
    row = conn.execute(select(*_INFO).where(sessions.c.id == session_id)).first()
    return None if row is None else SessionInfo(*row)


def _check_owner(conn: Connection, session_id: str, owner: str | None) -> None:
    for table in (sessions, deleted_sessions):
        row = conn.execute(select(table.c.owner).where(table.c.id == session_id)).first()
        if row is not None and row[0] != owner:
            raise NotYours(session_id)


def is_deleted(conn: Connection, session_id: str, owner: str | None = None) -> bool:
    row = conn.execute(select(deleted_sessions.c.owner).where(deleted_sessions.c.id == session_id)).first()
    return row is not None and row[0] == owner


def is_taken(conn: Connection, session_id: str) -> bool:
    deleted = conn.execute(select(deleted_sessions.c.id).where(deleted_sessions.c.id == session_id)).first()
    return _info(conn, session_id) is not None or deleted is not None


def _insert_if_free(conn: Connection, values: dict) -> int:
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(sessions).values(**values).on_conflict_do_nothing(index_elements=["id"])
    # RETURNING, not rowcount: psycopg reports -1 for an INSERT ... ON CONFLICT in some transactions
    return 0 if conn.execute(statement.returning(sessions.c.id)).first() is None else 1


def save_session(conn: Connection, session: Session, owner: str | None = None) -> Session:
    """As lib/storage.save_session: only over the version read; StaleSession or NotYours otherwise."""
    expected = session.version
    saved = replace(session, updated_at=now(), version=expected + 1)
    with writing(conn):
        _check_owner(conn, session.id, owner)
        if expected == 0:
            written = 0 if is_deleted(conn, session.id, owner) else _insert_if_free(conn, _row(saved, owner))
        else:
            values = {k: v for k, v in _row(saved, owner).items() if k not in ("id", "created_at", "owner")}
            written = conn.execute(
                update(sessions)
                .where(sessions.c.id == session.id, sessions.c.version == expected, _mine(owner))
                .values(**values)
            ).rowcount
        if written != 1:
            raise StaleSession(session.id, _info(conn, session.id))
    return saved


def insert_new(conn: Connection, session: Session, owner: str | None = None) -> Session:
    session = replace(session, updated_at=now(), version=1)
    with writing(conn):
        while not is_session_id(session.id) or is_taken(conn, session.id):
            session = replace(session, id=new_session_id())
        conn.execute(insert(sessions).values(**_row(session, owner)))
    return session


def _parsed(session_id: str, body: str, version: int) -> Session:
    try:
        session = from_dict(parse_json(body, "Its stored form"))
    except InvalidSession as problem:
        raise DamagedSession(f"The stored session {session_id} cannot be read: {problem}") from None
    return replace(session, id=session_id, version=version)


def load_session(conn: Connection, session_id: str, owner: str | None = None) -> Session | None:
    row = conn.execute(
        select(sessions.c.body, sessions.c.version, sessions.c.owner).where(sessions.c.id == session_id)
    ).first()
    if row is None:
        return None
    if row[2] != owner:
        raise NotYours(session_id)
    return _parsed(session_id, row[0], row[1])


def list_sessions(conn: Connection, owner: str | None = None) -> list[SessionInfo]:
    rows = conn.execute(select(*_INFO).where(_mine(owner)).order_by(sessions.c.updated_at.desc(), sessions.c.id))
    return [SessionInfo(*row) for row in rows]


def claim_unowned(conn: Connection, owner: str) -> int:
    with writing(conn):
        count = conn.execute(update(sessions).where(sessions.c.owner.is_(None)).values(owner=owner)).rowcount
        conn.execute(update(deleted_sessions).where(deleted_sessions.c.owner.is_(None)).values(owner=owner))
    return count


def delete(conn: Connection, session_id: str, version: int | None = None, owner: str | None = None) -> bool:
    with writing(conn):
        _check_owner(conn, session_id, owner)
        found = _info(conn, session_id)
        if version is not None and (found.version if found else 0) != version:
            raise StaleSession(session_id, found)
        if found is None:
            return False
        conn.execute(sessions.delete().where(sessions.c.id == session_id))
        conn.execute(deleted_sessions.delete().where(deleted_sessions.c.id == session_id))
        conn.execute(
            insert(deleted_sessions).values(id=session_id, version=found.version, deleted_at=now(), owner=owner)
        )
        return True


def share(conn: Connection, session_id: str, owner: str | None) -> str:
    with writing(conn):
        _check_owner(conn, session_id, owner)
        conn.execute(
            update(sessions)
            .where(sessions.c.id == session_id, _mine(owner))
            .values(share_token=func.coalesce(sessions.c.share_token, token_urlsafe(18)))
        )
        row = conn.execute(select(sessions.c.share_token).where(sessions.c.id == session_id)).first()
    if row is None:
        raise KeyError(f"No session {session_id}")
    return row[0]


def copy_shared(conn: Connection, token: str, owner: str | None) -> Session | None:
    if not token:
        return None
    row = conn.execute(
        select(sessions.c.id, sessions.c.body, sessions.c.version).where(sessions.c.share_token == token)
    ).first()
    if row is None:
        return None
    original = _parsed(*row)
    return insert_new(conn, original.copy(f"Copy of {original.label}"), owner)


# --- the run log -------------------------------------------------------------------------------


def record_call(conn: Connection, record: CallRecord) -> int:
    """Log a call (one without an owner is its session's owner's); returns its id."""
    values = asdict(record)
    if values["owner"] is None:
        values["owner"] = select(sessions.c.owner).where(sessions.c.id == record.session_id).scalar_subquery()
    values["predicted_exact"] = int(record.predicted_exact)
    with writing(conn):
        return conn.execute(insert(calls_table).values(**values).returning(calls_table.c.id)).scalar_one()


def calls(conn: Connection, session_id: str | None = None) -> list[CallRecord]:
    names = list(CallRecord.__dataclass_fields__)
    query = select(*(calls_table.c[name] for name in names)).order_by(calls_table.c.at, calls_table.c.id)
    if session_id:
        query = query.where(calls_table.c.session_id == session_id)
    records = []
    for row in conn.execute(query):
        values = dict(zip(names, row, strict=True))
        values["predicted_exact"] = bool(values["predicted_exact"])
        records.append(CallRecord(**values))
    return records
