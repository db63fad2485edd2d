"""A run on a thread of its own: each cell sent, scored, and written to the store the moment it is over.

A Streamlit page is a script any click or reload interrupts: a run driven by it would stop with it.
`RunExecutor` runs on a background thread of the app's process instead, and writes every finished
cell (and its run-log record) at once — one writer thread takes them as they finish, on a connection
of its own, so a call never waits on the database — so a reload finds the cells that are done and the
run still going; Cancel loses at most the calls in flight (the writer finishes what it was given), a
crash or a kill those and the cells of the last milliseconds, and `resume` (a new executor over the
same run) skips every cell already written. The store is SQLite, or the PostgreSQL a team's replicas
share (lib/store/db.py): a run written by one replica is listed, with its cells, on every other. While a
run is sent its row is touched at least every HEARTBEAT_S, so the other replicas show it as running
(not interrupted) and refuse to resume it until it has been quiet for QUIET_AFTER_S.

Calls go through `lib.backends.reply.Reply` (429 and 5xx retried under the visible policy; the notices are
kept with the cell), up to `concurrency` at once per backend (the embedded model: 1, in the prefix
order the planner chose). A cell whose call fails is written with its error and the others go on; so
is a cell whose answer cannot be scored (its answer kept: a resume does not pay for it again). The
checks run bounded (lib/analysis/experiments/checks.py): a regex in a worker process under a time limit.
Cells with a judge check are answered first and judged after: the judge's calls would otherwise
evict the shared history from the embedded model's KV cache between two answers.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Connection

from lib.analysis.experiments import store
from lib.analysis.experiments.checks import Verdict, finish_note, overall, score
from lib.analysis.experiments.judge import JudgeSpec, judge_request, parse_verdict
from lib.analysis.experiments.planner import CellKey, PlannedCell, RunSpec
from lib.backends import retry
from lib.backends.providers import ProviderConfig, make_client
from lib.backends.reply import Reply
from lib.context.payload import RequestPlan
from lib.context.request import Target
from lib.core.job import Job
from lib.core.outcome import CallOutcome, Usage
from lib.core.prices import billed
from lib.core.secrets import redact
from lib.store import storage
from lib.store.call_details import log_call
from lib.store.session import now

NO_JUDGE = "No judge model was picked for this run: the rubric was not graded."
# A run being sent is touched (its updated_at) by every cell written, and by the writer's heartbeat when
# no cell was for HEARTBEAT_S (a slow call). Untouched for QUIET_AFTER_S, its sender is gone (its app
# stopped): interrupted, resumable anywhere. The margin covers clocks of replicas a little apart.
HEARTBEAT_S = 5.0
QUIET_AFTER_S = 30.0
NOT_YOURS = "No run of yours has this id: nothing was sent."
ELSEWHERE = (
    "This run is being sent by another replica of the app (or by this app before a restart): its cells "
    f"show here as they are written. It can be resumed here once it has been quiet for {QUIET_AFTER_S:.0f} s."
)


@dataclass(frozen=True)
class JudgeSetup:
    spec: JudgeSpec
    target: Target
    config: ProviderConfig  # its key in memory only


def call_cost(plan: RequestPlan, outcome: CallOutcome, batch: bool = False) -> float | None:
    """Reported usage where there is some, else the prediction (as the run log counts it); `batch`: an
    answer from the Batch API, at its rate."""
    return billed(plan.model.prices, plan.prompt_tokens, outcome.usage, batch)


def answered_cell(
    cell: PlannedCell,
    outcome: CallOutcome,
    notices: tuple[str, ...] = (),
    secrets: tuple[str, ...] = (),
    judged: bool = True,
    batch: bool = False,
) -> store.CellResult:
    """The cell once its answer is in: the deterministic checks decided, the judge still to come
    (`judged`), or the rubric marked ungraded when the run has no judge. A reply cut short or with no
    text (its finish_reason) has a note among its notices, which the grid and the export flag."""
    error = redact(outcome.error, secrets) if outcome.error else None
    note = finish_note(outcome.finish_reason, outcome.text) if outcome.ok else None
    if note:
        notices = (note, *notices)
    verdicts: list[Verdict] = []
    if outcome.ok:
        verdicts = score(cell.case.checks, outcome.text, outcome.tool_calls, cell.plan.tools.api_tools())
        if cell.case.judged and not judged:
            verdicts += [Verdict(c.describe(), None, NO_JUDGE, judge=True) for c in cell.case.checks if c.is_judge]
    if not outcome.ok:
        status = "error"
    elif cell.case.judged and judged:
        status = "judging"
    else:
        status = overall(verdicts)
    return store.CellResult(
        cell.key,
        status,
        outcome.text,
        tuple(verdicts),
        cell.plan.body,
        cell.plan.prompt_tokens,
        outcome.usage,
        outcome.latency_s,
        call_cost(cell.plan, outcome, batch),
        error,
        notices,
    )


def unscored_cell(
    cell: PlannedCell, outcome: CallOutcome, notices: tuple[str, ...], secrets: tuple[str, ...], problem: Exception
) -> store.CellResult:
    """The cell whose answer could not be scored: an error, its answer kept (it was paid for), so the run
    goes on and a resume does not send it again."""
    error = redact(f"The answer could not be scored: {type(problem).__name__}: {str(problem)[:300]}", secrets)
    return store.CellResult(
        cell.key,
        "error",
        outcome.text,
        (),
        cell.plan.body,
        cell.plan.prompt_tokens,
        outcome.usage,
        outcome.latency_s,
        None,
        error,
        notices,
    )


def blocked_cell(cell: PlannedCell) -> store.CellResult:
    return store.CellResult(
        cell.key,
        "error",
        "",
        (),
        cell.plan.body,
        cell.plan.prompt_tokens,
        Usage(),
        None,
        None,
        f"Not sent: {cell.blocker}",
    )


@dataclass(frozen=True)
class Progress:
    done: int  # cells finished (written, judge included), this run in all
    total: int
    calls_made: int  # by this executor
    calls_planned: int  # by this executor: answers and judge calls
    elapsed_s: float
    running: bool

    @property
    def time_left_s(self) -> float | None:
        if not self.calls_made or not self.running:
            return None
        return self.elapsed_s / self.calls_made * max(self.calls_planned - self.calls_made, 0)


class RunExecutor:
    """Sends a run's unfinished cells on a thread of its own; `cancel` stops it (calls in flight are
    stopped and not written: the resume sends them again)."""

    def __init__(
        self,
        run_id: str,
        spec: RunSpec,
        cells: list[PlannedCell],
        config: ProviderConfig,
        session_id: str,
        judge: JudgeSetup | None = None,
        db_path: str | Path | None = None,  # the store's path or URL; None: the app's (CONTEXT_LAB_DB)
        secrets: tuple[str, ...] = (),
        policy: retry.RetryPolicy = retry.DEFAULT_POLICY,
        wait: Callable[[float], None] | None = None,
        log_calls: bool = True,
        client: object | None = None,
        owner: str | None = None,  # whose run this is (lib/analysis/experiments/store): only theirs is sent
    ):
        self.run_id, self.spec, self.cells, self.config = run_id, spec, cells, config
        self.owner = owner
        self.session_id, self.judge = session_id, judge
        self.db_path = db_path
        self.secrets = (*config.secrets, *(judge.config.secrets if judge else ()), *secrets)
        self.policy, self._wait, self.log_calls = policy, wait, log_calls
        # The page's client for this backend, when it has one: making an SDK client costs 0.1-0.4 s
        # (its TLS context), paid again by every run otherwise.
        self._given_client = client
        self._client: Any = None  # the run's own clients, made when it starts, closed when it ends
        self._judge_client: Any = None
        self.concurrency = 1 if config.backend.answers_one_at_a_time else max(1, spec.concurrency)
        self._stop = threading.Event()
        self._lock = threading.Lock()
        # What is to be written, in the order it happened: one writer thread writes it, so a call's end
        # never waits on the database. Calls ending together (a remote backend's replies come in waves of
        # `concurrency`) would otherwise contend for SQLite's write lock, whose busy handler sleeps in
        # growing steps: measured 48 ms per cell at 8 (bench/experiments.py). `None` ends the writer;
        # an Event is a flush (set once everything queued before it is written).
        self._writes: queue.Queue[Callable[[Connection], object] | threading.Event | None] = queue.Queue()
        self._writer = threading.Thread(target=self._write_all, name=f"context-lab-writer-{run_id}", daemon=True)
        self._in_flight: set[Reply] = set()
        self._calls_made = 0
        self._calls_planned = 0
        self._started = time.monotonic()
        self.failure: str | None = None  # what stopped the run, if it was not a cell's own error
        # started by `start`, once the run is claimed; Cancel is its stop
        self._job: Job[None] = Job(self._main, f"context-lab-experiment-{run_id}", stopping=self._stop, start=False)

    # --- control -------------------------------------------------------------------------------

    def start(self) -> RunExecutor:
        with _REGISTRY_LOCK:
            if run_id_active(self.run_id):
                raise RuntimeError("this run is already running")
            _ACTIVE[self.run_id] = self
        try:
            with storage.opened(self.db_path) as conn:
                claimed = store.claim_run(conn, self.run_id, quiet_before(), self.owner)
                theirs = claimed or store.run_info(conn, self.run_id, self.owner) is not None
        except BaseException:
            _forget(self)
            raise
        if not claimed:
            _forget(self)
            raise RuntimeError(ELSEWHERE if theirs else NOT_YOURS)
        self._job.start()
        return self

    def cancel(self) -> None:
        self._job.stop()
        with self._lock:
            for reply in self._in_flight:
                reply.stop()

    @property
    def cancelled(self) -> bool:
        return self._stop.is_set()

    @property
    def alive(self) -> bool:
        return self._job.started and not self._job.done

    @property
    def over(self) -> bool:
        """The run's thread has ended (not yet started: not over)."""
        return self._job.done

    def join(self, timeout_s: float | None = None) -> bool:
        return self._job.wait(timeout_s)

    def progress(self) -> Progress:
        with storage.opened(self.db_path) as conn:
            done = store.count_cells(conn, self.run_id)
        return Progress(
            done,
            self.spec.total_cells,
            self._calls_made,
            self._calls_planned,
            time.monotonic() - self._started,
            self.alive,
        )

    # --- the work --------------------------------------------------------------------------------

    def _main(self, _stopping: threading.Event) -> None:  # _stopping is self._stop
        self._writer.start()
        try:
            with storage.opened(self.db_path) as conn:
                finished = store.finished_keys(conn, self.run_id)
            todo = [c for c in self.cells if c.key not in finished]
            judging = self._awaiting_judge()
            judged_todo = sum(1 for c in todo if c.case.judged and c.blocker is None) if self.judge else 0
            self._calls_planned = sum(c.blocker is None for c in todo) + judged_todo + len(judging)
            self._client = self._given_client or make_client(self.config)
            self._pool(self._answer, todo, self.concurrency)
            self._flush()  # the judge reads the cells awaiting it from the database
            if self.judge is not None and not self._stop.is_set():
                self._judge_client = make_client(self.judge.config)
                judge_width = 1 if self.judge.config.backend.answers_one_at_a_time else max(1, self.spec.concurrency)
                self._pool(self._grade, self._awaiting_judge(), judge_width)
        except Exception as exc:  # the run stops; its written cells stay, and it can be resumed
            self.failure = redact(f"The run stopped: {type(exc).__name__}: {exc}", self.secrets)
        finally:
            self._writes.put(None)
            self._writer.join()
            self._close_own_clients()
            self._finish()

    def _close_own_clients(self) -> None:
        """The clients this run made close their connections now (the caller's own client stays open)."""
        for made in (self._client, self._judge_client):
            if made is not None and made is not self._given_client:
                made.close()

    def _pool(self, work: Callable, items: list, width: int) -> None:
        with ThreadPoolExecutor(max_workers=width, thread_name_prefix="context-lab-cell") as pool:
            for future in [pool.submit(work, item) for item in items]:
                future.result()

    def _finish(self) -> None:
        try:
            with storage.opened(self.db_path) as conn:
                done = store.count_cells(conn, self.run_id) >= self.spec.total_cells
                # Not done: cancelled, or stopped by a failure (said in `failure`); either can be resumed.
                store.set_status(conn, self.run_id, "done" if done else "cancelled")
        finally:
            _forget(self)

    def _send(self, client, body: dict, secrets: tuple[str, ...]) -> Reply | None:
        """One call with its retries; None when Cancel stopped it (nothing of it is written)."""
        if self._stop.is_set():
            return None
        reply = Reply(client, body, secrets, self.policy, self._wait, self.config.limits)
        with self._lock:
            self._in_flight.add(reply)
        try:
            reply.text()
        finally:
            with self._lock:
                self._in_flight.discard(reply)
        with self._lock:
            self._calls_made += 1
        return None if reply.stopped else reply

    def _answer(self, cell: PlannedCell) -> None:
        if self._stop.is_set():
            return
        if cell.blocker:
            self._write(blocked_cell(cell))
            return
        reply = self._send(self._client, cell.plan.body, self.secrets)
        if reply is None:
            return
        try:
            result = answered_cell(cell, reply.outcome, tuple(reply.notices), self.secrets, self.judge is not None)
        except Exception as exc:  # one answer must not stop the run (checks.evaluate raises none; this is the net)
            result = unscored_cell(cell, reply.outcome, tuple(reply.notices), self.secrets, exc)
        self._write(result)
        variant = self.spec.variants[cell.key.variant].name
        self._log(cell.plan, reply.outcome, f"experiment · {variant}", self.config.backend.logged_as())

    def _awaiting_judge(self) -> list[tuple[store.CellResult, PlannedCell]]:
        with storage.opened(self.db_path) as conn:
            waiting = [c for c in store.cells(conn, self.run_id, self.owner) if c.status == "judging"]
        planned = {c.key: c for c in self.cells}
        return [(c, planned[c.key]) for c in waiting if c.key in planned]

    def _grade(self, item: tuple[store.CellResult, PlannedCell]) -> None:
        result, cell = item
        judge = self.judge
        assert judge is not None
        verdicts = list(result.verdicts)
        for check in (c for c in cell.case.checks if c.is_judge):
            plan = judge_request(
                check.value,
                cell.case.question,
                result.answer,
                judge.target,
                judge.spec.kind,
                judge.config.token_limit_field,
                judge.spec.max_tokens,
            )
            reply = self._send(self._judge_client, plan.body, self.secrets)
            if reply is None:
                return  # cancelled: the cell waits for its judge
            verdict = parse_verdict(reply.outcome, judge.spec.max_tokens)
            verdicts.append(Verdict(check.describe(), verdict.passed, redact(verdict.reason, self.secrets), True))
            self._log(plan, reply.outcome, "experiment · judge", judge.config.kind)
        self._write(replace(result, verdicts=tuple(verdicts), status=overall(verdicts)))

    def _write(self, result: store.CellResult) -> None:
        self._writes.put(lambda conn: store.record_cell(conn, self.run_id, result))

    def _flush(self) -> None:
        written = threading.Event()
        self._writes.put(written)
        written.wait()

    def _write_all(self) -> None:
        """The writer thread: everything queued, written as soon as it comes, in one connection. If a
        write fails the run stops (what was written stays; a resume sends the rest)."""
        conn: Connection | None = None
        try:
            while (item := self._next_write()) is not None:
                if isinstance(item, threading.Event):
                    item.set()
                    continue
                if self.failure is not None:
                    continue
                try:
                    conn = conn or storage.connect(self.db_path)
                    item(conn)
                except Exception as exc:
                    self.failure = redact(f"The run stopped: {type(exc).__name__}: {exc}", self.secrets)
                    self.cancel()
        finally:
            if conn is not None:
                conn.close()

    def _next_write(self) -> Callable[[Connection], object] | threading.Event | None:
        """What is to be written next; the run's heartbeat when nothing came for HEARTBEAT_S."""
        try:
            return self._writes.get(timeout=HEARTBEAT_S)
        except queue.Empty:
            return lambda conn: store.touch_run(conn, self.run_id)

    def _log(self, plan: RequestPlan, outcome: CallOutcome, variant: str, kind: str) -> None:
        if not self.log_calls:
            return
        at, secrets, owner = now(), self.secrets, self.owner  # as the call ended, not as it is written
        self._writes.put(
            lambda conn: log_call(conn, self.session_id, variant, kind, plan, outcome, secrets, owner, at=at)
        )


