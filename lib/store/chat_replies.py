"""Chat replies owned by the process, not by a browser tab: a refresh or a closed tab loses none.

A Streamlit page is a script that a click interrupts and a refresh ends (its browser session goes, and
its session state with it). A reply read and recorded by the page was lost with it: the question stayed
*unanswered* although the server had answered (and, on a paid backend, been paid). `start` hands the call
to the process instead: `ChatReply` reads it on a thread of its own (lib.backends.reply.ReplyInFlight) and,
when it is over, records it once, itself — one run-log record, and the reply written into the stored
session, in the message after the question it answers — whether or not any tab is still watching.

The stored session is saved compare-and-set on its version (lib/store/storage.save_session); a tab may
save it at the same moment (its own edits, the autosave of every rerun). The completion never overwrites
a tab's save: on a stale version it loads the session again and merges only the reply into it (`Answer`,
which is idempotent: the reply has its id before it arrives, and a history that holds it is left as it
is). A tab is not overwritten by it either, nor made stale unseen: `caught_up` tells a tab that read
version *v* what the completions wrote on top of *v*, so it merges the same reply into its own history and
saves its own changes over the newer version (ui/sessions.py).

A tab that opens the session while its reply is still arriving (a refresh, a second tab, the same
?session= link) finds it with `running` and shows it arriving, Stop included, then the reply.

If the process itself dies mid-reply, the question stays stored *unanswered*, with its Retry: the
question is saved before it is sent (pages/chat.py), and the reply had nowhere to go.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from lib.backends.providers import ProviderConfig
from lib.backends.reply import Reply, ReplyInFlight
from lib.context import conversation as conv
from lib.context.answers import Regeneration, answered
from lib.context.payload import RequestPlan
from lib.context.request import Request
from lib.core.errors import STORE_FAILED, DamagedSession, NotYours, StaleSession
from lib.core.outcome import CallOutcome
from lib.store import storage
from lib.store.call_details import log_call
from lib.store.session import Session, without_secrets

SAVE_ATTEMPTS = 20  # stale versions in a row before the completion gives up on the store (a tab saving non-stop)
# What the completions wrote is remembered this long (and at most this many writes), for tabs that read
# the version before and have not run since: older ones are told they are stale, as for any other writer.
WRITTEN_KEPT_S = 3600.0
WRITTEN_KEPT = 512


@dataclass(frozen=True)
class ReplyKey:
    """Whose reply it is, in which session, to which question."""

    owner: str | None
    session_id: str
    question_id: str


@dataclass(frozen=True)
class Answer:
    """What a finished call changes in a history: its reply (with the id it was given before it was
    sent) after the question, or the question marked unanswered; a regenerated answer replaces the old
    one or follows it. Idempotent: applied to a history that already holds the reply, it changes nothing."""

    question_id: str
    reply_id: str
    outcome: CallOutcome
    regeneration: Regeneration | None = None

    def applied(self, history: list[conv.Message]) -> list[conv.Message]:
        return answered(history, self.question_id, self.reply_id, self.outcome, self.regeneration)


@dataclass(frozen=True)
class CallLog:
    """What the run-log record of the call needs besides the call: the backend's kind, the strategy that
    chose the context, and every secret to mask out of it (held only until the record is written)."""

    provider: str
    strategy: str | None = None
    secrets: tuple[str, ...] = ()
    variant: str = "chat"


@dataclass(frozen=True)
class Stored:
    """Where the completion left the reply: the session's version it merged into, the version it wrote."""

    base: int
    version: int
    updated_at: str


@dataclass(frozen=True)
class Written:
    """A completion's write, for a tab that read `stored.base`: merge `answer`, and go on from `stored`."""

    answer: Answer
    stored: Stored
    at: float = field(default_factory=time.monotonic)


@dataclass(frozen=True)
class CaughtUp:
    """What completions wrote on top of the version a tab read: the version it is now, and the merge that
    brings the tab's history to it."""

    answers: tuple[Answer, ...]
    version: int
    updated_at: str

    def applied(self, history: list[conv.Message]) -> list[conv.Message]:
        for answer in self.answers:
            history = answer.applied(history)
        return history

    def session(self, read: Session) -> Session:
        """`read` (the tab's session as it read it) as the completions left it in the store."""
        messages = tuple(self.applied(list(read.messages)))
        return replace(read, messages=messages, version=self.version, updated_at=self.updated_at)


