"""lib/analysis/experiments/store.py on both backends: a SQLite file and a real PostgreSQL (the
`postgres_url` fixture). Test sets, runs and cells keep what was written, a cell written again replaces
the old one, and what one replica writes another replica (an Engine of its own on the same URL) lists."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import replace

import pytest
from sqlalchemy import Connection, Engine, create_engine, inspect, select

from lib.analysis.compare import Variant
from lib.analysis.experiments import store
from lib.analysis.experiments.cases import Case, Check, Conversation, TestSet, set_to_dict
from lib.analysis.experiments.checks import Verdict
from lib.analysis.experiments.planner import CellKey, RunSpec, spec_from_dict, spec_to_dict
from lib.context.payload import Sampling
from lib.context.strategies import Strategy
from lib.core.errors import InvalidRun
from lib.core.outcome import Usage
from lib.store import db, schema, storage
from lib.store.storage import CallRecord
from tests.paths import DATA

CASES = (
    Case("c1", "Wie heißt du? 🙂", Conversation(), (Check("contains", "Ada", ignore_case=True),)),
    Case("c2", "What is 2 + 2?", Conversation(), (Check("contains", "4"),)),
)
SET = TestSet("Names & sums", CASES)
VARIANTS = (Variant("Full history", Strategy("full")), Variant("Last 2", Strategy("last_turns", 2)))
SPEC = RunSpec(
    SET,
    VARIANTS,
    2,
    1,
    Sampling(temperature=0.0, max_tokens=16),
    "compatible",
    "m",
    provider_base_url="http://127.0.0.1:9/v1",
)


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request, tmp_path) -> Iterator[db.StoreUrl]:
    value = str(tmp_path / "lab.db") if request.param == "sqlite" else request.getfixturevalue("postgres_store")
    url = db.store_url(value)
    db.upgrade(url)
    yield url
    db.engine(url).dispose()


@pytest.fixture
def conn(url) -> Iterator[Connection]:
    with db.engine(url).connect() as conn:
        yield conn


@pytest.fixture
def replica(url) -> Iterator[Engine]:
    """A second replica's view: an Engine of its own on the same URL (its own pool, its own connections)."""
    engine = create_engine(url.url)
    yield engine
    engine.dispose()


def cell(case: str = "c1", variant: int = 0, repeat: int = 0, status: str = "pass", **changes) -> store.CellResult:
    made = store.CellResult(
        CellKey(variant, case, repeat),
        status,
        "Ich heiße Ada.",
        (Verdict("icontains: Ada", status == "pass", ""),),
        {"model": "m", "messages": [{"role": "user", "content": "Wie heißt du? 🙂"}]},
        12,
        Usage(11, 4),
        0.25,
        0.0001,
        None,
        ("Rate limited (429), retrying in 1.0 s",),
        "2026-11-26T05:00:00.000+00:00",
    )
    return replace(made, **changes)


# --- test sets ---------------------------------------------------------------------------------


def test_a_set_saves_loads_and_is_listed(conn):
    saved = store.save_set(conn, SET)
    loaded = store.load_set(conn, saved.id)
    assert loaded == saved and loaded.test_set == SET
    assert store.list_sets(conn) == [(saved.id, "Names & sums", saved.updated_at)]
    assert store.load_set(conn, "no-such-set") is None


def test_saving_a_set_again_overwrites_it_and_keeps_when_it_was_made(conn):
    first = store.save_set(conn, SET)
    created = conn.execute(select(schema.experiment_sets.c.created_at)).scalar_one()
    renamed = replace(SET, name="Renamed", cases=CASES[:1])
    again = store.save_set(conn, renamed, first.id)
    assert again.id == first.id and store.load_set(conn, first.id).test_set == renamed
    assert [(i, n) for i, n, _ in store.list_sets(conn)] == [(first.id, "Renamed")]
    assert conn.execute(select(schema.experiment_sets.c.created_at)).scalar_one() == created


def test_a_deleted_set_is_gone(conn):
    kept, dropped = store.save_set(conn, SET), store.save_set(conn, replace(SET, name="Other"))
    store.delete_set(conn, dropped.id)
    assert [i for i, _, _ in store.list_sets(conn)] == [kept.id]
    assert store.load_set(conn, dropped.id) is None


# --- runs and cells ----------------------------------------------------------------------------


