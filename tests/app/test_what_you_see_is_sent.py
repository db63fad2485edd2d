"""The product's promise, tested the way a user meets it: read the meter and the payload preview,
press Send (or Retry, or Run), and compare with what the server got — under every strategy.

The recording server (tests/fake_openai.py) stands in for a provider and keeps the exact bytes of
every request; the embedded model's own server reports its own prompt-token count.
"""

import json
import re
import subprocess
import sys

import pytest

from lib.context.conversation import Message
from tests.app.conftest import chat_on, metric, payload_json, with_history
from tests.fake_openai import FakeOpenAI

pytestmark = pytest.mark.slow

PAIRS = [
    ("user", "My name is Ada."),
    ("assistant", "Nice to meet you, Ada!"),
    ("user", "I live in Lisbon, by the river."),
    ("assistant", "Lisbon is lovely."),
    ("user", "I like foxes 🦊."),
    ("assistant", "Foxes are clever animals."),
]
QUESTION = "What is my name, and where do I live?"
# (kind, turns, budget): every strategy, with parameters that make it drop something.
STRATEGIES = [
    ("manual", 2, 1024),
    ("full", 2, 1024),
    ("none", 2, 1024),
    ("last_turns", 2, 1024),
    ("token_budget", 2, 40),
    ("summarise", 1, 1024),
]


def _compact(preview: str) -> bytes:
    """The previewed JSON in its compact form: what the server must receive, byte for byte."""
    return json.dumps(json.loads(preview), ensure_ascii=False, separators=(",", ":")).encode()


def _posts(server: FakeOpenAI) -> list:
    return [r for r in server.requests if r.method == "POST" and r.path.endswith("/chat/completions")]


def _choose(at, kind: str, turns: int, budget: int) -> None:
    at.selectbox(key="strategy_kind").set_value(kind).run()
    if kind in ("last_turns", "summarise"):
        at.number_input(key="strategy_turns").set_value(turns).run()
    if kind == "token_budget":
        at.number_input(key="strategy_budget").set_value(budget).run()
    assert not at.exception, at.exception


def _promised(at, history: list[Message]) -> list[str]:
    """The history messages the captions say the call carries (a caption row per drawn message)."""
    rows = [c.value for c in at.caption if re.match(r"^[\d,]+ tokens( ·|$)", c.value)]
    assert len(rows) == len(history), rows
    return [m.content for m, row in zip(history, rows, strict=True) if "not sent" not in row]


def _make_summary_if_asked(at) -> None:
    button = next((b for b in at.button if b.key == "make_summary"), None)
    if button is not None:
        button.click().run()
        assert not at.exception, at.exception


def _send(at) -> None:
    next(b for b in at.button if b.label == "Send").click().run()
    assert not at.exception, at.exception


@pytest.mark.parametrize(("kind", "turns", "budget"), STRATEGIES, ids=[s[0] for s in STRATEGIES])
def test_send_posts_the_previewed_bytes_and_the_messages_the_captions_promised(kind, turns, budget):
    with FakeOpenAI() as server:
        server.behaviour.reply = "Summary: Ada lives in Lisbon." if kind == "summarise" else "You are Ada."
        at = chat_on(server.base_url)
        history = with_history(at, PAIRS)
        if kind == "manual":
            at.toggle(key=f"include_{history[2].id}").set_value(False).run()
            history = at.session_state["history"]
        _choose(at, kind, turns, budget)
        _make_summary_if_asked(at)
        at.text_area(key="draft").set_value(QUESTION).run()
        preview, promised = payload_json(at), _promised(at, history)
        shown_tokens = metric(at, "Prompt tokens")
        before = len(_posts(server))
        _send(at)
        sent = _posts(server)[before:]
        assert len(sent) == 1, "Send made more (or fewer) than the one call it showed"
        assert sent[0].body == _compact(preview)
        messages = [m["content"] for m in sent[0].json()["messages"]]
        assert messages[-1] == QUESTION, "the question is never subject to the strategy"
        carried = [c for c in messages[:-1] if c in {m.content for m in history}]
        assert carried == promised
        assert metric(at, "Predicted prompt") == shown_tokens  # Last call: the prediction shown before Send
        assert at.session_state["history"][-1].content == "You are Ada." or kind == "summarise"


