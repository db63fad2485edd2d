"""Compare concurrency: K variants sent at once against the same K one after another.

`python -m bench.compare_concurrency` — a local OpenAI-compatible server (tests/fake_openai.py)
answers every request after a fixed delay; the variants go through the Compare page's runner,
`lib.analysis.compare.run_concurrently` (threads calling `lib.backends.providers.stream_chat`, one shared client).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

from bench.common import median, result, seconds, synthetic_history, table
from lib.analysis.compare import PRESETS, Job, Target, plan_variant, run_concurrently
from lib.backends.providers import ProviderConfig, make_client
from lib.context.conversation import SystemPrompt
from lib.context.payload import Sampling
from lib.context.tokens import TiktokenCounter
from lib.core import models
from tests.fake_openai import Behaviour, FakeOpenAI

K = 4
DELAY_S = 0.5
REPEATS = 5
TARGET_RATIO = 1.2
REPLY = " ".join(f"word{i}" for i in range(40))


def jobs_for(base_url: str) -> list[Job]:
    """The Compare page's four presets, planned over a 40-message history."""
    config = ProviderConfig("compatible", "fake-model", base_url=base_url)
    target = Target(models.info_for("fake-model"), TiktokenCounter.for_model("fake-model"), "fake-model")
    history = synthetic_history(40)
    question = "What did we decide?"
    plans = [plan_variant(v, SystemPrompt(), history, question, target, Sampling()).plan for v in PRESETS[:K]]
    client = make_client(config)  # one client for all, as the page's cached one
    return [Job((index, 0), client, plan.body) for index, plan in enumerate(plans)]


def run(jobs: list[Job]) -> None:
    done = [e.outcome for e in run_concurrently(jobs) if e.kind == "done"]
    failed = [o.error for o in done if not o.ok]
    if len(done) != len(jobs) or failed:
        raise RuntimeError(f"a variant failed: {failed}")


def timed(action: Callable[[], None], repeats: int) -> float:
    return median(seconds(action) for _ in range(repeats))


def main(argv: list[str] | None = None) -> float:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--delay", type=float, default=DELAY_S)
    parser.add_argument("--repeats", type=int, default=REPEATS)
    args = parser.parse_args(argv)
    with FakeOpenAI() as server:
        server.behaviour = Behaviour(reply=REPLY, delay_s=args.delay)
        jobs = jobs_for(server.base_url)
        run(jobs[:1])  # warm the connection pool and the SDK
        singles = [timed(lambda job=job: run([job]), args.repeats) for job in jobs]
        one_by_one = timed(lambda: [run([job]) for job in jobs], args.repeats)
        concurrent = timed(lambda: run(jobs), args.repeats)
    slowest = max(singles)
    ratio = concurrent / slowest
    print(f"\nCompare: {K} variants, server delay {args.delay:.2f} s, median of {args.repeats}")
    rows = [(f"variant {i + 1} alone", f"{s:.3f}", f"{s / slowest:.2f}x") for i, s in enumerate(singles)]
    rows += [
        (f"{K} one after another", f"{one_by_one:.3f}", f"{one_by_one / slowest:.2f}x"),
        (f"{K} concurrently (lib.analysis.compare.run_concurrently)", f"{concurrent:.3f}", f"{ratio:.2f}x"),
    ]
    print(table(["run", "time (s)", "vs slowest single"], rows))
    print(f"target: <= {TARGET_RATIO}x the slowest single variant")
    result("compare_concurrency_ratio", ratio)
    return ratio


if __name__ == "__main__":
    main()