def test_a_run_keeps_its_spec_and_counts_its_finished_cells(conn):
    run_id = store.create_run(conn, SPEC, "First try", "session-1")
    info = store.run_info(conn, run_id)
    assert (info.name, info.set_name, info.session_id, info.status, info.cells, info.finished) == (
        "First try",
        "Names & sums",
        "session-1",
        "running",
        8,
        0,
    )
    assert store.load_spec(conn, run_id) == SPEC
    store.record_cell(conn, run_id, cell("c1"))
    store.record_cell(conn, run_id, cell("c2", status="judging"))
    assert store.run_info(conn, run_id).finished == store.count_cells(conn, run_id) == 1  # judging is not over
    assert store.finished_keys(conn, run_id) == {CellKey(0, "c1", 0), CellKey(0, "c2", 0)}  # nor sent again
    store.set_status(conn, run_id, "done")
    store.rename_run(conn, run_id, "  ")
    assert (store.run_info(conn, run_id).status, store.run_info(conn, run_id).name) == ("done", "Run")
    assert store.run_info(conn, "no-such-run") is None and store.load_spec(conn, "no-such-run") is None


def test_a_cell_reads_back_as_it_was_written(conn):
    run_id = store.create_run(conn, SPEC, "r", "s")
    written = [
        cell("c1"),
        cell(
            "c2",
            variant=1,
            repeat=1,
            status="error",
            error="The call failed (500).",
            usage=Usage(),
            latency_s=None,
            cost=None,
            notices=(),
            finished_at="2026-11-26T05:00:01.000+00:00",
        ),
    ]
    for each in written:
        store.record_cell(conn, run_id, each)
    assert store.cells(conn, run_id) == written  # in the order they finished


def test_a_cell_written_again_replaces_the_old_one_and_touches_its_run(conn):
    run_id = store.create_run(conn, SPEC, "r", "s")
    before = store.run_info(conn, run_id).updated_at
    store.record_cell(conn, run_id, cell(status="judging"))
    judged = cell(verdicts=(Verdict("icontains: Ada", True, ""), Verdict("llm-rubric: Says it", True, "Fine.", True)))
    store.record_cell(conn, run_id, judged)
    assert store.cells(conn, run_id) == [judged]
    assert store.run_info(conn, run_id).updated_at >= before


def test_forgetting_errors_drops_only_this_runs_errors(conn):
    run_id, other = store.create_run(conn, SPEC, "r", "s"), store.create_run(conn, SPEC, "other", "s")
    for case, status in (("c1", "error"), ("c2", "pass")):
        store.record_cell(conn, run_id, cell(case, status=status))
        store.record_cell(conn, run_id, cell(case, variant=1, status="error"))
    store.record_cell(conn, other, cell(status="error"))
    assert store.forget_errors(conn, run_id) == 3
    assert [(c.key.case, c.status) for c in store.cells(conn, run_id)] == [("c2", "pass")]
    assert store.forget_errors(conn, run_id) == 0 and len(store.cells(conn, other)) == 1


def test_runs_are_listed_newest_first(conn, monkeypatch):
    for stamp, name in (("2026-11-26T05:00:00.000+00:00", "old"), ("2026-11-26T06:00:00.000+00:00", "new")):
        monkeypatch.setattr(store, "now", lambda stamp=stamp: stamp)
        store.create_run(conn, SPEC, name, "s")
    assert [r.name for r in store.list_runs(conn)] == ["new", "old"]


def test_a_deleted_run_takes_its_cells_and_leaves_the_run_log(conn):
    run_id, kept = store.create_run(conn, SPEC, "r", "s"), store.create_run(conn, SPEC, "kept", "s")
    store.record_cell(conn, run_id, cell())
    store.record_cell(conn, kept, cell())
    storage.record_call(
        conn,
        CallRecord(
            "s", "experiment · Full history", "compatible", "m", 1, 12, True, Usage(11, 4), 100, 0.25, 0.1, 0.0001, "ok"
        ),
    )
    store.delete_run(conn, run_id)
    assert store.run_info(conn, run_id) is None and store.cells(conn, run_id) == []
    assert [r.id for r in store.list_runs(conn)] == [kept] and len(store.cells(conn, kept)) == 1
    assert len(storage.calls(conn)) == 1  # the call happened, and was paid for


# --- two replicas on one store -------------------------------------------------------------------


