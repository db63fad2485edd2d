"""Shaping the history by hand, as a playground user does: add messages with any role, change a
role, edit and ask again, regenerate, delete and undo — against the recording server, so that what
was (or was not) posted is checked byte for byte."""

import json

import pytest

from tests.app.conftest import THIS_BROWSER, chat_on, metric, payload_json, with_history
from tests.fake_openai import FakeOpenAI

pytestmark = pytest.mark.slow

PAIRS = [
    ("user", "My name is Ada."),
    ("assistant", "Nice to meet you, Ada!"),
    ("user", "Where do foxes live?"),
    ("assistant", "In forests, mostly."),
]


def _posts(server: FakeOpenAI) -> list:
    return [r for r in server.requests if r.method == "POST" and r.path.endswith("/chat/completions")]


def _button(at, key: str):
    return next(b for b in at.button if b.key == key)


def _contents(at) -> list[str]:
    return [m.content for m in at.session_state["history"]]


def _sent(at) -> list[dict]:
    return json.loads(payload_json(at))["messages"]


def _captions(at) -> str:
    return " ".join(c.value for c in at.caption)


def _compact(preview: str) -> bytes:
    return json.dumps(json.loads(preview), ensure_ascii=False, separators=(",", ":")).encode()


def test_messages_added_by_hand_with_any_role_call_no_model():
    with FakeOpenAI() as server:
        at = chat_on(server.base_url)
        for role, text in [("system", "Answer in French."), ("user", "Hello"), ("assistant", "Bonjour !")]:
            at.selectbox(key="add_role").set_value(role).run()
            at.text_area(key="draft").set_value(text).run()
            _button(at, "add_by_hand").click().run()
            assert not at.exception, at.exception
        assert not _posts(server), "adding a message by hand called the model"
        history = at.session_state["history"]
        assert [(m.role, m.content, m.status) for m in history] == [
            ("system", "Answer in French.", "ok"),
            ("user", "Hello", "ok"),
            ("assistant", "Bonjour !", "ok"),
        ]
        assert at.text_area(key="draft").value == ""
        assert [(m["role"], m["content"]) for m in _sent(at)][1:] == [(m.role, m.content) for m in history]


def test_adding_an_empty_message_is_refused_and_says_why():
    with FakeOpenAI() as server:
        at = chat_on(server.base_url)
        _button(at, "add_by_hand").click().run()
        assert at.session_state["history"] == []
        assert any("Type the message to add first" in e.value for e in at.error)


def test_a_user_message_added_by_hand_gets_its_answer_from_the_request_the_meter_showed():
    with FakeOpenAI() as server:
        at = chat_on(server.base_url)
        with_history(at, PAIRS)
        at.text_area(key="draft").set_value("And their cubs?").run()
        _button(at, "add_by_hand").click().run()
        assert any("No new message" in i.value for i in at.info)
        preview = payload_json(at)
        asked = at.session_state["history"][-1]
        _button(at, f"answer_{asked.id}").click().run()
        assert not at.exception, at.exception
        assert [r.body for r in _posts(server)] == [_compact(preview)]
        assert _contents(at)[-2:] == ["And their cubs?", server.behaviour.reply]
        assert "predicted before Send" in _captions(at)


def test_a_role_changed_by_hand_is_sent_with_it_and_the_message_says_edited():
    with FakeOpenAI() as server:
        at = chat_on(server.base_url)
        history = with_history(at, PAIRS)
        target = history[1].id
        assert "edited" not in _captions(at)
        _button(at, f"open_editor_{target}").click().run()
        at.radio(key=f"role_{target}").set_value("system").run()
        _button(at, f"save_{target}").click().run()
        assert at.session_state["history"][1].role == "system" and at.session_state["history"][1].edited
        assert _sent(at)[2] == {"role": "system", "content": PAIRS[1][1]}
        assert "edited" in _captions(at)
        assert not [w for w in at.text_area if (w.key or "").startswith("edit_")], "the editor stayed open"


def test_saving_an_unchanged_message_does_not_mark_it_edited_and_cancel_keeps_it():
    with FakeOpenAI() as server:
        at = chat_on(server.base_url)
        history = with_history(at, PAIRS)
        _button(at, f"open_editor_{history[0].id}").click().run()
        _button(at, f"save_{history[0].id}").click().run()
        assert not at.session_state["history"][0].edited
        _button(at, f"open_editor_{history[0].id}").click().run()
        at.text_area(key=f"edit_{history[0].id}").set_value("Not kept")
        _button(at, f"cancel_{history[0].id}").click().run()
        assert at.session_state["history"] == history
        assert not [w for w in at.text_area if (w.key or "").startswith("edit_")]


def test_delete_offers_undo_which_puts_the_message_back_where_it_was():
    with FakeOpenAI() as server:
        at = chat_on(server.base_url)
        history = with_history(at, PAIRS)
        _button(at, f"delete_{history[1].id}").click().run()
        assert _contents(at) == [PAIRS[0][1], PAIRS[2][1], PAIRS[3][1]]
        assert PAIRS[1][1] not in payload_json(at)
        assert any(c.value.startswith("Deleted an assistant message: “Nice to meet you") for c in at.caption)
        _button(at, "undo_delete").click().run()
        assert at.session_state["history"] == history
        assert PAIRS[1][1] in payload_json(at)
        assert not [b for b in at.button if b.key == "undo_delete"], "Undo stays after it was used"


