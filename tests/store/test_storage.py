"""The session store (lib/store/storage.py) on both backends: every test taking `conn` or `store` runs on
a SQLite file and on a real PostgreSQL (tests/conftest.py `store`)."""

import json
import sqlite3
import threading
import time
from contextlib import closing
from dataclasses import replace

import pytest
from sqlalchemy import column, func, insert, select, table, text, update

from lib.analysis import compare_store
from lib.context.conversation import Message, SystemPrompt
from lib.context.payload import Sampling, plan_request
from lib.context.tokens import TiktokenCounter
from lib.core import models
from lib.core.outcome import CallOutcome, Usage
from lib.store import db, schema, sqlite_migrations, storage
from lib.store.session import Session, is_session_id, to_dict

HISTORY = (
    Message("user", "My name is Ada."),
    Message("assistant", "Hello Ada!", included=False),
    Message("user", "What is my name?", pinned=True),
    Message("assistant", "Ada."),
)


def _session(session_id: str = "s1", **changes) -> Session:
    base = Session(session_id, system=SystemPrompt("Be brief."), messages=HISTORY, settings={"temperature": 0.2})
    return replace(base, **changes)


@pytest.fixture
def conn(store):
    with storage.opened() as conn:
        yield conn


def test_the_store_is_read_at_each_use(tmp_path, monkeypatch):
    monkeypatch.setenv(storage.ENV_VAR, str(tmp_path / "a" / "one.db"))
    assert storage.db_path() == str(tmp_path / "a" / "one.db")
    with storage.opened():
        pass
    assert (tmp_path / "a" / "one.db").exists()
    db.forget(storage.store_url())
    monkeypatch.delenv(storage.ENV_VAR)
    assert storage.db_path() == str(storage.DEFAULT_PATH)


def test_a_new_sqlite_file_is_at_the_newest_schema_in_wal_mode(session_db):
    with storage.opened() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == "0004"
    assert db.revision(storage.store_url()) == "0004"


def test_a_new_postgresql_store_is_made_on_first_use(postgres_url, monkeypatch):
    # A database nobody migrated (the `store` fixture's PostgreSQL databases are copies of a migrated one).
    monkeypatch.setenv(storage.ENV_VAR, postgres_url)
    try:
        with storage.opened() as conn:
            assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == "0004"
            assert storage.list_sessions(conn) == []
    finally:
        db.forget(storage.store_url())


def test_a_store_is_named_with_its_password_masked():
    url = "postgresql://lab:s3cret-pass@db.internal:5432/context_lab"
    assert storage.shown(url) == "postgresql://lab:***@db.internal:5432/context_lab"
    assert "CONTEXT_LAB_DB" in storage.shown("mysql://u:p@h/db")
    said = storage.problem(RuntimeError("could not reach lab:s3cret-pass@db.internal\nline two"), url)
    assert said == "could not reach lab:***@db.internal"


def test_a_postgresql_server_that_does_not_answer_is_an_error_the_app_can_catch(tmp_path):
    from sqlalchemy.exc import SQLAlchemyError

    from lib.backends.embedded import free_port

    url = f"postgresql://lab:s3cret-pass@127.0.0.1:{free_port()}/nowhere"
    with pytest.raises(SQLAlchemyError) as failed, storage.opened(url):
        pass
    said = storage.problem(failed.value, url)
    assert "127.0.0.1" in said and "s3cret-pass" not in said and "[SQL" not in said
    db.forget(storage.store_url(url))


def test_save_then_load_gives_the_same_session(conn):
    saved = storage.save_session(conn, _session())
    assert storage.load_session(conn, "s1") == saved
    assert saved.messages == HISTORY and saved.settings == {"temperature": 0.2}
    assert storage.load_session(conn, "nope") is None


def test_saving_again_replaces_and_the_list_shows_the_newest_first(conn):
    a = storage.save_session(conn, _session("a"))
    storage.save_session(conn, _session("b", title="Second"))
    storage.save_session(conn, replace(a, messages=HISTORY[:1]))
    listed = storage.list_sessions(conn)
    assert [(i.id, i.label, i.message_count) for i in listed] == [("a", "My name is Ada.", 1), ("b", "Second", 4)]


