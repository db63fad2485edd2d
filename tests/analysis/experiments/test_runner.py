"""A run on its own thread against a local OpenAI-compatible server: every finished cell in the store at
once (and in the run log), a failing cell keeps its error while the rest go on, retries are visible,
Cancel loses only the calls in flight, and a resume never sends a finished cell again."""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import create_engine

from lib.analysis.compare import Variant
from lib.analysis.experiments import planner, results, runner, store
from lib.analysis.experiments.cases import Case, Check, Conversation, TestSet
from lib.analysis.experiments.judge import JudgeSpec
from lib.analysis.experiments.planner import RunSpec
from lib.backends.providers import ProviderConfig
from lib.backends.retry import RetryPolicy
from lib.context.conversation import Message
from lib.context.payload import Sampling, serialise
from lib.context.request import Target
from lib.context.strategies import Strategy
from lib.context.tokens import TiktokenCounter
from lib.core import models
from lib.store import db, storage
from tests.fake_openai import FakeOpenAI

TARGET = Target(models.info_for("fake-model"), TiktokenCounter("o200k_base", False), "fake-model")
HISTORY = Conversation("inline", (Message("user", "My name is Ada.", id="h0"), Message("assistant", "Hi!", id="h1")))
CASES = tuple(
    Case(f"c{i}", f"Question {i}: what is my name?", HISTORY, (Check("contains", f"Question {i}"),)) for i in range(3)
)
VARIANTS = (Variant("Full", Strategy("full")), Variant("None", Strategy("none"), model="fake-model-2"))


def make_spec(cases=CASES, variants=VARIANTS, repeats=1, **changes) -> RunSpec:
    sampling = Sampling(temperature=0.0, max_tokens=16)
    return RunSpec(TestSet("t", cases), variants, repeats, 1, sampling, "compatible", "fake-model", **changes)


def target_for(variant: Variant) -> Target:
    return Target(TARGET.model, TARGET.counter, variant.model or "fake-model")


def execute(server: FakeOpenAI, spec: RunSpec, kind="compatible", start=True, **options) -> runner.RunExecutor:
    with storage.opened() as conn:
        run_id = store.create_run(conn, spec, "test run", "session-1")
    config = ProviderConfig(kind, "fake-model", base_url=server.base_url)
    cells = planner.prefix_order(planner.plan_cells(spec, target_for))
    executor = runner.RunExecutor(run_id, spec, cells, config, "session-1", wait=lambda _: None, **options)
    return executor.start() if start else executor


def finished(executor: runner.RunExecutor) -> list[store.CellResult]:
    assert executor.join(60)
    with storage.opened() as conn:
        return store.cells(conn, executor.run_id)


def posts(server: FakeOpenAI) -> list:
    return [r for r in server.requests if r.method == "POST"]


def test_every_cell_is_written_scored_and_logged():
    with FakeOpenAI() as server:
        server.behaviour.echo = True
        executor = execute(server, make_spec())
        cells = finished(executor)
        sent = posts(server)
    assert len(cells) == 6 and {c.status for c in cells} == {"pass"}
    assert sorted(r.body for r in sent) == sorted(serialise(c.body) for c in cells)  # the stored body was sent
    full = next(c for c in cells if c.key.variant == 0)
    assert [m["content"] for m in full.body["messages"]][1:3] == ["My name is Ada.", "Hi!"]
    assert full.verdicts[0].passed and full.usage.prompt_tokens == 42 and full.latency_s is not None
    with storage.opened() as conn:
        info = store.run_info(conn, executor.run_id)
        log = storage.calls(conn)
    assert (info.status, info.finished, info.cells) == ("done", 6, 6)
    assert sorted(c.variant for c in log) == ["experiment · Full"] * 3 + ["experiment · None"] * 3
    assert {c.session_id for c in log} == {"session-1"}
    assert runner.active(executor.run_id) is None


def test_a_failing_cell_shows_its_error_and_the_others_go_on():
    broken = (*VARIANTS, Variant("Unknown model", Strategy("full"), model="no-such-model"))
    with FakeOpenAI() as server:
        server.behaviour.echo = True
        server.behaviour.reject_unknown_models = True
        cells = finished(execute(server, make_spec(variants=broken)))
    statuses = {(c.key.variant, c.status) for c in cells}
    assert statuses == {(0, "pass"), (1, "pass"), (2, "error")}
    error = next(c for c in cells if c.key.variant == 2)
    assert "(404)" in error.error and "no-such-model" in error.error


