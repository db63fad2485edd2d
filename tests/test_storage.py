import threading
from dataclasses import replace

import pytest

from lib import models, storage
from lib.conversation import Message, SystemPrompt
from lib.payload import Sampling, plan_request
from lib.providers import CallOutcome
from lib.session import Session
from lib.tokens import TiktokenCounter

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
def conn(session_db):
    with storage.opened() as conn:
        yield conn


def test_the_path_is_read_at_each_use(tmp_path, monkeypatch):
    monkeypatch.setenv(storage.ENV_VAR, str(tmp_path / "a" / "one.db"))
    assert storage.db_path() == tmp_path / "a" / "one.db"
    with storage.opened():
        pass
    assert (tmp_path / "a" / "one.db").exists()
    monkeypatch.delenv(storage.ENV_VAR)
    assert storage.db_path() == storage.DEFAULT_PATH


def test_a_new_file_is_migrated_once_in_wal_mode(conn, session_db):
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    versions = [(v,) for v in range(1, storage.SCHEMA_VERSION + 1)]
    assert conn.execute("SELECT version FROM schema_migrations").fetchall() == versions
    with storage.opened(session_db) as again:
        assert again.execute("SELECT COUNT(*) FROM schema_migrations").fetchone()[0] == storage.SCHEMA_VERSION


def test_a_later_migration_is_applied_to_an_existing_file(conn, session_db, monkeypatch):
    storage.save_session(conn, _session())
    extra = ("ALTER TABLE sessions ADD COLUMN starred INTEGER NOT NULL DEFAULT 0",)
    monkeypatch.setattr(storage, "MIGRATIONS", (*storage.MIGRATIONS, extra))
    monkeypatch.setattr(storage, "SCHEMA_VERSION", len(storage.MIGRATIONS))
    with storage.opened(session_db) as upgraded:
        versions = [v for (v,) in upgraded.execute("SELECT version FROM schema_migrations")]
        assert versions == list(range(1, len(storage.MIGRATIONS) + 1))
        assert upgraded.execute("SELECT starred FROM sessions").fetchall() == [(0,)]
        assert storage.load_session(upgraded, "s1").messages == HISTORY


def test_save_then_load_gives_the_same_session(conn):
    saved = storage.save_session(conn, _session())
    assert storage.load_session(conn, "s1") == saved
    assert saved.messages == HISTORY and saved.settings == {"temperature": 0.2}
    assert storage.load_session(conn, "nope") is None


def test_saving_again_replaces_and_the_list_shows_the_newest_first(conn):
    storage.save_session(conn, _session("a"))
    storage.save_session(conn, _session("b", title="Second"))
    storage.save_session(conn, _session("a", messages=HISTORY[:1]))
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
    imported = storage.insert_new(conn, _session("taken", title="Theirs"))
    assert imported.id != "taken"
    assert storage.load_session(conn, "taken").title == "Mine"
    assert storage.load_session(conn, imported.id).title == "Theirs"


def test_two_sessions_saving_at_once_lose_nothing(session_db):
    rounds = 40
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def writer(session_id: str) -> None:
        try:
            with storage.opened(session_db) as conn:
                barrier.wait(timeout=60)
                messages: tuple[Message, ...] = ()
                for i in range(rounds):
                    messages = (*messages, Message("user", f"{session_id} {i}"))
                    storage.save_session(conn, _session(session_id, messages=messages))
                    storage.record_call(conn, _record(session_id))
        except BaseException as exc:  # surfaced below: a thread's failure must fail the test
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(name,)) for name in ("left", "right")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    with storage.opened(session_db) as conn:
        for name in ("left", "right"):
            assert [m.content for m in storage.load_session(conn, name).messages] == [
                f"{name} {i}" for i in range(rounds)
            ]
            assert len(storage.calls(conn, name)) == rounds
        assert len(storage.calls(conn)) == 2 * rounds


def _plan():
    model = models.MODELS["gpt-4o"]
    messages = [Message("user", "Hello there")]
    return plan_request(messages, model, TiktokenCounter.for_model(model.name), Sampling())


def _record(session_id: str, outcome: CallOutcome | None = None) -> storage.CallRecord:
    outcome = outcome or CallOutcome("Hi", prompt_tokens=12, completion_tokens=3, latency_s=0.5, ttft_s=0.1)
    return storage.CallRecord.of(session_id, "chat", "openai", _plan(), outcome)


def test_a_call_record_carries_prediction_usage_cost_and_status():
    plan = _plan()
    record = _record("s1")
    gpt4o = models.MODELS["gpt-4o"]
    assert (record.model, record.messages_sent, record.payload_bytes) == ("gpt-4o", 1, plan.body_bytes)
    assert (record.predicted_prompt_tokens, record.prompt_tokens, record.completion_tokens) == (
        plan.prompt_tokens, 12, 3,
    )  # fmt: skip
    assert record.cost == pytest.approx(gpt4o.input_cost(12) + gpt4o.output_cost(3))
    assert record.cached_tokens is None
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


def test_a_run_log_from_before_cached_tokens_gets_the_column_empty(session_db, monkeypatch):
    first_schema = storage.MIGRATIONS[:1]
    monkeypatch.setattr(storage, "MIGRATIONS", first_schema)
    monkeypatch.setattr(storage, "SCHEMA_VERSION", 1)
    with storage.opened(session_db) as old:
        old.execute(
            "INSERT INTO calls (at, session_id, variant, provider, model, messages_sent, predicted_prompt_tokens, "
            "predicted_exact, payload_bytes, cost, status) VALUES ('2026-01-01', 's', 'chat', 'openai', 'gpt-4o', "
            "1, 10, 1, 100, 0.1, 'ok')"
        )
    monkeypatch.undo()
    monkeypatch.setenv(storage.ENV_VAR, str(session_db))
    with storage.opened(session_db) as upgraded:
        (record,) = storage.calls(upgraded)
    assert record.cached_tokens is None and record.cost == 0.1


def test_reported_cached_tokens_are_logged_and_billed_at_the_cached_price(conn):
    outcome = CallOutcome("Hi", prompt_tokens=2048, completion_tokens=10, cached_tokens=1024, finish_reason="stop")
    record = storage.CallRecord.of("s1", "chat", "openai", _plan(), outcome)
    gpt4o = models.MODELS["gpt-4o"]  # $2.50 input, $1.25 cached input, $10 output per million
    assert record.cost == pytest.approx((1024 * 2.5 + 1024 * 1.25 + 10 * 10.0) / 1e6)
    storage.record_call(conn, record)
    assert storage.calls(conn)[0].cached_tokens == 1024
    assert gpt4o.prices.cached_input.base == 1.25
