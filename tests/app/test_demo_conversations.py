"""A demo conversation loaded from the chat's empty state, sent on the embedded model, and run on Compare
with its question and expected answer filled in: what a presenter does, read off the page."""

from __future__ import annotations

from lib.analysis.demo_conversations import DEMOS, demo
from lib.context.conversation import Message
from tests.app.conftest import with_history

DEMO = demo("early_fact")  # the one whose Compare shows three contexts: full right, two wrong


def _load(at, key: str) -> None:
    next(b for b in at.button if b.key == f"load_demo_{key}").click().run()
    assert not at.exception, at.exception


def test_every_demo_is_offered_on_an_empty_chat_and_none_once_it_has_messages(app):
    offered = {b.key for b in app.button if (b.key or "").startswith("load_demo_")}
    assert offered == {f"load_demo_{d.key}" for d in DEMOS}
    shown = " ".join(m.value for m in app.markdown)
    assert all(d.title in shown and d.shows in shown for d in DEMOS)
    with_history(app, [("user", "Hello"), ("assistant", "Hi")])
    assert not any((b.key or "").startswith("load_demo_") for b in app.button)


def test_a_loaded_demo_answers_right_in_the_chat_and_compare_marks_full_right_and_the_others_wrong(app):
    app.number_input(key="max_tokens").set_value(24).run()  # short answers: the word comes first
    _load(app, DEMO.key)
    history = app.session_state["history"]
    assert [m.as_api() for m in history] == [Message.from_api(m).as_api() for m in DEMO.messages]
    assert app.session_state["system_text"] == DEMO.system
    assert app.text_area(key="draft").value == DEMO.question
    assert app.session_state["temperature"] == 0.0  # as measured (the chat's default is 0.7)
    assert any(DEMO.title in i.value and DEMO.expected in i.value for i in app.info)

    app.switch_page("pages/compare.py").run()
    assert not app.exception, app.exception
    assert app.text_area(key="compare_question").value == DEMO.question
    assert app.text_input(key="compare_expected").value == DEMO.expected
    next(b for b in app.button if b.label.startswith("Run ")).click().run()
    assert not app.exception, app.exception
    runs = app.dataframe[0].value
    assert list(runs["variant"]) == [v.name for v in DEMO.variants]
    assert list(runs["correct?"]) == ["yes" if arm.right else "no" for arm in DEMO.arms]

    # Then the chat (its answer, once in the history, would carry the fact into the last turns).
    app.switch_page("pages/chat.py").run()
    assert not app.exception, app.exception
    next(b for b in app.button if b.label == "Send").click().run()
    assert not app.exception, app.exception
    reply = app.session_state["history"][-1]
    assert reply.role == "assistant" and DEMO.expected.casefold() in reply.content.casefold(), reply.content
    assert any(reply.content in m.value for m in app.markdown)  # the right answer, on the page