def test_a_rate_limit_is_retried_and_the_retry_is_kept_with_the_cell():
    with FakeOpenAI() as server:
        server.behaviour.echo = True
        server.behaviour.status, server.behaviour.failures = 429, 1
        spec = make_spec(cases=CASES[:1], variants=VARIANTS[:1])
        cells = finished(execute(server, spec, policy=RetryPolicy(attempts=3, base_delay_s=0.01)))
    (cell,) = cells
    assert cell.status == "pass"
    assert cell.notices and cell.notices[0].startswith("Rate limited (429), retrying in")


def test_a_cell_that_cannot_be_sent_is_written_with_its_reason_and_nothing_is_sent():
    small = Target(models.ModelInfo("tiny", 60, None, None, "o200k_base"), TARGET.counter, "fake-model")
    long = Conversation("inline", (Message("user", "word " * 200, id="h0"),))
    spec = make_spec(cases=(Case("long", "Hi?", long),), variants=VARIANTS[:1])
    with FakeOpenAI() as server, storage.opened() as conn:
        run_id = store.create_run(conn, spec, "r", "s")
        cells = planner.plan_cells(spec, lambda _: small)
        config = ProviderConfig("compatible", "fake-model", base_url=server.base_url)
        executor = runner.RunExecutor(run_id, spec, cells, config, "s").start()
        (cell,) = finished(executor)
        assert posts(server) == []
    assert cell.status == "error" and cell.error.startswith("Not sent: The prompt is")


class Slow:
    """The fake server's reply, slowed, counting how many requests it serves at once."""

    def __init__(self, delay_s: float) -> None:
        self.delay_s, self.now, self.most, self.lock = delay_s, 0, 0, threading.Lock()

    def __call__(self, request: dict) -> str:
        with self.lock:
            self.now += 1
            self.most = max(self.most, self.now)
        time.sleep(self.delay_s)
        with self.lock:
            self.now -= 1
        return str(request["messages"][-1]["content"])


@pytest.mark.parametrize(("kind", "most"), [("compatible", 4), ("embedded", 1)])
def test_calls_go_out_up_to_the_backends_limit(kind, most):
    cases = tuple(Case(f"c{i}", f"Question {i}", HISTORY) for i in range(8))
    with FakeOpenAI() as server:
        slow = Slow(0.2)
        server.behaviour.reply_to = slow
        cells = finished(execute(server, make_spec(cases=cases, variants=VARIANTS[:1], concurrency=4), kind=kind))
    assert len(cells) == 8 and {c.status for c in cells} == {"answered"}
    assert slow.most == most  # the embedded model: one at a time, in the prefix order


def test_cancel_keeps_the_finished_cells_and_a_resume_sends_only_the_rest():
    cases = tuple(Case(f"c{i}", f"Question {i}", HISTORY, (Check("contains", "Question"),)) for i in range(4))
    spec = make_spec(cases=cases)
    with FakeOpenAI() as server:
        server.behaviour.reply_to = Slow(0.3)
        executor = execute(server, spec, kind="embedded")  # one at a time
        while len(runner.finished_cells(executor.run_id)) < 2:
            time.sleep(0.05)
        executor.cancel()
        before = {c.key for c in finished(executor)}
        sent_before = len(posts(server))
        with storage.opened() as conn:
            assert store.run_info(conn, executor.run_id).status == "cancelled"
        assert 2 <= len(before) < 8 and sent_before <= len(before) + 1  # at most the call in flight is lost
        server.behaviour.reply_to = Slow(0.0)  # slow only so the cancel lands mid-run: the resume need not wait
        resumed = runner.RunExecutor(
            executor.run_id, spec, executor.cells, executor.config, "session-1", wait=lambda _: None
        ).start()
        after = finished(resumed)
        sent_again = [r.json() for r in posts(server)[sent_before:]]
    assert len(after) == 8 and {c.status for c in after} == {"pass"}
    resent = {(b["model"], b["messages"][-1]["content"]) for b in sent_again}
    done_before = {(c.body["model"], c.body["messages"][-1]["content"]) for c in after if c.key in before}
    assert not resent & done_before  # no finished cell was sent again
    assert len(sent_again) == 8 - len(before)


