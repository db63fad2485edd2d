import json
import threading
from dataclasses import asdict, replace

import pytest

from lib.backends import models
from lib.backends.providers import CallOutcome
from lib.context.conversation import Message, SystemPrompt
from lib.context.payload import Sampling, plan_request
from lib.context.tokens import TiktokenCounter
from lib.store import storage
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
    every = [(v,) for v in range(1, storage.SCHEMA_VERSION + 1)]
    assert conn.execute("SELECT version FROM schema_migrations").fetchall() == every
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


def test_two_sessions_saving_at_once_lose_nothing(session_db):
    rounds = 40
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def writer(session_id: str) -> None:
        try:
            with storage.opened(session_db) as conn:
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
    with storage.opened(session_db) as conn:
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


def test_two_writers_over_one_version_one_wins(session_db):
    with storage.opened(session_db) as conn:
        base = storage.save_session(conn, _session())
    barrier = threading.Barrier(8)
    outcomes: list[str] = []

    def writer(n: int) -> None:
        with storage.opened(session_db) as conn:
            barrier.wait(timeout=60)
            try:
                storage.save_session(conn, replace(base, title=f"writer {n}"))
                outcomes.append(f"writer {n}")
            except storage.StaleSession:
                outcomes.append("refused")

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    winners = [o for o in outcomes if o != "refused"]
    assert len(outcomes) == 8 and len(winners) == 1
    with storage.opened(session_db) as conn:
        assert storage.load_session(conn, "s1").title == winners[0]
        assert storage.load_session(conn, "s1").version == 2


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
    conn.execute("UPDATE sessions SET body = ? WHERE id = 's1'", (body,))
    for _ in range(2):  # every time, not only the first
        with pytest.raises(storage.DamagedSession) as damaged:
            storage.load_session(conn, "s1")
        assert "The stored session s1 cannot be read" in str(damaged.value) and named in str(damaged.value)
    assert [i.id for i in storage.list_sessions(conn)] == ["s1"]  # the list still shows it
    assert conn.execute("SELECT body FROM sessions").fetchone()[0] == body
    with pytest.raises(storage.StaleSession):  # and a blank tab under its id cannot overwrite it
        storage.save_session(conn, Session("s1"))


# --- an existing file upgrades in place ------------------------------------------------------------


def test_a_file_of_the_first_schema_upgrades_in_place_with_its_data(session_db, monkeypatch):
    monkeypatch.setattr(storage, "MIGRATIONS", storage.MIGRATIONS[:1])
    monkeypatch.setattr(storage, "SCHEMA_VERSION", 1)
    old = [_session("plain1"), _session("Project notes v2.1", title="Odd id"), _session("damaged1")]
    with storage.opened(session_db) as conn:  # rows as the first version wrote them
        for session in old:
            conn.execute(
                "INSERT INTO sessions VALUES (?, ?, ?, ?, ?, ?, ?)",
                (session.id, session.title, session.label, len(session.messages), session.created_at,
                 session.updated_at, json.dumps(to_dict(session), ensure_ascii=False)),
            )  # fmt: skip
        conn.execute("UPDATE sessions SET body = '{broken' WHERE id = 'damaged1'")
        for session_id in ("Project notes v2.1", "plain1"):  # the first schema's columns only
            values = {k: v for k, v in asdict(_record(session_id)).items() if k != "cached_tokens"}
            conn.execute(f"INSERT INTO calls ({', '.join(values)}) VALUES ({', '.join('?' * len(values))})",
                         list(values.values()))  # fmt: skip
    monkeypatch.undo()

    with storage.opened(session_db) as conn:
        assert [v for (v,) in conn.execute("SELECT version FROM schema_migrations")] == list(
            range(1, storage.SCHEMA_VERSION + 1)
        )
        plain = storage.load_session(conn, "plain1")
        assert plain == old[0] and plain.version == 1
        renamed = next(i for i in storage.list_sessions(conn) if i.label == "Odd id")
        assert is_session_id(renamed.id) and storage.load_session(conn, "Project notes v2.1") is None
        moved = storage.load_session(conn, renamed.id)
        assert moved.messages == HISTORY and moved.id == renamed.id
        assert json.loads(conn.execute("SELECT body FROM sessions WHERE id = ?", (renamed.id,)).fetchone()[0])[
            "id"
        ] == renamed.id  # fmt: skip
        assert sorted(c.session_id for c in storage.calls(conn)) == sorted([renamed.id, "plain1"])
        assert conn.execute("SELECT body FROM sessions WHERE id = 'damaged1'").fetchone()[0] == "{broken"
        # and saves are compare-and-set from here on
        storage.save_session(conn, replace(plain, title="Upgraded"))
        with pytest.raises(storage.StaleSession):
            storage.save_session(conn, replace(plain, title="Stale"))


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


