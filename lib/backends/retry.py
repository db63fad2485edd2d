"""When a failed call is worth repeating by itself, and how long to wait before it.

A rate limit (429) or a server fault (5xx, 408, 409) is often gone a moment later; a bad key, an
unknown model, a prompt over the window or a used-up quota are not, and repeating them only hides
the message the user needs. Waits double from a base and honour the server's Retry-After, both
capped so a live demo never hangs. This module only decides; the page waits, and says so.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lib.core.outcome import CallOutcome

RETRYABLE_STATUSES = frozenset({408, 409, 429})
# A 429 that no wait cures: the account is out of credit.
FINAL_ERROR_CODES = frozenset({"insufficient_quota"})


def retryable(status: int | None, code: str | None = None) -> bool:
    """Whether the same request may succeed if simply sent again."""
    if status is None or code in FINAL_ERROR_CODES:
        return False
    return status in RETRYABLE_STATUSES or status >= 500


def parse_retry_after(headers: Mapping[str, str], now: datetime | None = None) -> float | None:
    """Seconds the server asks to wait: `retry-after-ms` (OpenAI's), `retry-after` in seconds or as
    an HTTP date; None when absent or unreadable."""
    lowered = {name.lower(): value for name, value in headers.items()}
    try:
        if "retry-after-ms" in lowered:
            return max(0.0, float(lowered["retry-after-ms"]) / 1000)
        value = lowered.get("retry-after")
        if value is None:
            return None
        try:
            return max(0.0, float(value))
        except ValueError:
            when = parsedate_to_datetime(value)
            return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())
    except (TypeError, ValueError, OverflowError):
        return None


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 3  # in all, the first one included
    base_delay_s: float = 1.0  # the first wait; each later one doubles
    max_delay_s: float = 8.0  # the longest wait, whatever the server's Retry-After says

    def delay(self, failed_attempt: int, retry_after_s: float | None = None) -> float:
        """Seconds to wait after attempt `failed_attempt` (1-based) failed."""
        wait = self.base_delay_s * 2 ** (failed_attempt - 1) if retry_after_s is None else retry_after_s
        return min(max(wait, 0.0), self.max_delay_s)

    def next_wait(self, outcome: CallOutcome, attempt: int) -> float | None:
        """How long to wait before another attempt, or None for no more: the call succeeded, this was
        the last attempt, the failure is not one a retry cures, or a reply had begun (it is kept)."""
        if outcome.ok or outcome.text or attempt >= self.attempts:
            return None
        if not retryable(outcome.status_code, outcome.error_code):
            return None
        return self.delay(attempt, outcome.retry_after_s)


DEFAULT_POLICY = RetryPolicy()


def format_seconds(value: float) -> str:
    """2 → "2 s", 0.25 → "0.25 s"."""
    return f"{round(value, 2):g} s"


def notice(outcome: CallOutcome, wait_s: float, next_attempt: int, attempts: int) -> str:
    """The line the page shows while it waits, e.g. "Rate limited (429), retrying in 2 s (attempt 2/3)…"."""
    what = "Rate limited" if outcome.status_code == 429 else "The server failed"
    return f"{what} ({outcome.status_code}), retrying in {format_seconds(wait_s)} (attempt {next_attempt}/{attempts})…"


def attempts_note(retries: list[str], ok: bool) -> str:
    """After the last attempt, what the retries were; "" when there were none."""
    if not retries:
        return ""
    attempts = len(retries) + 1
    if not ok:
        return f"Gave up after {attempts} attempts."
    return f"Answered on attempt {attempts}. Before that: {' '.join(retries)}"


def wait(delay_s: float) -> None:
    """The pause between attempts; tests replace it to stay fast."""
    time.sleep(delay_s)