def test_a_write_that_fails_stops_the_run_with_its_reason_and_keeps_what_was_written():
    """Cells are written by one writer thread (calls never wait on SQLite): when a write fails, the
    run stops, says why, and stays resumable with the cells written before."""
    cases = tuple(Case(f"c{i}", f"Question {i}", HISTORY, (Check("contains", "Question"),)) for i in range(4))
    with storage.opened() as conn:  # the database refuses a third cell, as a full disk would
        conn.exec_driver_sql(
            "CREATE TRIGGER full_disk BEFORE INSERT ON experiment_cells WHEN (SELECT COUNT(*) FROM "
            "experiment_cells) >= 2 BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END"
        )
        conn.commit()
    with FakeOpenAI() as server:
        server.behaviour.reply_to = Slow(0.1)
        executor = execute(server, make_spec(cases=cases), kind="embedded")  # one at a time
        written = finished(executor)
        sent = len(posts(server))
    assert executor.failure is not None and "database or disk is full" in executor.failure
    assert len(written) == 2 and {c.status for c in written} == {"pass"}
    assert sent < 8  # the run stopped: not every cell was sent
    with storage.opened() as conn:
        assert store.run_info(conn, executor.run_id).status == "cancelled"  # resumable


def test_a_run_cannot_be_started_twice_at_once():
    with FakeOpenAI() as server:
        server.behaviour.reply_to = Slow(0.2)
        executor = execute(server, make_spec(variants=VARIANTS[:1]))
        assert runner.active(executor.run_id) is executor
        twin = runner.RunExecutor(executor.run_id, executor.spec, executor.cells, executor.config, "s")
        with pytest.raises(RuntimeError, match="already running"):
            twin.start()
        finished(executor)


def test_the_judge_grades_after_the_answers_with_its_forced_shape():
    rubric = Case(
        "j",
        "Question j: what is my name?",
        HISTORY,
        (Check("contains", "Question j"), Check("llm-rubric", "Says the name.")),
    )
    wrong = Case("k", "Question k", HISTORY, (Check("contains", "nowhere"), Check("llm-rubric", "Says the name.")))
    judge_spec = JudgeSpec("compatible", "fake-model")

    def reply(request: dict) -> str:
        if "response_format" in request:
            return '{"verdict": "pass", "reason": "Fine."}'  # the judge passes everything
        return str(request["messages"][-1]["content"])

    with FakeOpenAI() as server:
        server.behaviour.reply_to = reply
        config = ProviderConfig("compatible", "fake-model", base_url=server.base_url)
        judge = runner.JudgeSetup(judge_spec, TARGET, config)
        spec = make_spec(cases=(rubric, wrong), variants=VARIANTS[:1], judge=judge_spec)
        cells = {c.key.case: c for c in finished(execute(server, spec, judge=judge))}
        bodies = [r.json() for r in posts(server)]
    assert ["response_format" in b for b in bodies] == [False, False, True, True]  # answers first, then the judge
    assert bodies[2]["response_format"]["type"] == "json_schema"
    assert cells["j"].status == "pass" and cells["k"].status == "fail"
    assert [v.judge for v in cells["j"].verdicts] == [False, True]
    measured = results.judge_agreement(spec, list(cells.values()))
    assert (measured.both, measured.agree) == (2, 1)
    with storage.opened() as conn:
        assert sum(c.variant == "experiment · judge" for c in storage.calls(conn)) == 2