class ChatReply:
    """One chat call owned by the process: read on its own thread, then recorded once (`done` after that)."""

    def __init__(
        self,
        key: ReplyKey,
        reply: Reply,
        plan: RequestPlan,
        log: CallLog,
        regeneration: Regeneration | None = None,
        db_path: str | Path | None = None,  # the store's path or URL; None: the app's (CONTEXT_LAB_DB)
        page: object = None,  # what the page needs to show the call again (lib keeps it, never reads it)
    ):
        self.key, self.plan, self.db_path, self.page = key, plan, db_path, page
        self._log = log
        self.answer = Answer(key.question_id, conv.new_id(), reply.outcome, regeneration)
        self.stored: Stored | None = None  # None: the reply is not in the store (`store_problem` says why)
        self.store_problem: str | None = None
        self.log_problem: str | None = None
        self._reply = reply
        self.in_flight: ReplyInFlight | None = None  # the thread, once `begin` started it

    def begin(self) -> ChatReply:
        self.in_flight = ReplyInFlight(self._reply, on_done=self._record)
        return self

    # --- what a page reads -------------------------------------------------------------------

    @property
    def reply(self) -> Reply:
        return self._reply

    @property
    def started_at(self) -> float:
        return self.in_flight.started_at if self.in_flight is not None else time.monotonic()

    @property
    def text(self) -> str:
        return self.in_flight.text if self.in_flight is not None else ""

    @property
    def done(self) -> bool:
        """Over and recorded (the run log, the store): nothing is left for a page to write."""
        return self.in_flight is not None and self.in_flight.done

    def wait(self, timeout_s: float | None = None) -> bool:
        """Block until the call is over and recorded (or `timeout_s` passes); returns whether it is."""
        return self.in_flight is not None and self.in_flight.wait(timeout_s)

    def stop(self) -> None:
        self._reply.stop()

    # --- the completion, on the reply's thread --------------------------------------------------

    def _record(self) -> None:
        # The outcome of the attempt that counted (a retry replaces Reply.outcome).
        self.answer = replace(self.answer, outcome=self.reply.outcome)
        try:
            self._write_log()
            self._write_reply()
        finally:
            # The finished call keeps no key: the client and the secrets go with the thread.
            self.reply.client, self.reply.secrets = None, ()
            self._log = replace(self._log, secrets=())
            _forget(self)

    def _write_log(self) -> None:
        log, outcome, key = self._log, self.reply.outcome, self.key
        try:
            with storage.opened(self.db_path) as conn:
                log_call(
                    conn,
                    key.session_id,
                    log.variant,
                    log.provider,
                    self.plan,
                    outcome,
                    log.secrets,
                    key.owner,
                    log.strategy,
                    notices=tuple(self.reply.notices),
                )
        except STORE_FAILED as exc:
            self.log_problem = (
                f"The run log ({storage.shown(self.db_path)}) failed: {storage.problem(exc).rstrip('.')}."
            )

    def _write_reply(self) -> None:
        """Merge the reply into the stored session: over the version read, read again while another
        writer got there first."""
        key = self.key
        try:
            with storage.opened(self.db_path) as conn:
                for _ in range(SAVE_ATTEMPTS):
                    read = storage.load_session(conn, key.session_id, key.owner)
                    if read is None:
                        self.store_problem = "The session is not stored (it was never saved, or it was deleted)."
                        return
                    if not any(m.id == key.question_id for m in read.messages):
                        self.store_problem = "The stored session does not hold the question (any more)."
                        return
                    messages = self.answer.applied(list(read.messages))
                    if messages == list(read.messages):  # a failure that leaves it unanswered, as it is stored
                        return
                    session = without_secrets(replace(read, messages=tuple(messages)), self._log.secrets)
                    # The write and its record are one step for a tab of this session: a tab whose
                    # save is refused for this write asks `caught_up` at once, and must find it there
                    # (between the two it found nothing, and said another tab had saved the session).
                    with _writing(key.owner, key.session_id):
                        try:
                            saved = storage.save_session(conn, session, key.owner)
                        except StaleSession:
                            continue  # a tab saved meanwhile: merge into what it saved
                        self.stored = Stored(read.version, saved.version, saved.updated_at)
                        _remember(key, Written(self.answer, self.stored))
                    return
                self.store_problem = "The session kept changing while the reply was saved into it."
        except (NotYours, DamagedSession) as exc:
            self.store_problem = f"The session cannot take the reply: {exc}"
        except STORE_FAILED as exc:
            self.store_problem = f"The session store failed: {storage.problem(exc).rstrip('.')}."


