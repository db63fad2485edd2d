"""Regexes from test sets, run where they cannot hang the app: in a worker process with a time limit.

Python's `re` backtracks, and holds the GIL while it does: `^(.+)+QQQ$` on an answer of 30 letters takes
minutes, during which no thread of the app runs — no page is served, `/_stcore/health` does not answer,
Cancel and SIGTERM do nothing. A pattern is anyone's (a test set is imported from a file), so none is run
in the app's process: each search is sent to a worker process (regex_worker.py) and waited for with a
deadline, off the GIL; a search that outlasts MATCH_TIMEOUT_S has its worker killed — the only way to
stop a match for certain — and is RegexProblem, which the check reports as that cell's error.

In the worker, RE2 (google-re2) runs every pattern it accepts in time linear in the answer, so a pattern
such as `^(.+)+QQQ$` gets a real verdict in microseconds. RE2 leaves out lookaround and backreferences
(which promptfoo's JavaScript regexes may use): those patterns run on `re`, under the same limit. RE2's
`\\d`, `\\w`, `\\b` are ASCII, as in JavaScript; `$` matches only at the very end of the answer.

Idle workers are kept (up to MAX_IDLE) for the next search: starting one costs tens of milliseconds.
"""

from __future__ import annotations

import atexit
import json
import os
import re
import select
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path
from typing import Any

from lib.core.errors import RegexProblem

MATCH_TIMEOUT_S = 3.0  # one search on one answer; a linear-time RE2 search of 1 MB takes milliseconds
START_TIMEOUT_S = 60.0  # the worker's own start (an interpreter and google-re2), on a machine under load
MAX_IDLE = 4
WORKER = Path(__file__).with_name("regex_worker.py")


TIMED_OUT = "the regex ran longer than"


def timed_out(limit_s: float) -> str:
    return (
        f"{TIMED_OUT} {limit_s:g} s on this answer and was stopped (a pattern with nested "
        "repeats such as (.+)+ can backtrack for ever; RE2 syntax, without lookaround or backreferences, "
        "runs in linear time)"
    )


class _Worker:
    """One worker process and its pipes."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-I", str(WORKER)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            bufsize=0,
        )
        self._buffer = b""
        try:
            ready = self._read(START_TIMEOUT_S).get("ready") is True
        except TimeoutError:
            ready = False
        except BaseException:
            self.close()
            raise
        if not ready:
            self.close()
            raise RegexProblem(f"the regex worker did not start within {START_TIMEOUT_S:g} s")

    def ask(self, request: dict[str, Any], timeout_s: float) -> dict[str, Any]:
        assert self.proc.stdin is not None
        data = (json.dumps(request) + "\n").encode()
        try:
            # The worker is idle (it answered its last request), so it reads all of this at once.
            self.proc.stdin.write(data)
        except OSError as exc:
            raise RegexProblem(f"the regex worker stopped ({exc.strerror or exc})") from None
        return self._read(timeout_s)

    def _read(self, timeout_s: float) -> dict[str, Any]:
        """The next line the worker writes, within `timeout_s` (TimeoutError otherwise)."""
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + timeout_s
        while b"\n" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise TimeoutError
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                raise RegexProblem(f"the regex worker stopped (exit code {self.proc.wait()})")
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        reply = json.loads(line)
        if not isinstance(reply, dict):
            raise RegexProblem("the regex worker answered nonsense")
        return reply

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        for pipe in (self.proc.stdin, self.proc.stdout):
            if pipe is not None:
                pipe.close()


_IDLE: list[_Worker] = []
_LOCK = threading.Lock()


def _take() -> _Worker:
    with _LOCK:
        if _IDLE:
            return _IDLE.pop()
    return _Worker()


def _give_back(worker: _Worker) -> None:
    with _LOCK:
        if len(_IDLE) < MAX_IDLE:
            _IDLE.append(worker)
            return
    worker.close()


def shutdown() -> None:
    """End the idle workers (at exit; a busy one is ended by whoever waits on it)."""
    with _LOCK:
        idle = list(_IDLE)
        _IDLE.clear()
    for worker in idle:
        worker.close()


atexit.register(shutdown)


def search(pattern: str, text: str, ignore_case: bool = False, timeout_s: float | None = None) -> str | None:
    """The text of the first match of `pattern` in `text` (its first 200 characters), None when there is
    none; RegexProblem, naming why, when it cannot be decided (the time limit, a worker that died)."""
    limit = MATCH_TIMEOUT_S if timeout_s is None else timeout_s
    worker = _take()
    try:
        reply = worker.ask({"pattern": pattern, "text": text, "ignore_case": ignore_case}, limit)
    except TimeoutError:
        worker.close()  # the match may never end: the process goes, with it
        raise RegexProblem(timed_out(limit)) from None
    except BaseException:
        worker.close()
        raise
    _give_back(worker)
    if "error" in reply:
        raise RegexProblem(str(reply["error"]))
    matched = reply.get("match")
    return matched if isinstance(matched, str) else None


def compile_problem(pattern: str) -> str | None:
    """Why `pattern` is no regex (None when RE2 or Python's `re` reads it). Compiling is bounded
    (neither engine expands repeats while compiling), so it runs here, as the set is read."""
    if _re2_reads(pattern):
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            re.compile(pattern)
    except (re.error, RecursionError, OverflowError, ValueError) as exc:
        return str(exc) or type(exc).__name__
    return None


def _re2_reads(pattern: str) -> bool:
    try:
        import re2
    except ImportError:  # pragma: no cover - google-re2 is in requirements.txt
        return False
    options = re2.Options()
    options.log_errors = False
    try:
        re2.compile(pattern, options)
    except re2.error:
        return False  # lookaround, backreferences: `re` may read it
    return True