def test_a_run_without_a_judge_marks_the_rubric_ungraded():
    rubric = Case("j", "Q", HISTORY, (Check("llm-rubric", "Says the name."),))
    with FakeOpenAI() as server:
        server.behaviour.echo = True
        (cell,) = finished(execute(server, make_spec(cases=(rubric,), variants=VARIANTS[:1])))
    assert cell.status == "error" and cell.verdicts[0].detail == runner.NO_JUDGE


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_run_on_one_replica_is_listed_with_its_cells_and_calls_on_another(backend, request, tmp_path):
    """The executor writes to the store it is given (a SQLite path or a PostgreSQL URL); a second
    replica, with an Engine of its own on the same URL, lists the run, its cells and its calls."""
    where = str(tmp_path / "shared.db") if backend == "sqlite" else request.getfixturevalue("postgres_url")
    url = db.store_url(where)
    spec = make_spec(variants=VARIANTS[:1])
    try:
        with FakeOpenAI() as server:
            server.behaviour.echo = True
            with storage.opened(where) as conn:
                run_id = store.create_run(conn, spec, "on replica A", "session-a")
            config = ProviderConfig("compatible", "fake-model", base_url=server.base_url)
            cells = planner.prefix_order(planner.plan_cells(spec, target_for))
            executor = runner.RunExecutor(run_id, spec, cells, config, "session-a", db_path=where).start()
            assert executor.join(60) and executor.failure is None
        replica = create_engine(url.url)
        try:
            with replica.connect() as other:
                (info,) = store.list_runs(other)
                written = store.cells(other, run_id)
                logged = storage.calls(other)
        finally:
            replica.dispose()
    finally:
        db.engine(url).dispose()
    assert (info.id, info.name, info.status, info.finished) == (run_id, "on replica A", "done", 3)
    assert sorted(c.key.case for c in written) == ["c0", "c1", "c2"] and {c.status for c in written} == {"pass"}
    assert [c.variant for c in logged] == ["experiment · Full"] * 3 and {c.session_id for c in logged} == {"session-a"}
    with storage.opened() as conn:  # the app's own store (CONTEXT_LAB_DB) got nothing of it
        assert store.list_runs(conn) == []


def _made_earlier_and_touched_now(spec: RunSpec, monkeypatch) -> str:
    """A run as another replica sending it leaves it: made a minute ago, touched just now."""
    with storage.opened() as conn, monkeypatch.context() as patched:
        patched.setattr(store, "now", lambda: "2026-01-01T00:00:00.000+00:00")
        run_id = store.create_run(conn, spec, "elsewhere", "session-b")
    with storage.opened() as conn:
        store.touch_run(conn, run_id)
    return run_id


def test_a_run_another_replica_is_sending_is_not_started_here_until_it_goes_quiet(monkeypatch):
    spec = make_spec(variants=VARIANTS[:1])
    run_id = _made_earlier_and_touched_now(spec, monkeypatch)
    with storage.opened() as conn:
        info = store.run_info(conn, run_id)
    assert runner.running_elsewhere(info)
    later = datetime.now(UTC) + timedelta(seconds=runner.QUIET_AFTER_S + 1)
    assert not runner.running_elsewhere(info, at=later)  # its replica stopped: interrupted, resumable
    with FakeOpenAI() as server:
        server.behaviour.echo = True
        config = ProviderConfig("compatible", "fake-model", base_url=server.base_url)
        cells = planner.plan_cells(spec, target_for)
        with pytest.raises(RuntimeError, match="another replica"):
            runner.RunExecutor(run_id, spec, cells, config, "s").start()
        assert runner.active(run_id) is None and posts(server) == []
        monkeypatch.setattr(runner, "QUIET_AFTER_S", -60.0)  # as if the minute had passed
        written = finished(runner.RunExecutor(run_id, spec, cells, config, "s").start())
    assert len(written) == 3
    with storage.opened() as conn:
        assert store.run_info(conn, run_id).status == "done"


def test_a_slow_call_keeps_its_run_marked_as_being_sent(monkeypatch):
    """No cell is written while the only call is slow: the writer's heartbeat touches the run instead,
    so another replica does not take it for interrupted."""
    monkeypatch.setattr(runner, "HEARTBEAT_S", 0.02)
    with FakeOpenAI() as server:
        server.behaviour.reply_to = Slow(1.0)
        executor = execute(server, make_spec(cases=CASES[:1], variants=VARIANTS[:1]))
        with storage.opened() as conn:
            claimed_at = store.run_info(conn, executor.run_id).updated_at
            touched = False
            while executor.alive and not touched:
                info = store.run_info(conn, executor.run_id)
                touched = info.updated_at > claimed_at and info.finished == 0
                time.sleep(0.01)
        finished(executor)
    assert touched


