"""Experiments: the built-in set measured on the embedded model, the prefix-sharing order against a
naive one, and a remote run's concurrency — all through the page's own runner.

`python -m bench.experiments [--rounds N]` — three parts, each through `lib.analysis.experiments.runner.
RunExecutor` (the code path the Experiments page starts), its cells planned by `planner.plan_cells`
(the one request builder), written to a throw-away SQLite file:

1. **The built-in set** (16 cases: four facts planted 23, 17, 11 and 5 turns back in four 24-turn
   conversations) under the page's default variants (Full history, Last 12 turns, Last 6 turns,
   No history), temperature 0, the page's 48 reply tokens, in the page's prefix order: pass rate
   per variant, prompt tokens per call (as the server reported them), the forgetting curve.
2. **Prefix order vs interleaved order**, 20 cases (five conversations x four facts) x the same 4
   variants = 80 calls on the embedded model: the same cells sent in `planner.prefix_order` (all
   cases of one conversation under one variant together, so llama.cpp reuses the history's KV
   cache) and in `planner.interleaved_order` (each case under every variant in turn, so every
   prompt differs from the one before it at its second message). The two alternate conversation
   by conversation, `--rounds` times; throughput = cells per second. Target: >= 1.5x.
3. **Remote concurrency**: 40 cells against a local OpenAI-compatible server (tests/fake_openai.py)
   that waits 0.5 s before each reply, concurrency 8: wall time against the ideal, 40 / 8 x 0.5 s
   = 2.5 s. Target: <= 1.3x.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import ROOT, median, result, table

EMBEDDED_ROUNDS = 2
REMOTE_ROUNDS = 3
REMOTE_CELLS = 40
REMOTE_DELAY_S = 0.5
REMOTE_CONCURRENCY = 8
TARGET_SPEEDUP = 1.5
TARGET_REMOTE_RATIO = 1.3


def _setup_db(path: Path | None = None) -> Path:
    """A throw-away database (the bench never writes into the user's), or `--db`: one an interrupted
    bench wrote, whose unfinished built-in run is resumed (the runner skips the finished cells)."""
    from lib.store import storage

    path = path or Path(tempfile.mkdtemp(prefix="context-lab-bench-")) / "bench.sqlite3"
    print(f"Database: {path}")
    os.environ[storage.ENV_VAR] = str(path)
    with storage.opened(path):
        pass
    return path


_CLIENTS: dict = {}


def execute(spec, cells, config, name: str, run_id: str | None = None):
    """One run as the page starts it (stored, then sent on the executor's thread, with the client the
    page keeps for the backend), or resumed as the page's Resume does (`run_id`); (cells, seconds)."""
    from lib.analysis.experiments import runner, store
    from lib.backends.providers import make_client
    from lib.store import storage

    if config not in _CLIENTS:
        _CLIENTS[config] = make_client(config)
    client = _CLIENTS[config]
    if run_id is None:
        with storage.opened() as conn:
            run_id = store.create_run(conn, spec, name, "bench")
    executor = runner.RunExecutor(run_id, spec, cells, config, "bench", client=client)
    started = time.perf_counter()
    executor.start()
    executor.join()
    elapsed = time.perf_counter() - started
    if executor.failure:
        raise RuntimeError(executor.failure)
    with storage.opened() as conn:
        written = store.cells(conn, run_id)
    errors = [c.error for c in written if c.status == "error"]
    if len(written) != len(cells) or errors:
        raise RuntimeError(f"{name}: {len(written)} of {len(cells)} cells written; errors: {errors[:3]}")
    return written, elapsed


def embedded_spec(test_set):
    from lib.analysis.experiments import planner
    from lib.context.payload import Sampling
    from lib.core.models import EMBEDDED_MODEL

    sampling = Sampling(temperature=0.0, max_tokens=48)  # the page's defaults
    return planner.RunSpec(test_set, planner.DEFAULT_VARIANTS, 1, 1, sampling, "embedded", EMBEDDED_MODEL)


def builtin_part(config, target) -> dict[str, float]:
    from lib.analysis.experiments import builtin, planner, results, store
    from lib.store import storage

    spec = embedded_spec(builtin.test_set())
    cells = planner.prefix_order(planner.plan_cells(spec, lambda _: target))
    with storage.opened() as conn:
        earlier = [r.id for r in store.list_runs(conn) if r.name == "built-in set" and r.finished < r.cells]
    if earlier:
        print(f"Resuming the built-in run {earlier[0]}: only its unfinished cells are sent")
    written, elapsed = execute(spec, cells, config, "built-in set", earlier[0] if earlier else None)
    summaries = results.summaries(spec, written)
    print(
        f"\n### 1. The built-in set: {len(spec.test_set.cases)} cases x {len(spec.variants)} variants, "
        f"temperature 0, {elapsed:.1f} s" + (" (this part, resumed)" if earlier else "")
    )
    print(
        table(
            ["variant", "pass rate", "passed / scored", "prompt tokens per call", "cached tokens (reported)"],
            [
                (
                    s.name,
                    f"{100 * (s.pass_rate or 0):.0f} %",
                    f"{s.passed} / {s.scored}",
                    f"{s.mean_prompt_tokens:,.0f}",
                    f"{s.cached_tokens:,}",
                )
                for s in summaries
            ],
        )
    )
    curve = results.forgetting_curve(spec, written)
    depths = sorted(curve["turns ago"].unique())
    rows = []
    for s in summaries:
        part = curve[curve["variant"] == s.name].set_index("turns ago")
        rows.append((s.name, *(f"{part.loc[d, 'pass rate %']:.0f} %" for d in depths)))
    print("\nForgetting curve (pass rate by how many turns ago the fact was told; 4 cases per point):")
    print(table(["variant", *(f"{d} turns ago" for d in depths)], rows))
    failing = [
        f"{spec.variants[c.key.variant].name} · {c.key.case}: {c.answer.strip()!r}"
        for c in sorted(written, key=lambda c: c.key)
        if c.status == "fail" and c.key.variant == 0
    ]
    print("Full history's failures: " + ("; ".join(failing) if failing else "none"))
    figures = {}
    for s in summaries:
        slug = s.name.lower().replace(" ", "_")
        figures[f"experiments_builtin_pass_rate_{slug}"] = s.pass_rate or 0.0
        figures[f"experiments_builtin_prompt_tokens_{slug}"] = s.mean_prompt_tokens or 0.0
    return figures


def throughput_set():
    """20 cases: the built-in set's four facts in five conversations (the fifth repeats the first's
    layout with its small talk rotated, so it is a different prompt)."""
    from lib.analysis.experiments import builtin
    from lib.analysis.experiments.cases import Case, Conversation, TestSet

    cases = []
    base = {c.id.split("-", 1)[1]: c for c in builtin.test_set().cases if c.id.startswith("A-")}
    for number in range(5):
        history = Conversation("inline", builtin.conversation(number), builtin.SYSTEM)
        for fact, case in base.items():
            cases.append(Case(f"{'ABCDE'[number]}-{fact}", case.question, history, case.checks))
    return TestSet("throughput", tuple(cases))


def order_part(config, target, rounds: int) -> float:
    """Both orders of the same 80 calls, alternating conversation by conversation (the 16 calls of one
    conversation in one order, then in the other, the next conversation starting with the other), so
    that the machine's load, which changes by the minute when it is shared, falls on both alike.
    Either order of all 80 calls is these per-conversation orders one after another: the prefix
    order's groups and the interleaved order's cases never span two conversations."""
    from lib.analysis.experiments import planner

    spec = embedded_spec(throughput_set())
    cells = planner.plan_cells(spec, lambda _: target)
    sides = {"prefix order": planner.prefix_order, "interleaved order": planner.interleaved_order}
    conversations = sorted({c.key.case.split("-", 1)[0] for c in cells})
    chunks = [[c for c in cells if c.key.case.startswith(f"{name}-")] for name in conversations]
    totals: dict[str, list[float]] = {name: [] for name in sides}
    cached: dict[str, int] = dict.fromkeys(sides, 0)
    sent: dict[str, list] = {name: [] for name in sides}
    pairs: list[float] = []  # each conversation's interleaved time / its prefix time, side by side in time
    for round_ in range(rounds):
        spent = dict.fromkeys(sides, 0.0)
        for index, chunk in enumerate(chunks):
            names = list(sides) if (round_ + index) % 2 == 0 else list(sides)[::-1]
            pair = {}
            for name in names:
                order = sides[name](chunk)
                written, elapsed = execute(spec, order, config, f"{name} {conversations[index]}")
                spent[name] += elapsed
                pair[name] = elapsed
                print(
                    f"  round {round_ + 1}, conversation {conversations[index]}, {name}: {len(order)} calls in "
                    f"{elapsed:.1f} s (load {os.getloadavg()[0]:.1f})",
                    flush=True,
                )
                if round_ == 0:
                    cached[name] += sum(c.usage.cached_tokens or 0 for c in written)
                    sent[name] += order
            pairs.append(pair["interleaved order"] / pair["prefix order"])
        for name in sides:
            totals[name].append(spent[name])
    prompt_tokens = sum(c.plan.prompt_tokens for c in cells)
    shared = {name: planner.shared_prefix_tokens(order) for name, order in sent.items()}
    prefix, naive = median(totals["prefix order"]), median(totals["interleaved order"])
    speedup = naive / prefix
    print(
        f"\n### 2. Call order on the embedded model: {len(spec.test_set.cases)} cases x {len(spec.variants)} "
        f"variants = {len(cells)} calls, {prompt_tokens:,} prompt tokens; median of {rounds}, alternating"
    )
    print(
        table(
            [
                "order",
                "wall time (s)",
                "cells / s",
                "message tokens shared with the call before",
                "cached tokens (reported)",
            ],
            [
                (
                    name,
                    f"{median(totals[name]):.1f}",
                    f"{len(cells) / median(totals[name]):.2f}",
                    f"{shared[name]:,}",
                    f"{cached[name]:,}",
                )
                for name in sides
            ],
        )
    )
    print("Each round (s): " + "; ".join(f"{n}: {', '.join(f'{t:.1f}' for t in totals[n])}" for n in sides))
    print(
        "Per conversation, interleaved time / prefix time: "
        + ", ".join(f"{p:.2f}x" for p in pairs)
        + f" (median {median(pairs):.2f}x: the two sides of a pair ran minutes apart, not a run apart)"
    )
    print(f"Throughput, prefix order / interleaved order: {speedup:.2f}x (target >= {TARGET_SPEEDUP}x)")
    return speedup


def remote_set():
    from lib.analysis.experiments.cases import Case, Check, Conversation, TestSet
    from lib.context.conversation import Message

    told = (Message("user", "My name is Ada.", id="h0"), Message("assistant", "Hi Ada!", id="h1"))
    history = Conversation("inline", told)
    cases = tuple(
        Case(f"c{i:02d}", f"Question {i}: what is my name?", history, (Check("contains", "word"),))
        for i in range(REMOTE_CELLS // 4)
    )
    return TestSet("remote", cases)


SERVER = """
import sys
from tests.fake_openai import Behaviour, FakeOpenAI
with FakeOpenAI() as server:
    server.behaviour = Behaviour(reply=" ".join(f"word{i}" for i in range(40)), delay_s=float(sys.argv[1]))
    print(server.base_url, flush=True)
    sys.stdin.read()  # until the bench closes it
"""


def remote_part(rounds: int) -> float:
    from lib.analysis.experiments import planner
    from lib.backends.providers import ProviderConfig
    from lib.context.payload import Sampling
    from lib.context.request import Target
    from lib.context.tokens import TiktokenCounter
    from lib.core import models

    target = Target(models.info_for("fake-model"), TiktokenCounter.for_model("fake-model"), "fake-model")
    spec = planner.RunSpec(
        remote_set(),
        planner.DEFAULT_VARIANTS,
        1,
        1,
        Sampling(temperature=0.0, max_tokens=48),
        "compatible",
        "fake-model",
        "",
        None,
        REMOTE_CONCURRENCY,
    )
    cells = planner.prefix_order(planner.plan_cells(spec, lambda _: target))
    timings = []
    # The server in a process of its own, as a remote one is: its work is not the runner's.
    command = [sys.executable, "-c", SERVER, str(REMOTE_DELAY_S)]
    with subprocess.Popen(command, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) as server:
        config = ProviderConfig("compatible", "fake-model", base_url=server.stdout.readline().strip())
        execute(spec, cells, config, "warm-up")  # the SDK's first use, its connection pool (as Compare's bench)
        cpu = []
        for round_ in range(rounds):
            before = time.process_time()
            _, elapsed = execute(spec, cells, config, f"remote {round_}")
            cpu.append(time.process_time() - before)
            timings.append(elapsed)
        server.stdin.close()
    ideal = len(cells) / REMOTE_CONCURRENCY * REMOTE_DELAY_S
    wall = median(timings)
    ratio = wall / ideal
    print(
        f"\n### 3. Remote: {len(cells)} cells, server delay {REMOTE_DELAY_S} s per reply, concurrency "
        f"{REMOTE_CONCURRENCY}; median of {rounds}"
    )
    print(
        table(
            ["run", "wall time (s)", "vs ideal"],
            [
                ("ideal: cells / concurrency x delay", f"{ideal:.2f}", "1.00x"),
                ("the runner (lib.analysis.experiments.runner)", f"{wall:.2f}", f"{ratio:.2f}x"),
                (
                    "one after another (cells x delay)",
                    f"{len(cells) * REMOTE_DELAY_S:.2f}",
                    f"{len(cells) * REMOTE_DELAY_S / ideal:.2f}x",
                ),
            ],
        )
    )
    print(
        f"Each round: {', '.join(f'{t:.2f} s' for t in timings)} (target <= {TARGET_REMOTE_RATIO}x the ideal); "
        f"CPU time of the runner and the SDK per round: {', '.join(f'{c:.2f} s' for c in cpu)}"
    )
    return ratio


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=EMBEDDED_ROUNDS, help="runs of each order (part 2)")
    parser.add_argument("--remote-rounds", type=int, default=REMOTE_ROUNDS)
    parser.add_argument("--parts", default="123", help="which parts to run, e.g. 13")
    parser.add_argument(
        "--threads",
        type=int,
        default=0,
        help="the embedded server's threads (default: the app's, one per core); 1 on a machine shared with "
        "other work, where llama.cpp's threads wait on each other",
    )
    parser.add_argument("--db", type=Path, help="resume the built-in run an interrupted bench left in this file")
    args = parser.parse_args(argv)
    _setup_db(args.db)
    from lib.backends.embedded import EmbeddedServer, EmbeddedTokenizer
    from lib.backends.providers import ProviderConfig
    from lib.context.request import Target
    from lib.core import models

    figures: dict[str, float] = {}
    print(f"Load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if "1" in args.parts or "2" in args.parts:
        server = EmbeddedServer(threads=args.threads).ensure_running()
        print(f"Embedded server: {server.threads} thread(s)")
        target = Target(models.MODELS[models.EMBEDDED_MODEL], EmbeddedTokenizer(), models.EMBEDDED_MODEL)
        config = ProviderConfig("embedded", models.EMBEDDED_MODEL, server.base_url, timeout_s=600)
        try:
            if "1" in args.parts:
                figures.update(builtin_part(config, target))
            if "2" in args.parts:
                figures["experiments_prefix_order_speedup"] = order_part(config, target, args.rounds)
        finally:
            server.stop()
    if "3" in args.parts:
        figures["experiments_remote_wall_vs_ideal"] = remote_part(args.remote_rounds)
    print(f"\nLoad average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}\n")
    for name, value in figures.items():
        result(name, value)


if __name__ == "__main__":
    main()
