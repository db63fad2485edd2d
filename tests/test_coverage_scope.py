"""The other half of tests/app/test_untraced.py: under `make test` (coverage on), a test of lib/ is traced,
and so is a thread it starts (the tracing the AppTests pause comes back after each of them)."""

import sys
import threading

import coverage


def test_a_test_of_lib_is_traced_when_coverage_runs():
    if coverage.Coverage.current() is None:  # make test-fast, or pytest without --cov: nothing to trace
        assert sys.gettrace() is None
        return
    in_thread: list[object] = []
    thread = threading.Thread(target=lambda: in_thread.append(sys.gettrace()))
    thread.start()
    thread.join()
    assert sys.gettrace() is not None and in_thread[0] is not None