def test_a_run_is_sent_for_its_owner_only_and_its_calls_are_logged_as_theirs():
    """Resuming someone else's run sends nothing (the claim is the owner's); the owner's run goes, its
    judge-free cells written and its calls in the run log under the owner's name."""
    spec = make_spec(cases=CASES[:1], variants=VARIANTS[:1])
    with storage.opened() as conn:
        run_id = store.create_run(conn, spec, "Ada's", "session-ada", status="cancelled", owner="user:ada")
    with FakeOpenAI() as server:
        server.behaviour.echo = True
        config = ProviderConfig("compatible", "fake-model", base_url=server.base_url)
        cells = planner.plan_cells(spec, target_for)
        bobs = runner.RunExecutor(run_id, spec, cells, config, "session-bob", owner="user:bob")
        with pytest.raises(RuntimeError, match="No run of yours"):
            bobs.start()
        assert [r for r in server.requests if r.method == "POST"] == [] and runner.active(run_id) is None
        adas = runner.RunExecutor(run_id, spec, cells, config, "session-ada", owner="user:ada").start()
        assert adas.join(60)
    with storage.opened() as conn:
        assert [c.status for c in store.cells(conn, run_id, "user:ada")] == ["pass"]
        assert store.run_info(conn, run_id, "user:ada").status == "done"
        assert [c.owner for c in storage.calls(conn)] == ["user:ada"]


def test_cancel_hangs_up_the_call_in_flight_while_its_server_sends_nothing():
    """Cancel ends the call being read at once, not at its server's next token: the connection closes."""
    with FakeOpenAI() as server:
        server.behaviour.reply, server.behaviour.repeat, server.behaviour.interval_s = "tok ", None, 30.0
        executor = execute(server, make_spec(variants=VARIANTS[:1]), kind="embedded")  # one call at a time
        while not posts(server):
            time.sleep(0.02)
        time.sleep(0.3)  # the first token has arrived; the next is 30 s away
        started = time.monotonic()
        executor.cancel()
        assert executor.join(10) and time.monotonic() - started < 5
        deadline = time.monotonic() + 5
        while server.hangups < 1 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert server.hangups == 1 and len(posts(server)) == 1


def test_a_runs_calls_keep_to_its_configs_limits():
    with FakeOpenAI() as server:
        server.behaviour.reply, server.behaviour.repeat = "x" * 1_000, None  # an endless reply
        spec = make_spec(cases=CASES[:1], variants=VARIANTS[:1])
        with storage.opened() as conn:
            run_id = store.create_run(conn, spec, "capped", "session-1")
        config = ProviderConfig("compatible", "fake-model", base_url=server.base_url, max_reply_bytes=4_000)
        cells = planner.prefix_order(planner.plan_cells(spec, target_for))
        (cell,) = finished(runner.RunExecutor(run_id, spec, cells, config, "session-1", wait=lambda _: None).start())
    assert cell.answer == "x" * 4_000 and "stopped at 4 KB: the reply size cap" in cell.error


# --- hostile answers: one answer never stops a run, and a paid answer is never lost -----------------

HOSTILE_ANSWERS = {
    "digits": "1" * 6_000,  # int() refuses more than 4,300 digits (ValueError)
    "brackets": "[" * 100_000,  # the parser recurses once per level (RecursionError)
    "fence": "```json" + "\n\t" * 100_000 + "x",  # the fence's old regex: cubic time (no spaces: one chunk)
    "regex": "a" * 40,  # a backtracking regex never ends on it
}


def _hostile_spec() -> RunSpec:
    json_checks = (Check("is-json"), Check("json-field", value="1", field="a"))
    regex = Check("regex", value=r"(?=.)^(.+)+QQQ$")  # a lookahead: RE2 refuses it, `re` backtracks
    cases = (
        *(Case(name, f"Say {name}", HISTORY, json_checks) for name in ("digits", "brackets", "fence")),
        Case("regex", "Say regex", HISTORY, (Check("contains", "a"), regex)),
        Case("fine", "Say fine", HISTORY, (Check("contains", "Say fine"),)),
    )
    return make_spec(cases=cases, variants=VARIANTS[:1], concurrency=2)


def _hostile_reply(request: dict) -> str:
    question = str(request["messages"][-1]["content"])
    return HOSTILE_ANSWERS.get(question.removeprefix("Say "), question)


