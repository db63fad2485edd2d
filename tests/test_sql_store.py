"""lib/sql_store.py on both backends: a SQLite file and a real PostgreSQL (the `postgres_url` fixture).
The rules are lib/storage.py's: compare-and-set saves, owners, deleted ids, explicit sharing."""

import threading
from dataclasses import replace

import pytest

from lib.context.conversation import Message
from lib.store import db, sql_store
from lib.store.session import Session
from lib.store.storage import CallRecord, NotYours, StaleSession

ADA, BOB = "user:ada@example.com", "user:bob@example.com"


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request, tmp_path):
    value = str(tmp_path / "lab.db") if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    url = db.store_url(value)
    db.upgrade(url)
    yield url
    db.engine(url).dispose()


@pytest.fixture
def conn(url):
    with db.engine(url).connect() as conn:
        yield conn


def _session(session_id: str = "s1", text: str = "Ada's plan") -> Session:
    return Session(session_id, title="Plans", messages=(Message("user", text),))


def test_a_session_saves_and_loads_as_it_was(conn):
    saved = sql_store.save_session(conn, _session(), ADA)
    assert saved.version == 1 and sql_store.load_session(conn, "s1", ADA) == saved
    again = sql_store.save_session(conn, replace(saved, title="Renamed"), ADA)
    assert again.version == 2 and sql_store.load_session(conn, "s1", ADA).title == "Renamed"
    assert [i.id for i in sql_store.list_sessions(conn, ADA)] == ["s1"]


def test_a_stale_save_is_refused_and_says_what_is_stored(conn):
    first = sql_store.save_session(conn, _session(), ADA)
    sql_store.save_session(conn, replace(first, title="Other tab"), ADA)
    with pytest.raises(StaleSession) as stale:
        sql_store.save_session(conn, replace(first, title="This tab"), ADA)
    assert stale.value.stored.version == 2
    assert sql_store.load_session(conn, "s1", ADA).title == "Other tab"


def test_concurrent_saves_of_one_version_let_exactly_one_through(url):
    with db.engine(url).connect() as conn:
        base = sql_store.save_session(conn, _session(), ADA)
    outcomes = []

    def save(n: int) -> None:
        with db.engine(url).connect() as conn:
            try:
                sql_store.save_session(conn, replace(base, title=f"tab {n}"), ADA)
                outcomes.append("saved")
            except StaleSession:
                outcomes.append("stale")

    threads = [threading.Thread(target=save, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["saved"] + ["stale"] * 5
    with db.engine(url).connect() as conn:
        assert sql_store.load_session(conn, "s1", ADA).version == 2


def test_another_owner_gets_nothing_and_changes_nothing(conn):
    saved = sql_store.save_session(conn, _session(), ADA)
    for attempt in (
        lambda: sql_store.load_session(conn, "s1", BOB),
        lambda: sql_store.save_session(conn, replace(saved, title="Bob's"), BOB),
        lambda: sql_store.save_session(conn, _session("s1", "Bob's"), BOB),
        lambda: sql_store.delete(conn, "s1", saved.version, BOB),
        lambda: sql_store.share(conn, "s1", BOB),
    ):
        with pytest.raises(NotYours):
            attempt()
    assert sql_store.list_sessions(conn, BOB) == []
    assert sql_store.load_session(conn, "s1", ADA) == saved


def test_a_deleted_id_stays_deleted_and_its_owners(conn):
    saved = sql_store.save_session(conn, _session(), ADA)
    assert sql_store.delete(conn, "s1", saved.version, ADA)
    assert sql_store.is_deleted(conn, "s1", ADA) and not sql_store.is_deleted(conn, "s1", BOB)
    with pytest.raises(StaleSession):  # a tab still holding it cannot bring it back unseen
        sql_store.save_session(conn, replace(saved, title="Back?"), ADA)
    with pytest.raises(NotYours):
        sql_store.save_session(conn, _session("s1"), BOB)
    assert sql_store.insert_new(conn, _session("s1"), BOB).id != "s1"


def test_a_share_token_copies_and_the_original_stays(conn):
    sql_store.save_session(conn, _session(), ADA)
    token = sql_store.share(conn, "s1", ADA)
    assert sql_store.share(conn, "s1", ADA) == token
    copy = sql_store.copy_shared(conn, token, BOB)
    assert copy.id != "s1" and [m.content for m in copy.messages] == ["Ada's plan"]
    assert [i.id for i in sql_store.list_sessions(conn, BOB)] == [copy.id]
    assert sql_store.copy_shared(conn, "no-such-token", BOB) is None


def test_older_sessions_go_to_the_first_claimant(conn):
    sql_store.save_session(conn, _session("old1"))
    assert sql_store.claim_unowned(conn, "browser:first") == 1
    assert sql_store.claim_unowned(conn, "browser:second") == 0
    assert [i.id for i in sql_store.list_sessions(conn, "browser:first")] == ["old1"]


def test_the_run_log_keeps_who_made_each_call(conn):
    sql_store.save_session(conn, _session(), ADA)
    call = CallRecord("s1", "chat", "embedded", "m", 1, 10, True, 10, 2, 100, 0.1, 0.05, 0.0, "ok")
    sql_store.record_call(conn, call)
    sql_store.record_call(conn, replace(call, owner=BOB))
    sql_store.record_call(conn, replace(call, session_id="unsaved"))
    logged = sql_store.calls(conn)
    assert [c.owner for c in logged] == [ADA, BOB, None] and logged[0].predicted_exact is True
    assert len(sql_store.calls(conn, "s1")) == 2
