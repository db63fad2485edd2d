"""Chat replies owned by the process: each is recorded once, into the stored session and the run log,
whatever the tab that asked does meanwhile — saves, is closed, or is gone (lib/store/chat_replies.py).

A real OpenAI-compatible server (tests/fake_openai.py) answers; the store is a real SQLite file (the
`session_db` fixture); a tab's saves are the same compare-and-set saves ui/sessions.py makes.
"""

from __future__ import annotations

import threading
from dataclasses import replace

import pytest

from lib.backends.providers import ProviderConfig, make_client
from lib.backends.reply import Reply
from lib.context.conversation import Message
from lib.context.payload import Sampling, plan_request
from lib.context.tokens import TiktokenCounter
from lib.core import models
from lib.store import chat_replies, storage
from lib.store.call_details import calls_with_details
from lib.store.chat_replies import CallLog, ChatReply, ReplyKey
from lib.store.session import Session, new_session_id
from tests.fake_openai import FakeOpenAI

OWNER = "browser:replies-test"
KEY = "sk-proj-REPLYKEY0123456789abcdef"
WORDS = " ".join(f"w{i}" for i in range(30))


@pytest.fixture
def server():
    with FakeOpenAI() as fake:
        fake.behaviour.reply = WORDS
        yield fake


@pytest.fixture
def clients():
    made: list = []
    yield made
    for client in made:
        client.close()


def _save(session: Session) -> Session:
    with storage.opened() as conn:
        return storage.save_session(conn, session, OWNER)


def _load(session_id: str) -> Session:
    with storage.opened() as conn:
        loaded = storage.load_session(conn, session_id, OWNER)
    assert loaded is not None
    return loaded


def _calls(session_id: str) -> list[storage.CallRecord]:
    with storage.opened() as conn:
        return [c for c in storage.calls(conn) if c.session_id == session_id]


def _asked(text: str = "Tell me a long story") -> tuple[Session, Message]:
    """A stored session whose last message is a question not answered yet (as a Send stores it)."""
    question = Message("user", text, status="unanswered")
    return _save(
        Session(new_session_id(), messages=(Message("user", "Hi"), Message("assistant", "Hello"), question))
    ), question


def _start(server, clients, session: Session, question: Message, regeneration=None) -> ChatReply:
    client = make_client(ProviderConfig("compatible", "fake-model", base_url=server.base_url, api_key=KEY))
    clients.append(client)
    model = models.MODELS["gpt-4o"]
    plan = plan_request(list(session.messages), model, TiktokenCounter.for_model(model.name), Sampling(), "fake-model")
    reply = Reply(client, plan.body, (KEY,))
    return chat_replies.start(
        ReplyKey(OWNER, session.id, question.id), reply, plan, CallLog("compatible", "Manual", (KEY,)), regeneration
    )


def test_the_reply_lands_in_the_stored_session_once_and_the_run_log_holds_one_ok_call(server, clients):
    session, question = _asked()
    chat = _start(server, clients, session, question)
    assert chat.wait(60) and chat.done

    stored = _load(session.id)
    assert [m.content for m in stored.messages] == ["Hi", "Hello", question.content, WORDS]
    assert stored.messages[2].status == "ok" and stored.messages[3].id == chat.answer.reply_id
    assert stored.version == session.version + 1 and chat.stored is not None
    calls = _calls(session.id)
    assert [(c.status, c.owner) for c in calls] == [("ok", OWNER)]
    assert sum(r.method == "POST" for r in server.requests) == 1
    assert chat.answer.applied(list(stored.messages)) == list(stored.messages)  # once: again changes nothing
    assert chat_replies.running(OWNER, session.id) == []
    assert chat.reply.client is None and chat.reply.secrets == ()  # the finished call keeps no key


def test_a_page_that_opens_the_session_meanwhile_finds_the_reply_arriving(server, clients):
    server.behaviour.chunk_delay_s = 0.05
    session, question = _asked()
    chat = _start(server, clients, session, question)
    assert chat_replies.running(OWNER, session.id) == [chat]
    assert chat_replies.running("browser:someone-else", session.id) == []
    assert chat_replies.running(OWNER, new_session_id()) == []
    with pytest.raises(RuntimeError):  # the same question twice at once: one call, not two
        _start(server, clients, session, question)
    assert chat.wait(60)
    assert chat_replies.running(OWNER, session.id) == []


