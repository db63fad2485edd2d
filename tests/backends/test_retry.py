"""The retry policy: which failures are repeated, and how long to wait first."""

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from lib.backends import retry
from lib.backends.retry import RetryPolicy, parse_retry_after, retryable
from lib.core.outcome import CallOutcome

POLICY = RetryPolicy(attempts=3, base_delay_s=1.0, max_delay_s=8.0)


@pytest.mark.parametrize("status", [408, 409, 429, 500, 502, 503, 504, 529])
def test_rate_limits_and_server_faults_are_retryable(status):
    assert retryable(status)


@pytest.mark.parametrize("status", [None, 400, 401, 403, 404, 413, 422])
def test_what_a_retry_cannot_fix_is_not_retried(status):
    assert not retryable(status)


def test_a_used_up_quota_is_not_retried_though_it_is_a_429():
    assert not retryable(429, "insufficient_quota")
    assert retryable(429, "rate_limit_exceeded")


def test_waits_double_and_are_capped():
    assert [POLICY.delay(attempt) for attempt in range(1, 6)] == [1.0, 2.0, 4.0, 8.0, 8.0]


def test_retry_after_is_honoured_within_the_cap():
    assert POLICY.delay(1, retry_after_s=3.0) == 3.0
    assert POLICY.delay(1, retry_after_s=0.0) == 0.0
    assert POLICY.delay(2, retry_after_s=3600.0) == 8.0


def test_retry_after_forms():
    now = datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after({"Retry-After": "7"}) == 7.0
    assert parse_retry_after({"retry-after": "1.5"}) == 1.5
    assert parse_retry_after({"retry-after-ms": "250", "retry-after": "9"}) == 0.25  # the precise one wins
    assert parse_retry_after({"retry-after": format_datetime(now + timedelta(seconds=30))}, now) == 30.0
    assert parse_retry_after({"retry-after": format_datetime(now - timedelta(seconds=30))}, now) == 0.0
    assert parse_retry_after({"retry-after": "-4"}) == 0.0


@pytest.mark.parametrize("value", ["soon", "", "nan-ish", "Mon, 99 Foo 2025"])
def test_an_unreadable_retry_after_is_ignored(value):
    assert parse_retry_after({"retry-after": value}) is None


def test_no_header_means_no_wait_asked():
    assert parse_retry_after({}) is None


def _failed(status: int, text: str = "", retry_after: float | None = None, code: str | None = None) -> CallOutcome:
    return CallOutcome(text=text, error="failed", status_code=status, retry_after_s=retry_after, error_code=code)


def test_next_wait_retries_until_the_last_attempt():
    outcome = _failed(503)
    assert [POLICY.next_wait(outcome, attempt) for attempt in (1, 2, 3)] == [1.0, 2.0, None]


def test_next_wait_uses_the_servers_retry_after():
    assert POLICY.next_wait(_failed(429, retry_after=2.0), 1) == 2.0


def test_next_wait_stops_for_success_final_errors_and_begun_replies():
    assert POLICY.next_wait(CallOutcome(text="hi", finish_reason="stop"), 1) is None
    assert POLICY.next_wait(_failed(401), 1) is None
    assert POLICY.next_wait(_failed(429, code="insufficient_quota"), 1) is None
    assert POLICY.next_wait(_failed(503, text="half an ans"), 1) is None  # kept as incomplete, not resent
    assert POLICY.next_wait(CallOutcome(error="Could not connect"), 1) is None


def test_a_single_attempt_policy_never_retries():
    assert RetryPolicy(attempts=1).next_wait(_failed(503), 1) is None


def test_the_notice_says_what_when_and_which_attempt():
    assert retry.notice(_failed(429), 2.0, 2, 3) == "Rate limited (429), retrying in 2 s (attempt 2/3)…"
    assert retry.notice(_failed(503), 0.25, 3, 3) == "The server failed (503), retrying in 0.25 s (attempt 3/3)…"


def test_the_attempts_note():
    notices = ["Rate limited (429), retrying in 2 s (attempt 2/3)…"]
    assert retry.attempts_note([], True) == ""
    assert retry.attempts_note(notices, True) == f"Answered on attempt 2. Before that: {notices[0]}"
    assert retry.attempts_note(notices * 2, False) == "Gave up after 3 attempts."
