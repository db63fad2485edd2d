"""Experiments in the app's store (lib/store/db.py: a SQLite file, or PostgreSQL shared by the replicas of a
team deployment): test sets, runs, and their cells, through SQLAlchemy Core on the tables of
lib/store/schema.py, alike on both.

A cell is written the moment its call is over, in a transaction of its own, so a refresh, a crash
or a Cancel loses at most the calls in flight; resuming a run skips the cells already here. A run's
spec (lib/analysis/experiments/planner.RunSpec) holds the backend's kind, model and URL, never a key.
Every function takes an open `sqlalchemy.Connection`; reads see what any replica has committed.

Test sets and runs belong to someone, as sessions do (lib/store/storage.py): each row has an `owner`
(ui/owner.py's string: a browser's hash, or a signed-in user), and every call a page makes (list, load,
save, rename, delete, resume) takes the caller's owner and acts on that owner's rows only: another
owner's id opens nothing (None, as for an id nobody holds), deletes nothing, and is never overwritten
(NotYours). `owner=None` names the rows nobody owns: those made before experiments had owners (and by
scripts such as bench/), which `claim_unowned` hands to the first browser of a single-user install.
A run's cells are reached through their run; the sender of a run (runner.RunExecutor) writes them once
it has claimed the run for its owner.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, Connection, ScalarSelect, Select, Table, delete, func, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from lib.analysis.experiments.cases import TestSet, set_from_dict, set_to_dict
from lib.analysis.experiments.checks import Verdict
from lib.analysis.experiments.planner import CellKey, RunSpec, spec_from_dict, spec_to_dict
from lib.context.conversation import new_id
from lib.core.errors import NotYours
from lib.core.outcome import Usage
from lib.store.db import writing
from lib.store.schema import experiment_cells as cells_table
from lib.store.schema import experiment_runs as runs_table
from lib.store.schema import experiment_sets as sets_table
from lib.store.session import now

# A run's status: running (a thread is sending its cells), done, cancelled, batch (its requests were
# exported for the Batch API; the output file is awaited). A "running" run whose thread is gone (the
# app stopped) shows as interrupted; every unfinished run can be resumed.
STATUSES = ("running", "done", "cancelled", "batch")
# A cell's status: pass, fail, error (the call failed, or a check could not be decided), answered (no
# checks), judging (answered; the judge's verdict is still to come).
CELL_STATUSES = ("pass", "fail", "error", "answered", "judging")


def _upsert(
    conn: Connection,
    table: Table,
    values: dict[str, Any],
    keep: tuple[str, ...] = (),
    only_if: ColumnElement[bool] | None = None,
) -> bool:
    """Insert the row, or overwrite its columns but the key and `keep` (only where `only_if` holds of the
    stored row): INSERT ... ON CONFLICT DO UPDATE, which SQLite and PostgreSQL both speak (atomic on both:
    two replicas writing one key leave one row). Whether a row was written."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    key = [column.name for column in table.primary_key]
    statement = dialect.insert(table).values(**values)
    changed = {name: statement.excluded[name] for name in values if name not in (*key, *keep)}
    upsert = statement.on_conflict_do_update(index_elements=key, set_=changed, where=only_if)
    # RETURNING, not rowcount: psycopg reports -1 for an INSERT ... ON CONFLICT in some transactions
    return conn.execute(upsert.returning(table.c[key[0]])).first() is not None


def _mine(table: Table, owner: str | None) -> ColumnElement[bool]:
    return table.c.owner.is_not_distinct_from(owner)  # None is "nobody's", matched as such


def claim_unowned(conn: Connection, owner: str) -> int:
    """Give every test set and run nobody owns (made before experiments had owners) to `owner`; returns
    how many. For a single-user install: its first browser keeps the experiments it had, as it keeps its
    sessions (lib/store/storage.claim_unowned)."""
    with writing(conn):
        return sum(
            conn.execute(update(table).where(table.c.owner.is_(None)).values(owner=owner)).rowcount
            for table in (sets_table, runs_table)
        )