def test_retry_sends_the_request_the_meter_showed_for_it():
    with FakeOpenAI() as server:
        at = chat_on(server.base_url)
        with_history(at, PAIRS)
        _choose(at, "last_turns", 1, 0)
        server.behaviour.status, server.behaviour.failures = 400, 1  # not retried by itself: the user retries
        at.text_area(key="draft").set_value(QUESTION).run()
        _send(at)
        question = at.session_state["history"][-1]
        assert question.content == QUESTION and question.status == "unanswered"
        # With the draft empty, the meter shows what the Retry will send.
        preview = payload_json(at)
        assert json.loads(preview)["messages"][-1]["content"] == QUESTION
        before = len(_posts(server))
        next(b for b in at.button if b.key == f"retry_{question.id}").click().run()
        assert not at.exception, at.exception
        sent = _posts(server)[before:]
        assert len(sent) == 1 and sent[0].body == _compact(preview)
        assert [m.content for m in at.session_state["history"]][-2:] == [QUESTION, server.behaviour.reply]


def test_each_compare_variant_posts_the_body_it_previewed():
    with FakeOpenAI() as server:
        at = chat_on(server.base_url)
        with_history(at, PAIRS)
        at.switch_page("pages/compare.py").run()
        assert not at.exception, at.exception
        at.text_area(key="compare_question").set_value(QUESTION).run()
        previews = [c.value for c in at.code if c.language == "json"]
        assert len(previews) == 4  # the four preset variants
        before = len(_posts(server))
        next(b for b in at.button if b.label.startswith("Run 4 variants")).click().run()
        assert not at.exception, at.exception
        sent = sorted(r.body for r in _posts(server)[before:])
        assert sent == sorted(_compact(p) for p in previews)
        assert all(json.loads(body)["messages"][-1]["content"] == QUESTION for body in sent)


@pytest.mark.parametrize(("kind", "turns", "budget"), STRATEGIES, ids=[s[0] for s in STRATEGIES])
def test_the_meter_before_send_equals_the_embedded_servers_count(app, kind, turns, budget):
    """The issue's table, as a test: the meter's prompt tokens before Send, against the usage the
    embedded model's server reported for that very call."""
    history = with_history(app, PAIRS)
    if kind == "manual":
        app.toggle(key=f"include_{history[2].id}").set_value(False).run()
    app.number_input(key="max_tokens").set_value(8).run()
    _choose(app, kind, turns, budget)
    _make_summary_if_asked(app)
    app.text_area(key="draft").set_value(QUESTION).run()
    shown = metric(app, "Prompt tokens")
    _send(app)
    assert metric(app, "Reported prompt") == shown
    assert metric(app, "Predicted prompt") == shown


@pytest.mark.parametrize("stream", [True, False], ids=["streamed", "whole"])
def test_the_copied_snippets_post_the_previewed_bytes(stream, tmp_path):
    """What a user copies from the preview's curl and Python tabs, run as they are, sends the body the
    JSON tab shows (it crashed with streaming off: a tuple has no `choices`)."""
    with FakeOpenAI() as server:
        server.behaviour.reply = "Hello from the snippet."
        at = chat_on(server.base_url, stream=stream)
        with_history(at, PAIRS)
        at.text_area(key="draft").set_value(QUESTION + " 'quoted' $HOME `x`").run()
        preview = payload_json(at)
        for language, program in (("python", sys.executable), ("bash", "bash")):
            snippet = next(c.value for c in at.code if c.language == language)
            script = tmp_path / f"snippet.{language}"
            script.write_text(snippet if language == "python" else _quiet(snippet), encoding="utf-8")
            before = len(_posts(server))
            result = subprocess.run([program, str(script)], capture_output=True, text=True, timeout=60, check=False)
            assert result.returncode == 0, result.stderr
            sent = _posts(server)[before:]
            assert len(sent) == 1 and sent[0].body == _compact(preview), language
            if language == "python":
                assert result.stdout.strip() == "Hello from the snippet."


def _quiet(curl: str) -> str:
    return curl.replace(" \\\n", " --silent --show-error \\\n", 1)
