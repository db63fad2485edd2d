"""Experiments on a remote API: a 40-cell run at concurrency 8 against its ideal wall time.

`python -m bench.experiments_remote [--delay S] [--concurrency N]` — a local OpenAI-compatible server
(tests/fake_openai.py) answers every request after a fixed delay; the run goes through the product's
runner (`lib.experiments.runner.RunExecutor`: threads sharing one SDK client, each finished cell
written to SQLite and to the run log at once). The ideal is cells / concurrency x delay: what a
perfect scheduler with no cost per cell would take. For scale, the same calls are also made by bare
threads calling the SDK (no scoring, no database), alternated with the runner's runs: on a loaded
machine both pay the same CPU contention.
"""

from __future__ import annotations

import argparse
import math
import os
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

from bench.common import median, result, table
from lib import models, storage
from lib.compare import Variant
from lib.experiments import builtin, planner, runner, store
from lib.experiments.cases import TestSet
from lib.experiments.planner import RunSpec
from lib.payload import Sampling
from lib.providers import CallOutcome, ProviderConfig, make_client, stream_chat
from lib.request import Target
from lib.strategies import Strategy
from lib.tokens import TiktokenCounter
from tests.fake_openai import Behaviour, FakeOpenAI

CELLS = 40
TARGET_RATIO = 1.3
VARIANTS = (
    Variant("Full history", Strategy("full")),
    Variant("Last 12 turns", Strategy("last_turns", last_turns=12)),
    Variant("Last 6 turns", Strategy("last_turns", last_turns=6)),
    Variant("No history", Strategy("none")),
)


def planned(base_url: str, concurrency: int) -> tuple[RunSpec, list[planner.PlannedCell]]:
    cases = builtin.test_set(conversations=3).cases[: CELLS // len(VARIANTS)]
    spec = RunSpec(TestSet("bench", cases), VARIANTS, 1, 1, Sampling(0.0, 16), "compatible", "fake-model",
                   base_url, concurrency=concurrency)  # fmt: skip
    target = Target(models.info_for("fake-model"), TiktokenCounter("o200k_base", False), "fake-model")
    return spec, planner.prefix_order(planner.plan_cells(spec, lambda _: target))


def bare_run(base_url: str, concurrency: int) -> float:
    """The same bodies sent by bare threads through the SDK: nothing scored, nothing written."""
    _, cells = planned(base_url, concurrency)
    client = make_client(ProviderConfig("compatible", "fake-model", base_url=base_url))

    def send(body: dict) -> None:
        outcome = CallOutcome()
        for _ in stream_chat(client, body, outcome):
            pass
        if not outcome.ok:
            raise RuntimeError(outcome.error)

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        list(pool.map(send, [c.plan.body for c in cells]))
    return time.perf_counter() - started


def one_run(base_url: str, concurrency: int) -> float:
    spec, cells = planned(base_url, concurrency)
    with storage.opened() as conn:
        run_id = store.create_run(conn, spec, "bench", "bench")
    config = ProviderConfig("compatible", "fake-model", base_url=base_url)
    client = make_client(config)  # the page shares its cached client, made before the click
    started = time.perf_counter()
    runner.RunExecutor(run_id, spec, cells, config, "bench", client=client).start().join()
    elapsed = time.perf_counter() - started
    with storage.opened() as conn:
        written = store.cells(conn, run_id)
        logged = len(storage.calls(conn))
    if len(written) != CELLS or any(c.status == "error" for c in written) or logged % CELLS:
        raise RuntimeError("the run failed")
    return elapsed


def main(argv: list[str] | None = None) -> float:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--delay", type=float, default=0.5)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    os.environ[storage.ENV_VAR] = str(tempfile.mkdtemp(prefix="bench-experiments-") + "/bench.db")
    with FakeOpenAI() as server:
        server.behaviour = Behaviour(reply="Your name is Marisol.", delay_s=args.delay)
        one_run(server.base_url, args.concurrency)  # warm the SDK and the connection pool
        bare_run(server.base_url, args.concurrency)
        times, bare = [], []
        for _ in range(args.repeats):
            times.append(one_run(server.base_url, args.concurrency))
            bare.append(bare_run(server.base_url, args.concurrency))
    ideal = math.ceil(CELLS / args.concurrency) * args.delay
    wall = median(times)
    ratio = wall / ideal
    print(f"\nExperiments, remote: {CELLS} cells, server delay {args.delay:.2f} s, concurrency {args.concurrency}, "
          f"median of {args.repeats}")  # fmt: skip
    rows = [
        ("ideal (cells / concurrency x delay)", f"{ideal:.2f}", "1.00x"),
        ("bare threads calling the SDK (scale)", f"{median(bare):.2f}", f"{median(bare) / ideal:.2f}x"),
        ("the runner (scored, each cell written)", f"{wall:.2f}", f"{ratio:.2f}x"),
    ]
    print(table(["run", "time (s)", "vs ideal"], rows))
    print(f"target: <= {TARGET_RATIO}x the ideal")
    result("experiments_remote_ratio", ratio)
    return ratio


if __name__ == "__main__":
    main()
