"""The chat page, driven through Streamlit's AppTest against the real embedded server."""

import json

import pytest

from lib.backends import retry
from tests.app.conftest import errors_shown, metric, payload_json, run_log_rows, type_server, visible_text, with_history
from tests.fake_openai import FakeOpenAI

pytestmark = pytest.mark.slow

PAIRS = [
    ("user", "My name is Ada and I like 🦊 foxes."),
    ("assistant", "Nice to meet you, Ada!"),
    ("user", "What animal do I like?"),
    ("assistant", "Foxes."),
]


def _tokens(at) -> int:
    return int(metric(at, "Prompt tokens").replace(",", ""))


def _bytes(at) -> int:
    return int(metric(at, "Payload").split()[0].replace(",", ""))


def test_first_load_shows_the_meter_for_the_system_prompt(app):
    assert _tokens(app) > 0 and _bytes(app) > 0
    body = json.loads(payload_json(app))
    assert body["messages"] == [{"role": "system", "content": "You are a helpful assistant."}]
    assert body["model"] == "SmolLM2-135M-Instruct"


def test_toggling_a_message_off_shrinks_the_meter_and_the_payload(app):
    history = with_history(app, PAIRS)
    before_tokens, before_bytes = _tokens(app), _bytes(app)
    app.toggle(key=f"include_{history[0].id}").set_value(False).run()
    assert _tokens(app) < before_tokens and _bytes(app) < before_bytes
    sent = [m["content"] for m in json.loads(payload_json(app))["messages"]]
    assert PAIRS[0][1] not in sent and PAIRS[1][1] in sent
    assert not app.session_state["history"][0].included
    app.toggle(key=f"include_{history[0].id}").set_value(True).run()
    assert _tokens(app) == before_tokens


def test_editing_or_leaving_out_the_system_prompt_changes_the_payload(app):
    app.text_area(key="system_text").set_value("Answer in French.").run()
    assert json.loads(payload_json(app))["messages"][0]["content"] == "Answer in French."
    app.toggle(key="system_included").set_value(False).run()
    assert all(m["role"] != "system" for m in json.loads(payload_json(app))["messages"])


def test_bulk_actions(app):
    with_history(app, PAIRS)
    next(b for b in app.button if b.label == "Exclude all").click().run()
    assert not any(m.included for m in app.session_state["history"])
    assert len(json.loads(payload_json(app))["messages"]) == 1
    app.number_input(key="last_turns").set_value(1).run()
    next(b for b in app.button if b.label == "Keep last N turns").click().run()
    assert [m.included for m in app.session_state["history"]] == [False, False, True, True]
    assert app.toggle(key=f"include_{app.session_state['history'][0].id}").value is False
    next(b for b in app.button if b.label == "Include all").click().run()
    assert all(m.included for m in app.session_state["history"])


def test_edit_and_delete_a_message(app):
    history = with_history(app, PAIRS)
    assert not [w for w in app.text_area if (w.key or "").startswith("edit_")]  # drawn only in an open editor
    app.session_state[f"editor_{history[1].id}"] = True  # what clicking the edit icon does
    app.run()
    app.text_area(key=f"edit_{history[1].id}").set_value("Edited reply")
    next(b for b in app.button if b.key == f"save_{history[1].id}").click().run()
    assert "Edited reply" in payload_json(app)
    next(b for b in app.button if b.key == f"delete_{history[1].id}").click().run()
    assert [m.content for m in app.session_state["history"]] == [PAIRS[0][1], PAIRS[2][1], PAIRS[3][1]]


def test_the_draft_counts_before_it_is_sent(app):
    before = _tokens(app)
    app.text_area(key="draft").set_value("A question that is not sent yet").run()
    assert _tokens(app) > before
    assert "A question that is not sent yet" in payload_json(app)


def test_sending_adds_the_question_and_the_streamed_answer(app):
    app.text_area(key="draft").set_value("Hello, my name is Ada.").run()
    predicted = _tokens(app)
    next(b for b in app.button if b.label == "Send").click().run()
    assert not app.exception
    history = app.session_state["history"]
    assert [m.role for m in history] == ["user", "assistant"]
    assert history[0].content == "Hello, my name is Ada." and history[1].content.strip()
    assert app.text_area(key="draft").value == ""
    assert int(metric(app, "Predicted prompt").replace(",", "")) == predicted
    assert metric(app, "Reported prompt") == f"{predicted:,}"  # the server's own usage


def test_an_empty_message_is_not_sent(app):
    app.text_area(key="draft").set_value("   ").run()
    next(b for b in app.button if b.label == "Send").click().run()
    assert app.session_state["history"] == []
    assert any("empty" in e.value for e in app.error)


def test_a_prompt_over_the_window_is_blocked_and_kept(app):
    huge = "lorem ipsum dolor " * 3000
    app.text_area(key="draft").set_value(huge).run()
    assert any("Over the context window" in e.value for e in app.error)
    next(b for b in app.button if b.label == "Send").click().run()
    assert app.session_state["history"] == []
    assert app.text_area(key="draft").value == huge
    assert any("context window is 8,192" in e.value for e in app.error)


def _use_fake(app, server: FakeOpenAI, key: str = "") -> None:
    # AppTest (1.67) drops sidebar elements from its tree after the first rerun of an app that
    # uses st.navigation, so the sidebar's widgets are set through their keys.
    type_server(app, server.base_url, key)
    assert json.loads(payload_json(app))["model"] == "fake-model"  # listed by the server


