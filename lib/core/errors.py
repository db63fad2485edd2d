"""Every exception the app raises on purpose, in one tree. Each one's message is a sentence a user can
act on (what went wrong, and where); a page shows it as it is. A server's own failures never raise:
lib/backends/providers.describe_error turns them into a call's outcome.

    ContextLabError
    ├── StoreError                  what is kept could not be kept or read
    │   ├── BadStoreUrl             CONTEXT_LAB_DB names no store this app can use  (also a ValueError)
    │   ├── StaleSession            a save or delete over a session someone changed or deleted since
    │   ├── NotYours                another owner's session, test set or run: nothing of it given or changed
    │   │                                                                          (also a ValueError)
    │   └── InvalidSession          a session file or record that cannot be read  (also a ValueError)
    │       └── DamagedSession      a stored row that is not a session: named, never overwritten
    ├── InvalidInput                text from outside that cannot be used  (also a ValueError)
    │   ├── DocumentError           JSON or YAML refused: `problem`, and the `line` where
    │   │   ├── NotWellFormed       not JSON (or YAML) at all: the parser's reason, line and column
    │   │   ├── TooDeep             nested deeper than lib.store.documents allows
    │   │   └── TooLong             too many characters, values or digits
    │   ├── ImportRefused           text that cannot be read as a context: `problem`, and the `line` where
    │   ├── MessageShapeError       a message the Chat Completions API would not take
    │   ├── ToolDefinitionError     a tool definition the API would refuse
    │   ├── InvalidComparison       a kept comparison or Compare set-up that cannot be read back
    │   ├── InvalidTestSet          a test set (or a file holding one) that cannot be read
    │   ├── InvalidBatchFile        a Batch API output file that does not fit the run
    │   ├── InvalidRun              a stored experiment run (its spec, a cell's verdicts) that cannot be read
    │   ├── InvalidRecording        a recorded demo (or a file holding one) that cannot be read
    │   ├── AttributionError        an answer that cannot be attributed
    │   └── TemplateLayoutError     a chat template that does not hold each message verbatim
    ├── BackendError                the parts a call goes through  (also a RuntimeError)
    │   ├── EmbeddedModelError      the embedded model's file or server
    │   ├── ServerTokenizerError    a server that did not tokenize as its dialect does
    │   ├── OfflineEncodingError    a tiktoken encoding this install cannot load offline
    │   └── NotRecorded             a replayed call whose body the recording does not hold
    ├── ScoringError                an attribution pass that could not be scored  (also a RuntimeError)
    ├── RegexProblem                a regex check that could not be decided (a time limit, a bad pattern)
    └── Stopped                     the user stopped a run between two steps

`STORE_FAILED` is what a failing store raises, for a page to catch and say (lib.store.storage.shown,
problem) while keeping its work: SQLAlchemy's wrapping of every driver's errors, OSError for a disk,
and BadStoreUrl. Several classes are also the builtin their callers have always caught (ValueError,
RuntimeError), so catching that still works. No I/O.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.exc import SQLAlchemyError


class ContextLabError(Exception):
    """An error the app raises on purpose; its message is a sentence a user can act on."""


# --- what is kept ----------------------------------------------------------------------------------


class StoreError(ContextLabError):
    """What is kept could not be kept or read."""


class BadStoreUrl(StoreError, ValueError):
    """CONTEXT_LAB_DB names no store this app can use; the message says what it accepts."""


class StaleSession(StoreError):
    """A save or a delete refused because the stored session is no longer the one the writer read:
    another tab saved it since (`stored` says what it holds now: a lib.store.storage.SessionInfo) or
    deleted it (`stored` is None)."""

    def __init__(self, session_id: str, stored: Any) -> None:  # Any: the store's floor is above this one
        super().__init__(
            f"Session {session_id} was {'changed' if stored else 'deleted'} by another writer since it was read."
        )
        self.session_id = session_id
        self.stored = stored

    @property
    def deleted(self) -> bool:
        return self.stored is None


class NotYours(StoreError, ValueError):
    """The id names a session, test set or run of another owner that was not shared: nothing of it is
    given or changed (not even whether it exists beyond that)."""

    def __init__(self, what: str, item_id: str) -> None:
        super().__init__(f"The {what} {item_id} belongs to someone else: nothing of it was given or changed.")
        self.what = what
        self.item_id = item_id


class InvalidSession(StoreError, ValueError):
    """A session file or record that cannot be read; the message says what is wrong and where."""


class DamagedSession(InvalidSession):
    """A stored row that is not the schema (not JSON, or not a session): named, never overwritten."""


STORE_FAILED: tuple[type[Exception], ...] = (SQLAlchemyError, OSError, BadStoreUrl)


# --- what comes from outside -----------------------------------------------------------------------


class InvalidInput(ContextLabError, ValueError):
    """Text from outside (a file, a stored body) that cannot be used: the message says where and why."""


class DocumentError(InvalidInput):
    """JSON or YAML text refused: `problem` says why, `line` (1-based) where, when it is known."""

    def __init__(self, problem: str, line: int | None = None) -> None:
        self.problem = problem
        self.line = line
        super().__init__(f"line {line}: {problem}" if line else problem)


class NotWellFormed(DocumentError):
    """The text is not JSON (or YAML) at all: the parser's own reason, and its line and column."""

    def __init__(self, problem: str, line: int | None = None, column: int | None = None) -> None:
        self.column = column
        super().__init__(problem, line)


