"""The judge's agreement with the deterministic checks, measured: SmolLM2-135M grading the built-in set.

`python -m bench.experiments_judge [--variants full,none]` — every case of the built-in set gets a
rubric beside its `icontains` check ("The answer states that … is <fact>."); the set runs under the
chosen variants on the embedded model through the product's runner, and the embedded model judges
each answer with its output forced into the verdict's JSON shape (llama.cpp's grammar). The figure
is how often the judge's verdict equals the check's, over the cells that have both, and how many
verdicts failed to parse (the forced shape should make that zero).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from dataclasses import replace

from bench.common import result, table
from lib import models, storage
from lib.compare import Variant
from lib.embedded import EmbeddedServer, EmbeddedTokenizer
from lib.experiments import builtin, planner, results, runner, store
from lib.experiments.cases import Check
from lib.experiments.judge import JudgeSpec
from lib.experiments.planner import RunSpec
from lib.payload import Sampling
from lib.providers import ProviderConfig
from lib.request import Target
from lib.strategies import Strategy

VARIANTS = {
    "full": Variant("Full history", Strategy("full")),
    "last6": Variant("Last 6 turns", Strategy("last_turns", last_turns=6)),
    "none": Variant("No history", Strategy("none")),
}
WHAT = {"name": "the user's name", "city": "the user's home town", "number": "the user's locker number",
        "preference": "the user's preferred seat"}  # fmt: skip


def judged_set():
    test_set = builtin.test_set()
    cases = []
    for case in test_set.cases:
        fact = case.id.split("-", 1)[1]
        expected = case.checks[0].value
        rubric = Check("llm-rubric", f"The answer states that {WHAT[fact]} is {expected}.")
        cases.append(replace(case, checks=(*case.checks, rubric)))
    return replace(test_set, cases=tuple(cases))


def main(argv: list[str] | None = None) -> float:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--variants", default="full,none")
    args = parser.parse_args(argv)
    os.environ[storage.ENV_VAR] = str(tempfile.mkdtemp(prefix="bench-experiments-") + "/bench.db")
    variants = tuple(VARIANTS[name] for name in args.variants.split(","))
    server = EmbeddedServer().ensure_running()
    try:
        target = Target(models.MODELS[models.EMBEDDED_MODEL], EmbeddedTokenizer(), models.EMBEDDED_MODEL)
        config = ProviderConfig("embedded", models.EMBEDDED_MODEL, base_url=server.base_url)
        judge_spec = JudgeSpec("embedded", models.EMBEDDED_MODEL)
        spec = RunSpec(judged_set(), variants, 1, 1, Sampling(0.0, 24), "embedded", models.EMBEDDED_MODEL,
                       judge=judge_spec)  # fmt: skip
        cells = planner.prefix_order(planner.plan_cells(spec, lambda _: target))
        with storage.opened() as conn:
            run_id = store.create_run(conn, spec, "bench", "bench")
        judge = runner.JudgeSetup(judge_spec, target, config)
        started = time.perf_counter()
        runner.RunExecutor(run_id, spec, cells, config, "bench", judge, log_calls=False).start().join()
        elapsed = time.perf_counter() - started
        with storage.opened() as conn:
            written = store.cells(conn, run_id)
    finally:
        server.stop()
    measured = results.judge_agreement(spec, written)
    unparsed = sum(1 for c in written for v in c.verdicts if v.judge and v.passed is None)
    rows = []
    for index, variant in enumerate(variants):
        mine = [c for c in written if c.key.variant == index]
        checks = sum(bool(c.verdicts and c.verdicts[0].passed) for c in mine)
        judged = sum(bool(len(c.verdicts) > 1 and c.verdicts[1].passed) for c in mine)
        rows.append((variant.name, len(mine), checks, judged))
    print(f"\nThe embedded judge on the built-in set ({len(written)} cells, {elapsed:.0f} s)")
    print(table(["variant", "cells", "passed by the check", "passed by the judge"], rows))
    print(measured.sentence())
    print(f"verdicts that did not parse: {unparsed}")
    rate = measured.rate or 0.0
    result("experiments_judge_agreement", rate)
    return rate


if __name__ == "__main__":
    main()
