"""Recorded demos through the page: save a session with its answers as a demo, open it with the model's
server gone, ask its questions again: the same answers, captioned *replayed*, and no call reaches a server.
Sidebar actions run the chat page on its own (the routed app drops the sidebar from AppTest's tree)."""

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.app.conftest import chat_calls, new_app, run_log_rows, send, type_server
from tests.fake_openai import FakeOpenAI

pytestmark = pytest.mark.slow
CHAT = str(Path(__file__).resolve().parents[2] / "pages" / "chat.py")
QUESTIONS = ["My locker number is 4471. Remember it.", "What is my locker number?"]


def _chat(**values) -> AppTest:
    at = new_app(CHAT)
    for key, value in values.items():
        at.session_state[key] = value
    at.run()
    assert not at.exception, at.exception
    return at


def _answers(at: AppTest) -> list[str]:
    return [m.content for m in at.session_state["history"] if m.role == "assistant"]


def _captions(at: AppTest) -> str:
    return " ".join(c.value for c in at.caption)


def _save_demo(at: AppTest, title: str) -> None:
    at.session_state["demos_open"] = True  # what clicking *Recorded demos* does
    at.run()
    at.text_input(key="demo_title").set_value(title)
    at.button(key="demo_save").click().run()
    assert not at.exception, at.exception


def _open_demo(at: AppTest) -> None:
    at.session_state["demos_open"] = True
    at.run()
    at.button(key="demo_open").click().run()
    assert not at.exception, at.exception


def _step(at: AppTest) -> None:
    """The sidebar's next step, then Send: as a presenter steps through a demo."""
    at.button(key="demo_next").click().run()
    next(b for b in at.button if b.label == "Send").click().run()
    assert not at.exception, at.exception


def _record(server: FakeOpenAI, title: str = "Locker demo") -> tuple[AppTest, list[str]]:
    at = _chat(provider_kind="compatible", temperature=0.0)
    type_server(at, server.base_url)
    for number, question in enumerate(QUESTIONS):
        server.behaviour.reply = f"Answer {number + 1}: 4471."
        send(at, question)
    answers = _answers(at)
    assert answers == ["Answer 1: 4471.", "Answer 2: 4471."]
    _save_demo(at, title)
    assert any("Saved the demo “Locker demo”: 2 call(s)" in s.value for s in at.sidebar.success)
    return at, answers


def test_a_recorded_chat_replays_with_the_server_gone_marked_replayed_and_sends_nothing():
    with FakeOpenAI() as server:
        at, answers = _record(server)
        sent_live = len(chat_calls(server))
    assert sent_live == 2
    # The server is gone (stopped listening): opening the demo and stepping through it needs none.
    _open_demo(at)
    assert at.session_state["history"] == []  # where the demo began
    assert "Replaying the demo “Locker demo”" in " ".join(i.value for i in at.sidebar.info)
    for number in range(len(QUESTIONS)):
        _step(at)
        assert _answers(at) == answers[: number + 1]
        assert [m.content for m in at.session_state["history"] if m.role == "user"] == QUESTIONS[: number + 1]
    assert _captions(at).count("▶ replayed") == 2
    assert not at.error
    assert len(chat_calls(server)) == sent_live  # not one request more
    replayed = [row for row in run_log_rows() if row.provider == "compatible (replayed)"]
    assert [row.status for row in replayed] == ["ok", "ok"]


def test_a_context_that_was_not_recorded_is_named_and_switch_to_live_asks_the_server():
    with FakeOpenAI() as server:
        at, _ = _record(server)
        _open_demo(at)
        _step(at)
        send(at, "And my dog's name?")
        shown = " ".join(e.value for e in at.error)
        assert "This context was not recorded" in shown and "Switch to live to ask the model" in shown
        assert "“And my dog's name?”" in shown
        assert at.session_state["history"][-1].status == "unanswered"
        assert len(chat_calls(server)) == 2
        at.sidebar.button(key="demo_live").click().run()
        assert "replaying" not in at.session_state
        assert at.sidebar.selectbox(key="provider_kind").value == "compatible"  # the backend it was recorded with
        server.behaviour.reply = "Rex."
        next(b for b in at.button if b.label == "Retry").click().run()
        assert _answers(at)[-1] == "Rex."
        assert len(chat_calls(server)) == 3
        assert _captions(at).count("▶ replayed") == 1  # the live answer is not captioned replayed