def test_rename_duplicate_fork_and_delete(conn):
    storage.save_session(conn, _session())
    assert storage.rename(conn, "s1", "  Names  ").title == "Names"
    assert storage.rename(conn, "missing", "x") is None
    copy = storage.duplicate(conn, "s1")
    assert copy.id != "s1" and copy.title == "Copy of Names" and copy.messages == HISTORY
    fork = storage.fork(conn, "s1", HISTORY[2].id)
    assert storage.load_session(conn, fork.id).messages == HISTORY[:3]
    assert storage.load_session(conn, "s1").messages == HISTORY  # the original is untouched
    storage.record_call(conn, _record("s1"))
    assert storage.delete(conn, "s1") and not storage.delete(conn, "s1")
    assert storage.load_session(conn, "s1") is None
    assert {i.id for i in storage.list_sessions(conn)} == {copy.id, fork.id}
    assert [c.session_id for c in storage.calls(conn)] == ["s1"]  # the run log keeps what happened
    with pytest.raises(KeyError):
        storage.duplicate(conn, "s1")


def test_inserting_never_overwrites_an_existing_session(conn):
    storage.save_session(conn, _session("taken", title="Mine"))
    assert storage.insert_new(conn, _session("fresh")).version == 1
    imported = storage.insert_new(conn, _session("taken", title="Theirs"))
    assert imported.id != "taken"
    assert storage.load_session(conn, "taken").title == "Mine"
    assert storage.load_session(conn, imported.id).title == "Theirs"


def test_two_sessions_saving_at_once_lose_nothing(store):
    rounds = 40
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def writer(session_id: str) -> None:
        try:
            with storage.opened(store) as conn:
                barrier.wait(timeout=60)
                saved = _session(session_id, messages=())
                for i in range(rounds):
                    messages = (*saved.messages, Message("user", f"{session_id} {i}"))
                    saved = storage.save_session(conn, replace(saved, messages=messages))
                    storage.record_call(conn, _record(session_id))
        except BaseException as exc:  # surfaced below: a thread's failure must fail the test
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(name,)) for name in ("left", "right")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    with storage.opened(store) as conn:
        for name in ("left", "right"):
            assert [m.content for m in storage.load_session(conn, name).messages] == [
                f"{name} {i}" for i in range(rounds)
            ]
            assert len(storage.calls(conn, name)) == rounds
        assert len(storage.calls(conn)) == 2 * rounds


# --- compare-and-set: a stale writer is refused, never applied --------------------------------


def test_each_save_is_applied_only_over_the_version_it_read(conn):
    first = storage.save_session(conn, _session())
    assert first.version == 1 and storage.load_session(conn, "s1").version == 1
    tab_a, tab_b = storage.load_session(conn, "s1"), storage.load_session(conn, "s1")
    a_saved = storage.save_session(conn, replace(tab_a, messages=(*HISTORY, Message("user", "A's new turn"))))
    assert a_saved.version == 2
    with pytest.raises(storage.StaleSession) as refused:  # B read version 1: it has not seen A's turn
        storage.save_session(conn, replace(tab_b, messages=(replace(HISTORY[0], included=False), *HISTORY[1:])))
    assert not refused.value.deleted
    assert (refused.value.stored.version, refused.value.stored.message_count) == (2, 5)
    assert storage.load_session(conn, "s1").messages[-1].content == "A's new turn"  # nothing was written
    reloaded = storage.load_session(conn, "s1")
    assert storage.save_session(conn, replace(reloaded, title="B, after a reload")).version == 3


def test_a_session_never_saved_does_not_overwrite_one_saved_meanwhile(conn):
    blank = Session("X1")  # a tab on ?session=X1 before anything was stored (version 0)
    imported = storage.insert_new(conn, _session("X1", title="Imported"))
    assert imported.id == "X1"
    with pytest.raises(storage.StaleSession) as refused:
        storage.save_session(conn, replace(blank, system=SystemPrompt("Hello")))
    assert refused.value.stored.message_count == len(HISTORY)
    assert storage.load_session(conn, "X1").messages == HISTORY