# --- the process's running runs: a reload (a new browser session) finds its run here -------------

_ACTIVE: dict[str, RunExecutor] = {}
_REGISTRY_LOCK = threading.RLock()


def run_id_active(run_id: str) -> bool:
    executor = _ACTIVE.get(run_id)
    return executor is not None and not executor.over  # running, or claimed and about to start


def _forget(executor: RunExecutor) -> None:
    with _REGISTRY_LOCK:
        if _ACTIVE.get(executor.run_id) is executor:
            del _ACTIVE[executor.run_id]


def active(run_id: str) -> RunExecutor | None:
    with _REGISTRY_LOCK:
        executor = _ACTIVE.get(run_id)
        return executor if executor is not None and run_id_active(run_id) else None


def finished_cells(run_id: str, db_path: str | Path | None = None) -> set[CellKey]:
    with storage.opened(db_path) as conn:
        return store.finished_keys(conn, run_id)


def quiet_before(at: datetime | None = None) -> str:
    """The time (as the store writes times) before which a running run's last touch means its sender is gone."""
    return ((at or datetime.now(UTC)) - timedelta(seconds=QUIET_AFTER_S)).isoformat(timespec="milliseconds")


def running_elsewhere(info: store.RunInfo, at: datetime | None = None) -> bool:
    """Sent by another process (another replica) right now: said running, no thread of this process on
    it, and touched within QUIET_AFTER_S since it was made."""
    if info.status != "running" or active(info.id) is not None or info.updated_at == info.created_at:
        return False
    return info.updated_at >= quiet_before(at)
