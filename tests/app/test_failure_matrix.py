"""Every way a call can fail, through the real `openai` client and the real chat page.

For each row of the matrix: a clear, specific message; the user's message and the history intact;
a partial answer kept and marked incomplete; a retry that works once the server recovers; the key
in no message, no page text and no log record. Automatic retries (429, 5xx) wait through
`lib.backends.retry.wait`, replaced here by a recorder, so the waits are checked and not slept.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from dataclasses import dataclass, field

import pytest
from streamlit.testing.v1 import AppTest

from lib.backends import retry
from lib.backends.embedded import free_port
from tests.app.conftest import chat_calls, chat_on, errors_shown, new_app, send, visible_text, with_history
from tests.fake_openai import Behaviour, FakeOpenAI

pytestmark = pytest.mark.slow

KEY = "sk-proj-Zq8XwV3mKp2RtY7nLc4HbJ9sDf6G"
# What servers echo of a rejected key: OpenAI its start and end, others a bare fragment.
ECHOED = f"Incorrect API key provided: {KEY[:12]}****{KEY[-4:]} (key ending {KEY[-10:]})"
PAIRS = [("user", "My name is Ada."), ("assistant", "Hello Ada!")]
QUESTION = "What is my name?"
RECOVERED = Behaviour().reply


@dataclass
class Row:
    name: str
    behaviour: dict
    says: tuple[str, ...]  # fragments of the error shown
    waits: list[float] = field(default_factory=list)  # the automatic retries' waits
    partial: str = ""  # the text kept as an incomplete reply
    settings: dict = field(default_factory=dict)  # sidebar values set for this row


def _error(message: str, code: str | None = None) -> dict:
    return {"error": {"message": message, "type": "test", "code": code}}


ROWS = [
    Row(
        "401 bad key",
        {"status": 401, "error_body": _error(ECHOED, "invalid_api_key")},
        ("API key was rejected (401)", "check the key"),
    ),
    Row(
        "403 forbidden",
        {"status": 403, "error_body": _error(f"Project has no access. {ECHOED}")},
        ("not allowed", "(403)", "pick another model"),
    ),
    Row(
        "404 unknown model",
        {"status": 404, "error_body": _error("The model `fake-model` does not exist", "no_model")},
        ("Not found (404)", "check the model", "does not exist"),
    ),
    Row(
        "400 context too long",
        {
            "status": 400,
            "error_body": _error(
                "This model's maximum context length is 8192 tokens. However, your messages resulted in 9100 tokens.",
                "context_length_exceeded",
            ),
        },
        ("longer than the model's context window", "leave messages out", "9100 tokens"),
    ),
    Row(
        "429 with Retry-After",
        {"status": 429, "headers": {"retry-after": "2"}, "error_body": _error(ECHOED)},
        ("Rate limited (429)", "wait 2 s", "Gave up after 3 attempts"),
        waits=[2.0, 2.0],
    ),
    Row("500", {"status": 500}, ("server failed (500)", "Gave up after 3 attempts"), waits=[1.0, 2.0]),
    Row("503", {"status": 503}, ("server failed (503)", "Gave up after 3 attempts"), waits=[1.0, 2.0]),
    Row(
        "read timeout",
        {"delay_s": 1.5},
        ("No answer before the timeout", "raise the timeout"),
        settings={"timeout_s": 1},
    ),
    Row(
        "stream cut off",
        {"reply": "Your name is Ada, I believe", "cut_after_chunks": 3},
        ("cut off part-way", "partial answer is kept"),
        partial="Your name is",
    ),
    Row(
        "connection broken mid-stream",
        {"reply": "Your name is Ada", "cut_after_chunks": 2, "break_stream": True},
        ("cut off part-way", "connection dropped"),
        partial="Your name",
    ),
    Row("malformed JSON", {"malformed": True}, ("not valid JSON", "OpenAI-compatible")),
    Row("empty choices", {"empty_choices": True}, ("empty choices list", "Retry")),
]


@pytest.fixture
def waits(monkeypatch) -> list[float]:
    recorded: list[float] = []
    monkeypatch.setattr(retry, "wait", recorded.append)
    return recorded


class AllLogs(logging.Handler):
    """Every record of every logger at DEBUG, streamlit's (which do not propagate) included."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage() + (self.format(record) if record.exc_info else ""))