def test_a_server_error_holding_a_lone_surrogate_is_logged_not_lost(session_db):
    """A reply or an error text can carry half a UTF-16 pair (a JSON "\\ud83d"): SQLite cannot encode
    it, so the call's run-log row was lost; it is kept, with U+FFFD in its place."""
    outcome = CallOutcome(error="The server said: bad \ud83d text")
    record = storage.CallRecord.of("s1", "chat", "compatible", _plan(), outcome)
    with storage.opened() as conn:
        storage.record_call(conn, record)
        (logged,) = storage.calls(conn)
    assert logged.error == "The server said: bad \ufffd text"


# --- Compare: kept with the session ------------------------------------------------------------------


def _comparison(question: str = "What is my name?"):
    from lib.analysis.compare import PRESETS, Comparison, VariantResult

    outcome = CallOutcome("Ada", prompt_tokens=12, completion_tokens=3, latency_s=0.5, ttft_s=0.1, finish_reason="stop")
    results = [VariantResult(v, _plan(), [outcome], [None], [0.0]) for v in PRESETS[:2]]
    return Comparison(question, results, "2026-11-25 10:00:00", 0, "test")


def test_comparisons_are_kept_per_session_in_order(conn):
    first, second = _comparison("one?"), _comparison("two?")
    storage.save_comparison(conn, "s1", first)
    storage.save_comparison(conn, "s2", _comparison("elsewhere?"))
    storage.save_comparison(conn, "s1", second)
    kept = storage.list_comparisons(conn, "s1")
    assert [c.question for c in kept] == ["one?", "two?"]
    assert [c.to_dict() for c in kept] == [first.to_dict(), second.to_dict()]
    assert storage.list_comparisons(conn, "nobody") == []


def test_a_stored_comparison_it_cannot_read_is_skipped_not_fatal(conn):
    storage.save_comparison(conn, "s1", _comparison("good?"))
    with storage.transaction(conn):
        conn.execute("INSERT INTO comparisons (session_id, created_at, body) VALUES ('s1', 'x', '{\"format\": 99}')")
        conn.execute("INSERT INTO comparisons (session_id, created_at, body) VALUES ('s1', 'x', 'not json')")
    assert [c.question for c in storage.list_comparisons(conn, "s1")] == ["good?"]


def test_a_key_never_lands_in_a_stored_comparison_or_setup(conn):
    from lib.analysis.compare import PRESETS, CompareSetup

    key = "sk-proj-ABCDEFGH12345678"
    comparison = _comparison(f"Is {key} my key?")
    storage.save_comparison(conn, "s1", comparison, secrets=(key,))
    storage.save_compare_setup(conn, "s1", CompareSetup(PRESETS, question=f"Why {key}?"), secrets=(key,))
    stored = " ".join(
        row[0] for row in conn.execute("SELECT body FROM comparisons UNION SELECT body FROM compare_setups")
    )
    assert key not in stored and "***" in stored


def test_the_compare_setup_is_saved_and_replaced_per_session(conn):
    from lib.analysis.compare import PRESETS, CompareSetup, Variant

    assert storage.load_compare_setup(conn, "s1") is None
    storage.save_compare_setup(conn, "s1", CompareSetup(PRESETS, "q1"))
    mine = CompareSetup((Variant("mine", temperature=0.2),), "q2", repeats=3, seed=4, priced_as="gpt-4o")
    storage.save_compare_setup(conn, "s1", mine)
    assert storage.load_compare_setup(conn, "s1") == mine
    assert conn.execute("SELECT COUNT(*) FROM compare_setups").fetchone()[0] == 1
