"""A long history is drawn a page at a time; what is sent is still decided over all of it.

Paging is the page's, not the model's: the chat runs on the fake OpenAI-compatible server (a reply to a
60-message history took the embedded model a minute and a half of CPU on a loaded machine; the chat's
own tests keep the real embedded server)."""

import json

import pytest

from lib.context.conversation import Message
from tests.app.conftest import chat_on, metric, payload_json
from tests.fake_openai import FakeOpenAI

pytestmark = pytest.mark.slow

SIZE = 60


@pytest.fixture
def app():
    with FakeOpenAI() as server:
        yield chat_on(server.base_url)


def _long_history(at, page_size: int = 25) -> list[Message]:
    history = [Message(("user", "assistant")[i % 2], f"Message number {i} of the long history.") for i in range(SIZE)]
    at.session_state["history"] = history
    at.session_state["page_size"] = page_size
    at.run()
    assert not at.exception, at.exception
    return history


def _drawn(at) -> list[str]:
    """The ids of the messages whose controls are drawn, in page order."""
    return [t.key.removeprefix("include_") for t in at.toggle if (t.key or "").startswith("include_")]


def _label(at) -> str:
    return next(m.value for m in at.markdown if str(m.value).startswith("**Messages "))


def _page_button(at, icon: str):
    return next(b for b in at.button if b.key == f"page_{icon}")


def test_the_newest_page_is_drawn_and_every_message_is_still_sent(app):
    history = _long_history(app)
    assert _drawn(app) == [m.id for m in history[-25:]]
    assert _label(app) == "**Messages 36–60 of 60**"
    assert any("35 messages on other pages are not drawn here" in c.value for c in app.caption)
    assert metric(app, "Messages sent") == f"{SIZE + 1}"  # every message, and the system prompt
    assert len(json.loads(payload_json(app))["messages"]) == SIZE + 1
    assert _page_button(app, "chevron_right").disabled and _page_button(app, "last_page").disabled


def test_paging_back_and_leaving_out_an_old_message(app):
    history = _long_history(app)
    _page_button(app, "chevron_left").click().run()
    assert _drawn(app) == [m.id for m in history[10:35]]
    assert _label(app) == "**Messages 11–35 of 60**"
    tokens = metric(app, "Prompt tokens")
    app.toggle(key=f"include_{history[12].id}").set_value(False).run()
    assert int(metric(app, "Prompt tokens").replace(",", "")) < int(tokens.replace(",", ""))
    assert history[12].content not in payload_json(app)
    assert not app.session_state["history"][12].included
    assert _label(app) == "**Messages 11–35 of 60**"  # the page stays where the user is
    _page_button(app, "first_page").click().run()
    assert _drawn(app) == [m.id for m in history[:10]]
    assert _page_button(app, "first_page").disabled
    _page_button(app, "last_page").click().run()
    assert _drawn(app) == [m.id for m in history[-25:]]


def test_all_on_one_page(app):
    history = _long_history(app, page_size=0)
    assert _drawn(app) == [m.id for m in history]
    assert not any("not drawn here" in c.value or "messages are drawn" in c.value for c in app.caption)


def test_a_changed_page_size_starts_again_from_the_newest(app):
    history = _long_history(app)
    _page_button(app, "chevron_left").click().run()
    app.selectbox(key="page_size").set_value(50).run()
    assert _drawn(app) == [m.id for m in history[-50:]]


def test_sending_from_an_older_page_shows_the_newest_messages_and_the_reply(app):
    history = _long_history(app, page_size=25)
    _page_button(app, "first_page").click().run()
    app.text_area(key="draft").set_value("What was the first message?").run()
    next(b for b in app.button if b.label == "Send").click().run()
    assert not app.exception, app.exception
    after = app.session_state["history"]
    assert len(after) == SIZE + 2 and after[-2].content == "What was the first message?"
    assert _drawn(app) == [m.id for m in after[-25:]]
    assert history[0].id not in _drawn(app)


def test_drawing_a_long_history_whole_says_what_it_costs(app):
    history = [Message(("user", "assistant")[i % 2], f"Message {i}.") for i in range(320)]
    app.session_state["history"] = history
    app.session_state["page_size"] = 0
    app.run()
    assert len(_drawn(app)) == 320
    assert any("All 320 messages are drawn" in c.value for c in app.caption)
    app.selectbox(key="page_size").set_value(50).run()
    assert not any("messages are drawn" in c.value for c in app.caption)