class TooDeep(DocumentError):
    """Lists and mappings nested more than lib.store.documents.MAX_DEPTH levels."""


class TooLong(DocumentError):
    """Too many characters, values or digits."""


class ImportRefused(InvalidInput):
    """Text that cannot be read as a context: `problem` says why, `line` (1-based) where, if known."""

    def __init__(self, problem: str, line: int | None = None) -> None:
        self.problem = problem
        self.line = line
        super().__init__(f"Line {line}: {problem}" if line else problem)


class MessageShapeError(InvalidInput):
    """A message the Chat Completions API would not take (a tool result without the call it answers,
    arguments that are not JSON…); the text says what is wrong and how to fix it."""


class ToolDefinitionError(InvalidInput):
    """A tool definition the API would refuse; the text says which field and how to fix it."""


class InvalidComparison(InvalidInput):
    """A stored comparison or set-up that cannot be read back (another format, a wrong field)."""


class InvalidTestSet(InvalidInput):
    """A test set (or a file holding one) that cannot be read: the message names where and why."""


class InvalidBatchFile(InvalidInput):
    """A batch output file that cannot be applied to the run: the message names the line and why."""


class InvalidRun(InvalidInput):
    """A stored experiment run (its spec, a cell's verdicts) that cannot be read back: the message names
    the field."""


class InvalidRecording(InvalidInput):
    """A recorded demo (a stored one, or a file holding one) that cannot be read: the message names the
    first problem and where it is."""


class AttributionError(InvalidInput):
    """An answer that cannot be attributed (no question, nothing before it, nothing to score)."""


class TemplateLayoutError(InvalidInput):
    """The chat template does not place each message's content verbatim between a fixed header and footer."""


# --- the parts a call goes through -----------------------------------------------------------------


class BackendError(ContextLabError, RuntimeError):
    """A part a call goes through failed (the embedded model, a server's tokenizer, an encoding)."""


class EmbeddedModelError(BackendError):
    """The embedded model's file is missing or changed, or its server did not start."""


class ServerTokenizerError(BackendError):
    """The server did not answer a tokenize request as its dialect does."""


class OfflineEncodingError(BackendError):
    """A tiktoken encoding this install does not carry (it never downloads one)."""


class NotRecorded(BackendError):
    """Replaying a recorded demo, a call whose body is none of the recorded ones: the message names what
    differs from the nearest one, and says to switch to live to ask the model."""


# --- runs -------------------------------------------------------------------------------------------


class ScoringError(ContextLabError, RuntimeError):
    """A pass that could not be scored (a call that failed, a context over the window)."""


class RegexProblem(ContextLabError):
    """A search that could not be decided: the message says why (a time limit, a pattern that fails)."""


class Stopped(ContextLabError):
    """The user stopped the run between two passes."""
