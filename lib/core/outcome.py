"""A call's outcome: what came back (text, usage, timings, how it ended) or the sentence saying what
went wrong; and `Usage`, the one record of a call's tokens (prompt, completion, cached, where they came
from, and whether what the server said could be a call's: `implausible_usage`), made from the SDK's
usage by `usage_of`. A call's outcome, a run-log row, an experiment's cell and a chat summary each hold
one. No I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

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


UsageSource = Literal["server", "estimate"]


@dataclass(frozen=True)
class Usage:
    """A call's tokens as prices read them (None: not known). `source` says where they came from: the
    server's report, or an estimate (`label` says which: a count made here, not a number anybody billed).
    `flag` is `implausible_usage` of what the server said: then the counts are None (no sum, chart or
    column meets -5 or 10^30) and the call is not priced; `reported` keeps what it said, as said."""

    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cached_tokens: int | None = None  # prompt tokens the server did not evaluate again (its prompt cache)
    source: UsageSource = "server"
    label: str = ""  # an estimate's method ("tiktoken o200k (estimate)"); "" for the server's word
    flag: str | None = None
    # The fields of USAGE_FIELDS exactly as the server sent them (None: it sent no usage; not kept by
    # the run log, which keeps `flag`). Not part of equality: the counts and the flag are what it says.
    reported: dict[str, object] | None = field(default=None, compare=False, hash=False)

    @property
    def estimated(self) -> bool:
        return self.source == "estimate"

    @classmethod
    def reported_as(cls, reported: Mapping[str, object] | None) -> Usage:
        """The usage a server reported (`reported`: USAGE_FIELDS as sent, None for a field not sent):
        all of it kept as said, the counts only when plausible."""
        said = {name: value for name, value in (reported or {}).items() if value is not None}
        flag = implausible_usage(said)
        counts = {name: None if flag else said.get(name) for name in USAGE_FIELDS}
        return cls(**counts, flag=flag, reported=said)  # type: ignore[arg-type]

    @classmethod
    def estimate(cls, prompt_tokens: int, label: str, completion_tokens: int | None = None) -> Usage:
        """Counts made here, not by the server: labelled so, never taken for what was billed."""
        return cls(prompt_tokens, completion_tokens, None, "estimate", label)


def usage_of(usage: object) -> Usage | None:
    """The one reading of the usage an OpenAI-shaped reply carries (the SDK's `CompletionUsage`, or a
    batch file's `usage` object as parsed JSON) as a `Usage`; None when there is none. The SDK builds
    replies without validating them: each field is whatever JSON the server sent, kept as said."""
    if usage is None:
        return None

    def read(holder: object, name: str) -> object:
        return holder.get(name) if isinstance(holder, dict) else getattr(holder, name, None)

    details = read(usage, "prompt_tokens_details")
    return Usage.reported_as(
        {
            "prompt_tokens": read(usage, "prompt_tokens"),
            "completion_tokens": read(usage, "completion_tokens"),
            "cached_tokens": None if details is None else read(details, "cached_tokens"),
        }
    )


@dataclass
class CallOutcome:
    text: str = ""
    usage: Usage = field(default_factory=Usage)  # as the server reports it (lib.core.outcome.usage_of)
    latency_s: float | None = None
    ttft_s: float | None = None
    finish_reason: str | None = None
    error: str | None = None
    # For deciding whether to retry (lib/backends/retry.py): the HTTP status, the error's code, the wait asked for.
    status_code: int | None = None
    error_code: str | None = None
    retry_after_s: float | None = None
    # The functions the model asked to call, as wire dicts ({"id", "type", "function": {"name",
    # "arguments"}}), in order; a streamed call's pieces joined. Empty when it asked for none.
    tool_calls: list[dict] = field(default_factory=list)

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
