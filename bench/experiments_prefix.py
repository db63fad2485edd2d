"""Experiments on the embedded model: the prefix-sharing order against a naive interleaved one.

`python -m bench.experiments_prefix [--rounds N] [--max-tokens N]` — a 20-case x 4-variant run of the
built-in set (five 24-turn conversations x four facts; Full history, Last 12 turns, Last 6 turns, No
history) through the product's runner (`lib.experiments.runner.RunExecutor`, the `openai` SDK over
loopback to the embedded llama.cpp server), the same 80 calls in two orders, alternated:

- prefix: `planner.prefix_order` — all cases of one conversation under one variant together, so
  llama.cpp's KV cache still holds the history when the next prompt arrives;
- interleaved: `planner.interleaved_order` — for each case, every variant in turn, so each prompt
  follows one with another history.

The replies are short (max_tokens 8 by default): the order changes how much prompt is evaluated,
not how much is generated. The server's usage reports the prompt tokens it took from its cache.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

from bench.common import median, result, table
from lib import models, storage
from lib.compare import Variant
from lib.embedded import EmbeddedServer, EmbeddedTokenizer
from lib.experiments import builtin, planner, runner, store
from lib.experiments.planner import RunSpec
from lib.payload import Sampling
from lib.providers import ProviderConfig
from lib.request import Target
from lib.strategies import Strategy

TARGET_RATIO = 1.5
VARIANTS = (
    Variant("Full history", Strategy("full")),
    Variant("Last 12 turns", Strategy("last_turns", last_turns=12)),
    Variant("Last 6 turns", Strategy("last_turns", last_turns=6)),
    Variant("No history", Strategy("none")),
)


def run_once(spec: RunSpec, cells: list, config: ProviderConfig) -> tuple[float, list[store.CellResult]]:
    with storage.opened() as conn:
        run_id = store.create_run(conn, spec, "bench", "bench")
    started = time.perf_counter()
    executor = runner.RunExecutor(run_id, spec, cells, config, "bench", log_calls=False).start()
    executor.join()
    elapsed = time.perf_counter() - started
    with storage.opened() as conn:
        written = store.cells(conn, run_id)
    failed = [c.error for c in written if c.status == "error"]
    if len(written) != len(cells) or failed:
        raise RuntimeError(f"the run failed: {failed[:3]}")
    return elapsed, written


def main(argv: list[str] | None = None) -> float:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--max-tokens", type=int, default=8)
    args = parser.parse_args(argv)
    os.environ[storage.ENV_VAR] = str(tempfile.mkdtemp(prefix="bench-experiments-") + "/bench.db")
    server = EmbeddedServer().ensure_running()
    try:
        target = Target(models.MODELS[models.EMBEDDED_MODEL], EmbeddedTokenizer(), models.EMBEDDED_MODEL)
        test_set = builtin.test_set(conversations=5)
        spec = RunSpec(test_set, VARIANTS, 1, 1, Sampling(0.0, args.max_tokens), "embedded", models.EMBEDDED_MODEL)
        cells = planner.plan_cells(spec, lambda _: target)
        orders = {"prefix": planner.prefix_order(cells), "interleaved": planner.interleaved_order(cells)}
        config = ProviderConfig("embedded", models.EMBEDDED_MODEL, base_url=server.base_url)
        run_once(spec, orders["interleaved"][:2], config)  # warm the server and the connection
        times: dict[str, list[float]] = {name: [] for name in orders}
        written: dict[str, list[store.CellResult]] = {}
        for _ in range(args.rounds):
            for name in ("interleaved", "prefix"):
                elapsed, written[name] = run_once(spec, orders[name], config)
                times[name].append(elapsed)
    finally:
        server.stop()
    prompt = sum(c.plan.prompt_tokens for c in cells)
    rows = []
    for name in ("interleaved", "prefix"):
        cached = sum(c.cached_tokens or 0 for c in written[name])
        rows.append((name, f"{median(times[name]):.2f}", f"{len(cells) / median(times[name]):.2f}", f"{prompt:,}",
                     f"{cached:,}", f"{100 * cached / prompt:.0f} %", f"{prompt - cached:,}"))  # fmt: skip
    ratio = median(times["interleaved"]) / median(times["prefix"])
    answers = {name: {c.key: c.answer for c in written[name]} for name in written}
    same = sum(answers["prefix"][key] == answers["interleaved"][key] for key in answers["prefix"])
    print(f"\nExperiments on the embedded model: {len(test_set.cases)} cases x {len(VARIANTS)} variants = {len(cells)} "
          f"calls, max_tokens {args.max_tokens}, median of {args.rounds} round(s)")  # fmt: skip
    print(table(["order", "time (s)", "calls/s", "prompt tokens", "from the KV cache", "share", "evaluated"], rows))
    print(f"same answer in both orders: {same} of {len(cells)} cells")
    print(f"target: prefix order >= {TARGET_RATIO}x the throughput of the interleaved order")
    result("experiments_prefix_speedup", ratio)
    return ratio


if __name__ == "__main__":
    main()
