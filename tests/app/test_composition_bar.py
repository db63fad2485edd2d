"""The composition bar as a user meets it: on the chat's meter (against the window the server
reports, its largest messages each a way to the message), per variant on Compare, per turn on the
Cost timeline."""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from lib.context.composition import LABELS
from lib.context.conversation import Message
from tests.app.conftest import new_app, type_server, with_history
from tests.fake_openai import FakeOpenAI

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


def _charts(at) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def _composition_chart(at, rows: int | None = None) -> dict:
    """The figure whose bars are the composition's parts (one trace per part, stacked)."""
    found = [
        f
        for f in _charts(at)
        if f["layout"].get("barmode") == "stack" and f["data"] and f["data"][0].get("orientation") == "h"
    ]
    assert found, "no composition bar on the page"
    figure = found[0]
    if rows is not None:
        assert len(figure["data"][0]["y"]) == rows
    return figure


def _chat_bar(at) -> dict[str, int]:
    """The chat meter's bar as drawn (one HTML bar): each shown part's name and its tokens, in order."""
    bars = [h.proto.body for h in at.get("html") if 'class="composition-bar"' in h.proto.body]
    assert len(bars) == 1, "no composition bar on the chat page"
    by_part = {part: int(tokens) for part, tokens in re.findall(r'data-part="(\w+)" data-tokens="(\d+)"', bars[0])}
    return {LABELS[part]: tokens for part, tokens in by_part.items()}  # type: ignore[index]


def _history(messages: int) -> list[Message]:
    history = []
    for i in range(messages // 2):
        history.append(Message("user", f"question {i}"))
        history.append(Message("assistant", f"answer {i}"))
    history[0] = Message("user", "an old and long question " * 60)  # the largest message, on the oldest page
    return history


def test_the_chat_bar_sums_to_the_servers_window_and_a_contributor_click_opens_its_page(app):
    history = with_history(app, [(m.role, m.content) for m in _history(60)])
    app.session_state["page_size"] = 25
    app.run()
    parts = _chat_bar(app)
    assert sum(parts.values()) == 8192  # the embedded server's own n_ctx
    prompt = int(next(m.value for m in app.metric if m.label.startswith("Prompt tokens")).replace(",", ""))
    assert sum(v for name, v in parts.items() if name not in ("Reserved for the reply", "Free space")) == prompt
    assert parts["Reserved for the reply"] == 256
    caption = next(c.value for c in app.caption if "reserved for the reply" in c.value)
    assert "reported by the server: n_ctx in its /props" in caption
    # The largest message is on the oldest page: its button brings that page, with the message, on screen.
    oldest = history[0]
    assert app.session_state["history_page"] == 0
    assert not [t for t in app.toggle if t.key == f"include_{oldest.id}"]
    button = next(b for b in app.button if b.key == f"contributor_{oldest.id}")
    assert "an old and long question" in button.label
    button.click().run()
    assert not app.exception, app.exception
    assert app.session_state["history_page"] == 2
    assert [t for t in app.toggle if t.key == f"include_{oldest.id}"]


class _Props(BaseHTTPRequestHandler):
    """A llama.cpp server's /props, started with -c 4096 (nothing else is answered)."""

    def do_GET(self):
        body = json.dumps({"default_generation_settings": {"n_ctx": 4096}}).encode()
        code = 200 if self.path == "/props" else 404
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def props_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Props)
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


def test_a_servers_window_replaces_the_tables_in_the_meter_and_the_bar(props_server):
    """It did not: the meter said 8,192 (the table's SmolLM2) while the server ran with 4,096."""
    at = new_app()
    at.session_state["provider_kind"] = "compatible"
    at.session_state["compatible_model"] = "SmolLM2-135M-Instruct"
    at.run()
    type_server(at, props_server)
    with_history(at, [("user", "hello"), ("assistant", "hi")])
    bar = next(p for p in at.get("progress"))
    assert "4,096-token window" in bar.proto.text
    assert sum(_chat_bar(at).values()) == 4096
    assert any("reported by the server: n_ctx in its /props" in c.value for c in at.caption)


