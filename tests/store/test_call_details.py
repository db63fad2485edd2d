"""A run-log row's details: the request body as sent, the answer, the strategy, the timings."""

import json

import pytest
from sqlalchemy import select

from lib.context.conversation import Message
from lib.context.payload import Sampling, plan_request, serialise
from lib.context.tokens import TiktokenCounter
from lib.core import models
from lib.core.outcome import CallOutcome, Usage
from lib.store import schema, storage
from lib.store.call_details import (
    KEPT_MESSAGE_CHARS,
    calls_with_details,
    cost_as,
    details_of,
    log_call,
    record_with_details,
    timings,
)

KEY = "sk-proj-ABCDEFGH12345678"


def _plan(content: str = "Hello there"):
    model = models.MODELS["gpt-4o"]
    return plan_request([Message("user", content)], model, TiktokenCounter.for_model(model.name), Sampling())


def _outcome(**changes) -> CallOutcome:
    values = {"text": "Hi!", "usage": Usage(12, 3), "latency_s": 2.0, "ttft_s": 0.5, "finish_reason": "stop"}
    return CallOutcome(**{**values, **changes})


@pytest.fixture
def conn(store):
    with storage.opened() as conn:
        yield conn


def test_details_keep_the_body_as_sent_the_answer_and_the_strategy():
    plan = _plan()
    details = details_of(plan, _outcome(), "Last 2 turns", queued_s=1.25, notices=["Rate limited, retried"])
    assert details.body == plan.body and json.dumps(details.body, separators=(",", ":")).encode() == serialise(
        plan.body
    )
    assert (details.answer, details.strategy, details.finish_reason, details.queued_s) == (
        "Hi!",
        "Last 2 turns",
        "stop",
        1.25,
    )
    assert details.notices == ("Rate limited, retried",) and details.left_out_chars == 0


def test_a_huge_message_is_kept_shortened_and_a_key_never_kept():
    huge = "x" * (KEPT_MESSAGE_CHARS * 3)
    details = details_of(_plan(f"{huge} {KEY}"), _outcome(text=f"Your key is {KEY}"), secrets=(KEY,))
    assert details.left_out_chars > KEPT_MESSAGE_CHARS and len(details.request_body) < 2 * KEPT_MESSAGE_CHARS
    assert KEY not in details.request_body and KEY not in details.answer and "***" in details.answer


def test_calls_come_back_with_their_details_in_the_run_logs_order(conn):
    first = storage.CallRecord.of("s1", "chat", "openai", _plan(), _outcome())
    storage.record_call(conn, first)  # logged before details were kept: none
    second = storage.CallRecord.of("s1", "Last 2 turns", "openai", _plan("Again"), _outcome(text="Again!"))
    call_id = record_with_details(conn, second, details_of(_plan("Again"), _outcome(text="Again!"), "Last 2 turns"))
    third = storage.CallRecord.of("s2", "chat", "openai", _plan(), _outcome())
    record_with_details(conn, third, details_of(_plan(), _outcome(), "Full history"))
    pairs = calls_with_details(conn)
    assert [record for record, _ in pairs] == storage.calls(conn) == [first, second, third]
    assert pairs[0][1] is None and pairs[1][1].answer == "Again!" and pairs[2][1].strategy == "Full history"
    logged = select(schema.calls.c.id).where(schema.calls.c.variant == "Last 2 turns")
    assert call_id == conn.execute(logged).scalar_one()
    assert [r.session_id for r, _ in calls_with_details(conn, "s2")] == ["s2"]


def test_log_call_is_the_one_writer_figures_and_details_keys_masked(conn):
    """Every caller (chat, Compare, experiments, attribution, summaries) logs through `log_call`: the row
    and its details in one go, the key masked in both, the end time kept for a writer that writes later."""
    plan = _plan(f"My key is {KEY}")
    outcome = _outcome(text=f"Yours is {KEY}", error=f"Rejected {KEY}")
    call_id = log_call(
        conn,
        "s1",
        "experiment · Full history",
        "openai",
        plan,
        outcome,
        (KEY,),
        "user:ada",
        "Full history",
        0.5,
        ["retried once"],
        at="2026-01-01T10:00:00.000+00:00",
    )
    ((record, details),) = calls_with_details(conn)
    assert (record.variant, record.owner, record.at, record.usage) == (
        "experiment · Full history",
        "user:ada",
        "2026-01-01T10:00:00.000+00:00",
        Usage(12, 3),
    )
    assert record.status == "incomplete" and KEY not in record.error
    assert (details.strategy, details.queued_s, details.notices) == ("Full history", 0.5, ("retried once",))
    assert KEY not in details.request_body and KEY not in details.answer
    assert call_id == conn.execute(select(schema.calls.c.id)).scalar_one()


def test_timings_are_labelled_and_split():
    record = storage.CallRecord.of("s1", "chat", "embedded", _plan(), _outcome())
    shown = dict(timings(record, details_of(_plan(), _outcome(), queued_s=3.0)))
    assert shown == {
        "Queued before sending": "3.00 s",
        "First token": "0.50 s",
        "Rest of the answer": "1.50 s",
        "Latency (sent → done)": "2.00 s",
    }
    assert dict(timings(record, None))["Queued before sending"] == "—"


def test_a_free_call_can_be_priced_as_a_hosted_model():
    free = plan_request(
        [Message("user", "Hi")], models.MODELS[models.EMBEDDED_MODEL], TiktokenCounter.for_model("gpt-4o"), Sampling()
    )
    record = storage.CallRecord.of("s1", "chat", "embedded", free, _outcome(usage=Usage(1000, 100)))
    assert record.cost == 0.0
    assert cost_as(record, "gpt-4o-mini") == pytest.approx(1000 * 0.15e-6 + 100 * 0.6e-6)
    with pytest.raises(KeyError):
        cost_as(record, "no-such-model")