def test_a_failed_call_keeps_the_message_and_a_retry_works(app, monkeypatch):
    waits: list[float] = []
    monkeypatch.setattr(retry, "wait", waits.append)  # the retries' pauses recorded, not slept (3 s idle)
    with FakeOpenAI() as server:
        _use_fake(app, server)
        with_history(app, PAIRS)
        server.behaviour.status = 503
        app.text_area(key="draft").set_value("Are you there?").run()
        next(b for b in app.button if b.label == "Send").click().run()
        assert not app.exception
        history = app.session_state["history"]
        assert history[-1].content == "Are you there?" and history[-1].status == "unanswered"
        assert len(history) == 5
        assert any("(503)" in e.value for e in app.error)
        posts = [r for r in server.requests if r.method == "POST"]
        assert waits == [1.0, 2.0] and len(posts) == 3  # retried twice by itself, then given up
        server.behaviour.status = 200
        next(b for b in app.button if b.label == "Retry").click().run()
        history = app.session_state["history"]
        assert [m.status for m in history][-2:] == ["ok", "ok"]
        assert history[-1].content == "Hello from the fake server."
        assert server.requests[-1].json()["messages"][-1]["content"] == "Are you there?"


def test_the_key_never_shows_on_the_page(app):
    key = "sk-proj-PAGELEAK-0123456789abcdefghij"
    with FakeOpenAI() as server:
        server.behaviour.status = 401
        server.behaviour.error_body = {"error": {"message": f"Incorrect API key provided: {key}."}}
        _use_fake(app, server, key)
        app.text_area(key="draft").set_value("hello").run()
        next(b for b in app.button if b.label == "Send").click().run()
        assert server.requests[-1].headers["authorization"] == f"Bearer {key}"
        assert any("(401)" in e.value for e in app.error)
        shown = visible_text(app)
        assert key not in shown and key[:16] not in shown
        assert "$API_KEY" in shown  # the snippets name the variable instead


def _sent_contents(app) -> list[str]:
    return [m["content"] for m in json.loads(payload_json(app))["messages"]]


def test_a_strategy_decides_what_is_sent_and_says_why(app):
    history = with_history(app, PAIRS)
    app.selectbox(key="strategy_kind").set_value("last_turns").run()
    app.number_input(key="strategy_turns").set_value(1).run()
    assert _sent_contents(app)[1:] == [PAIRS[2][1], PAIRS[3][1]]
    captions = " ".join(c.value for c in app.caption)
    assert "older than 1 turn" in captions and "in the last 1 turn" in captions
    assert "1 turns" not in captions
    assert app.toggle(key=f"include_{history[0].id}").disabled
    next(b for b in app.button if b.key == f"pin_{history[0].id}").click().run()
    assert _sent_contents(app)[1:] == [PAIRS[0][1], PAIRS[2][1], PAIRS[3][1]]
    assert "pinned" in " ".join(c.value for c in app.caption)


def test_the_token_budget_keeps_the_newest_messages_that_fit(app):
    with_history(app, PAIRS)
    app.selectbox(key="strategy_kind").set_value("token_budget").run()
    app.number_input(key="strategy_budget").set_value(40).run()
    sent = _sent_contents(app)
    assert sent[-1] == PAIRS[3][1] and PAIRS[0][1] not in sent
    assert _tokens(app) <= 40 + 10  # the budget bounds the history; priming and template are on top


def test_summarising_costs_nothing_until_asked_then_sends_a_note_instead_of_the_older_turns(app):
    with_history(app, PAIRS)
    app.selectbox(key="strategy_kind").set_value("summarise").run()
    app.number_input(key="strategy_turns").set_value(1).run()
    assert not app.exception, app.exception
    # Selecting the strategy spends no call: the summary call is described, with its own cost.
    assert not run_log_rows(), "a model call was made by merely selecting the strategy"
    box = " ".join(m.value for m in app.markdown)
    assert "older messages are to be summarised" in box and "prompt tokens" in box
    sent = _sent_contents(app)
    assert not any(s.startswith("Summary of the earlier conversation:") for s in sent)
    app.text_area(key="draft").set_value("And my name?").run()
    next(b for b in app.button if b.label == "Send").click().run()
    assert "make their summary first" in errors_shown(app) and not run_log_rows()
    next(b for b in app.button if b.key == "make_summary").click().run()
    assert not app.exception, app.exception
    sent = _sent_contents(app)
    assert sent[1].startswith("Summary of the earlier conversation:") and len(sent[1]) > 40
    assert PAIRS[0][1] not in sent and sent[-3:-1] == [PAIRS[2][1], PAIRS[3][1]] and sent[-1] == "And my name?"
    assert any("sent as this summary" in i.value for i in app.info)
    assert [row.variant for row in run_log_rows()] == ["summary"]  # the summary call is in the run log


def test_the_payload_preview_is_drawn_only_while_open(app):
    """Its body is drawn three times (JSON, curl, Python): closed, none of it is sent to the browser."""
    with_history(app, PAIRS)
    assert not [c for c in app.code if c.language == "json"]
    app.session_state["payload_preview_open"] = True  # what clicking it does
    app.run()
    assert PAIRS[0][1] in payload_json(app)
    assert {c.language for c in app.code} >= {"json", "bash", "python"}
