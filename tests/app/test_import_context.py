"""The chat page's *Bring your own context*, through the page: paste, preview (nothing saved), import
as a new session (the open one kept), the meter counting the imported call; refusals that save nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from lib.context.tokens import TiktokenCounter
from lib.store import storage
from tests.app.conftest import THIS_BROWSER, metric, new_app, payload_json, with_history

pytestmark = pytest.mark.usefixtures("store")
CHAT = str(Path(__file__).resolve().parents[2] / "pages" / "chat.py")
DATA = Path(__file__).resolve().parents[1] / "data" / "contexts"
FAKE_KEY = "sk-proj-THISISAFAKEKEYFORTESTS000000000000"


def _chat() -> AppTest:
    """The chat page on OpenAI (counted with tiktoken; nothing is sent in these tests)."""
    at = new_app(CHAT)
    at.session_state["provider_kind"] = "openai"
    at.run()
    assert not at.exception, at.exception
    return at


def _paste(at: AppTest, text: str) -> None:
    at.session_state["import_context_open"] = True  # what clicking the expander does
    at.run()
    at.text_area(key="import_context_text").set_value(text).run()
    at.button(key="import_context_read").click().run()
    assert not at.exception, at.exception


def _sessions() -> list[storage.SessionInfo]:
    with storage.opened() as conn:
        return storage.list_sessions(conn, THIS_BROWSER)


def test_paste_preview_import_opens_a_new_session_whose_meter_counts_the_imported_call():
    at = _chat()
    with_history(at, [("user", "Mine, not to be lost."), ("assistant", "Kept.")])
    mine = at.query_params["session"]
    _paste(at, (DATA / "chat_request.json").read_text())
    # The preview: what becomes what, before anything is saved.
    table = at.dataframe[0].value
    assert list(table["role"]) == ["system prompt", "user", "assistant", "tool", "assistant", "user"]
    assert list(table["tool"])[2:4] == ['calls get_weather({"city": "Paris"})', "answers call_abc123"]
    report = " ".join(m.value for m in at.markdown)
    assert "` api_key ` ignored" in report and "never taken" in report and "image\\_url" in report
    assert [s.id for s in _sessions()] == [mine]  # nothing saved by the preview
    at.button(key="import_context_go").click().run()
    assert not at.exception, at.exception
    imported = at.query_params["session"]
    assert imported != mine
    history = at.session_state["history"]
    assert [m.content for m in history] == [
        "What's the weather in Paris?",
        "",
        '{"temp_c": 18, "sky": "cloudy"}',
        "It is 18 °C and cloudy in Paris.",
        "And tomorrow?",
    ]
    assert history[1].tool_calls[0].name == "get_weather" and history[2].tool_call_id == "call_abc123"
    assert [t.name for t in at.session_state["tools"]] == ["get_weather"]
    assert at.session_state["system_text"] == "You are a weather assistant. Answer in one sentence."
    assert at.session_state["openai_model"] == "gpt-4o-mini"
    assert at.session_state["temperature"] == 0.2 and at.session_state["max_tokens"] == 120
    # The open session was saved first and is kept as it was.
    with storage.opened() as conn:
        kept = storage.load_session(conn, mine, THIS_BROWSER)
        assert [m.content for m in kept.messages] == ["Mine, not to be lost.", "Kept."]
        assert storage.load_session(conn, imported, THIS_BROWSER) is not None
    # The meter counts the imported call: the body the page would send, counted as tiktoken counts it.
    body = json.loads(payload_json(at))
    assert body["model"] == "gpt-4o-mini" and body["temperature"] == 0.2
    assert [m["role"] for m in body["messages"]] == ["system", "user", "assistant", "tool", "assistant", "user"]
    assert body["tool_choice"] == "auto" and [t["function"]["name"] for t in body["tools"]] == ["get_weather"]
    expected = TiktokenCounter.for_model("gpt-4o-mini").count(body["messages"], tools=body["tools"]).total
    assert metric(at, "Prompt tokens") == f"{expected:,}"
    assert FAKE_KEY not in json.dumps([str(s) for s in _sessions()]) + payload_json(at)


def test_a_conversation_is_picked_from_chatgpts_export():
    at = _chat()
    _paste(at, (DATA / "conversations.json").read_text())
    at.selectbox(key="import_context_pick").set_value(1).run()
    assert list(at.dataframe[0].value["text"]) == ["", "What bird is this?", "A robin."]
    at.button(key="import_context_go").click().run()
    assert [m.content for m in at.session_state["history"]] == ["What bird is this?", "A robin."]


def test_a_malformed_paste_is_refused_with_its_line_and_saves_nothing():
    at = _chat()
    _paste(at, '{"messages": [\n{"role": "user", "content": "hi"}\n,]}')
    assert any("Line 3" in e.value and "nothing was saved" in e.value for e in at.error)
    assert not any(b.key == "import_context_go" for b in at.button)
    assert _sessions() == []


def test_file_text_is_shown_inert():
    at = _chat()
    hostile = "![x](https://attacker.example/?q=1) <img src=x onerror=alert(1)> **bold**"
    body = {"model": "m", "messages": [{"role": "user", "content": "hi", "x": 1}], hostile: 1}
    _paste(at, json.dumps(body))
    shown = " ".join(m.value for m in at.markdown)
    # Only ever inside a code span (shown as typed: no image fetched, no tag run), never as Markdown.
    assert shown.count("![x](") == shown.count("<img") == shown.count(f"` {hostile} `") == 1


def test_an_uploaded_log_offers_its_lines_and_imports_the_one_picked():
    at = _chat()
    at.session_state["import_context_open"] = True
    at.run()
    uploader = next(u for u in at.file_uploader if u.key == "import_context_file_0")
    uploader.set_value(("calls.jsonl", (DATA / "log.jsonl").read_bytes(), "application/jsonl")).run()
    at.button(key="import_context_read").click().run()
    assert not at.exception, at.exception
    assert "Read the file calls\\.jsonl as: **JSONL log**" in [m.value for m in at.markdown]
    assert [o.split(" · ")[0] for o in at.selectbox(key="import_context_pick").options] == [
        "line 1",
        "line 2",
        "line 4",
    ]
    at.selectbox(key="import_context_pick").set_value(1).run()
    at.button(key="import_context_go").click().run()
    assert [(m.role, m.content) for m in at.session_state["history"]] == [("user", "Say hi."), ("assistant", "Hi!")]
    # A fresh, empty uploader and paste box after an import.
    assert not any(u.key == "import_context_file_0" for u in at.file_uploader)
    assert at.text_area(key="import_context_text").value == ""
