"""Run-log rows that open (ui/call_details.py): the request body, the answer, the strategy, the timings."""

import json

import pytest
from sqlalchemy import text

from lib.context.conversation import Message
from lib.context.payload import Sampling, plan_request
from lib.context.tokens import TiktokenCounter
from lib.core import models
from lib.core.outcome import CallOutcome, Usage
from lib.store import storage
from lib.store.call_details import details_of, record_with_details
from tests.app.conftest import app_of_function

pytestmark = pytest.mark.slow


def _plan(content: str):
    model = models.MODELS["gpt-4o"]
    return plan_request([Message("user", content)], model, TiktokenCounter.for_model(model.name), Sampling())


def _opened_calls():
    from ui.call_details import run_log_with_details, show_call

    log = run_log_with_details()
    records, details = log.records, log.details
    for record, detail in zip(records, details, strict=True):
        show_call(record, detail)


def _logged_from_the_page():
    from lib.backends.providers import ProviderConfig
    from lib.context.conversation import Message
    from lib.context.payload import Sampling, plan_request
    from lib.context.tokens import TiktokenCounter
    from lib.core import models
    from lib.core.outcome import CallOutcome, Usage
    from ui.call_details import log_call
    from ui.settings import Settings

    model = models.MODELS["gpt-4o"]
    plan = plan_request(
        [Message("user", "Hello from the page")], model, TiktokenCounter.for_model("gpt-4o"), Sampling()
    )
    provider = ProviderConfig("openai", "gpt-4o", api_key="sk-proj-ABCDEFGH12345678")
    outcome = CallOutcome(
        "Echo sk-proj-ABCDEFGH12345678", Usage(9, 2), latency_s=1.0, ttft_s=0.25, finish_reason="stop"
    )
    log_call(Settings(provider, model, Sampling()), plan, outcome, session_id="s9", strategy="Full history")


def test_a_call_opens_to_its_body_answer_strategy_and_timings():
    with storage.opened() as conn:
        plan = _plan("What is my name?")
        outcome = CallOutcome(
            "You are **Ada** ![x](https://evil.example/p.png)",
            Usage(12, 4),
            latency_s=2.0,
            ttft_s=0.5,
            finish_reason="stop",
        )
        record = storage.CallRecord.of("s1", "Last 2 turns", "openai", plan, outcome)
        record_with_details(conn, record, details_of(plan, outcome, "Last 2 turns", queued_s=3.0))
        storage.record_call(conn, storage.CallRecord.of("s1", "chat", "openai", _plan("Old"), outcome))
    at = app_of_function(_opened_calls)
    at.run()
    assert not at.exception, at.exception
    bodies = [json.loads(c.value) for c in at.code if c.language == "json"]
    assert bodies == [plan.body]
    assert any("You are **Ada** !\\[x]" in m.value for m in at.markdown)  # the answer, inert: no image loads
    assert any(c.value.startswith("Strategy: Last 2 turns") for c in at.caption)
    first = {m.label: m.value for m in at.metric[:4]}  # the first call's timings
    assert first["Queued before sending"] == "3.00 s" and first["Rest of the answer"] == "1.50 s"
    assert any("logged before the run log kept bodies" in i.value for i in at.info)


def test_the_page_logs_a_call_with_its_details_and_never_its_key():
    at = app_of_function(_logged_from_the_page)
    at.run()
    assert not at.exception, at.exception
    with storage.opened() as conn:
        stored = " ".join(str(v) for row in conn.execute(text("SELECT * FROM call_details")) for v in row)
        assert storage.calls(conn)[0].session_id == "s9"
    assert "Hello from the page" in stored and "Full history" in stored
    assert "ABCDEFGH" not in stored and "***" in stored


def _the_run_log_with_the_hook():
    from lib.analysis.runlog import calls_frame, filtered
    from ui.call_details import run_log_with_details, table_with_details

    log = run_log_with_details()
    records, details = log.records, log.details
    shown = filtered(calls_frame(records), variant=["Last 2 turns"])
    table_with_details(shown, records, details)


def test_the_run_log_table_opens_the_row_picked():
    outcome = CallOutcome("Ada", Usage(12, 4), latency_s=2.0, ttft_s=0.5, finish_reason="stop")
    with storage.opened() as conn:
        for variant in ("chat", "Last 2 turns"):
            plan = _plan(f"Asked by {variant}")
            record = storage.CallRecord.of("s1", variant, "openai", plan, outcome)
            record_with_details(conn, record, details_of(plan, outcome, variant))
    at = app_of_function(_the_run_log_with_the_hook)
    at.run()
    assert not at.exception, at.exception
    assert list(at.dataframe[0].value["variant"]) == ["Last 2 turns"]
    assert any(c.value.startswith("Pick a row to open the call") for c in at.caption)
    at.session_state["run_log_rows"] = {"selection": {"rows": [0], "columns": [], "cells": []}}
    at.run()
    assert not at.exception, at.exception
    assert [json.loads(c.value)["messages"][0]["content"] for c in at.code] == ["Asked by Last 2 turns"]
