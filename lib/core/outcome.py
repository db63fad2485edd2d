"""A call's outcome: what came back (text, usage, timings, how it ended) or the sentence saying what
went wrong; and `Usage`, what a server reported for a finished call, as prices read it, with the one
rule for usage that cannot be a call's (`implausible_usage`). No I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
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
    @property
    def usage_flag(self) -> str | None: ...  # `implausible_usage` of what the server said: not priced


# --- what a server reports --------------------------------------------------------------------------
# A server's usage is its word, not a measurement: a hostile or broken one reports -5 prompt tokens,
# 10^30 completion tokens, more cached tokens than prompt ones. What it said is kept (shown, and in
# the run log), flagged, and priced at nothing: a cost made from it would be a number nobody paid.

USAGE_FIELDS = ("prompt_tokens", "completion_tokens", "cached_tokens")
# No call reads or writes a billion tokens (the largest context windows are ~10^7); a count this
# large is a server's error, and it would not fit a database's INTEGER column either.
MAX_PLAUSIBLE_TOKENS = 10**9
IMPLAUSIBLE = "The server reported implausible usage"


def _shown_number(value: object) -> str:
    """A reported value as the flag names it: short, whatever it is (a 10^30 int, a float, a string)."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_PLAUSIBLE_TOKENS:
        return f"{'-' if value < 0 else ''}~10^{len(str(abs(value))) - 1}"
    text = repr(value)
    return text if len(text) <= 40 else text[:39] + "…"


def implausible_usage(reported: Mapping[str, object] | None) -> str | None:
    """Why the usage a server reported (`reported`: the fields of USAGE_FIELDS it sent, as sent) cannot
    be a call's, as a sentence naming each value; None when it can be (absent fields are fine).
    The one place that decides: the call's outcome, the run log and every cost ask this."""
    if not reported:
        return None
    problems = []
    for name in USAGE_FIELDS:
        value = reported.get(name)
        if value is None:
            continue
        if not isinstance(value, int) or isinstance(value, bool):
            problems.append(f"{name} {_shown_number(value)} (not a whole number)")
        elif value < 0:
            problems.append(f"{name} {_shown_number(value)} (negative)")
        elif value > MAX_PLAUSIBLE_TOKENS:
            problems.append(f"{name} {_shown_number(value)} (more than 10^9)")
    prompt, cached = reported.get("prompt_tokens"), reported.get("cached_tokens")
    if not problems and isinstance(prompt, int) and isinstance(cached, int) and cached > prompt:
        problems.append(f"cached_tokens {cached:,} (more than its prompt_tokens {prompt:,})")
    if not problems:
        return None
    return f"{IMPLAUSIBLE}: {'; '.join(problems)}. Kept as reported here, and not priced (cost unknown)."


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
    # The usage fields exactly as the server sent them (USAGE_FIELDS); the counts above hold them only
    # when they are plausible, so no sum, chart or column meets -5 or 10^30.
    reported_usage: dict[str, object] | None = None
    # The functions the model asked to call, as wire dicts ({"id", "type", "function": {"name",
    # "arguments"}}), in order; a streamed call's pieces joined. Empty when it asked for none.
    tool_calls: list[dict] = field(default_factory=list)

    @property
    def usage_flag(self) -> str | None:
        """Why the reported usage cannot be this call's (`implausible_usage`); None if it can."""
        return implausible_usage(self.reported_usage)

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
