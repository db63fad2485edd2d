"""Work on a thread of its own: the one `Job` behind every long thing a page starts (a chat reply, a
comparison, an experiment run, an attribution). A Streamlit page is a script that any click (or a
refresh) interrupts and runs again: the work goes on here, and the page polls `done`, then reads the
`result` or the `exception` that ended it. No I/O of its own.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Job(Generic[T]):
    """`work(stopping)` on a daemon thread named `name` (a thread left running never keeps the process
    alive). `stop()` sets `stopping`, the event the work reads (or hands on) to end early: pass one of
    your own (e.g. lib.backends.reply.Stopper, which also hangs up the calls it watches) to share it.
    `done` is set once the work is over, whatever ended it; `result` is what it returned, `exception`
    what it raised (an exception never escapes to the thread's traceback on stderr)."""

    def __init__(
        self,
        work: Callable[[threading.Event], T],
        name: str,
        stopping: threading.Event | None = None,
        start: bool = True,
    ):
        self.stopping = stopping if stopping is not None else threading.Event()
        self.result: T | None = None
        self.exception: Exception | None = None
        self.started_at = time.monotonic()
        self.finished_at: float | None = None
        self._work = work
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        if start:
            self.start()

    def start(self) -> Job[T]:
        """Start the work (once; a Job made with `start=False` waits for this)."""
        self.started_at = time.monotonic()
        self._thread.start()
        return self

    def _run(self) -> None:
        try:
            self.result = self._work(self.stopping)
        except Exception as exc:  # kept for whoever polls: a page shows it, a test asserts it
            self.exception = exc
        finally:
            self.finished_at = time.monotonic()
            self._done.set()  # even after a failure: nobody waiting for it is left hanging

    @property
    def done(self) -> bool:
        return self._done.is_set()

    @property
    def started(self) -> bool:
        return self._thread.ident is not None

    @property
    def stopped(self) -> bool:
        """Whether a stop was asked for (the work decides how soon it ends)."""
        return self.stopping.is_set()

    def wait(self, timeout_s: float | None = None) -> bool:
        """Block until the work is over (or `timeout_s` passes); returns whether it is."""
        return self._done.wait(timeout_s)

    def stop(self) -> None:
        self.stopping.set()
