"""A call is a value: a `Reply` you iterate for the text as it arrives, and that holds its outcome.

`Reply` sends one planned body through `lib.backends.providers.stream_chat`, retries a rate limit or a server
fault under the visible policy of `lib/backends/retry.py` (each wait is a notice the caller shows), and can be
stopped: the text that arrived is kept, marked incomplete.

`ReplyInFlight` drains a `Reply` on a thread of its own. A Streamlit page is a script that any click
interrupts; a reply read by the script itself was lost with it. Read here, it goes on whatever the
page does, and the page only shows how far it got and records it once it is done.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

from lib.backends import retry
from lib.backends.providers import DEFAULT_LIMITS, CallLimits, Line, stream_chat
from lib.context.answers import reply_calls
from lib.core.job import Job
from lib.core.outcome import CallOutcome

STOPPED = "Stopped by you: the partial answer is kept, marked incomplete."
STOPPED_BEFORE_TEXT = "Stopped by you before any text arrived."


class Reply:
    """One call, with its retries. Iterate it for the text; afterwards `outcome` holds the result
    (text, usage, timings, error) and `notices` the retries that were made."""

    def __init__(
        self,
        client,
        body: dict,
        secrets: tuple[str, ...] = (),
        policy: retry.RetryPolicy = retry.DEFAULT_POLICY,
        wait: Callable[[float], None] | None = None,
        limits: CallLimits = DEFAULT_LIMITS,
    ):
        self.client, self.body, self.secrets, self.policy = client, body, secrets, policy
        self.limits = limits
        self._wait = wait or retry.wait
        self.outcome = CallOutcome()
        self.notices: list[str] = []
        self._stop = threading.Event()
        self._line = Line()  # the attempt's HTTP exchange: `stop` hangs it up from any thread
        self._iterated = False

    def __iter__(self) -> Iterator[str]:
        if self._iterated:  # a reply is one call: iterating again must not send again
            if self.outcome.text:
                yield self.outcome.text
            return
        self._iterated = True
        attempt = 1
        while True:
            outcome = CallOutcome()
            self.outcome = outcome
            self._line = Line()
            if self._stop.is_set():  # stopped between attempts: nothing is sent
                self._mark_stopped(outcome)
                return
            stream = stream_chat(self.client, self.body, outcome, self.secrets, self.limits, self._line)
            try:
                for delta in stream:
                    if self._stop.is_set():
                        break
                    yield delta
            finally:
                stream.close()  # closes the HTTP stream too: a server stops making what nobody reads
            if self._stop.is_set():
                self._mark_stopped(outcome)
                return
            wait = self.policy.next_wait(outcome, attempt)
            if wait is None:
                return
            attempt += 1
            self.notices.append(retry.notice(outcome, wait, attempt, self.policy.attempts))
            self._wait(wait)
            if self._stop.is_set():
                return

    def text(self) -> str:
        """The whole reply (sends the call if it was not iterated yet)."""
        for _ in self:
            pass
        return self.outcome.text

    def stop(self) -> None:
        """End the call now, from any thread: the connection is closed even while the server sends
        nothing (a reader waiting for its next bytes is woken), so the server stops generating."""
        self._stop.set()
        self._line.hang_up()

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    @property
    def retries_note(self) -> str:
        return retry.attempts_note(self.notices, self.outcome.ok)

    @staticmethod
    def _mark_stopped(outcome: CallOutcome) -> None:
        outcome.error = STOPPED if outcome.text else STOPPED_BEFORE_TEXT
        outcome.finish_reason = outcome.finish_reason or "stopped"


class Stopper(threading.Event):
    """A stop signal for many replies at once (a comparison's runs): setting it stops each reply
    `watch`ed, mid-read, and any watched after."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._replies: set[Reply] = set()

    def watch(self, reply: Reply) -> None:
        with self._lock:
            self._replies.add(reply)
        if self.is_set():
            reply.stop()

    def forget(self, reply: Reply) -> None:
        with self._lock:
            self._replies.discard(reply)

    def set(self) -> None:
        super().set()
        with self._lock:
            replies = list(self._replies)
        for reply in replies:
            reply.stop()


class ReplyInFlight:
    """A `Reply` read on a thread of its own; the page polls `text` and `done`. `on_done` runs on that
    thread once the reply is over, before `done` is set: whoever waits for `done` finds what it did."""

    def __init__(self, reply: Reply, on_done: Callable[[], None] | None = None):
        self.reply = reply
        self._on_done = on_done
        self._text: list[str] = []
        # `done` is set even if recording failed: a page waiting for it is not left hanging (the
        # failure is the job's `exception`)
        self.job: Job[None] = Job(self._drain, "context-lab-reply")

    @property
    def started_at(self) -> float:
        return self.job.started_at

    def _drain(self, _stopping: threading.Event) -> None:
        try:
            for delta in self.reply:
                self._text.append(delta)
        except Exception as exc:  # stream_chat turns server faults into outcomes; this is a last guard
            self.reply.outcome.error = self.reply.outcome.error or f"The call failed: {type(exc).__name__}: {exc}"
        finally:
            if self._on_done is not None:
                self._on_done()

    @property
    def text(self) -> str:
        return "".join(self._text)

    @property
    def done(self) -> bool:
        return self.job.done

    @property
    def outcome(self) -> CallOutcome:
        return self.reply.outcome

    def wait(self, timeout_s: float | None = None) -> bool:
        """Block until the reply is done (or `timeout_s` passes); returns whether it is done."""
        return self.job.wait(timeout_s)

    def stop(self) -> None:
        self.job.stop()
        self.reply.stop()


def call_note(reply: Reply, max_tokens: int) -> str:
    """What the user should know about a call beyond its reply: the retries, a reply cut at the limit."""
    notes = [reply.retries_note]
    calls = reply_calls(reply.outcome)
    if reply.outcome.ok and calls:
        names = ", ".join(call.name for call in calls)
        notes.append(
            f"The model asks to call {names}: the playground runs no tools. Write each result "
            "(Add → Tool result), then send to let the model answer with them."
        )
    if len(calls) < len(reply.outcome.tool_calls):
        notes.append(
            f"{len(reply.outcome.tool_calls) - len(calls):,} tool call(s) came without an id or a name and were "
            "left out: no result could answer them."
        )
    if reply.outcome.truncated:
        notes.append(
            f'The reply stopped at the {max_tokens:,}-token limit (finish_reason "length"): raise '
            "Max reply tokens in the sidebar for a longer one."
        )
    return " ".join(note for note in notes if note)
