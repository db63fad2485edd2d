import pytest

from lib.context import conversation as conv
from lib.context.conversation import Message, MessageShapeError, SystemPrompt, ToolCall, checked_arguments


def _history() -> list[Message]:
    history: list[Message] = []
    for i in range(3):
        history = conv.append(history, "user", f"question {i}")
        history = conv.append(history, "assistant", f"answer {i}")
    return history


def test_append_gives_unique_ids_and_keeps_the_original_untouched():
    history = _history()
    longer = conv.append(history, "user", "more")
    assert len(history) == 6 and len(longer) == 7
    assert len({m.id for m in longer}) == 7


def test_update_and_delete_touch_only_the_named_message():
    history = _history()
    target = history[2].id
    edited = conv.update(history, target, content="changed", included=False)
    assert edited[2].content == "changed" and not edited[2].included
    assert [m.content for m in edited if m.id != target] == [m.content for m in history if m.id != target]
    assert target not in {m.id for m in conv.delete(history, target)}


def test_selected_sends_the_system_prompt_first_and_only_included_messages():
    history = conv.include_all(_history(), True)
    history = conv.update(history, history[1].id, included=False)
    sent = conv.selected(SystemPrompt("be brief"), history)
    assert sent[0].role == "system" and sent[0].content == "be brief"
    assert history[1].id not in {m.id for m in sent}
    assert len(sent) == 1 + 5


def test_excluded_or_blank_system_prompt_is_not_sent():
    history = _history()
    assert conv.selected(SystemPrompt("x", included=False), history)[0].role == "user"
    assert conv.selected(SystemPrompt("   "), history)[0].role == "user"


def test_last_turns_keeps_whole_turns():
    history = _history()
    kept = [m.content for m in conv.include_last_turns(history, 2) if m.included]
    assert kept == ["question 1", "answer 1", "question 2", "answer 2"]
    assert not any(m.included for m in conv.include_last_turns(history, 0))
    assert all(m.included for m in conv.include_last_turns(history, 99))


def test_turns_count_a_leading_reply_as_its_own_turn():
    history = [Message("assistant", "welcome"), *_history()]
    assert conv.count_turns(history) == 4
    assert conv.count_turns([]) == 0


def test_clean_text_replaces_lone_surrogates_and_drops_nul():
    assert conv.clean_text("a\ud800b") == "a\ufffdb"
    assert conv.clean_text("\udfff") == "\ufffd"
    assert conv.clean_text("x\x00y") == "xy"
    assert conv.clean_text("\ud83e\udd8a") == "🦊"  # a pair split in two is the character it encodes
    conv.clean_text("a\ud800b\x00").encode("utf-8")  # encodable, as every SDK needs


def test_clean_text_keeps_everything_else_as_typed():
    text = "tab\there\r\nbell\x07 esc\x1b[31m مرحبا بالعالم 👩🏽‍💻 🇫🇷 e\u0301 \u202eevil\u202c"
    assert conv.clean_text(text) == text


def test_every_message_is_clean_whichever_way_it_is_made():
    assert conv.Message("user", "hi\ud800\x00").content == "hi\ufffd"
    history = conv.append([], "user", "ok")
    edited = conv.update(history, history[0].id, content="bad\udc00")
    assert edited[0].content == "bad\ufffd"
    assert conv.SystemPrompt("sys\ud800").as_message().content == "sys\ufffd"


def test_an_edit_marks_the_message_edited_only_when_it_changes_it():
    history = _history()
    target = history[1].id
    same = conv.edit(history, target, content=history[1].content)
    assert same == history and not same[1].edited
    edited = conv.edit(history, target, content="a better answer")
    assert edited[1].content == "a better answer" and edited[1].edited
    assert not any(m.edited for m in edited if m.id != target)
    recast = conv.edit(history, target, role="system")
    assert recast[1].role == "system" and recast[1].edited and recast[1].content == history[1].content
    assert conv.edit(history, target, content="a\ud800")[1].content == "a\ufffd"  # cleaned like any text


def test_a_removed_message_goes_back_where_it_was():
    history = _history()
    for index in (0, 3, 5):
        shorter, removed = conv.remove(history, history[index].id)
        assert len(shorter) == 5 and removed.index == index
        assert conv.put_back(shorter, removed) == history
    assert conv.remove(history, "nope") == (history, None)


def test_put_back_follows_its_neighbour_and_never_duplicates():
    history = _history()
    shorter, removed = conv.remove(history, history[3].id)
    # A message added meanwhile before it: it still returns right after the message it followed.
    grown = [Message("user", "inserted"), *shorter]
    assert [m.id for m in conv.put_back(grown, removed)][3:5] == [history[2].id, history[3].id]
    # Its neighbour deleted too: it returns at its old position.
    neighbourless, _ = conv.remove(shorter, history[2].id)
    assert conv.put_back(neighbourless, removed)[2].id == history[3].id
    assert conv.put_back(history, removed) == history


def test_answers_and_the_question_a_regenerate_asks_again():
    history = _history()
    assert [m.id for m in conv.answers_to(history, history[4].id)] == [history[5].id]
    assert conv.regenerable(history) == history[4]
    extra = conv.append(history, "assistant", "a second answer")
    assert conv.regenerable(extra) == history[4]
    assert [m.content for m in conv.answers_to(extra, history[4].id)] == ["answer 2", "a second answer"]
    assert conv.regenerable(conv.append(history, "user", "new question")) is None  # nothing to regenerate
    assert conv.regenerable(conv.append(history, "system", "a note")) is None
    assert conv.regenerable([Message("assistant", "hello")]) is None