@pytest.fixture
def all_logs():
    handler = AllLogs()
    names = ["", "openai", "httpx2", "httpx", "httpcore", "streamlit", *logging.root.manager.loggerDict]
    loggers = [logging.getLogger(name) for name in dict.fromkeys(names)]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.addHandler(handler)
        logger.setLevel(logging.DEBUG)
    yield handler
    for logger, level in zip(loggers, levels, strict=True):
        logger.removeHandler(handler)
        logger.setLevel(level)


def key_leaks(text: str) -> list[str]:
    """Runs of 6 characters of the key's random part found in `text`."""
    secret = KEY.removeprefix("sk-proj-")
    return [secret[i : i + 6] for i in range(len(secret) - 5) if secret[i : i + 6] in text]


def _snapshot(at: AppTest) -> list[tuple[str, str, str, str]]:
    return [(m.id, m.role, m.content, m.status) for m in at.session_state["history"]]


@pytest.mark.parametrize("row", ROWS, ids=[row.name for row in ROWS])
def test_failure_is_clear_lossless_and_retryable(row: Row, waits, all_logs):
    with FakeOpenAI() as server:
        at = chat_on(server.base_url, KEY, **row.settings)
        with_history(at, PAIRS)
        before = _snapshot(at)
        server.behaviour = Behaviour(**row.behaviour)
        send(at, QUESTION)

        history = at.session_state["history"]
        assert _snapshot(at)[:2] == before  # the history is intact
        question = history[2]
        assert (question.content, question.status) == (QUESTION, "unanswered")
        assert at.text_area(key="draft").value == ""  # moved into the history, not lost
        for fragment in row.says:
            assert fragment in errors_shown(at), (fragment, errors_shown(at))
        assert waits == row.waits
        # The attempts (the model list and the window the server reports are asked for before them).
        assert len(chat_calls(server)) == 1 + len(row.waits)
        if row.partial:
            partial = history[3]
            assert (partial.role, partial.content, partial.status) == ("assistant", row.partial, "incomplete")
            assert not partial.included  # left out of the next call
        else:
            assert len(history) == 3

        server.behaviour = Behaviour()  # the server recovers
        next(b for b in at.button if b.key == f"retry_{question.id}").click().run()
        assert not at.exception, at.exception
        history = at.session_state["history"]
        assert _snapshot(at)[:2] == before and history[2].status == "ok"
        assert (history[-1].role, history[-1].content, history[-1].status) == ("assistant", RECOVERED, "ok")
        if row.partial:
            assert history[3].content == row.partial  # the partial answer is kept, before the full one
        sent = [m["content"] for m in server.requests[-1].json()["messages"]]
        assert sent[-3:] == ["My name is Ada.", "Hello Ada!", QUESTION]  # the partial answer is not resent

        assert server.requests[-1].headers["authorization"] == f"Bearer {KEY}"  # the key was in use
        assert key_leaks(visible_text(at)) == []
        assert key_leaks("\n".join(all_logs.lines)) == []
        assert any("openai" in line.lower() or "request" in line.lower() for line in all_logs.lines)


def test_connection_refused_then_the_server_comes_up(waits):
    port = free_port()
    at = chat_on(f"http://127.0.0.1:{port}/v1", compatible_model="fake-model")
    with_history(at, PAIRS)
    send(at, QUESTION)
    assert f"Could not connect to http://127.0.0.1:{port}/v1/chat/completions" in errors_shown(at)
    assert "is the server running" in errors_shown(at)
    question = at.session_state["history"][2]
    assert question.status == "unanswered" and len(at.session_state["history"]) == 3
    assert waits == []
    with FakeOpenAI(port=port) as server:
        next(b for b in at.button if b.key == f"retry_{question.id}").click().run()
        assert not at.exception, at.exception
        assert [m.status for m in at.session_state["history"]] == ["ok", "ok", "ok", "ok"]
        assert at.session_state["history"][-1].content == RECOVERED
        assert server.requests[-1].json()["messages"][-1]["content"] == QUESTION


