from lib import conversation as conv
from lib.conversation import Message, SystemPrompt


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