EXPERIMENTS = str(Path(__file__).resolve().parents[2] / "pages" / "experiments.py")


def test_an_experiment_run_replays_from_the_recording_with_the_server_gone():
    from lib.analysis.experiments import store
    from lib.analysis.experiments.cases import Case, Check, Conversation, TestSet
    from lib.store import storage
    from tests.app.conftest import THIS_BROWSER
    from tests.app.test_experiments_page import FULL, NONE, button, frame_with, on_fake, stored_set, wait_for_the_run

    cases = (Case("c1", "What is my locker number?", Conversation(), (Check("contains", "4471"),)),)
    with FakeOpenAI() as server:
        server.behaviour.reply = "It is 4471."
        at = on_fake(server, stored_set(TestSet("Lockers", cases)), exp_variant_rows=[FULL, NONE])
        button(at, "Run 2 cells").click().run()
        wait_for_the_run(at, 2, timeout_s=60)
        _save_demo(at, "Experiment demo")
        assert any(
            "2 call(s) with their answers, 0 comparison(s), 1 experiment run(s)" in s.value for s in at.sidebar.success
        )
        sent_live = len(chat_calls(server))
    assert sent_live == 2
    _open_demo(at)
    with storage.opened() as conn:
        names = [info.name for info in store.list_runs(conn, THIS_BROWSER)]
    assert sum(name.endswith(" · replayed") for name in names) == 1  # the recorded run, opened beside the demo
    at.session_state["exp_section"] = "Run"
    at.run()
    button(at, "Run 2 cells").click().run()
    wait_for_the_run(at, 2, timeout_s=60)
    grid = frame_with(at, "No history")
    assert (grid["Full history"].iloc[0], grid["No history"].iloc[0]) == ("pass", "pass")
    with storage.opened() as conn:
        newest = store.list_runs(conn, THIS_BROWSER)[0]
        answers = [cell.answer for cell in store.cells(conn, newest.id, THIS_BROWSER)]
    assert newest.name.endswith(" · replayed") and answers == ["It is 4471.", "It is 4471."]
    at.session_state["exp_grid"] = {"selection": {"rows": [], "columns": [], "cells": [(0, "No history")]}}
    at.run()
    assert "▶ replayed: this answer came from the recording" in " ".join(c.value for c in at.caption)
    assert len(chat_calls(server)) == sent_live
    assert {row.provider for row in run_log_rows()[-2:]} == {"compatible (replayed)"}


def test_a_chat_recorded_on_the_embedded_model_replays_its_own_answers(embedded_server):
    """The real model's answers (whatever they are) come back word for word, captioned, and the run log
    holds no live call after the recording: the replayed ones are logged as such."""
    at = _chat(provider_kind="compatible", temperature=0.0, max_tokens=24)
    type_server(at, embedded_server.base_url)
    for question in QUESTIONS:
        send(at, question)
    answers = _answers(at)
    assert len(answers) == 2 and all(answers)
    _save_demo(at, "Locker demo")
    live = [row for row in run_log_rows() if row.provider == "compatible"]
    assert len(live) == 2
    _open_demo(at)
    for _ in QUESTIONS:
        _step(at)
    assert _answers(at) == answers
    assert _captions(at).count("▶ replayed") == 2 and not at.error
    assert [row for row in run_log_rows() if row.provider == "compatible"] == live  # no live call since
    assert len([row for row in run_log_rows() if row.provider == "compatible (replayed)"]) == 2