def test_a_tab_saving_another_message_between_the_read_and_the_write_loses_nothing(server, clients, monkeypatch):
    """The completion reads the session; a tab saves a message of its own; the completion's write is
    refused (stale), it reads again and merges only its reply: both are stored, the reply once."""
    session, question = _asked()
    by_hand = Message("user", "Added by hand in the tab meanwhile")
    real_load = storage.load_session
    tab_saves: list[Session] = []

    def load_then_a_tab_saves(conn, session_id, owner=None):
        read = real_load(conn, session_id, owner)
        if not tab_saves:  # the tab's autosave lands right after the completion's read
            tab_saves.append(_save(replace(session, messages=(*session.messages, by_hand))))
        return read

    monkeypatch.setattr(storage, "load_session", load_then_a_tab_saves)
    chat = _start(server, clients, session, question)
    assert chat.wait(60)

    stored = _load(session.id)
    assert [m.content for m in stored.messages] == ["Hi", "Hello", question.content, WORDS, by_hand.content]
    assert stored.version == session.version + 2 and [c.status for c in _calls(session.id)] == ["ok"]
    # The tab that saved version 2 is told what was written over it, and catches up without a conflict:
    caught = chat_replies.caught_up(OWNER, session.id, tab_saves[0].version)
    assert caught is not None and caught.version == stored.version
    assert caught.session(tab_saves[0]).messages == stored.messages
    assert chat_replies.caught_up(OWNER, session.id, stored.version) is None  # nothing on top of the newest


def test_a_tab_refused_as_the_reply_is_stored_finds_the_reply_not_a_conflict(server, clients, monkeypatch):
    """Was: the completion stored the session, then recorded that it had; a tab whose save was refused in
    between (by that very write) found no record, and said "another tab saved this session"."""
    session, question = _asked()
    stored_not_recorded, go_on = threading.Event(), threading.Event()
    real_remember = chat_replies._remember

    def remember_late(key, written):
        stored_not_recorded.set()  # the reply is in the store; its record is not kept yet
        go_on.wait(10)
        real_remember(key, written)

    monkeypatch.setattr(chat_replies, "_remember", remember_late)
    chat = _start(server, clients, session, question)
    assert stored_not_recorded.wait(60)
    with pytest.raises(storage.StaleSession):  # the tab's autosave over the version it read
        _save(replace(session, messages=(*session.messages, Message("user", "typed meanwhile"))))
    threading.Timer(0.3, go_on.set).start()
    caught = chat_replies.caught_up(OWNER, session.id, session.version)  # what the refused tab asks at once
    assert caught is not None and [a.reply_id for a in caught.answers] == [chat.answer.reply_id]
    assert chat.wait(60)


def test_a_tab_that_read_before_two_replies_catches_up_with_both(server, clients):
    session, question = _asked()
    first = _start(server, clients, session, question)
    assert first.wait(60)
    after_first = _load(session.id)
    second_question = Message("user", "And another?", status="unanswered")
    asked_again = _save(replace(after_first, messages=(*after_first.messages, second_question)))
    second = _start(server, clients, asked_again, second_question)
    assert second.wait(60)

    caught = chat_replies.caught_up(OWNER, session.id, session.version)
    assert caught is not None and [a.reply_id for a in caught.answers] == [first.answer.reply_id]  # then its own save
    caught = chat_replies.caught_up(OWNER, session.id, asked_again.version)
    assert caught is not None and caught.session(asked_again).messages == _load(session.id).messages


def test_stop_ends_the_reply_kept_incomplete_and_logged_once(server, clients):
    server.behaviour.chunk_delay_s = 0.05
    server.behaviour.reply = " ".join(f"w{i}" for i in range(400))
    session, question = _asked()
    chat = _start(server, clients, session, question)
    while not chat.text and not chat.done:
        chat.wait(0.05)
    chat.stop()
    assert chat.wait(60)
    stored = _load(session.id)
    assert stored.messages[2].status == "unanswered"
    assert stored.messages[3].status == "incomplete" and stored.messages[3].included is False
    assert [c.status for c in _calls(session.id)] == ["incomplete"]


def test_a_session_deleted_meanwhile_stays_deleted_and_the_call_is_still_logged(server, clients):
    server.behaviour.chunk_delay_s = 0.02
    session, question = _asked()
    chat = _start(server, clients, session, question)
    with storage.opened() as conn:
        storage.delete(conn, session.id, session.version, OWNER)
    assert chat.wait(60)
    with storage.opened() as conn:
        assert storage.load_session(conn, session.id, OWNER) is None
    assert chat.stored is None and chat.store_problem
    assert [c.status for c in _calls(session.id)] == ["ok"]


def test_a_key_the_reply_echoes_is_masked_in_the_store_and_the_run_log(server, clients):
    server.behaviour.reply = f"your key is {KEY}"
    session, question = _asked()
    chat = _start(server, clients, session, question)
    assert chat.wait(60)
    assert KEY not in _load(session.id).messages[3].content
    with storage.opened() as conn:
        [(_record, details)] = calls_with_details(conn, session.id)
    assert details is not None and KEY not in details.answer and KEY not in details.request_body