def test_cutting_after_a_message_and_what_it_drops():
    history = _history()
    assert conv.cut_after(history, history[2].id) == history[:3]
    assert conv.after(history, history[2].id) == history[3:]
    assert conv.after(history, "nope") == [] and conv.cut_after(history, "nope") == history


def test_a_regenerated_answer_replaces_the_old_one_or_follows_it_left_out():
    history = _history()
    question, old = history[4], [history[5]]
    new = Message("assistant", "a new answer")
    recorded = [*history[:5], new]  # what lib.backends.reply.record_reply makes of the history without the old answer
    assert conv.with_old_answers(recorded, question.id, old, answered=True, keep=False) == recorded
    kept = conv.with_old_answers(recorded, question.id, old, answered=True, keep=True)
    assert [m.content for m in kept[4:]] == ["question 2", "answer 2", "a new answer"]
    assert not kept[5].included and kept[6].included
    # The call failed: the old answer returns, still sent, and the question is not left unanswered.
    failed = [*history[:4], conv.replace(question, status="unanswered")]
    back = conv.with_old_answers(failed, question.id, old, answered=False, keep=True)
    assert back == history


# --- tool-using message shapes ------------------------------------------------------------------

CALLING = {
    "role": "assistant",
    "content": None,
    "tool_calls": [
        {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}},
        {"id": "call_2", "type": "function", "function": {"name": "get_time", "arguments": "{}"}},
    ],
}
RESULT = {"role": "tool", "tool_call_id": "call_1", "content": '{"temperature": 14}'}


def test_every_wire_shape_round_trips_through_a_message():
    # A null content (as OpenAI's replies write it) is sent as "": llama-cpp-python refuses a null.
    assert Message.from_api(CALLING).as_api() == {**CALLING, "content": ""}
    for wire in (
        {**CALLING, "content": ""},
        RESULT,
        {"role": "user", "content": "Hi", "name": "ada"},
        {"role": "system", "content": "Be brief.", "name": "rules"},
        {"role": "developer", "content": "Answer in French."},
        {"role": "assistant", "content": "Let me check.", "tool_calls": CALLING["tool_calls"][:1]},
    ):
        assert Message.from_api(wire).as_api() == wire


def test_a_tool_calling_message_keeps_its_calls_and_helpers_say_what_it_is():
    calling, result = Message.from_api(CALLING), Message.from_api(RESULT)
    weather = ToolCall("call_1", "get_weather", '{"city": "Paris"}')
    assert calling.tool_calls == (weather, ToolCall("call_2", "get_time"))
    assert calling.content == "" and conv.is_tool_call(calling) and not conv.is_tool_result(calling)
    assert result.tool_call_id == "call_1" and conv.is_tool_result(result) and not conv.is_tool_call(result)
    assert not conv.is_tool_call(Message("assistant", "plain"))


def test_a_name_is_sent_only_where_the_api_takes_one():
    assert "name" not in Message("user", "x").as_api()
    assert "name" not in Message("tool", "x", tool_call_id="c", name="n").as_api()


@pytest.mark.parametrize(
    ("wire", "words"),
    [
        ({"role": "bot", "content": "x"}, "message.role is 'bot'"),
        ({"role": "tool", "content": "x"}, "without `tool_call_id`"),
        ({"role": "user", "content": "x", "tool_call_id": "c"}, "only a `tool` message"),
        ({"role": "user", "content": "x", "tool_calls": []}, "only an assistant message"),
        ({"role": "assistant", "tool_calls": [{"type": "function", "function": {"name": "f"}}]}, "has no `id`"),
        ({"role": "assistant", "tool_calls": [{"id": "c", "function": {"arguments": "{}"}}]}, "has no `name`"),
        ({"role": "assistant", "tool_calls": [{"id": "c", "function": {"name": "f", "arguments": {}}}]}, "JSON text"),
        ({"role": "function", "name": "f", "content": "x"}, "retired `function` role"),
        ({"role": "user", "content": [{"type": "image_url", "image_url": {}}]}, "'image_url' part"),
        ("not a dict", "must be an object"),
    ],
)
def test_a_malformed_wire_message_is_refused_by_name(wire, words):
    with pytest.raises(MessageShapeError, match=words.replace("(", r"\(").replace("`", "`")):
        Message.from_api(wire)


def test_text_parts_are_read_as_one_text():
    wire = {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}
    assert Message.from_api(wire).content == "ab"


def test_arguments_typed_by_hand_must_be_a_json_object():
    assert checked_arguments('{"city": "Paris"}') == '{"city": "Paris"}'
    with pytest.raises(MessageShapeError, match=r"not valid JSON \(line 1, column 10"):
        checked_arguments('{"city": }')
    with pytest.raises(MessageShapeError, match="must be a JSON object"):
        checked_arguments('["Paris"]')


def test_tool_fields_are_cleaned_like_any_text():
    message = Message("tool", "ok\x00", tool_call_id="call_\ud800", name=None)
    assert message.tool_call_id == "call_\ufffd" and message.content == "ok"
    assert ToolCall("c", "f", '{"a": "\ud83d"}').arguments == '{"a": "\ufffd"}'