def test_a_run_written_by_one_replica_is_listed_by_another(conn, replica):
    """Replica A (the app's engine) creates a run and writes its cells; replica B, with an engine of
    its own, lists the run with its cells, and its writes come back to A's open connection."""
    saved = store.save_set(conn, SET)
    run_id = store.create_run(conn, SPEC, "On replica A", "session-a")
    store.record_cell(conn, run_id, cell("c1"))
    with replica.connect() as other:
        assert [(r.id, r.name, r.finished) for r in store.list_runs(other)] == [(run_id, "On replica A", 1)]
        assert store.cells(other, run_id) == [cell("c1")] and store.load_spec(other, run_id) == SPEC
        assert store.load_set(other, saved.id) == saved
        store.record_cell(other, run_id, cell("c2", finished_at="2026-11-26T05:00:02.000+00:00"))
        store.set_status(other, run_id, "done")
    assert store.run_info(conn, run_id).status == "done"  # the same connection A held all along
    assert [c.key.case for c in store.cells(conn, run_id)] == ["c1", "c2"]


def test_a_long_lived_connection_sees_the_other_replicas_writes(conn, replica):
    """The runner's writer and a page poll hold a connection across reads: no read may pin an old view."""
    assert store.list_runs(conn) == []
    with replica.connect() as other:
        run_id = store.create_run(other, SPEC, "On replica B", "session-b")
        assert [r.id for r in store.list_runs(conn)] == [run_id]
        store.record_cell(other, run_id, cell())
        assert store.count_cells(conn, run_id) == 1


def test_two_replicas_writing_the_same_cells_at_once_leave_one_row_each(url, replica):
    """A resume on one replica while the other still writes: the upsert keeps one row per cell."""
    with db.engine(url).connect() as conn:
        run_id = store.create_run(conn, SPEC, "r", "s")
    keys = [(case, variant, repeat) for case in ("c1", "c2") for variant in (0, 1) for repeat in (0, 1)]
    problems: list[BaseException] = []

    def write(engine: Engine, status: str) -> None:
        try:
            with engine.connect() as each:
                for case, variant, repeat in keys:
                    store.record_cell(each, run_id, cell(case, variant, repeat, status))
        except BaseException as exc:  # said in the assertion below, not lost in the thread
            problems.append(exc)

    threads = [threading.Thread(target=write, args=(e, s)) for e, s in ((db.engine(url), "pass"), (replica, "fail"))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert problems == []
    with replica.connect() as other:
        written = store.cells(other, run_id)
    assert sorted((c.key.case, c.key.variant, c.key.repeat) for c in written) == sorted(keys)


# --- who sends a run -----------------------------------------------------------------------------

T0, T1, T2 = "2026-11-26T05:00:00.000+00:00", "2026-11-26T05:00:01.000+00:00", "2026-11-26T05:00:02.000+00:00"


def test_a_run_being_sent_is_claimed_by_nobody_else_until_it_has_been_quiet(conn, monkeypatch):
    monkeypatch.setattr(store, "now", lambda: T0)
    run_id = store.create_run(conn, SPEC, "r", "s")
    monkeypatch.setattr(store, "now", lambda: T1)
    assert store.claim_run(conn, run_id, quiet_before=T0)  # just made, never touched: free to start
    assert store.run_info(conn, run_id).updated_at == T1
    assert not store.claim_run(conn, run_id, quiet_before=T1)  # touched at T1: its sender is at it
    monkeypatch.setattr(store, "now", lambda: T2)
    store.touch_run(conn, run_id)
    assert not store.claim_run(conn, run_id, quiet_before=T2)
    assert store.claim_run(conn, run_id, quiet_before="2026-11-26T05:00:02.001+00:00")  # quiet since: gone
    store.set_status(conn, run_id, "cancelled")
    assert store.claim_run(conn, run_id, quiet_before=T0)  # cancelled: anyone may resume it
    assert store.run_info(conn, run_id).status == "running"


def test_a_heartbeat_touches_only_a_running_run(conn, monkeypatch):
    monkeypatch.setattr(store, "now", lambda: T0)
    run_id = store.create_run(conn, SPEC, "r", "s", status="batch")
    monkeypatch.setattr(store, "now", lambda: T1)
    store.touch_run(conn, run_id)
    assert store.run_info(conn, run_id).updated_at == T0


def test_of_two_replicas_resuming_one_run_at_once_exactly_one_gets_it(url, replica, monkeypatch):
    with db.engine(url).connect() as conn, monkeypatch.context() as patched:
        patched.setattr(store, "now", lambda: T0)  # made earlier: a claim's touch is never its creation time
        run_id = store.create_run(conn, SPEC, "r", "s", status="cancelled")
    outcomes: list[bool | BaseException] = []

    def claim(engine: Engine) -> None:
        try:
            with engine.connect() as each:
                outcomes.append(store.claim_run(each, run_id, quiet_before=T0))
        except BaseException as exc:  # said in the assertion below, not lost in the thread
            outcomes.append(exc)

    threads = [threading.Thread(target=claim, args=(e,)) for e in (db.engine(url), replica) * 3]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes, key=str) == [False] * 5 + [True]