# --- the process's replies: a reopened page finds its session's here ------------------------------------

_LOCK = threading.Lock()
_RUNNING: dict[ReplyKey, ChatReply] = {}
_WRITTEN: dict[tuple[str | None, str], dict[int, Written]] = {}  # (owner, session) -> base version -> write
_WRITE_LOCKS: dict[tuple[str | None, str], threading.Lock] = {}  # (owner, session) -> its writes' lock


def start(
    key: ReplyKey,
    reply: Reply,
    plan: RequestPlan,
    log: CallLog,
    regeneration: Regeneration | None = None,
    db_path: str | Path | None = None,
    page: object = None,
) -> ChatReply:
    """Send the call now, on a thread of the process; it records itself when it is over."""
    with _LOCK:
        running = _RUNNING.get(key)
        if running is not None and not running.done:
            raise RuntimeError("this question is already being answered")
        # Registered before its thread starts: one that ends at once still finds itself here to leave.
        chat = ChatReply(key, reply, plan, log, regeneration, db_path, page)
        _RUNNING[key] = chat
    try:
        return chat.begin()
    except BaseException:
        _forget(chat)
        raise


def send(
    key: ReplyKey,
    client: Any,
    request: Request,
    provider: ProviderConfig,
    secrets: tuple[str, ...] = (),
    regeneration: Regeneration | None = None,
    page: object = None,
) -> ChatReply:
    """The chat call planned as `request`, sent now to `provider` through `client` (`start`): its body goes
    out untouched; its run-log record names the strategy that chose the context and masks the provider's
    keys and `secrets`. A Regeneration of another question is none. RuntimeError: this question is being
    answered already (another tab of the session asked it)."""
    reply = Reply(client, request.plan.body, provider.secrets, limits=provider.limits)
    log = CallLog(provider.backend.logged_as(), request.strategy.describe(), (*provider.secrets, *secrets))
    if regeneration is not None and regeneration.question_id != key.question_id:
        regeneration = None
    return start(key, reply, request.plan, log, regeneration, page=page)


def running(owner: str | None, session_id: str) -> list[ChatReply]:
    """The replies to `owner`'s session `session_id` still arriving, oldest first."""
    with _LOCK:
        return [
            chat
            for key, chat in _RUNNING.items()
            if (key.owner, key.session_id) == (owner, session_id) and chat.in_flight is not None and not chat.done
        ]


def caught_up(owner: str | None, session_id: str, version: int) -> CaughtUp | None:
    """What completions wrote on top of `version` of the session (a chain: one may follow another), or
    None when none did (since WRITTEN_KEPT_S)."""
    answers: list[Answer] = []
    with _writing(owner, session_id), _LOCK:  # a write of this session under way is waited for
        writes = _WRITTEN.get((owner, session_id), {})
        while version in writes:
            written = writes[version]
            answers.append(written.answer)
            stored = written.stored
            version = stored.version
    if not answers:
        return None
    return CaughtUp(tuple(answers), version, stored.updated_at)


def _writing(owner: str | None, session_id: str) -> threading.Lock:
    """The lock of one session's reply writes: held while a completion stores its reply and records
    that it did, and by a tab reading those records. One per session, so no tab waits on another
    session's database write."""
    with _LOCK:
        return _WRITE_LOCKS.setdefault((owner, session_id), threading.Lock())


def _forget(chat: ChatReply) -> None:
    with _LOCK:
        if _RUNNING.get(chat.key) is chat:
            del _RUNNING[chat.key]


def _remember(key: ReplyKey, written: Written) -> None:
    with _LOCK:
        _WRITTEN.setdefault((key.owner, key.session_id), {})[written.stored.base] = written
        _prune()


def _prune() -> None:
    """Forget the oldest writes: past WRITTEN_KEPT_S, and beyond WRITTEN_KEPT in all."""
    writes = sorted(
        ((written.at, session, base) for session, by_base in _WRITTEN.items() for base, written in by_base.items()),
        key=lambda write: write[0],
    )
    too_old = time.monotonic() - WRITTEN_KEPT_S
    extra = max(0, len(writes) - WRITTEN_KEPT)
    for index, (at, session, base) in enumerate(writes):
        if at >= too_old and index >= extra:
            break
        del _WRITTEN[session][base]
        if not _WRITTEN[session]:
            del _WRITTEN[session]