def test_a_deleted_session_is_not_brought_back_by_a_stale_save(conn):
    saved = storage.save_session(conn, _session())
    assert storage.delete(conn, "s1", saved.version)
    with pytest.raises(storage.StaleSession) as refused:
        storage.save_session(conn, replace(saved, title="Still editing"))
    assert refused.value.deleted and storage.load_session(conn, "s1") is None
    with pytest.raises(storage.StaleSession):  # nor by a tab that never saved it
        storage.save_session(conn, replace(saved, version=0))
    assert storage.is_deleted(conn, "s1") and storage.load_session(conn, "s1") is None
    again = storage.insert_new(conn, _session("s1"))  # an import of its export: a new id
    assert again.id != "s1" and storage.load_session(conn, "s1") is None


def test_a_stale_delete_is_refused(conn):
    saved = storage.save_session(conn, _session())
    storage.save_session(conn, replace(saved, title="Changed elsewhere"))
    with pytest.raises(storage.StaleSession) as refused:
        storage.delete(conn, "s1", saved.version)
    assert refused.value.stored.label == "Changed elsewhere" and storage.load_session(conn, "s1") is not None
    with pytest.raises(storage.StaleSession):  # a tab holding it unsaved has not seen it either
        storage.delete(conn, "s1", 0)
    assert not storage.delete(conn, "never", 0)  # nothing stored, nothing seen: nothing to do


def _race(store, write, writers: int = 8) -> list[str]:
    """`writers` threads, each on its own connection, released at once to call write(conn, n); what
    each reported, or "refused" for a StaleSession."""
    barrier = threading.Barrier(writers)
    outcomes: list[str] = []

    def writer(n: int) -> None:
        with storage.opened(store) as conn:
            barrier.wait(timeout=60)
            try:
                outcomes.append(write(conn, n))
            except storage.StaleSession:
                outcomes.append("refused")

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(outcomes) == writers
    return outcomes


def test_two_writers_over_one_version_one_wins(store):
    with storage.opened(store) as conn:
        base = storage.save_session(conn, _session())

    def save(conn, n: int) -> str:
        storage.save_session(conn, replace(base, title=f"writer {n}"))
        return f"writer {n}"

    outcomes = _race(store, save)
    winners = [o for o in outcomes if o != "refused"]
    assert len(winners) == 1
    with storage.opened(store) as conn:
        assert storage.load_session(conn, "s1").title == winners[0]
        assert storage.load_session(conn, "s1").version == 2


def test_saves_and_deletes_racing_over_one_version_let_exactly_one_through(store):
    """A delete is compare-and-set too, in its DELETE statement: a save committed between the deleter's
    read and its write is never removed unseen (on PostgreSQL, reading first would allow that)."""
    with storage.opened(store) as conn:
        base = storage.save_session(conn, _session())

    def save_or_delete(conn, n: int) -> str:
        if n % 2:
            storage.delete(conn, "s1", base.version)
            return "deleted"
        storage.save_session(conn, replace(base, title=f"writer {n}"))
        return "saved"

    outcomes = _race(store, save_or_delete)
    assert sorted(outcomes).count("refused") == 7, outcomes
    with storage.opened(store) as conn:
        stored = storage.load_session(conn, "s1")
        assert (stored is None) == ("deleted" in outcomes) == storage.is_deleted(conn, "s1")
        assert stored is None or stored.version == 2


def test_imports_of_one_id_at_once_each_get_a_session_and_one_keeps_the_id(store):
    barrier = threading.Barrier(6)
    stored: list[str] = []

    def importer(n: int) -> None:
        with storage.opened(store) as conn:
            barrier.wait(timeout=60)
            stored.append(storage.insert_new(conn, _session("imported1", title=f"import {n}")).id)

    threads = [threading.Thread(target=importer, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(stored)) == 6 and stored.count("imported1") == 1
    with storage.opened(store) as conn:
        assert sorted(i.id for i in storage.list_sessions(conn)) == sorted(stored)


def test_an_import_gets_a_new_id_when_its_own_cannot_name_a_session_in_a_url(conn):
    stored = storage.insert_new(conn, _session("Project notes v2.1"))
    assert stored.id != "Project notes v2.1" and is_session_id(stored.id)
    assert storage.load_session(conn, stored.id).messages == HISTORY


# --- damaged rows ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ("{not json", "not valid JSON"),
        ('{"id": "s1", "messages": []}', "no `system_prompt` field"),
        ('{"id": "s1", "system_prompt": {"content": ""}, "messages": [{"role": 7}]}', "role is 7"),
        ('"just a string"', "must be an object"),
    ],
)
def test_a_damaged_row_is_named_and_left_as_it_is(conn, body, named):
    storage.save_session(conn, _session())
    with storage.transaction(conn):
        conn.execute(update(schema.sessions).where(schema.sessions.c.id == "s1").values(body=body))
    for _ in range(2):  # every time, not only the first
        with pytest.raises(storage.DamagedSession) as damaged:
            storage.load_session(conn, "s1")
        assert "The stored session s1 cannot be read" in str(damaged.value) and named in str(damaged.value)
    assert [i.id for i in storage.list_sessions(conn)] == ["s1"]  # the list still shows it
    assert conn.execute(select(schema.sessions.c.body)).scalar_one() == body
    with pytest.raises(storage.StaleSession):  # and a blank tab under its id cannot overwrite it
        storage.save_session(conn, Session("s1"))