# --- test sets and runs belong to someone ------------------------------------------------------------

ADA, BOB = "user:ada@example.com", "browser:bob"


def test_each_owner_lists_and_opens_only_their_own_sets(conn):
    adas = store.save_set(conn, SET, owner=ADA)
    bobs = store.save_set(conn, replace(SET, name="Bob's"), owner=BOB)
    assert [i for i, _, _ in store.list_sets(conn, ADA)] == [adas.id]
    assert [n for _, n, _ in store.list_sets(conn, BOB)] == ["Bob's"]
    assert store.list_sets(conn) == []  # nobody's: none
    assert store.load_set(conn, adas.id, ADA) == adas
    assert store.load_set(conn, adas.id, BOB) is None and store.load_set(conn, adas.id) is None  # opens nothing
    assert store.load_set(conn, bobs.id, BOB).test_set.name == "Bob's"


def test_another_owners_set_is_neither_overwritten_nor_deleted(conn):
    adas = store.save_set(conn, SET, owner=ADA)
    with pytest.raises(store.NotYours) as refused:
        store.save_set(conn, replace(SET, name="Bob's now"), adas.id, owner=BOB)
    assert "belongs to someone else" in str(refused.value) and "Names" not in str(refused.value)
    assert not store.delete_set(conn, adas.id, BOB)
    assert store.load_set(conn, adas.id, ADA) == adas  # as Ada saved it
    assert store.list_sets(conn, BOB) == []
    store.save_set(conn, replace(SET, name="Ada's edit"), adas.id, owner=ADA)  # hers to change
    assert [n for _, n, _ in store.list_sets(conn, ADA)] == ["Ada's edit"]
    assert store.delete_set(conn, adas.id, ADA) and store.list_sets(conn, ADA) == []


def test_each_owner_lists_and_opens_only_their_own_runs(conn):
    adas = store.create_run(conn, SPEC, "Ada's run", "s-ada", owner=ADA)
    bobs = store.create_run(conn, SPEC, "Bob's run", "s-bob", owner=BOB)
    store.record_cell(conn, adas, cell("c1"))
    assert [r.id for r in store.list_runs(conn, ADA)] == [adas]
    assert [r.id for r in store.list_runs(conn, BOB)] == [bobs] and store.list_runs(conn) == []
    assert store.run_info(conn, adas, ADA).finished == 1 and store.load_spec(conn, adas, ADA) == SPEC
    assert store.cells(conn, adas, ADA) == [cell("c1")]
    # Bob, with Ada's run id: nothing of it (not its spec, its cells, its questions or answers)
    assert store.run_info(conn, adas, BOB) is None and store.load_spec(conn, adas, BOB) is None
    assert store.cells(conn, adas, BOB) == [] and store.cells(conn, adas) == []


def test_another_owners_run_is_neither_renamed_deleted_retried_nor_resumed(conn):
    adas = store.create_run(conn, SPEC, "Ada's run", "s-ada", status="cancelled", owner=ADA)
    store.record_cell(conn, adas, cell("c1"))
    store.record_cell(conn, adas, cell("c2", status="error"))
    assert not store.rename_run(conn, adas, "Bob's now", BOB)
    assert not store.delete_run(conn, adas, BOB)
    assert store.forget_errors(conn, adas, BOB) == 0
    assert not store.claim_run(conn, adas, quiet_before=T0, owner=BOB)  # a resume by Bob sends nothing
    info = store.run_info(conn, adas, ADA)
    assert (info.name, info.status, info.finished) == ("Ada's run", "cancelled", 2)
    assert [c.status for c in store.cells(conn, adas, ADA)] == ["pass", "error"]
    # Ada may do each of them
    assert store.rename_run(conn, adas, "Renamed", ADA) and store.forget_errors(conn, adas, ADA) == 1
    assert store.claim_run(conn, adas, quiet_before=T0, owner=ADA)
    assert store.run_info(conn, adas, ADA).name == "Renamed"
    assert store.delete_run(conn, adas, ADA) and store.cells(conn, adas, ADA) == []
    assert conn.execute(select(schema.experiment_cells.c.run_id)).all() == []


