"""How the suite runs its files (tests/conftest.py): browser tests first and short files last, and a file
that leaves a socket open fails in its own teardown, whichever file runs after it."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_this_run_has_the_browser_files_first_then_the_slow_ones_then_the_rest(request):
    items = request.session.items
    files = [str(item.path) for item in items]
    # A file is as slow as its slowest test (test_embedded.py has quick ones too): it is handed out whole.
    slow_files = {str(item.path) for item in items if item.get_closest_marker("slow")}
    ranks = [0 if "/tests/e2e/" in path else 1 if path in slow_files else 2 for path in files]
    assert ranks == sorted(ranks)
    # Each file's tests together: pytest-xdist (--dist loadfile) hands out a file as one unit.
    starts = [i for i in range(len(files)) if i == 0 or files[i] != files[i - 1]]
    assert len(starts) == len(set(files))


LEAKS = """
import socket

def test_leaves_a_socket_in_a_cycle():
    holder = {"socket": socket.socket()}
    holder["self"] = holder  # unreachable after the test, but only the cycle collector frees it
"""

CLEAN = """
def test_after_it():
    pass
"""


def test_a_file_that_leaves_a_socket_open_fails_in_its_own_teardown(tmp_path):
    (tmp_path / "test_a_leaks.py").write_text(LEAKS)
    (tmp_path / "test_b_clean.py").write_text(CLEAN)
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "tests.conftest", "-p", "no:cacheprovider", "-W", "error", "-q"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    report = run.stdout
    assert run.returncode == 1, report
    assert "ERROR at teardown of test_leaves_a_socket_in_a_cycle" in report, report
    assert "unclosed <socket.socket" in report
    assert "2 passed, 1 error" in report  # the next file's test is not the one blamed