# --- an existing file upgrades in place ------------------------------------------------------------


def _pre_alembic(path, upto: int = sqlite_migrations.SCHEMA_VERSION) -> sqlite3.Connection:
    """A SQLite file as the app made it before Alembic: raw sqlite3, the old migrations 1..`upto`."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    assert sqlite_migrations.migrate(conn, upto) == upto
    return conn


def _at_7(record: storage.CallRecord) -> dict:
    """A run-log row as the old migration 7 had its columns (no implausible-usage flag of its own)."""
    return {name: value for name, value in record.columns().items() if name != "implausible_usage"}


def _insert(conn: sqlite3.Connection, table: str, values: dict) -> int:
    names = ", ".join(values)
    cursor = conn.execute(
        f"INSERT INTO {table} ({names}) VALUES ({', '.join('?' * len(values))})", list(values.values())
    )
    return cursor.lastrowid


def test_a_file_of_the_first_schema_upgrades_in_place_with_its_data(session_db):
    old = [_session("plain1"), _session("Project notes v2.1", title="Odd id"), _session("damaged1")]
    with closing(_pre_alembic(session_db, 1)) as conn:  # rows as the first version wrote them
        for session in old:
            conn.execute(
                "INSERT INTO sessions VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    session.id,
                    session.title,
                    session.label,
                    len(session.messages),
                    session.created_at,
                    session.updated_at,
                    json.dumps(to_dict(session), ensure_ascii=False),
                ),
            )
        conn.execute("UPDATE sessions SET body = '{broken' WHERE id = 'damaged1'")
        for session_id in ("Project notes v2.1", "plain1"):  # the first schema's columns only
            values = {
                k: v
                for k, v in _record(session_id).columns().items()
                if k not in ("cached_tokens", "owner", "implausible_usage")
            }
            _insert(conn, "calls", values)

    with storage.opened() as conn:
        versions = conn.execute(text("SELECT version FROM schema_migrations ORDER BY version")).scalars().all()
        assert versions == list(range(1, sqlite_migrations.SCHEMA_VERSION + 1))
        plain = storage.load_session(conn, "plain1")
        assert plain == old[0] and plain.version == 1
        renamed = next(i for i in storage.list_sessions(conn) if i.label == "Odd id")
        assert is_session_id(renamed.id) and storage.load_session(conn, "Project notes v2.1") is None
        moved = storage.load_session(conn, renamed.id)
        assert moved.messages == HISTORY and moved.id == renamed.id
        body = conn.execute(select(schema.sessions.c.body).where(schema.sessions.c.id == renamed.id)).scalar_one()
        assert json.loads(body)["id"] == renamed.id
        assert sorted(c.session_id for c in storage.calls(conn)) == sorted([renamed.id, "plain1"])
        damaged = conn.execute(select(schema.sessions.c.body).where(schema.sessions.c.id == "damaged1")).scalar_one()
        assert damaged == "{broken"
        # and saves are compare-and-set from here on
        storage.save_session(conn, replace(plain, title="Upgraded"))
        with pytest.raises(storage.StaleSession):
            storage.save_session(conn, replace(plain, title="Stale"))


def test_a_file_of_todays_schema_with_data_in_every_table_upgrades_in_place_unchanged(session_db):
    """A SQLite file the app wrote before Alembic (migration 7, through raw sqlite3): owned, unowned,
    shared and deleted sessions, calls with and without details, comparisons and a Compare set-up. The
    new store opens it where it is and gives every row back as it was; new rows follow the old ones."""
    from lib.analysis.compare import PRESETS, CompareSetup
    from lib.store.call_details import calls_with_details

    ada, bob = "user:ada@example.com", "browser:bob"
    sessions = {
        "ada1": (_session("ada1", title="Ada's"), ada, 3),
        "bob1": (_session("bob1", title="Bob's"), bob, 1),
        "old1": (_session("old1", title="From before owners"), None, 2),
    }
    comparison, setup = _comparison("kept?"), CompareSetup(PRESETS, "What is my name?", repeats=2, seed=5)
    ada_call = replace(_record("ada1"), owner=ada, usage=Usage(12, 3, 4))
    bob_call = replace(_record("bob1", CallOutcome(error="boom")), owner=bob)
    with closing(_pre_alembic(session_db)) as conn:
        for session, owner, version in sessions.values():
            row = {
                "id": session.id,
                "title": session.title,
                "label": session.label,
                "message_count": len(session.messages),
                "created_at": session.created_at,
                "updated_at": session.updated_at,
                "body": json.dumps(to_dict(session), ensure_ascii=False),
                "version": version,
                "owner": owner,
            }
            _insert(conn, "sessions", row)
        conn.execute("UPDATE sessions SET share_token = 'shared-token-of-ada-0123' WHERE id = 'ada1'")
        _insert(conn, "deleted_sessions", {"id": "gone1", "version": 4, "deleted_at": "2026-11-01", "owner": ada})
        _insert(conn, "calls", _at_7(ada_call))
        call_id = _insert(conn, "calls", _at_7(bob_call))
        _insert(
            conn,
            "call_details",
            {
                "call_id": call_id,
                "request_body": '{"model": "gpt-4o"}',
                "answer": "",
                "strategy": "Full history",
                "finish_reason": None,
                "queued_s": 1.5,
                "notices": '{"notices": ["Retried once"], "left_out": 7}',
            },
        )
        _insert(
            conn,
            "comparisons",
            {"session_id": "ada1", "created_at": "2026-11-02", "body": json.dumps(comparison.to_dict())},
        )
        _insert(
            conn,
            "compare_setups",
            {"session_id": "ada1", "updated_at": "2026-11-02", "body": json.dumps(setup.to_dict())},
        )

    with storage.opened() as conn:  # the new store, on the same file
        for session, owner, version in sessions.values():
            assert storage.load_session(conn, session.id, owner) == replace(session, version=version)
        assert [i.id for i in storage.list_sessions(conn, ada)] == ["ada1"]
        assert [i.id for i in storage.list_sessions(conn)] == ["old1"]
        assert storage.share_token(conn, "ada1", ada) == "shared-token-of-ada-0123"
        assert storage.copy_shared(conn, "shared-token-of-ada-0123", bob).title == "Copy of Ada's"
        assert storage.is_deleted(conn, "gone1", ada) and not storage.is_deleted(conn, "gone1", bob)
        with pytest.raises(storage.NotYours):
            storage.load_session(conn, "ada1", bob)
        assert storage.calls(conn) == [ada_call, bob_call]
        (_, none), (_, details) = calls_with_details(conn)
        assert none is None and (details.strategy, details.queued_s, details.notices, details.left_out_chars) == (
            "Full history",
            1.5,
            ("Retried once",),
            7,
        )
        assert [c.to_dict() for c in compare_store.list_comparisons(conn, "ada1")] == [comparison.to_dict()]
        assert compare_store.load_compare_setup(conn, "ada1") == setup
        # it goes on from where it was: versions, ids, and the old migrations are not run again
        ada1 = storage.load_session(conn, "ada1", ada)
        assert storage.save_session(conn, replace(ada1, title="Renamed"), ada).version == 4
        with pytest.raises(storage.StaleSession):
            storage.save_session(conn, replace(ada1, title="Stale"), ada)
        assert storage.record_call(conn, _record("ada1")) == call_id + 1
        assert compare_store.save_comparison(conn, "ada1", comparison) == 2
        assert conn.execute(text("SELECT COUNT(*) FROM schema_migrations")).scalar() == 7
    assert db.revision(storage.store_url()) == "0004"


def _plan():
    model = models.MODELS["gpt-4o"]
    messages = [Message("user", "Hello there")]
    return plan_request(messages, model, TiktokenCounter.for_model(model.name), Sampling())


def _record(session_id: str, outcome: CallOutcome | None = None) -> storage.CallRecord:
    outcome = outcome or CallOutcome("Hi", Usage(12, 3), latency_s=0.5, ttft_s=0.1)
    return storage.CallRecord.of(session_id, "chat", "openai", _plan(), outcome)


def test_a_replayed_call_is_logged_with_its_recorded_usage_and_no_cost():
    outcome = CallOutcome("Hi", Usage(12, 3), latency_s=0.5, ttft_s=0.1)
    live = storage.CallRecord.of("s1", "chat", "openai", _plan(), outcome)
    replayed = storage.CallRecord.of("s1", "chat", "openai (replayed)", _plan(), outcome)
    assert live.cost is not None and live.cost > 0
    assert replayed.cost == 0.0 and replayed.usage == live.usage  # what the recording said, spent nowhere


def test_a_call_record_carries_prediction_usage_cost_and_status():
    plan = _plan()
    record = _record("s1")
    gpt4o = models.MODELS["gpt-4o"]
    assert (record.model, record.messages_sent, record.payload_bytes) == ("gpt-4o", 1, plan.body_bytes)
    assert (record.predicted_prompt_tokens, record.usage.prompt_tokens, record.usage.completion_tokens) == (
        plan.prompt_tokens,
        12,
        3,
    )
    assert record.cost == pytest.approx(gpt4o.input_cost(12) + gpt4o.output_cost(3))
    assert record.usage.cached_tokens is None
    assert record.status == "ok" and record.error is None
    failed = _record("s1", CallOutcome(error="Rejected key sk-proj-SECRET-0123456789"))
    assert failed.status == "error" and "SECRET" not in failed.error
    assert failed.cost == pytest.approx(gpt4o.input_cost(plan.prompt_tokens))  # no usage: the prediction
    assert _record("s1", CallOutcome(text="Hal", error="cut off")).status == "incomplete"


def test_recorded_calls_come_back_in_order_and_by_session(conn):
    first, second = _record("a"), _record("b", CallOutcome(error="boom"))
    storage.record_call(conn, first)
    storage.record_call(conn, second)
    assert storage.calls(conn) == [first, second]
    assert storage.calls(conn, "b") == [second]


def test_the_implausible_usage_flag_round_trips_in_its_own_column(conn):
    """On both backends: the flag is the run log's own column, not words appended to the call's error;
    the counts a server could not have meant stay out of their columns, and the call is not priced."""
    said = Usage.reported_as({"prompt_tokens": -5, "completion_tokens": 10**30})
    flagged = storage.CallRecord.of("s1", "chat", "compatible", _plan(), CallOutcome("Hi", said, finish_reason="stop"))
    failed = storage.CallRecord.of("s1", "chat", "compatible", _plan(), CallOutcome(error="boom", usage=said))
    storage.record_call(conn, flagged)
    storage.record_call(conn, failed)
    plain = _record("s1")
    storage.record_call(conn, plain)
    logged = storage.calls(conn)
    assert logged == [flagged, failed, plain]
    assert [c.usage.flag is not None for c in logged] == [True, True, False]
    assert "prompt_tokens -5 (negative)" in logged[0].usage.flag and "~10^30" in logged[0].usage.flag
    assert (logged[0].error, logged[1].error) == (None, "boom")
    assert logged[0].cost is None and logged[0].usage.prompt_tokens is None
    stored = conn.execute(select(schema.calls.c.implausible_usage).order_by(schema.calls.c.id)).scalars().all()
    assert stored == [flagged.usage.flag, flagged.usage.flag, None]


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_run_log_at_0002_gets_its_flags_moved_into_their_column(backend, tmp_path, request):
    """Before revision 0003 the flag was appended to the call's error; upgrading moves it into its own
    column and leaves the error as the call had it. Rows without it read as not flagged."""
    value = str(tmp_path / "old.db") if backend == "sqlite" else request.getfixturevalue("postgres_url")
    url = db.store_url(value)
    flag = "The server reported implausible usage: prompt_tokens -5 (negative). Kept as reported here, and not priced."
    row = {
        "at": "2026-01-01",
        "session_id": "s",
        "variant": "chat",
        "provider": "openai",
        "model": "gpt-4o",
        "messages_sent": 1,
        "predicted_prompt_tokens": 10,
        "predicted_exact": 1,
        "payload_bytes": 100,
        "status": "ok",
    }
    try:
        assert db.upgrade(url, to="0002") == "0002"
        with db.engine(url).connect() as old, db.writing(old):
            calls_at_0002 = table("calls", *(column(name) for name in [*row, "error"]))
            for error in (flag, f"Cut off. {flag}", "boom", None):  # as the app wrote them at 0002
                old.execute(insert(calls_at_0002).values(**row, error=error))
        assert db.upgrade(url) == "0004"
        with db.engine(url).connect() as upgraded:
            logged = storage.calls(upgraded)
        assert [(c.error, c.usage.flag) for c in logged] == [
            (None, flag),
            ("Cut off.", flag),
            ("boom", None),
            (None, None),
        ]
    finally:
        db.forget(url)


def test_a_run_log_from_before_cached_tokens_gets_the_column_empty(session_db):
    with closing(_pre_alembic(session_db, 1)) as old:
        old.execute(
            "INSERT INTO calls (at, session_id, variant, provider, model, messages_sent, predicted_prompt_tokens, "
            "predicted_exact, payload_bytes, cost, status) VALUES ('2026-01-01', 's', 'chat', 'openai', 'gpt-4o', "
            "1, 10, 1, 100, 0.1, 'ok')"
        )
    with storage.opened() as upgraded:
        (record,) = storage.calls(upgraded)
    assert record.usage.cached_tokens is None and record.cost == 0.1


def test_reported_cached_tokens_are_logged_and_billed_at_the_cached_price(conn):
    outcome = CallOutcome("Hi", Usage(2048, 10, 1024), finish_reason="stop")
    record = storage.CallRecord.of("s1", "chat", "openai", _plan(), outcome)
    gpt4o = models.MODELS["gpt-4o"]  # $2.50 input, $1.25 cached input, $10 output per million
    assert record.cost == pytest.approx((1024 * 2.5 + 1024 * 1.25 + 10 * 10.0) / 1e6)
    storage.record_call(conn, record)
    assert storage.calls(conn)[0].usage.cached_tokens == 1024
    assert gpt4o.prices.cached_input.base == 1.25


def test_a_server_error_holding_a_lone_surrogate_is_logged_not_lost(store):
    """A reply or an error text can carry half a UTF-16 pair (a JSON "\\ud83d"): SQLite cannot encode
    it, so the call's run-log row was lost; it is kept, with U+FFFD in its place."""
    outcome = CallOutcome(error="The server said: bad \ud83d text")
    record = storage.CallRecord.of("s1", "chat", "compatible", _plan(), outcome)
    with storage.opened() as conn:
        storage.record_call(conn, record)
        (logged,) = storage.calls(conn)
    assert logged.error == "The server said: bad \ufffd text"