# --- test sets ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class StoredSet:
    id: str
    test_set: TestSet
    updated_at: str


def save_set(conn: Connection, test_set: TestSet, set_id: str | None = None, owner: str | None = None) -> StoredSet:
    """Save a new set of `owner`'s, or overwrite `owner`'s set with `set_id` (its creation time kept);
    NotYours, writing nothing, if `set_id` is another owner's."""
    set_id = set_id or new_id()
    stamp = now()
    body = json.dumps(set_to_dict(test_set), ensure_ascii=False)
    row = {"id": set_id, "name": test_set.name, "body": body, "created_at": stamp, "updated_at": stamp, "owner": owner}
    with writing(conn):
        if not _upsert(conn, sets_table, row, keep=("created_at", "owner"), only_if=_mine(sets_table, owner)):
            raise NotYours("test set", set_id)
    return StoredSet(set_id, test_set, stamp)


def load_set(conn: Connection, set_id: str, owner: str | None = None) -> StoredSet | None:
    """`owner`'s set with this id; None if there is none (or it is another owner's)."""
    row = conn.execute(
        select(sets_table.c.body, sets_table.c.updated_at).where(sets_table.c.id == set_id, _mine(sets_table, owner))
    ).first()
    return None if row is None else StoredSet(set_id, set_from_dict(json.loads(row[0])), row[1])


def list_sets(conn: Connection, owner: str | None = None) -> list[tuple[str, str, str]]:
    """`owner`'s sets as (id, name, updated_at), the most recently changed first."""
    query = (
        select(sets_table.c.id, sets_table.c.name, sets_table.c.updated_at)
        .where(_mine(sets_table, owner))
        .order_by(sets_table.c.updated_at.desc(), sets_table.c.id)
    )
    return [(row[0], row[1], row[2]) for row in conn.execute(query)]


def delete_set(conn: Connection, set_id: str, owner: str | None = None) -> bool:
    """Delete `owner`'s set; whether there was one (another owner's is left alone)."""
    with writing(conn):
        gone = delete(sets_table).where(sets_table.c.id == set_id, _mine(sets_table, owner))
        return conn.execute(gone.returning(sets_table.c.id)).first() is not None


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


def create_run(
    conn: Connection, spec: RunSpec, name: str, session_id: str, status: str = "running", owner: str | None = None
) -> str:
    """A new run of `owner`'s; its id."""
    run_id = new_id()
    stamp = now()
    with writing(conn):
        conn.execute(
            insert(runs_table).values(
                id=run_id,
                name=name,
                set_name=spec.test_set.name,
                session_id=session_id,
                status=status,
                cells=spec.total_cells,
                spec=json.dumps(spec_to_dict(spec), ensure_ascii=False),
                created_at=stamp,
                updated_at=stamp,
                owner=owner,
            )
        )
    return run_id


def set_status(conn: Connection, run_id: str, status: str) -> None:
    with writing(conn):
        conn.execute(update(runs_table).where(runs_table.c.id == run_id).values(status=status, updated_at=now()))


def claim_run(conn: Connection, run_id: str, quiet_before: str, owner: str | None = None) -> bool:
    """Mark `owner`'s run running for the process that asks (a start or a resume), unless another one is
    sending it: said running and touched since `quiet_before` (a never-touched run, just created, is
    free). One statement, so of two replicas resuming the same run at once exactly one gets it. Another
    owner's run is never claimed."""
    r = runs_table.c
    free = or_(r.status != "running", r.updated_at < quiet_before, r.updated_at == r.created_at)
    with writing(conn):
        claimed = conn.execute(
            update(runs_table)
            .where(r.id == run_id, _mine(runs_table, owner), free)
            .values(status="running", updated_at=now())
        )
        return claimed.rowcount == 1


def touch_run(conn: Connection, run_id: str) -> None:
    """A running run's heartbeat: its sender is still at it (lib/analysis/experiments/runner.HEARTBEAT_S)."""
    r = runs_table.c
    with writing(conn):
        conn.execute(update(runs_table).where(r.id == run_id, r.status == "running").values(updated_at=now()))