@pytest.mark.parametrize(("status", "retry_after", "expected"), [(429, "2", [2.0]), (503, None, [1.0, 2.0])])
def test_automatic_retries_recover_and_say_so(status, retry_after, expected, waits):
    with FakeOpenAI() as server:
        at = chat_on(server.base_url)
        headers = {"retry-after": retry_after} if retry_after else {}
        server.behaviour = Behaviour(status=status, headers=headers, failures=len(expected))
        send(at, QUESTION)
        assert waits == expected
        history = at.session_state["history"]
        assert [m.status for m in history] == ["ok", "ok"] and history[-1].content == RECOVERED
        note = " ".join(i.value for i in at.info)
        assert f"Answered on attempt {len(expected) + 1}" in note
        what = "Rate limited" if status == 429 else "The server failed"
        assert f"{what} ({status}), retrying in {retry.format_seconds(expected[0])} (attempt 2/3)" in note
        assert not at.error


def test_a_long_retry_after_is_capped(waits):
    with FakeOpenAI() as server:
        at = chat_on(server.base_url)
        server.behaviour = Behaviour(status=429, headers={"retry-after": "3600"})
        send(at, QUESTION)
        cap = retry.DEFAULT_POLICY.max_delay_s
        assert waits == [cap, cap]
        assert "asks to wait 3600 s" in errors_shown(at)


def test_a_quota_error_is_not_retried(waits):
    with FakeOpenAI() as server:
        at = chat_on(server.base_url)
        server.behaviour = Behaviour(status=429, error_body=_error("You exceeded your quota", "insufficient_quota"))
        send(at, QUESTION)
        assert waits == [] and len(chat_calls(server)) == 1
        assert "quota is used up" in errors_shown(at) and "retrying will not help" in errors_shown(at)


def test_a_very_long_answer_arrives_whole():
    reply = " ".join(f"word{i}" for i in range(20_000))
    with FakeOpenAI() as server:
        at = chat_on(server.base_url)
        server.behaviour = Behaviour(reply=reply)
        send(at, QUESTION)
        history = at.session_state["history"]
        assert [m.status for m in history] == ["ok", "ok"]
        assert history[-1].content == reply and len(reply) > 150_000
        # The next call would carry the whole answer: the meter blocks it, the only error shown.
        assert [e.value for e in at.error] == [
            f"Over the context window by {-_reply_room(at):,} tokens: sending is blocked."
        ]


def _reply_room(at: AppTest) -> int:
    tokens = int(next(m.value for m in at.metric if m.label.startswith("Prompt tokens")).replace(",", ""))
    return 8192 - tokens


def test_a_reply_stopped_by_the_token_limit_says_so():
    with FakeOpenAI() as server:
        at = chat_on(server.base_url, max_tokens=16)
        server.behaviour = Behaviour(finish_reason="length")
        send(at, QUESTION)
        assert at.session_state["history"][-1].content == RECOVERED
        assert any("stopped at the 16-token limit" in w.value and "Max reply tokens" in w.value for w in at.warning)


@pytest.mark.parametrize(
    ("base_url", "named"), [("", "the base URL"), ("http://[::1", "the base URL (a full http:// or https:// address)")]
)
def test_missing_or_unusable_settings_keep_the_message_and_name_the_problem(base_url, named):
    at = chat_on(base_url)
    send(at, QUESTION)
    history = at.session_state["history"]
    assert [(m.content, m.status) for m in history] == [(QUESTION, "unanswered")]
    assert f"Set {named} in the sidebar" in errors_shown(at)


def test_the_embedded_server_is_restarted_when_its_process_died():
    from ui import resources

    at = new_app()
    at.run()
    assert not at.exception, at.exception
    server = resources.embedded_server()  # the page's own, cached for the process
    pid, restarts = server.pid, server.restarts
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while server.is_alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not server.is_alive()
    send(at, "Say hi.")
    history = at.session_state["history"]
    assert [m.status for m in history] == ["ok", "ok"] and history[-1].content.strip()
    assert server.restarts == restarts + 1 and server.pid != pid and server.is_alive()
