"""A call's outcome: what came back (text, usage, timings, how it ended) or the sentence saying what
went wrong; and `Usage`, what a server reported for a finished call, as prices read it. No I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


class Usage(Protocol):
    """What a server reported for a finished call (None: not reported). A call's outcome
    (`CallOutcome`) and a run-log row (`lib.store.storage.CallRecord`) are both one."""

    @property
    def prompt_tokens(self) -> int | None: ...
    @property
    def cached_tokens(self) -> int | None: ...
    @property
    def completion_tokens(self) -> int | None: ...


@dataclass
class CallOutcome:
    text: str = ""
    prompt_tokens: int | None = None  # as the server reports it; None when it reports none
    completion_tokens: int | None = None
    # Prompt tokens the server did not evaluate again (its prompt cache): usage.prompt_tokens_details.
    cached_tokens: int | None = None
    latency_s: float | None = None
    ttft_s: float | None = None
    finish_reason: str | None = None
    error: str | None = None
    # For deciding whether to retry (lib/backends/retry.py): the HTTP status, the error's code, the wait asked for.
    status_code: int | None = None
    error_code: str | None = None
    retry_after_s: float | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def truncated(self) -> bool:
        """A whole reply that stopped at the reply-token limit rather than where the model ended it."""
        return self.ok and self.finish_reason == "length"

    @property
    def incomplete(self) -> bool:
        """A reply that began streaming and then broke off."""
        return self.error is not None and bool(self.text)