def rename_run(conn: Connection, run_id: str, name: str, owner: str | None = None) -> bool:
    """Rename `owner`'s run; whether there was one (another owner's keeps its name)."""
    with writing(conn):
        renamed = conn.execute(
            update(runs_table)
            .where(runs_table.c.id == run_id, _mine(runs_table, owner))
            .values(name=name.strip() or "Run")
            .returning(runs_table.c.id)
        )
        return renamed.first() is not None


def load_spec(conn: Connection, run_id: str, owner: str | None = None) -> RunSpec | None:
    """What `owner`'s run sends; None if there is no such run (or it is another owner's)."""
    row = conn.execute(select(runs_table.c.spec).where(runs_table.c.id == run_id, _mine(runs_table, owner))).first()
    return None if row is None else spec_from_dict(json.loads(row[0]))


def _finished_count(run_id: ColumnElement[str] | str) -> ScalarSelect[int]:
    """How many of a run's cells are over (a cell awaiting its judge is not)."""
    return (
        select(func.count())
        .select_from(cells_table)
        .where(cells_table.c.run_id == run_id, cells_table.c.status != "judging")
        .scalar_subquery()
    )


_RUN_QUERY = select(
    runs_table.c.id,
    runs_table.c.name,
    runs_table.c.set_name,
    runs_table.c.session_id,
    runs_table.c.status,
    runs_table.c.cells,
    _finished_count(runs_table.c.id),
    runs_table.c.created_at,
    runs_table.c.updated_at,
)


def run_info(conn: Connection, run_id: str, owner: str | None = None) -> RunInfo | None:
    """`owner`'s run; None if there is none (or it is another owner's)."""
    row = conn.execute(_RUN_QUERY.where(runs_table.c.id == run_id, _mine(runs_table, owner))).first()
    return None if row is None else RunInfo(*row)


def list_runs(conn: Connection, owner: str | None = None) -> list[RunInfo]:
    """`owner`'s runs, the newest first."""
    rows = conn.execute(
        _RUN_QUERY.where(_mine(runs_table, owner)).order_by(runs_table.c.created_at.desc(), runs_table.c.id)
    )
    return [RunInfo(*row) for row in rows]


def delete_run(conn: Connection, run_id: str, owner: str | None = None) -> bool:
    """`owner`'s run and its cells; whether there was one (another owner's is left alone). The calls it
    made stay in the run log (they happened, and were paid for)."""
    with writing(conn):
        gone = delete(runs_table).where(runs_table.c.id == run_id, _mine(runs_table, owner))
        if conn.execute(gone.returning(runs_table.c.id)).first() is None:
            return False
        conn.execute(delete(cells_table).where(cells_table.c.run_id == run_id))
        return True


def _owned_run(run_id: str, owner: str | None) -> Select[tuple[str]]:
    """The run's id if it is `owner`'s (a subquery: a cell of another owner's run matches nothing)."""
    return select(runs_table.c.id).where(runs_table.c.id == run_id, _mine(runs_table, owner))


# --- cells -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CellResult:
    key: CellKey
    status: str
    answer: str
    verdicts: tuple[Verdict, ...]
    body: dict[str, Any]  # the exact request body sent
    predicted_prompt_tokens: int
    usage: Usage  # as the server reported it
    latency_s: float | None
    cost: float | None
    error: str | None = None
    notices: tuple[str, ...] = ()  # the retries that were made; a reply cut short (checks.FINISH_NOTES)
    finished_at: str = field(default_factory=now)

    @property
    def finished(self) -> bool:
        return self.status != "judging"

    @property
    def sent_prompt_tokens(self) -> int:
        """Reported where the server reported them, else predicted."""
        return self.usage.prompt_tokens if self.usage.prompt_tokens is not None else self.predicted_prompt_tokens