def test_a_nul_in_a_title_or_a_model_name_is_stored_without_it_on_both_backends(conn):
    """PostgreSQL refuses NUL in text, which SQLite kept: dropped (as from message text), not a failed save."""
    saved = storage.save_session(conn, _session(title="Plan\x00s"))
    assert storage.list_sessions(conn)[0].label == "Plans" and storage.load_session(conn, "s1").title == "Plans"
    storage.save_session(conn, replace(saved, title="Again\x00"))
    copy = storage.insert_new(conn, _session("s2", title="Copy\x00"))
    assert storage.load_session(conn, copy.id).title == "Copy"
    storage.record_call(conn, replace(_record("s1"), model="gpt\x00-4o", variant="chat\x00", error="bo\x00om"))
    (logged,) = storage.calls(conn)
    assert (logged.model, logged.variant, logged.error) == ("gpt-4o", "chat", "boom")


# --- Compare: kept with the session ------------------------------------------------------------------


def _comparison(question: str = "What is my name?"):
    from lib.analysis.compare import PRESETS, Comparison, VariantResult

    outcome = CallOutcome("Ada", Usage(12, 3), latency_s=0.5, ttft_s=0.1, finish_reason="stop")
    results = [VariantResult(v, _plan(), [outcome], [None], [0.0]) for v in PRESETS[:2]]
    return Comparison(question, results, "2026-11-25 10:00:00", 0, "test")


