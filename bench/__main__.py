"""`python -m bench` (`make bench`): every benchmark, each in its own process, then a summary.

Each benchmark measures the product and its baseline in the same run and ends with a line
`name: value`; the summary repeats those lines so runs can be compared. The machine is printed
first: on a shared machine the ratios matter more than the absolute times.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

from bench.common import ROOT, machine_table

BENCHMARKS = (
    "chat_rerun",
    "incremental_count",
    "compare_concurrency",
    "embedded_overhead",
    "memory",
    "prefix_cache",
    "attribution",
    "click_to_meter",
    "experiments",
    "replicas",
    "demo_conversations",
    "page_load",
)
# Lines from the libraries underneath that say nothing about the results.
NOISE = ("missing ScriptRunContext", "n_ctx_seq", "No runtime found", "to view a Streamlit app", "streamlit run")


def run(name: str) -> tuple[str | None, float, float]:
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", f"bench.{name}"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    last = None
    for line in process.stdout:
        if any(noise in line for noise in NOISE):
            continue
        print(line, end="", flush=True)
        last = line.strip()
    ok = process.wait() == 0
    return (last if ok else None), time.perf_counter() - started, os.getloadavg()[0]


def main() -> int:
    names = sys.argv[1:] or list(BENCHMARKS)
    print("Machine\n" + machine_table(), flush=True)
    results = {}
    for name in names:
        print(f"\n## {name}", flush=True)
        results[name] = run(name)
    print("\nSummary (seconds taken, 1-minute load average at the end: other work on the machine)")
    for name, (last, elapsed, load) in results.items():
        print(f"{last or f'{name}: FAILED'}  ({elapsed:.0f} s, load {load:.1f})")
    return 0 if all(last for last, _, _ in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
