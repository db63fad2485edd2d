"""lib/store/recordings.py: a recorded demo is made from what the run log keeps, exactly; kept in the store
(SQLite and PostgreSQL) and as a file read by the bounded loader; never holds a key; opens where it began."""

import json

import pytest
from sqlalchemy import insert, select

from lib.backends.replay import canonical
from lib.context.conversation import Message
from lib.context.payload import Sampling, plan_request
from lib.context.tokens import TiktokenCounter
from lib.core import models
from lib.core.errors import InvalidRecording
from lib.core.outcome import CallOutcome, Usage
from lib.store import recordings, schema, storage
from lib.store.call_details import KEPT_MESSAGE_CHARS, log_call
from lib.store.session import Session

KEY = "sk-proj-RECORDINGKEY-0123456789abcdef"
OWNER = "browser:abc"
FACT = Message("user", "My locker number is 4471.")
ACK = Message("assistant", "Noted.")
QUESTION = Message("user", "What is my locker number?")
ANSWER = Message("assistant", "4471.")


def _plan(messages: list[Message]):
    model = models.MODELS["gpt-4o"]
    return plan_request(messages, model, TiktokenCounter.for_model(model.name), Sampling(temperature=0.0))


@pytest.fixture
def conn(store):
    with storage.opened() as conn:
        yield conn


def _session() -> Session:
    return Session(
        "demo-session",
        messages=(FACT, ACK, QUESTION, ANSWER),
        settings={"provider_kind": "openai", "openai_model": "gpt-4o", "temperature": 0.0},
    )


def _log(conn, messages, outcome, variant="chat", session_id="demo-session", secrets=()):
    plan = _plan(messages)
    log_call(conn, session_id, variant, "openai", plan, outcome, secrets, OWNER)
    return plan


def _recorded(conn, session=None, secrets=()) -> tuple[recordings.Recording, dict]:
    session = session or _session()
    storage.insert_new(conn, session, OWNER)
    first = _log(conn, [FACT], CallOutcome("Noted.", Usage(20, 2), finish_reason="stop"))
    second = _log(conn, [FACT, ACK, QUESTION], CallOutcome("4471.", Usage(31, 3, 16), finish_reason="stop"))
    assert first.body != second.body
    return recordings.record(conn, session, "Locker demo", OWNER, secrets), second.body


def test_a_recording_holds_each_call_exactly_as_sent_and_answered(conn):
    recording, body = _recorded(conn)
    assert [c.variant for c in recording.calls] == ["chat", "chat"]
    assert recording.calls[1].body == body  # the body as sent, not a reconstruction
    reply = recording.calls[1].reply
    assert (reply.content, reply.finish_reason, reply.prompt_tokens, reply.completion_tokens, reply.cached_tokens) == (
        "4471.",
        "stop",
        31,
        3,
        16,
    )
    assert reply.model == "gpt-4o" and recording.kind == "openai" and recording.model == "gpt-4o"
    assert recording.questions == [FACT.content, QUESTION.content]
    assert recordings.book(recording).answer(body).content == "4471."


def test_tool_calls_are_recorded_with_the_reply(conn):
    storage.insert_new(conn, _session(), OWNER)
    call = {"id": "call_1", "type": "function", "function": {"name": "lookup", "arguments": '{"n": 1}'}}
    _log(conn, [FACT], CallOutcome("", Usage(5, 5), finish_reason="tool_calls", tool_calls=[call]))
    recording = recordings.record(conn, _session(), "t", OWNER)
    assert recording.calls[0].reply.tool_calls == (("call_1", "lookup", '{"n": 1}'),)


def test_calls_that_cannot_be_replayed_exactly_are_left_out_and_named(conn):
    storage.insert_new(conn, _session(), OWNER)
    _log(conn, [FACT], CallOutcome("", error="The server said no."))
    _log(conn, [Message("user", "x" * (KEPT_MESSAGE_CHARS + 10))], CallOutcome("ok", Usage(1, 1), finish_reason="stop"))
    recording = recordings.record(conn, _session(), "t", OWNER)
    assert recording.calls == ()
    assert len(recording.skipped) == 2
    assert "it failed (error)" in recording.skipped[0]
    assert "kept shortened, not as sent" in recording.skipped[1]


def test_a_key_is_never_stored_in_the_recording_or_its_row(conn):
    leaky = Session("demo-session", messages=(Message("user", f"my key is {KEY}"), ANSWER), settings={})
    storage.insert_new(conn, leaky, OWNER)
    _log(conn, [Message("user", f"my key is {KEY}")], CallOutcome(f"echo {KEY}", Usage(1, 1), finish_reason="stop"))
    recording = recordings.record(conn, leaky, "t", OWNER, secrets=(KEY,))
    recordings.save(conn, recording, OWNER)
    row = conn.execute(select(schema.recordings.c.body)).scalar_one()
    assert KEY not in row and KEY[:16] not in row
    assert KEY not in recordings.export_json(recording)


def test_a_key_in_an_imported_file_is_never_taken():
    raw = recordings.to_dict(recordings.Recording("r", "t", "2026-01-01", "openai", "gpt-4o", _session(), calls=())) | {
        "api_key": KEY
    }
    raw["session"]["settings"]["api_key"] = KEY
    raw["calls"] = [
        {
            "variant": "chat",
            "body": {"model": "gpt-4o", "messages": [], "api_key": KEY},
            "reply": {"content": "x", "authorization": f"Bearer {KEY}"},
        }
    ]
    recording = recordings.parse_file(json.dumps(raw))
    assert KEY not in recordings.export_json(recording)
    assert recording.calls[0].body == {"model": "gpt-4o", "messages": []}