def test_comparisons_are_kept_per_session_in_order(conn):
    first, second = _comparison("one?"), _comparison("two?")
    compare_store.save_comparison(conn, "s1", first)
    compare_store.save_comparison(conn, "s2", _comparison("elsewhere?"))
    compare_store.save_comparison(conn, "s1", second)
    kept = compare_store.list_comparisons(conn, "s1")
    assert [c.question for c in kept] == ["one?", "two?"]
    assert [c.to_dict() for c in kept] == [first.to_dict(), second.to_dict()]
    assert compare_store.list_comparisons(conn, "nobody") == []


def test_a_stored_comparison_it_cannot_read_is_skipped_not_fatal(conn):
    compare_store.save_comparison(conn, "s1", _comparison("good?"))
    with storage.transaction(conn):
        for body in ('{"format": 99}', "not json"):
            conn.execute(insert(schema.comparisons).values(session_id="s1", created_at="x", body=body))
    assert [c.question for c in compare_store.list_comparisons(conn, "s1")] == ["good?"]


def test_a_key_never_lands_in_a_stored_comparison_or_setup(conn):
    from lib.analysis.compare import PRESETS, CompareSetup

    key = "sk-proj-ABCDEFGH12345678"
    comparison = _comparison(f"Is {key} my key?")
    compare_store.save_comparison(conn, "s1", comparison, secrets=(key,))
    compare_store.save_compare_setup(conn, "s1", CompareSetup(PRESETS, question=f"Why {key}?"), secrets=(key,))
    stored = " ".join(
        conn.execute(select(schema.comparisons.c.body).union(select(schema.compare_setups.c.body))).scalars()
    )
    assert key not in stored and "***" in stored


