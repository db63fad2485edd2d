"""What an OpenAI-compatible server sends, through the chat page (issue 23): a server that dies
mid-reply, a reply that never ends or is too large, usage no call can have, a redirect loop. The real
`openai` client against the hostile local server (tests/fake_openai.py); what the page shows is
compared with what the server got and what the run log kept."""

from __future__ import annotations

import time

import pytest

from lib.backends.server_tokens import UNANSWERED
from tests.app.conftest import chat_on, errors_shown, run_log_rows, send, with_history
from tests.fake_openai import FakeOpenAI

pytestmark = pytest.mark.slow

KEY = "sk-local-0123456789abcdef"


def _captions(at) -> str:
    return " ".join(c.value for c in at.caption)


def _hung_up(server: FakeOpenAI) -> bool:
    deadline = time.monotonic() + 5
    while server.hangups < 1 and time.monotonic() < deadline:
        time.sleep(0.02)
    return server.hangups >= 1


def test_a_server_that_dies_mid_reply_leaves_the_page_working_and_says_why():
    """Was: a ServerTokenizerError traceback (/extras/tokenize: URLError) where the history and the
    composer should be: the cache prediction re-tokenised the partial reply on the dead server."""
    with FakeOpenAI() as server:
        server.behaviour.tokenizer = "llama-cpp-python"
        at = chat_on(server.base_url, KEY)
        assert UNANSWERED not in _captions(at)
        send(at, "Count to three.")  # a call before: the next one's cache is predicted from it
        assert server.tokenize_requests  # counted by the server's tokenizer
        server.behaviour.reply, server.behaviour.die_after_chunks = "one two three four", 2
        send(at, "Again.")  # asserts no exception

        history = at.session_state["history"]
        partial = history[-1]
        assert (partial.role, partial.content, partial.status) == ("assistant", "one two", "incomplete")
        assert "connection dropped" in errors_shown(at)  # why the reply stopped
        assert at.text_area(key="draft") is not None  # the composer is there

        at.text_area(key="draft").set_value("Still there?").run()  # new text: the server would be asked
        assert not at.exception, at.exception
        assert UNANSWERED in _captions(at)  # the meter's count, labelled
        assert any(m.label == "Prompt tokens (estimate)" for m in at.metric)


@pytest.mark.parametrize(
    ("behaviour", "settings", "says", "kept"),
    [
        (
            {"reply": "tok ", "repeat": None, "interval_s": 0.05},
            {"deadline_s": 1},  # the sidebar's least: the same promise as 300 s, sooner
            "stopped after 1 s: the call's deadline",
            "tok tok",
        ),
        (
            {"reply": "x" * 10_000, "repeat": 1_000},
            {"max_reply_mb": 0.05},
            "stopped at 50 KB: the reply size cap",
            "x" * 50_000,
        ),
    ],
)
def test_a_reply_that_never_ends_or_is_too_large_is_kept_incomplete_with_the_limit_named(
    behaviour, settings, says, kept
):
    """Was: an endless stream still going after 30 s; a 10 MB reply accepted whole."""
    with FakeOpenAI() as server:
        at = chat_on(server.base_url, **settings)
        with_history(at, [("user", "Hello."), ("assistant", "Hi!")])
        for name, value in behaviour.items():
            setattr(server.behaviour, name, value)
        send(at, "Talk.")
        partial = at.session_state["history"][-1]
        assert (partial.role, partial.status, partial.included) == ("assistant", "incomplete", False)
        assert partial.content.startswith(kept) and len(partial.content) <= 50_000
        assert says in errors_shown(at)
        assert _hung_up(server) or behaviour.get("repeat") == 1_000  # an endless stream is hung up on
        (row,) = run_log_rows()
        assert row.status == "incomplete" and says in row.error


def test_the_limits_are_in_the_sidebar_and_shown_where_runs_are_planned():
    with FakeOpenAI() as server:
        at = chat_on(server.base_url)
        assert at.number_input(key="deadline_s").value == 300
        assert at.number_input(key="max_reply_mb").value == 1.0
        at.switch_page("pages/compare.py").run()
        assert not at.exception, at.exception
        assert "Each call stops after 300 s (its deadline) or at 1 MB of reply (the size cap)" in _captions(at)


IMPLAUSIBLE = {"prompt_tokens": -5, "completion_tokens": 10**30, "prompt_tokens_details": {"cached_tokens": 10**40}}


def test_implausible_usage_is_flagged_on_the_page_and_in_the_run_log_never_priced(store):
    """Was: negative prompt tokens, 10^30 completion and 10^40 cached stored unchecked (and priced).
    On both backends: 10^30 fits no INTEGER column, PostgreSQL's least of all."""
    with FakeOpenAI() as server:
        server.behaviour.models = ["gpt-4o"]  # a priced model's name
        at = chat_on(server.base_url, KEY, compatible_model="gpt-4o", stream=False)
        server.behaviour.raw_usage = IMPLAUSIBLE
        send(at, "Hello.")
        assert at.session_state["history"][-1].status == "ok"  # the answer itself is fine
        flag = " ".join(w.value for w in at.warning).replace("\\", "")  # shown inert: escaped markdown
        assert "implausible usage" in flag and "prompt_tokens -5 (negative)" in flag and "~10^30" in flag
        assert any(m.label == "Reported prompt" and m.value == "implausible" for m in at.metric)
        assert "Cost unpriced" in _captions(at)

        (row,) = run_log_rows()
        assert row.status == "ok" and row.cost is None
        assert (row.usage.prompt_tokens, row.usage.completion_tokens, row.usage.cached_tokens) == (None, None, None)
        # The flag in its own column (lib/store/migrations 0003), the call's error left to errors
        assert "prompt_tokens -5 (negative)" in row.usage.flag and "cached_tokens ~10^40" in row.usage.flag
        assert row.error is None

        at.switch_page("pages/run_log.py").run()
        assert not at.exception, at.exception
        shown = at.dataframe[0].value
        assert "prompt_tokens -5 (negative)" in " ".join(str(v) for v in shown["implausible usage"])


def test_a_redirect_loop_is_named_on_the_page():
    """Was: "Could not connect … is the server running?" for a server that redirects to itself."""
    with FakeOpenAI() as server:
        at = chat_on(server.base_url, KEY)
        server.behaviour.redirect_loop = True
        send(at, "Hello.")
        shown = errors_shown(at)
        assert "The server redirected in a loop (20 redirects)" in shown and "check the base URL" in shown
        assert "Could not connect" not in shown
        assert at.session_state["history"][-1].status == "unanswered"