def test_a_file_round_trip_gives_the_same_recording(conn):
    recording, _ = _recorded(conn)
    again = recordings.parse_file(recordings.export_json(recording).encode())
    assert again == recording


@pytest.mark.parametrize(
    ("content", "said"),
    [
        (b"\xff\xfe not text", "not UTF-8"),
        ("[" * 100 + "]" * 100, "nest"),
        ("x" * (recordings.MAX_FILE_CHARS + 1), "characters"),
        ('{"format": "context-lab-session"}', 'no "format": "context-lab-recording"'),
        ('{"format": "context-lab-recording", "version": 2}', "version 2"),
        ('{"format": "context-lab-recording", "version": 1, "session": {"messages": 5}}', "recording.session"),
        ("1" * 5000, "digits"),
    ],
)
def test_a_hostile_file_is_refused_with_a_sentence(content, said):
    with pytest.raises(InvalidRecording) as refused:
        recordings.parse_file(content)
    assert said in str(refused.value)


def test_a_wrong_field_is_named_where_it_is():
    raw = recordings.to_dict(recordings.Recording("r", "t", "2026", "openai", "gpt-4o", _session(), calls=()))
    raw["calls"] = [
        {"variant": "chat", "body": {"messages": []}, "reply": {"content": "x", "usage": {"prompt_tokens": -5}}}
    ]
    with pytest.raises(InvalidRecording, match=r"recording\.calls\[0\]\.reply\.usage\.prompt_tokens"):
        recordings.parse_file(json.dumps(raw))


def test_kept_per_owner_listed_loaded_and_removed(conn):
    recording, _ = _recorded(conn)
    kept = recordings.save(conn, recording, OWNER)
    again = recordings.save(conn, recording, OWNER)  # its id is taken: kept under a new one
    assert again.id != kept.id
    assert [i.title for i in recordings.list_recordings(conn, OWNER)] == ["Locker demo", "Locker demo"]
    assert recordings.list_recordings(conn, "browser:someone-else") == []
    assert recordings.load(conn, kept.id, "browser:someone-else") is None
    assert recordings.load(conn, kept.id, OWNER) == kept
    assert recordings.remove(conn, kept.id, OWNER) and recordings.load(conn, kept.id, OWNER) is None


def test_it_opens_where_the_demo_began_with_each_message_in_or_out_as_its_first_question_had_it():
    intro = Message("user", "Hello")
    excluded = Message("assistant", "Hi", included=True)
    session = Session("s", messages=(intro, excluded, FACT, ACK, QUESTION, ANSWER))
    first = _plan([intro, FACT]).body  # the first question, FACT, was asked with "Hi" left out
    recording = recordings.Recording(
        "r",
        "t",
        "2026",
        "openai",
        "gpt-4o",
        session,
        (recordings.RecordedCall("chat", first, recordings.RecordedReply("Noted.")),),
    )
    start = recordings.starting_session(recording)
    assert [(m.content, m.included) for m in start.messages] == [("Hello", True), ("Hi", False)]
    assert start.id != session.id and start.title == "Demo: t" and start.draft == ""


def test_its_comparisons_and_runs_open_beside_it_marked_replayed(conn):
    session = _session()
    storage.insert_new(conn, session, OWNER)
    storage.save_comparison_body(conn, session.id, {"question": "q", "model_note": "openai · gpt-4o"})
    storage.save_compare_setup_body(conn, session.id, {"question": "q"})
    with storage.writing(conn):
        conn.execute(
            insert(schema.experiment_runs).values(
                id="run1",
                name="Lockers",
                set_name="s",
                session_id=session.id,
                status="done",
                cells=1,
                spec="{}",
                created_at="2026",
                updated_at="2026",
                owner=OWNER,
            )
        )
        conn.execute(
            insert(schema.experiment_cells).values(
                run_id="run1",
                variant=0,
                case_id="c1",
                repeat=0,
                status="ok",
                answer="4471.",
                verdicts="[]",
                body="{}",
                predicted_prompt_tokens=9,
                notices="[]",
                finished_at="2026",
            )
        )
    recording = recordings.record(conn, session, "Locker demo", OWNER)
    recordings.copy_into(conn, recording, "opened", OWNER)
    assert storage.comparison_bodies(conn, "opened") == [
        {"question": "q", "model_note": "openai · gpt-4o · replayed from the recording “Locker demo”"}
    ]
    assert storage.compare_setup_body(conn, "opened") == {"question": "q"}
    run = conn.execute(select(schema.experiment_runs).where(schema.experiment_runs.c.session_id == "opened")).one()
    assert run.name == "Lockers · replayed" and run.id != "run1" and run.owner == OWNER
    cells = conn.execute(select(schema.experiment_cells).where(schema.experiment_cells.c.run_id == run.id)).all()
    assert [c.answer for c in cells] == ["4471."]
    assert json.loads(cells[0].notices) == ["Replayed from the recording “Locker demo”: no call was made."]


def test_equal_bodies_are_equal_whatever_their_key_order():
    body = _plan([FACT]).body
    assert canonical(json.loads(json.dumps(dict(reversed(list(body.items())))))) == canonical(body)


def test_a_note_says_replayed_only_when_a_recording_answered():
    assert recordings.is_replayed("embedded (replayed) · SmolLM2-135M-Instruct · 1 run(s) per variant")
    assert recordings.is_replayed(recordings.replayed_note("openai · gpt-4o · 1 run(s) per variant", "Demo"))
    assert not recordings.is_replayed("compatible · replayed-model (replayed) · 1 run(s) per variant")
    assert not recordings.is_replayed("openai · gpt-4o · 1 run(s) per variant")