def test_the_compare_setup_is_saved_and_replaced_per_session(conn):
    from lib.analysis.compare import PRESETS, CompareSetup, Variant

    assert compare_store.load_compare_setup(conn, "s1") is None
    compare_store.save_compare_setup(conn, "s1", CompareSetup(PRESETS, "q1"))
    mine = CompareSetup((Variant("mine", temperature=0.2),), "q2", repeats=3, seed=4, priced_as="gpt-4o")
    compare_store.save_compare_setup(conn, "s1", mine)
    assert compare_store.load_compare_setup(conn, "s1") == mine
    assert conn.execute(select(func.count()).select_from(schema.compare_setups)).scalar() == 1


# --- several processes on one SQLite file ------------------------------------------------------------

_PROCESS = """
import sys, time
from pathlib import Path
from lib.store import storage
from lib.store.session import Session
path, name, go = sys.argv[1], sys.argv[2], Path(sys.argv[3])
(go.parent / f"ready-{name}").touch()
while not go.exists():
    time.sleep(0.005)
with storage.opened(path) as conn:
    saved = Session(name, title=name)
    for _ in range(5):
        saved = storage.save_session(conn, saved)
"""


def test_processes_opening_a_new_sqlite_file_at_once_all_get_it(tmp_path):
    """Each process makes the file WAL and migrates it on first use: together, none fails on the other's lock."""
    import subprocess
    import sys

    path, go = tmp_path / "shared.db", tmp_path / "go"
    names = [f"proc{n}" for n in range(4)]
    processes = [
        subprocess.Popen([sys.executable, "-c", _PROCESS, str(path), name, str(go)], stderr=subprocess.PIPE, text=True)
        for name in names
    ]
    deadline = time.monotonic() + 120
    while len(list(tmp_path.glob("ready-*"))) < len(names) and time.monotonic() < deadline:
        time.sleep(0.05)
    go.touch()  # all at once: each has imported and waits
    failures = []
    for process in processes:
        _, stderr = process.communicate(timeout=120)
        if process.returncode:
            failures.append(stderr[-800:])
    assert failures == []
    with storage.opened(path) as conn:
        assert sorted((i.id, i.version) for i in storage.list_sessions(conn)) == [(name, 5) for name in names]
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
    db.forget(storage.store_url(path))