def test_a_run_with_hostile_answers_finishes_every_cell_keeps_them_and_a_resume_sends_none(monkeypatch):
    """Each hostile answer stopped the whole run (ValueError, RecursionError) or froze the app (the
    fence, the regex): now each is scored with a named verdict, kept in the store, and a resume has
    nothing left to pay for."""
    from lib.analysis.experiments import patterns

    monkeypatch.setattr(patterns, "MATCH_TIMEOUT_S", 1.0)
    spec = _hostile_spec()
    with FakeOpenAI() as server:
        server.behaviour.reply_to = _hostile_reply
        executor = execute(server, spec)
        cells = {c.key.case: c for c in finished(executor)}
        assert executor.failure is None
        sent = len(posts(server))
        resumed = runner.RunExecutor(
            executor.run_id, spec, executor.cells, executor.config, "session-1", wait=lambda _: None
        ).start()
        assert resumed.join(60) and resumed.failure is None
        assert len(posts(server)) == sent == 5  # the resume sent nothing again
    patterns.shutdown()
    with storage.opened() as conn:
        assert store.run_info(conn, executor.run_id).status == "done"
    for name, answer in HOSTILE_ANSWERS.items():
        assert cells[name].answer == answer  # the paid answer is kept, as it came
    assert cells["digits"].status == "fail"
    assert (
        cells["digits"].verdicts[0].detail == "not valid JSON here: a number of 6,000 digits (at most 4,300 are read)"
    )
    assert cells["brackets"].verdicts[1].detail == "not valid JSON here: nested deeper than 100 levels"
    assert cells["fence"].verdicts[0].detail.startswith("not valid JSON (Expecting value")
    assert cells["regex"].status == "error"
    assert "ran longer than 1 s on this answer and was stopped" in cells["regex"].verdicts[1].detail
    assert cells["fine"].status == "pass"


def test_an_answer_whose_scoring_fails_is_kept_as_that_cells_error(monkeypatch):
    """The net under the checks (which raise nothing themselves): whatever goes wrong scoring an answer
    is that cell's error, its answer written, and the run goes on."""

    def broken(checks, answer, calls=(), tools=()):
        if "Question 1" in answer:
            raise RecursionError("maximum recursion depth exceeded")
        return []

    monkeypatch.setattr(runner, "score", broken)
    with FakeOpenAI() as server:
        server.behaviour.reply_to = lambda request: "answer to " + str(request["messages"][-1]["content"])[:11]
        executor = execute(server, make_spec(variants=VARIANTS[:1]))
        cells = {c.key.case: c for c in finished(executor)}
    assert executor.failure is None and len(cells) == 3
    assert cells["c1"].status == "error" and cells["c1"].answer == "answer to Question 1:"
    assert cells["c1"].error == "The answer could not be scored: RecursionError: maximum recursion depth exceeded"
    assert cells["c1"].usage.prompt_tokens == 42  # what the call reported is kept too
    assert {cells["c0"].status, cells["c2"].status} == {"answered"}


@pytest.mark.parametrize(
    ("finish", "reply", "tool_call", "note"),
    [
        ("length", "Your name", False, "Cut by max_tokens"),
        ("content_filter", "Your", False, "Cut by the content filter"),
        ("tool_calls", "", True, "No text: the model asked for a tool"),
        ("tool_calls", "Let me look it up.", True, "The model asked for a tool (tool_calls) after this text"),
    ],
)
@pytest.mark.parametrize("stream", [True, False])
def test_a_reply_cut_short_or_calling_a_tool_is_flagged_in_the_grid_and_the_export(
    finish, reply, tool_call, note, stream
):
    spec = make_spec(cases=CASES[:1], variants=VARIANTS[:1])
    spec = replace(spec, sampling=replace(spec.sampling, stream=stream))
    with FakeOpenAI() as server:
        server.behaviour.reply, server.behaviour.finish_reason, server.behaviour.tool_call = reply, finish, tool_call
        (cell,) = finished(execute(server, spec))
        assert [r.json().get("stream", False) for r in posts(server)] == [stream]
    flag = results.cell_note(cell)
    assert flag is not None and flag.startswith(note)
    assert cell.answer == reply and cell.status == "fail"  # scored as it came, and flagged
    shown, _ = results.grid(spec, [cell])
    assert shown.loc["c0"].iloc[0] == f"fail {results.FLAG}"
    (row,) = results.cell_rows(spec, [cell])
    assert row["note"] == flag
    assert f"{results.FLAG} {flag}" in results.report_html("r", spec, [cell]).replace("&#x27;", "'")
    assert "note" in results.run_csv(spec, [cell]).splitlines()[0].split(",")


def test_an_ordinary_reply_has_no_flag():
    with FakeOpenAI() as server:
        server.behaviour.echo = True
        cells = finished(execute(server, make_spec(variants=VARIANTS[:1])))
    assert [results.cell_note(c) for c in cells] == [None] * 3
    assert set(results.grid(make_spec(variants=VARIANTS[:1]), cells)[0].iloc[:, 0]) == {"pass"}
