"""Several replicas on one store: PostgreSQL against SQLite, through the storage layer the app uses.

    python -m bench.replicas [--store sqlite|postgresql|both] [--seconds 60]

(a) Single operations, both stores in the same run, interleaved (the order alternates every round; a
    warm-up round is not counted):
    save and load of a 1,000-message session, and reading a 200-row run log (what the Run log page
    reads). Each operation opens its connection as the app does (`storage.opened`), so the stores
    are compared as the app pays for them (a pooled connection, or today's fresh sqlite3 one).
    Reported as medians and as the ratio PostgreSQL / SQLite.
(b) 20 sessions written at once for --seconds by 20 threads in two processes: two replicas, each
    with its own engine (connections, pool). Every thread saves its own session compare-and-set,
    as a tab does: it keeps the version it last saved, appends a message, saves; refused as stale,
    it reloads and tries again. Every 5th save it writes once to a session of the other replica
    (fresh read, one attempt): a second writer racing the owner. Then the final state is read:
    - lost writes: a save reported OK whose message is not in the final session (must be 0);
    - cross-session writes: a message in a session it was not written to (must be 0);
    - duplicated writes: a message stored twice (must be 0);
    and p50/p95 save latency (every attempt, refused ones too).

Stores: SQLite is a file in a temp dir (WAL, as the app opens it); PostgreSQL a throw-away cluster
from Debian's `postgresql` package (tests/postgres.py running_postgres(): loopback, fsync off).
Both go through lib/store/storage.py, the layer the app uses (SQLAlchemy Core, one engine per
process and store).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from types import ModuleType

from bench.common import ROOT, machine_table, median, seconds, synthetic_history
from lib.context.conversation import Message
from lib.store.session import Session

OWNER = "user:bench@example.com"
SESSION_SIZE = 1_000
RUN_LOG_ROWS = 200
WRITERS = 20
REPLICAS = 2
RACE_EVERY = 5  # every 5th save of a thread goes to a session of the other replica


@dataclass(frozen=True)
class Layer:
    """The storage functions (save_session, load_session, record_call, calls, StaleSession) and how
    an operation opens its connection to `where` (a SQLite path or a URL)."""

    name: str
    api: ModuleType
    opened: Callable[[str], AbstractContextManager]
    migrates_with_alembic: bool


def layer(name: str = "app") -> Layer:
    from lib.store import storage

    return Layer("app: lib/store/storage.py", storage, storage.opened, True)


def prepare(used: Layer, where: str) -> None:
    """The store migrated to the newest schema, as a replica finds it."""
    if used.migrates_with_alembic:
        from lib.store import db

        db.upgrade(db.store_url(where))
    with used.opened(where):
        pass  # today's sqlite3 storage migrates as it opens


def call_record(session_id: str, index: int):
    from lib.core.outcome import Usage
    from lib.store.storage import CallRecord

    return CallRecord(
        session_id,
        "chat" if index % 3 else "System prompt + full history",
        "embedded",
        "SmolLM2-135M-Instruct",
        index + 2,
        40 + index,
        True,
        Usage(41 + index, 64),
        900 + 10 * index,
        1.2,
        0.3,
        None,
        "ok",
        owner=OWNER,
    )


# --- (a) single operations -------------------------------------------------------------------------


def single_operations(used: Layer, stores: dict[str, str], rounds: int) -> dict[str, dict[str, float]]:
    """Median seconds of each operation on each store: {store: {operation: s}}."""
    api = used.api
    current: dict[str, Session] = {}
    for name, where in stores.items():
        session = Session("bench-1000", title="1,000 messages", messages=tuple(synthetic_history(SESSION_SIZE)))
        with used.opened(where) as conn:
            current[name] = api.save_session(conn, session, OWNER)
            for index in range(RUN_LOG_ROWS):
                api.record_call(conn, call_record(session.id, index))
    times: dict[str, dict[str, list[float]]] = {name: {"save": [], "load": [], "run log": []} for name in stores}
    order = list(stores)
    for round_ in range(-1, rounds):  # round -1 warms caches and pools up, and is not counted
        for name in order if round_ % 2 == 0 else order[::-1]:
            where = stores[name]

            def save(name=name, where=where) -> None:
                with used.opened(where) as conn:
                    current[name] = api.save_session(conn, current[name], OWNER)

            def load(name=name, where=where) -> None:
                with used.opened(where) as conn:
                    loaded = api.load_session(conn, current[name].id, OWNER)
                assert loaded is not None and len(loaded.messages) == SESSION_SIZE

            def run_log(where=where) -> None:
                with used.opened(where) as conn:
                    assert len(api.calls(conn)) == RUN_LOG_ROWS

            for operation, action in (("save", save), ("load", load), ("run log", run_log)):
                taken = seconds(action)
                if round_ >= 0:
                    times[name][operation].append(taken)
    return {name: {op: median(values) for op, values in ops.items()} for name, ops in times.items()}


# --- (b) 20 writers on two replicas ----------------------------------------------------------------


def session_id(index: int) -> str:
    return f"bench-writer-{index:02d}"


def neighbour(index: int) -> int:
    """The session a writer races: one written by a thread of the other replica."""
    return (index + WRITERS // REPLICAS) % WRITERS


def _writer(used: Layer, where: str, index: int, deadline: float, think_s: float, out: dict) -> None:
    api = used.api
    mine, other = session_id(index), session_id(neighbour(index))
    with used.opened(where) as conn:
        held = api.load_session(conn, mine, OWNER)  # this thread's "tab"
    count = 0
    while time.monotonic() < deadline:
        count += 1
        racing = count % RACE_EVERY == 0
        target = other if racing else mine
        tag = f"{target}|w{index:02d}|{count}"
        while True:
            if racing:
                with used.opened(where) as conn:
                    base = api.load_session(conn, target, OWNER)
            else:
                base = held
            attempt = replace(base, messages=(*base.messages, Message("user", tag)))
            started = time.perf_counter()
            try:
                with used.opened(where) as conn:
                    saved = api.save_session(conn, attempt, OWNER)
            except api.StaleSession:
                out["latencies"].append(time.perf_counter() - started)
                out["refused"] += 1
                if racing:
                    break  # a racer tries once; refused is reported, never applied
                with used.opened(where) as conn:
                    held = api.load_session(conn, mine, OWNER)  # reload, then apply the message again
                continue
            except Exception as problem:  # counted and shown: a failed save is not a lost one
                out["latencies"].append(time.perf_counter() - started)
                out["errors"].append(f"{type(problem).__name__}: {str(problem)[:120]}")
                break
            out["latencies"].append(time.perf_counter() - started)
            out["ok"].append([target, tag])
            if not racing:
                held = saved
            break
        if think_s:
            time.sleep(think_s)


def worker(spec: dict) -> dict:
    """One replica: its threads, its engine; waits for the common start, writes, reports as JSON."""
    used = layer(spec["layer"])
    outs = [{"ok": [], "refused": 0, "errors": [], "latencies": []} for _ in spec["writers"]]
    time.sleep(max(0.0, spec["start_at"] - time.time()))  # both replicas start together
    deadline = time.monotonic() + spec["seconds"]
    threads = [
        threading.Thread(target=_writer, args=(used, spec["where"], index, deadline, spec["think_s"], out))
        for index, out in zip(spec["writers"], outs, strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    merged: dict = {"ok": [], "refused": 0, "errors": [], "latencies": []}
    for out in outs:
        for key in ("ok", "errors", "latencies"):
            merged[key] += out[key]
        merged["refused"] += out["refused"]
    return merged


@dataclass(frozen=True)
class Concurrency:
    saves_ok: int
    refused: int
    errors: list[str]
    lost: int
    cross: int
    duplicated: int
    p50_s: float
    p95_s: float
    max_s: float
    seconds: float
    final_messages: int


def concurrent_writers(used: Layer, where: str, layer_name: str, duration_s: float, think_s: float) -> Concurrency:
    api = used.api
    with used.opened(where) as conn:
        for index in range(WRITERS):
            api.save_session(conn, Session(session_id(index), title=f"Writer {index}"), OWNER)
    per_replica = WRITERS // REPLICAS
    start_at = time.time() + 5.0  # time for both processes to import and open their engines
    processes = []
    for replica in range(REPLICAS):
        writers = list(range(replica * per_replica, (replica + 1) * per_replica))
        spec = {
            "layer": layer_name,
            "where": where,
            "seconds": duration_s,
            "think_s": think_s,
            "start_at": start_at,
            "writers": writers,
        }
        command = [sys.executable, "-m", "bench.replicas", "--worker", json.dumps(spec)]
        processes.append(subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True))
    results = []
    for process in processes:
        output, _ = process.communicate(timeout=duration_s + 300)
        if process.returncode != 0:
            raise RuntimeError(f"a replica failed (exit {process.returncode})")
        results.append(json.loads(output.strip().splitlines()[-1]))
    final: dict[str, list[str]] = {}
    with used.opened(where) as conn:
        for index in range(WRITERS):
            stored = api.load_session(conn, session_id(index), OWNER)
            final[session_id(index)] = [m.content for m in stored.messages]
    ok = [tuple(pair) for result in results for pair in result["ok"]]
    stored_tags = {sid: Counter(tags) for sid, tags in final.items()}
    lost = sum(1 for target, tag in ok if stored_tags[target][tag] == 0)
    cross = sum(1 for sid, tags in final.items() for tag in tags if tag.split("|", 1)[0] != sid)
    duplicated = sum(n - 1 for tags in stored_tags.values() for n in tags.values() if n > 1)
    latencies = sorted(value for result in results for value in result["latencies"])
    return Concurrency(
        saves_ok=len(ok),
        refused=sum(r["refused"] for r in results),
        errors=[e for r in results for e in r["errors"]],
        lost=lost,
        cross=cross,
        duplicated=duplicated,
        p50_s=statistics.median(latencies),
        p95_s=statistics.quantiles(latencies, n=20)[-1],
        max_s=latencies[-1],
        seconds=duration_s,
        final_messages=sum(len(tags) for tags in final.values()),
    )


# --- the run ---------------------------------------------------------------------------------------


@contextmanager
def stores_for(names: list[str]) -> Iterator[dict[str, str]]:
    """Each store asked for, empty: {name: CONTEXT_LAB_DB value}."""
    with ExitStack() as stack:
        found = {}
        for name in names:
            if name == "sqlite":
                folder = stack.enter_context(tempfile.TemporaryDirectory(prefix="context-lab-bench-"))
                found[name] = str(Path(folder) / "bench.db")
            else:
                from tests.postgres import running_postgres

                found[name] = stack.enter_context(running_postgres())
        yield found


def _ms(value: float) -> str:
    return f"{value * 1000:.1f} ms"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--store", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--seconds", type=float, default=60.0, help="how long the 20 writers write (b)")
    parser.add_argument("--think", type=float, default=0.05, help="pause of a writer between saves, s (b)")
    parser.add_argument("--rounds", type=int, default=15, help="rounds of the single operations (a)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker))))
        return 0
    names = ["sqlite", "postgresql"] if args.store == "both" else [args.store]
    used = layer()
    print("Machine\n" + machine_table())
    print(f"Load before: {' '.join(f'{x:.2f}' for x in os.getloadavg())} (1, 5, 15 min; 2 cores shared)")
    print(f"Layer: {used.name}; stores: {', '.join(names)}\n")
    with stores_for(names) as stores:
        for where in stores.values():
            prepare(used, where)
        ops = single_operations(used, stores, args.rounds)
        print(f"(a) Single operations, median of {args.rounds} interleaved rounds after a warm-up round,")
        print("    each opening its connection as the app does")
        header = "| Operation | " + " | ".join(names) + (" | PostgreSQL / SQLite |" if len(names) == 2 else " |")
        print(header + "\n|" + "---|" * (header.count("|") - 1))
        labels = {
            "save": f"save a {SESSION_SIZE:,}-message session (compare-and-set)",
            "load": f"load a {SESSION_SIZE:,}-message session",
            "run log": f"read a {RUN_LOG_ROWS}-row run log",
        }
        for op, label in labels.items():
            cells = [_ms(ops[name][op]) for name in names]
            ratio = f" | {ops['postgresql'][op] / ops['sqlite'][op]:.2f}×" if len(names) == 2 else ""
            print(f"| {label} | " + " | ".join(cells) + ratio + " |")
        print(
            f"\n(b) {WRITERS} sessions, {REPLICAS} replicas (processes) × {WRITERS // REPLICAS} threads, "
            f"{args.seconds:.0f} s, {args.think * 1000:.0f} ms between saves, every {RACE_EVERY}th save races "
            "the other replica's writer"
        )
        verdicts = []
        for name, where in stores.items():
            result = concurrent_writers(used, where, "app", args.seconds, args.think)
            clean = result.lost == 0 and result.cross == 0 and result.duplicated == 0 and not result.errors
            verdicts.append(clean)
            print(
                f"- {name}: {result.saves_ok:,} saves OK ({result.saves_ok / result.seconds:.0f}/s), "
                f"{result.refused:,} refused as stale (reported, not applied), {len(result.errors)} failed; "
                f"lost {result.lost}, cross-session {result.cross}, duplicated {result.duplicated}; "
                f"save latency p50 {_ms(result.p50_s)}, p95 {_ms(result.p95_s)}, max {_ms(result.max_s)}; "
                f"{result.final_messages:,} messages stored — {'OK' if clean else 'FAILED'}"
            )
            for error in sorted(set(result.errors))[:5]:
                print(f"    {error}")
    print(f"\nLoad after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    ratios = ", ".join(f"{op} {ops['postgresql'][op] / ops['sqlite'][op]:.2f}×" for op in labels if len(names) == 2)
    print(
        f"replicas: {'no lost or cross-session writes' if all(verdicts) else 'WRITES LOST'}"
        + (f"; PostgreSQL/SQLite {ratios}" if ratios else "")
    )
    return 0 if all(verdicts) else 1


if __name__ == "__main__":
    sys.exit(main())