def _cell_row(run_id: str, cell: CellResult) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "variant": cell.key.variant,
        "case_id": cell.key.case,
        "repeat": cell.key.repeat,
        "status": cell.status,
        "answer": cell.answer,
        "verdicts": json.dumps([v.as_dict() for v in cell.verdicts], ensure_ascii=False),
        "body": json.dumps(cell.body, ensure_ascii=False),
        "predicted_prompt_tokens": cell.predicted_prompt_tokens,
        "prompt_tokens": cell.usage.prompt_tokens,
        "completion_tokens": cell.usage.completion_tokens,
        "cached_tokens": cell.usage.cached_tokens,
        "latency_s": cell.latency_s,
        "cost": cell.cost,
        "error": cell.error,
        "notices": json.dumps(list(cell.notices), ensure_ascii=False),
        "finished_at": cell.finished_at,
    }


def record_cell(conn: Connection, run_id: str, cell: CellResult) -> None:
    """Write (or overwrite: a judged cell, a retried error) one cell, at once."""
    with writing(conn):
        _upsert(conn, cells_table, _cell_row(run_id, cell))
        conn.execute(update(runs_table).where(runs_table.c.id == run_id).values(updated_at=now()))


def record_new_cell(conn: Connection, run_id: str, cell: CellResult) -> bool:
    """Write the cell only if the run has none with its key yet (an answer from a file never replaces one
    already there, finished or awaiting its judge); whether it was written. One statement: of two
    uploads of the same file at once, exactly one writes each cell."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(cells_table).values(**_cell_row(run_id, cell)).on_conflict_do_nothing()
    with writing(conn):
        written = conn.execute(statement.returning(cells_table.c.run_id)).first() is not None
        if written:
            conn.execute(update(runs_table).where(runs_table.c.id == run_id).values(updated_at=now()))
        return written


_CELL_COLUMNS = (
    "variant",
    "case_id",
    "repeat",
    "status",
    "answer",
    "verdicts",
    "body",
    "predicted_prompt_tokens",
    "prompt_tokens",
    "completion_tokens",
    "cached_tokens",
    "latency_s",
    "cost",
    "error",
    "notices",
    "finished_at",
)


def cells(conn: Connection, run_id: str, owner: str | None = None) -> list[CellResult]:
    """The cells of `owner`'s run, in the order they finished (none for another owner's run)."""
    c = cells_table.c
    rows = conn.execute(
        select(*(c[name] for name in _CELL_COLUMNS))
        .where(c.run_id.in_(_owned_run(run_id, owner)))
        .order_by(c.finished_at, c.variant, c.case_id, c.repeat)
    )
    return [
        CellResult(
            CellKey(r[0], r[1], r[2]),
            r[3],
            r[4],
            tuple(Verdict.from_dict(v) for v in json.loads(r[5])),
            json.loads(r[6]),
            r[7],
            Usage(r[8], r[9], r[10]),
            r[11],
            r[12],
            r[13],
            tuple(json.loads(r[14])),
            r[15],
        )
        for r in rows
    ]


def finished_keys(conn: Connection, run_id: str) -> set[CellKey]:
    """The cells a resume must not send again (a cell awaiting its judge has its answer)."""
    c = cells_table.c
    rows = conn.execute(select(c.variant, c.case_id, c.repeat).where(c.run_id == run_id))
    return {CellKey(*row) for row in rows}


def count_cells(conn: Connection, run_id: str) -> int:
    return conn.execute(select(_finished_count(run_id))).scalar_one()


def forget_errors(conn: Connection, run_id: str, owner: str | None = None) -> int:
    """Drop the cells of `owner`'s run that ended in an error, so a resume sends them again; how many
    were dropped (none of another owner's run)."""
    c = cells_table.c
    with writing(conn):
        # RETURNING, not rowcount: what the database says it removed, on either dialect
        dropped = conn.execute(
            delete(cells_table).where(c.run_id.in_(_owned_run(run_id, owner)), c.status == "error").returning(c.case_id)
        )
        return len(dropped.all())