def test_regenerate_asks_the_last_question_again_with_the_same_context_and_replaces_the_answer():
    with FakeOpenAI() as server:
        at = chat_on(server.base_url)
        history = with_history(at, PAIRS)
        server.behaviour.reply = "Foxes live almost everywhere."
        _button(at, "regenerate").click().run()
        assert not at.exception, at.exception
        (post,) = _posts(server)
        assert [m["content"] for m in post.json()["messages"]] == [
            "You are a helpful assistant.",
            PAIRS[0][1],
            PAIRS[1][1],
            PAIRS[2][1],
        ]
        assert _contents(at) == [PAIRS[0][1], PAIRS[1][1], PAIRS[2][1], "Foxes live almost everywhere."]
        assert at.session_state["history"][2].id == history[2].id and at.session_state["history"][2].status == "ok"


def test_regenerate_can_keep_the_old_answer_beside_the_new_one_out_of_the_context():
    with FakeOpenAI() as server:
        at = chat_on(server.base_url)
        history = with_history(at, PAIRS)
        at.toggle(key="keep_old_answer").set_value(True).run()
        server.behaviour.reply = "Foxes live almost everywhere."
        _button(at, "regenerate").click().run()
        assert not at.exception, at.exception
        after = at.session_state["history"]
        assert [m.content for m in after] == [*(c for _, c in PAIRS), "Foxes live almost everywhere."]
        assert after[3].id == history[3].id and not after[3].included and after[4].included
        assert at.toggle(key=f"include_{history[3].id}").value is False
        sent = [m["content"] for m in _sent(at)]
        assert PAIRS[3][1] not in sent and "Foxes live almost everywhere." in sent


def test_a_failed_regenerate_keeps_the_old_answer_and_the_question_answered():
    with FakeOpenAI() as server:
        at = chat_on(server.base_url)
        history = with_history(at, PAIRS)
        server.behaviour.status, server.behaviour.failures = 400, 1
        _button(at, "regenerate").click().run()
        assert not at.exception, at.exception
        assert at.session_state["history"] == history
        assert any("(400)" in e.value for e in at.error)


def test_edit_and_ask_again_drops_what_followed_and_sends_the_context_before_it():
    with FakeOpenAI() as server:
        at = chat_on(server.base_url)
        history = with_history(at, PAIRS)
        target = history[0].id
        at.session_state[f"editor_{target}"] = True
        at.run()
        at.text_area(key=f"edit_{target}").set_value("My name is Grace.")
        rerun = _button(at, f"rerun_{target}")
        assert "drops the 3 after it" in rerun.label
        rerun.click().run()
        assert not at.exception, at.exception
        (post,) = _posts(server)
        assert [m["content"] for m in post.json()["messages"]] == ["You are a helpful assistant.", "My name is Grace."]
        after = at.session_state["history"]
        assert [m.content for m in after] == ["My name is Grace.", server.behaviour.reply]
        assert after[0].id == target and after[0].edited


def test_edit_and_ask_again_in_a_fork_keeps_this_session_whole():
    with FakeOpenAI() as server:
        at = chat_on(server.base_url)
        history = with_history(at, PAIRS)
        source = at.session_state["session_id"]
        target = history[2].id
        at.session_state[f"editor_{target}"] = True
        at.run()
        at.text_area(key=f"edit_{target}").set_value("Where do wolves live?")
        _button(at, f"rerun_fork_{target}").click().run()
        assert not at.exception, at.exception
        assert at.session_state["session_id"] != source
        (post,) = _posts(server)
        assert [m["content"] for m in post.json()["messages"]][1:] == [
            PAIRS[0][1],
            PAIRS[1][1],
            "Where do wolves live?",
        ]
        assert _contents(at) == [PAIRS[0][1], PAIRS[1][1], "Where do wolves live?", server.behaviour.reply]
        from lib.store import storage

        with storage.opened() as conn:
            kept = storage.load_session(conn, source, THIS_BROWSER)
        assert [m.content for m in kept.messages] == [PAIRS[0][1], PAIRS[1][1], "Where do wolves live?", PAIRS[3][1]]


def test_a_pinned_message_shows_it_and_the_toggle_is_called_in_context():
    with FakeOpenAI() as server:
        at = chat_on(server.base_url)
        history = with_history(at, PAIRS)
        assert at.toggle(key=f"include_{history[0].id}").label == "In context"
        pin = _button(at, f"pin_{history[0].id}")
        assert pin.label == "Pin" and pin.proto.type == "secondary"
        pin.click().run()
        pinned = _button(at, f"pin_{history[0].id}")
        assert pinned.label == "Pinned" and pinned.proto.type == "primary" and "Pinned" in pinned.help
        assert at.session_state["history"][0].pinned


def test_with_an_empty_draft_the_meter_says_the_call_needs_a_message():
    with FakeOpenAI() as server:
        at = chat_on(server.base_url)
        assert any("No question yet" in i.value and "the system prompt" in i.value for i in at.info)
        with_history(at, PAIRS)
        assert any("No question yet" in i.value and "ends with the last reply" in i.value for i in at.info)
        assert _sent(at)[-1]["role"] == "assistant"
        at.text_area(key="draft").set_value("Next?").run()
        assert not any("No question yet" in i.value for i in at.info)
        assert metric(at, "Messages sent") == "6"
