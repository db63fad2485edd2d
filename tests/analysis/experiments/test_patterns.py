"""Test sets' regexes run bounded: in a worker process, RE2 where the pattern allows it (linear time),
Python's `re` under a time limit that kills the worker otherwise; the app's threads keep running meanwhile."""

from __future__ import annotations

import threading
import time

import pytest

from lib.analysis.experiments import patterns

# Catastrophic for a backtracking engine: each extra letter doubles the work.
NESTED = r"^(.+)+QQQ$"
# The same, with a lookahead RE2 refuses: it can only run on `re`, and never ends on TRIGGER.
NESTED_RE_ONLY = r"(?=.)^(.+)+QQQ$"
TRIGGER = "a" * 40


@pytest.fixture(autouse=True)
def _no_idle_workers():
    yield
    patterns.shutdown()


def test_a_pattern_re2_reads_gets_a_real_verdict_however_it_nests():
    """`^(.+)+QQQ$` froze the app under `re`; RE2 decides it (no match) on 100,000 letters."""
    assert patterns.search(NESTED, "a" * 100_000) is None
    assert patterns.search(NESTED, "aaaQQQ") == "aaaQQQ"


def test_a_pattern_only_re_reads_is_stopped_at_the_limit_and_named():
    started = time.monotonic()
    with pytest.raises(patterns.RegexProblem, match=r"ran longer than 0\.5 s on this answer and was stopped"):
        patterns.search(NESTED_RE_ONLY, TRIGGER, timeout_s=0.5)
    assert time.monotonic() - started < 30  # stopped, not run to its end (which is never)
    # the killed worker is not reused: the next search gets a live one
    assert patterns.search(NESTED_RE_ONLY, "abQQQ") == "abQQQ"


def test_the_apps_threads_run_while_a_regex_does():
    """The search waits on a pipe, not holding the GIL: another thread keeps ticking (under `re` in the
    app's process it would not tick at all until the match ended)."""
    ticks = 0
    stop = threading.Event()

    def tick() -> None:
        nonlocal ticks
        while not stop.is_set():
            ticks += 1
            time.sleep(0.01)

    patterns.search("warm", "up")  # a worker started and idle: the wait below is the match alone
    ticker = threading.Thread(target=tick)
    ticker.start()
    try:
        with pytest.raises(patterns.RegexProblem):
            patterns.search(NESTED_RE_ONLY, TRIGGER, timeout_s=1.0)
    finally:
        stop.set()
        ticker.join()
    assert ticks >= 10


def test_lookaround_and_backreferences_still_work_on_re():
    assert patterns.search(r"(\w)\1", "hello") == "ll"
    assert patterns.search(r"^(?!.*sorry).*$", "Porto") == "Porto"
    assert patterns.search(r"^(?!.*sorry).*$", "sorry, Porto") is None
    assert patterns.search(r"Porto\Z", "in Porto") == "Porto"


def test_case_and_long_answers():
    assert patterns.search("ADA", "I am Ada.", ignore_case=True) == "Ada"
    assert patterns.search("ADA", "I am Ada.") is None
    assert patterns.search(r"needle\d+", "hay " * 250_000 + "needle42") == "needle42"  # 1 MB
    assert patterns.search(r"(?i)Ü", "zürich") == "ü"  # text beyond ASCII survives the trip
    long_match = patterns.search(r"a+", "a" * 5000)
    assert long_match is not None and len(long_match) == 200  # what the verdict quotes is sent back, no more


def test_a_worker_that_dies_is_named_and_replaced():
    patterns.search("x", "x")
    (worker,) = patterns._IDLE
    worker.proc.kill()
    worker.proc.wait()
    with pytest.raises(patterns.RegexProblem, match="the regex worker stopped"):
        patterns.search("x", "x")
    assert patterns.search("x", "x") == "x"


def test_workers_are_reused_and_bounded():
    for _ in range(3):
        patterns.search("x", "x")
    assert len(patterns._IDLE) == 1  # one at a time: one worker, kept
    results: list[str | None] = []
    threads = [threading.Thread(target=lambda: results.append(patterns.search("x", "x"))) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == ["x"] * 8 and len(patterns._IDLE) <= patterns.MAX_IDLE


@pytest.mark.parametrize(
    ("pattern", "problem"),
    [("(", "missing ), unterminated subpattern"), ("a{2,1}", "min repeat greater than max repeat")],
)
def test_a_pattern_neither_engine_reads_is_named(pattern, problem):
    assert problem in (patterns.compile_problem(pattern) or "")


@pytest.mark.parametrize("pattern", [NESTED, NESTED_RE_ONLY, r"(?<name>Ada)", r"\p{L}+", r"a{1001}", r"(\w)\1"])
def test_patterns_either_engine_reads_are_accepted(pattern):
    assert patterns.compile_problem(pattern) is None
