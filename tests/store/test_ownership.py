"""Sessions belong to someone (lib/store/storage.py): every read and write acts for one owner, another
owner's session gives nothing away, and sharing is explicit (a token, a copy). On both backends."""

import sqlite3
from contextlib import closing
from dataclasses import replace

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.exc import IntegrityError

from lib.context.conversation import Message
from lib.core.outcome import Usage
from lib.store import schema, sqlite_migrations, storage
from lib.store.session import Session

ADA, BOB = "user:ada@example.com", "user:bob@example.com"


def _session(session_id: str = "s1", text: str = "Ada's secret plan") -> Session:
    return Session(session_id, title="Plans", messages=(Message("user", text),))


@pytest.fixture
def conn(store):
    with storage.opened() as conn:
        yield conn


def test_each_owner_lists_only_their_own_sessions(conn):
    storage.save_session(conn, _session("a1"), ADA)
    storage.save_session(conn, _session("b1", "Bob's"), BOB)
    assert [i.id for i in storage.list_sessions(conn, ADA)] == ["a1"]
    assert [i.id for i in storage.list_sessions(conn, BOB)] == ["b1"]
    assert storage.list_sessions(conn, "browser:someone-else") == []


def test_another_owners_session_cannot_be_opened_renamed_copied_forked_or_deleted(conn):
    saved = storage.save_session(conn, _session("a1"), ADA)
    for attempt in (
        lambda: storage.load_session(conn, "a1", BOB),
        lambda: storage.rename(conn, "a1", "Mine now", BOB),
        lambda: storage.duplicate(conn, "a1", BOB),
        lambda: storage.fork(conn, "a1", saved.messages[0].id, BOB),
        lambda: storage.delete(conn, "a1", saved.version, BOB),
        lambda: storage.delete(conn, "a1", None, BOB),
        lambda: storage.share(conn, "a1", BOB),
        lambda: storage.unshare(conn, "a1", BOB),
    ):
        with pytest.raises(storage.NotYours) as refused:
            attempt()
        assert "Ada" not in str(refused.value) and "Plans" not in str(refused.value)  # nothing of it
    assert storage.load_session(conn, "a1", ADA) == saved
    assert [i.id for i in storage.list_sessions(conn, BOB)] == []


def test_a_save_under_another_owners_id_is_refused_without_saying_what_it_holds(conn):
    storage.save_session(conn, _session("a1"), ADA)
    for version in (0, 1):  # a blank tab on the copied id; a tab pretending to hold its version
        with pytest.raises(storage.NotYours):
            storage.save_session(conn, replace(_session("a1", "Bob overwrites"), version=version), BOB)
    assert storage.load_session(conn, "a1", ADA).messages[0].content == "Ada's secret plan"


def test_a_deleted_session_stays_its_owners_id(conn):
    saved = storage.save_session(conn, _session("a1"), ADA)
    assert storage.delete(conn, "a1", saved.version, ADA)
    assert storage.is_deleted(conn, "a1", ADA) and not storage.is_deleted(conn, "a1", BOB)
    assert storage.is_taken(conn, "a1")
    with pytest.raises(storage.NotYours):  # Bob cannot take the id over
        storage.save_session(conn, _session("a1", "Bob's"), BOB)
    assert storage.insert_new(conn, _session("a1", "Bob's"), BOB).id != "a1"


def test_a_share_token_copies_the_session_to_the_holder_and_the_original_stays(conn):
    storage.save_session(conn, _session("a1"), ADA)
    token = storage.share(conn, "a1", ADA)
    assert storage.share(conn, "a1", ADA) == token == storage.share_token(conn, "a1", ADA)  # one link
    assert len(token) >= 20
    copy = storage.copy_shared(conn, token, BOB)
    assert copy.id != "a1" and copy.title == "Copy of Plans"
    assert [m.content for m in copy.messages] == ["Ada's secret plan"]
    assert [i.id for i in storage.list_sessions(conn, BOB)] == [copy.id]
    storage.rename(conn, copy.id, "Bob's version", BOB)
    assert storage.load_session(conn, "a1", ADA).title == "Plans"  # the original is untouched
    with pytest.raises(storage.NotYours):  # a share is a copy, not access
        storage.load_session(conn, "a1", BOB)


def test_stopping_a_share_makes_the_old_link_copy_nothing(conn):
    storage.save_session(conn, _session("a1"), ADA)
    token = storage.share(conn, "a1", ADA)
    storage.unshare(conn, "a1", ADA)
    assert storage.copy_shared(conn, token, BOB) is None
    assert storage.copy_shared(conn, "", BOB) is None
    assert storage.share_token(conn, "a1", ADA) is None
    assert storage.share(conn, "a1", ADA) != token  # sharing again makes a new link


def test_sharing_a_session_never_saved_is_refused(conn):
    with pytest.raises(KeyError):
        storage.share(conn, "nothing", ADA)


def test_sessions_from_before_owners_go_to_the_first_claimant_only(conn):
    storage.save_session(conn, _session("old1"))  # owner None: as migration 7 leaves older rows
    gone = storage.save_session(conn, _session("old2"))
    storage.delete(conn, "old2", gone.version)
    assert storage.claim_unowned(conn, "browser:first") == 1
    assert storage.claim_unowned(conn, "browser:second") == 0
    assert [i.id for i in storage.list_sessions(conn, "browser:first")] == ["old1"]
    assert storage.is_deleted(conn, "old2", "browser:first")
    assert storage.list_sessions(conn, "browser:second") == []


def test_the_run_log_says_who_made_each_call(conn):
    storage.save_session(conn, _session("a1"), ADA)
    storage.record_call(conn, _call("a1"))  # logged without an owner: the session's
    storage.record_call(conn, _call("a1", owner=BOB))  # said explicitly: kept as said
    storage.record_call(conn, _call("unsaved"))  # a session never saved: nobody known
    assert [c.owner for c in storage.calls(conn)] == [ADA, BOB, None]


def _call(session_id: str, owner: str | None = None) -> storage.CallRecord:
    return storage.CallRecord(
        session_id, "chat", "embedded", "m", 1, 10, True, Usage(10, 2), 100, 0.1, 0.05, 0.0, "ok", owner=owner
    )


def test_share_tokens_are_unique(conn):
    storage.save_session(conn, _session("a1"), ADA)
    storage.save_session(conn, _session("b1"), BOB)
    token = storage.share(conn, "a1", ADA)
    with pytest.raises(IntegrityError), storage.transaction(conn):
        conn.execute(update(schema.sessions).where(schema.sessions.c.id == "b1").values(share_token=token))
    assert storage.share_token(conn, "b1", BOB) is None


def test_a_file_of_schema_6_upgrades_and_its_sessions_have_no_owner_yet(session_db):
    with closing(sqlite3.connect(session_db, isolation_level=None)) as old:  # as the app left it then
        sqlite_migrations.migrate(old, 6)
        old.execute(
            "INSERT INTO sessions (id, title, label, message_count, created_at, updated_at, body, version) "
            "SELECT 'old1', 'Old', 'Old', 0, '2026-01-01', '2026-01-01', '{}', 1"
        )
    with storage.opened() as conn:
        assert conn.execute(select(schema.sessions.c.owner, schema.sessions.c.share_token)).all() == [(None, None)]
        assert [i.id for i in storage.list_sessions(conn)] == ["old1"]
        assert storage.list_sessions(conn, ADA) == []
        assert conn.execute(text("SELECT MAX(version) FROM schema_migrations")).scalar() == 7