def test_compare_draws_one_bar_per_variant():
    at = new_app(str(ROOT / "pages" / "compare.py"))
    at.session_state["history"] = _history(8)
    at.session_state["compare_question"] = "And then?"
    at.run()
    assert not at.exception, at.exception
    figure = _composition_chart(at)
    variants = len(at.session_state["compare_slots"]) if "compare_slots" in at.session_state else None
    rows = figure["data"][0]["y"]
    assert len(rows) >= 2 and (variants is None or len(rows) == variants)
    totals = [sum(trace["x"][i] for trace in figure["data"]) for i in range(len(rows))]
    assert totals == [8192] * len(rows)  # each bar is its whole window


def test_the_timeline_draws_each_turns_call_by_part():
    at = new_app(str(ROOT / "pages" / "timeline.py"))
    at.session_state["history"] = _history(10)
    at.run()
    assert not at.exception, at.exception
    figure = _composition_chart(at, rows=5)
    assert figure["data"][0]["y"] == [f"Turn {t}" for t in range(1, 6)]
    names = {trace["name"] for trace in figure["data"]}
    assert "Free space" not in names and "The question" in names
    conversation = next(trace["x"] for trace in figure["data"] if trace["name"] == "Conversation")
    assert conversation == sorted(conversation) and conversation[-1] > conversation[1]  # the full history grows


def test_the_built_in_agent_conversation_loads_and_its_bar_shows_tool_calls_and_results(app):
    from lib.analysis.agent_trace import BUILT_IN

    app.button(key="load_agent_example").click().run()
    assert not app.exception, app.exception
    history = app.session_state["history"]
    assert [m.role for m in history].count("tool") == 3 and sum(bool(m.tool_calls) for m in history) == 3
    assert app.text_area(key="draft").value == BUILT_IN.question
    assert [t.name for t in app.session_state["tools"]] == ["get_weather", "lookup_timezone"]
    names = set(_chat_bar(app))
    assert {"Tool calls", "Tool results", "The question", "System prompt"} <= names
    # Cleared: each result's caption quotes what the model sees in its place.
    app.selectbox(key="strategy_kind").set_value("clear_tool_results").run()
    app.number_input(key="strategy_turns").set_value(0).run()
    assert not app.exception, app.exception
    shown = [c.value.replace("\\", "") for c in app.caption]  # as Markdown renders them: escapes gone
    captions = [c for c in shown if "cleared (older than the last 0 tool results)" in c]
    assert len(captions) == 3
    assert any(
        'the model sees “[Tool result cleared to save context: get_weather({"city": "Rome"})' in c for c in captions
    )


def test_a_vllm_servers_window_is_read_once_by_its_counter_and_shown():
    """vLLM says its window in its /tokenize answer: the counter that counts the prompt with the server
    reads it too (one reader, one cache), so the meter and the bar use it. Before, the sidebar's own
    reader asked /props and /v1/models only, and said the server reports none."""
    with FakeOpenAI() as fake:
        fake.behaviour.tokenizer = "vllm"
        fake.behaviour.n_ctx = 6000
        at = new_app()
        at.session_state["provider_kind"] = "compatible"
        at.session_state["compatible_model"] = "fake-model"
        at.run()
        type_server(at, fake.base_url)
        with_history(at, [("user", "hello"), ("assistant", "hi")])
        assert "6,000-token window" in next(p for p in at.get("progress")).proto.text
        assert sum(_chat_bar(at).values()) == 6000
        assert any("reported by the server: max_model_len in its /tokenize" in c.value for c in at.caption)
        props = lambda: [r for r in fake.tokenize_requests if r.path == "/props"]  # noqa: E731
        asked = len(props())
        at.run()
        at.run()
        assert asked == 1 and len(props()) == 1  # asked once, not on every rerun
