"""Experiments in SQLite (the app's database, lib/store/storage.py): test sets, runs, and their cells.

A cell is written the moment its call is over, in a transaction of its own, so a refresh, a crash
or a Cancel loses at most the calls in flight; resuming a run skips the cells already here. A run's
spec (lib/analysis/experiments/planner.RunSpec) holds the backend's kind, model and URL, never a key.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from typing import Any

from lib.analysis.experiments.cases import TestSet, set_from_dict, set_to_dict
from lib.analysis.experiments.checks import Verdict
from lib.analysis.experiments.planner import CellKey, RunSpec, spec_from_dict, spec_to_dict
from lib.context.conversation import new_id
from lib.store.session import now
from lib.store.storage import transaction

# A run's status: running (a thread is sending its cells), done, cancelled, batch (its requests were
# exported for the Batch API; the output file is awaited). A "running" run whose thread is gone (the
# app stopped) shows as interrupted; every unfinished run can be resumed.
STATUSES = ("running", "done", "cancelled", "batch")
# A cell's status: pass, fail, error (the call failed, or a check could not be decided), answered (no
# checks), judging (answered; the judge's verdict is still to come).
CELL_STATUSES = ("pass", "fail", "error", "answered", "judging")


# --- test sets ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class StoredSet:
    id: str
    test_set: TestSet
    updated_at: str


def save_set(conn: sqlite3.Connection, test_set: TestSet, set_id: str | None = None) -> StoredSet:
    set_id = set_id or new_id()
    stamp = now()
    with transaction(conn):
        conn.execute(
            """INSERT INTO experiment_sets VALUES (?, ?, ?, ?, ?)
               ON CONFLICT (id) DO UPDATE SET name = excluded.name, body = excluded.body,
               updated_at = excluded.updated_at""",
            (set_id, test_set.name, json.dumps(set_to_dict(test_set), ensure_ascii=False), stamp, stamp),
        )
    return StoredSet(set_id, test_set, stamp)


def load_set(conn: sqlite3.Connection, set_id: str) -> StoredSet | None:
    row = conn.execute("SELECT body, updated_at FROM experiment_sets WHERE id = ?", (set_id,)).fetchone()
    return None if row is None else StoredSet(set_id, set_from_dict(json.loads(row[0])), row[1])


def list_sets(conn: sqlite3.Connection) -> list[tuple[str, str, str]]:
    """(id, name, updated_at), the most recently changed first."""
    return [tuple(r) for r in conn.execute("SELECT id, name, updated_at FROM experiment_sets ORDER BY updated_at DESC")]


def delete_set(conn: sqlite3.Connection, set_id: str) -> None:
    with transaction(conn):
        conn.execute("DELETE FROM experiment_sets WHERE id = ?", (set_id,))


# --- runs --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunInfo:
    id: str
    name: str
    set_name: str
    session_id: str
    status: str
    cells: int  # how many the run has in all
    finished: int  # how many are written
    created_at: str
    updated_at: str


def create_run(conn: sqlite3.Connection, spec: RunSpec, name: str, session_id: str, status: str = "running") -> str:
    run_id = new_id()
    stamp = now()
    with transaction(conn):
        conn.execute(
            "INSERT INTO experiment_runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (run_id, name, spec.test_set.name, session_id, status, spec.total_cells,
             json.dumps(spec_to_dict(spec), ensure_ascii=False), stamp, stamp),
        )  # fmt: skip
    return run_id


def set_status(conn: sqlite3.Connection, run_id: str, status: str) -> None:
    with transaction(conn):
        conn.execute("UPDATE experiment_runs SET status = ?, updated_at = ? WHERE id = ?", (status, now(), run_id))


def rename_run(conn: sqlite3.Connection, run_id: str, name: str) -> None:
    with transaction(conn):
        conn.execute("UPDATE experiment_runs SET name = ? WHERE id = ?", (name.strip() or "Run", run_id))


def load_spec(conn: sqlite3.Connection, run_id: str) -> RunSpec | None:
    row = conn.execute("SELECT spec FROM experiment_runs WHERE id = ?", (run_id,)).fetchone()
    return None if row is None else spec_from_dict(json.loads(row[0]))


_RUN_QUERY = """SELECT r.id, r.name, r.set_name, r.session_id, r.status, r.cells,
    (SELECT COUNT(*) FROM experiment_cells c WHERE c.run_id = r.id AND c.status != 'judging'),
    r.created_at, r.updated_at FROM experiment_runs r"""


def run_info(conn: sqlite3.Connection, run_id: str) -> RunInfo | None:
    row = conn.execute(_RUN_QUERY + " WHERE r.id = ?", (run_id,)).fetchone()
    return None if row is None else RunInfo(*row)


def list_runs(conn: sqlite3.Connection) -> list[RunInfo]:
    """The newest first."""
    return [RunInfo(*row) for row in conn.execute(_RUN_QUERY + " ORDER BY r.created_at DESC, r.id")]


def delete_run(conn: sqlite3.Connection, run_id: str) -> None:
    """The run and its cells; the calls it made stay in the run log (they happened, and were paid for)."""
    with transaction(conn):
        conn.execute("DELETE FROM experiment_cells WHERE run_id = ?", (run_id,))
        conn.execute("DELETE FROM experiment_runs WHERE id = ?", (run_id,))


# --- cells -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CellResult:
    key: CellKey
    status: str
    answer: str
    verdicts: tuple[Verdict, ...]
    body: dict[str, Any]  # the exact request body sent
    predicted_prompt_tokens: int
    prompt_tokens: int | None  # as the server reported them
    completion_tokens: int | None
    cached_tokens: int | None
    latency_s: float | None
    cost: float | None
    error: str | None = None
    notices: tuple[str, ...] = ()  # the retries that were made
    finished_at: str = field(default_factory=now)

    @property
    def finished(self) -> bool:
        return self.status != "judging"

    @property
    def sent_prompt_tokens(self) -> int:
        """Reported where the server reported them, else predicted."""
        return self.prompt_tokens if self.prompt_tokens is not None else self.predicted_prompt_tokens


def record_cell(conn: sqlite3.Connection, run_id: str, cell: CellResult) -> None:
    """Write (or overwrite: a judged cell, a retried error) one cell, at once."""
    with transaction(conn):
        conn.execute(
            "INSERT OR REPLACE INTO experiment_cells VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                run_id, cell.key.variant, cell.key.case, cell.key.repeat, cell.status, cell.answer,
                json.dumps([v.as_dict() for v in cell.verdicts], ensure_ascii=False),
                json.dumps(cell.body, ensure_ascii=False), cell.predicted_prompt_tokens, cell.prompt_tokens,
                cell.completion_tokens, cell.cached_tokens, cell.latency_s, cell.cost, cell.error,
                json.dumps(list(cell.notices), ensure_ascii=False), cell.finished_at,
            ),
        )  # fmt: skip
        conn.execute("UPDATE experiment_runs SET updated_at = ? WHERE id = ?", (now(), run_id))


def cells(conn: sqlite3.Connection, run_id: str) -> list[CellResult]:
    rows = conn.execute(
        """SELECT variant, case_id, repeat, status, answer, verdicts, body, predicted_prompt_tokens, prompt_tokens,
           completion_tokens, cached_tokens, latency_s, cost, error, notices, finished_at
           FROM experiment_cells WHERE run_id = ? ORDER BY finished_at, variant, case_id, repeat""",
        (run_id,),
    )
    return [
        CellResult(
            CellKey(r[0], r[1], r[2]),
            r[3],
            r[4],
            tuple(Verdict.from_dict(v) for v in json.loads(r[5])),
            json.loads(r[6]),
            r[7],
            r[8],
            r[9],
            r[10],
            r[11],
            r[12],
            r[13],
            tuple(json.loads(r[14])),
            r[15],
        )
        for r in rows
    ]


def finished_keys(conn: sqlite3.Connection, run_id: str) -> set[CellKey]:
    """The cells a resume must not send again (a cell awaiting its judge has its answer)."""
    rows = conn.execute("SELECT variant, case_id, repeat FROM experiment_cells WHERE run_id = ?", (run_id,))
    return {CellKey(*row) for row in rows}


def count_cells(conn: sqlite3.Connection, run_id: str) -> int:
    return conn.execute(
        "SELECT COUNT(*) FROM experiment_cells WHERE run_id = ? AND status != 'judging'", (run_id,)
    ).fetchone()[0]


def forget_errors(conn: sqlite3.Connection, run_id: str) -> int:
    """Drop the cells that ended in an error, so a resume sends them again; how many were dropped."""
    with transaction(conn):
        return conn.execute("DELETE FROM experiment_cells WHERE run_id = ? AND status = 'error'", (run_id,)).rowcount