def test_what_nobody_owns_goes_to_the_first_owner_who_claims_it(conn):
    old_set = store.save_set(conn, SET)  # made before experiments had owners (or by a script)
    old_run = store.create_run(conn, SPEC, "From before owners", "s")
    store.record_cell(conn, old_run, cell())
    assert store.claim_unowned(conn, ADA) == 2
    assert store.claim_unowned(conn, BOB) == 0
    assert [i for i, _, _ in store.list_sets(conn, ADA)] == [old_set.id]
    assert [r.id for r in store.list_runs(conn, ADA)] == [old_run] and len(store.cells(conn, old_run, ADA)) == 1
    assert store.list_sets(conn, BOB) == [] and store.list_runs(conn, BOB) == []
    assert store.list_sets(conn) == [] and store.list_runs(conn) == []


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_store_at_0001_with_experiments_upgrades_in_place_and_its_rows_are_nobodys(backend, tmp_path, request):
    """A store the app wrote before experiments had owners (revision 0001): revision 0002 adds the owner
    columns in place; every set, run and cell stays as it was, nobody's until claimed; new rows are owned."""
    value = str(tmp_path / "old.db") if backend == "sqlite" else request.getfixturevalue("postgres_url")
    url = db.store_url(value)
    assert db.upgrade(url, to="0001") == "0001"
    with db.engine(url).connect() as conn:
        assert "owner" not in {c["name"] for c in inspect(conn).get_columns("experiment_runs")}
        with db.writing(conn):  # rows as the app wrote them at 0001
            conn.execute(
                schema.experiment_sets.insert().values(
                    id="set1", name="Old set", body=json.dumps(set_to_dict(SET)), created_at=T0, updated_at=T0
                )
            )
            conn.execute(
                schema.experiment_runs.insert().values(
                    id="run1",
                    name="Old run",
                    set_name="Old set",
                    session_id="s",
                    status="done",
                    cells=4,
                    spec=json.dumps(spec_to_dict(SPEC)),
                    created_at=T0,
                    updated_at=T0,
                )
            )
        store.record_cell(conn, "run1", cell("c1"))
    assert db.upgrade(url) == "0004"
    with db.engine(url).connect() as conn:
        assert store.list_sets(conn) == [("set1", "Old set", T0)] and store.load_set(conn, "set1").test_set == SET
        (info,) = store.list_runs(conn)
        assert (info.id, info.name, info.status, info.finished) == ("run1", "Old run", "done", 1)
        assert store.load_spec(conn, "run1") == SPEC and store.cells(conn, "run1") == [cell("c1")]
        assert store.list_runs(conn, ADA) == [] and store.load_set(conn, "set1", ADA) is None  # nobody's yet
        assert store.claim_unowned(conn, ADA) == 2
        assert [r.id for r in store.list_runs(conn, ADA)] == ["run1"] and store.cells(conn, "run1", ADA) == [cell("c1")]
        new = store.create_run(conn, SPEC, "New", "s", owner=BOB)
        assert [r.id for r in store.list_runs(conn, BOB)] == [new]
    db.forget(url)


STORED_BEFORE_PYDANTIC = DATA / "experiment_run_stored_before_pydantic.json"


def test_a_run_spec_and_verdicts_stored_before_the_pydantic_models_read_back_and_write_the_same_json():
    """tests/data/experiment_run_stored_before_pydantic.json was written by the hand-written codec: a spec
    with three variants (one with an int temperature), a judge, summaries and non-default sampling, and a
    cell's verdicts (one undecided, awaiting the judge)."""
    stored_json = json.loads(STORED_BEFORE_PYDANTIC.read_text(encoding="utf-8"))
    spec = spec_from_dict(stored_json["spec"])
    assert json.dumps(spec_to_dict(spec)) == json.dumps(stored_json["spec"])  # byte for byte, key order too
    assert spec.judge is not None and spec.judge.model == "gpt-4o-mini" and spec.summaries == (("k1", "A summary."),)
    assert spec.sampling.token_limit_field == "max_completion_tokens" and spec.variants[1].temperature == 1
    verdicts = [Verdict.from_dict(v) for v in stored_json["verdicts"]]
    assert [v.as_dict() for v in verdicts] == stored_json["verdicts"]
    assert verdicts[1].passed is None and verdicts[1].judge


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"repeats": "many"}, "repeats"),
        ({"provider": {"model": "m"}}, "provider.kind"),
        ({"variants": None}, "variants"),
    ],
)
def test_a_stored_spec_that_does_not_fit_is_refused_by_name(change, named):
    stored_spec = json.loads(STORED_BEFORE_PYDANTIC.read_text(encoding="utf-8"))["spec"]
    with pytest.raises(InvalidRun, match=named) as refused:
        spec_from_dict({**stored_spec, **change})
    assert str(refused.value).startswith("The stored run spec cannot be read")
    with pytest.raises(InvalidRun, match="check"):
        Verdict.from_dict({"passed": True})
