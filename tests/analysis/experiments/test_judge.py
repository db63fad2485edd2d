"""The judge: its request from the one builder with the forced JSON shape, its strict reading (every
refusal path named), its agreement with the rules; and on the embedded model, a verdict that parses."""

from __future__ import annotations

import json

import pytest

from lib.analysis.experiments.judge import (
    JUDGE_SYSTEM,
    agreement,
    judge_request,
    parse_verdict,
    response_format,
    schema,
)
from lib.backends.providers import ProviderConfig, make_client
from lib.backends.reply import Reply
from lib.context.payload import in_wire_order, serialise
from lib.context.request import Target
from lib.context.tokens import TiktokenCounter
from lib.core import models
from lib.core.outcome import CallOutcome
from tests.fake_openai import FakeOpenAI

GPT = Target(models.MODELS["gpt-4o-mini"], TiktokenCounter.for_model("gpt-4o-mini"), "gpt-4o-mini")


def test_openai_style_servers_get_a_strict_json_schema():
    fmt = response_format("openai")
    assert fmt["type"] == "json_schema" and fmt["json_schema"]["strict"] is True
    assert fmt["json_schema"]["schema"] == schema(bounded=False)
    assert "maxLength" not in json.dumps(fmt)  # strict mode refuses the keyword
    assert response_format("compatible") == response_format("azure") == fmt


def test_the_embedded_server_gets_llama_cpp_pythons_json_object_with_a_schema():
    fmt = response_format("embedded")
    assert fmt == {"type": "json_object", "schema": schema(bounded=True)}
    assert fmt["schema"]["properties"]["verdict"]["enum"] == ["pass", "fail"]
    assert fmt["schema"]["properties"]["reason"]["maxLength"] == 200


def test_the_judge_request_comes_from_the_builder_and_reaches_the_server_byte_for_byte():
    plan = judge_request("Names the city.", "Where do I live?", "In Porto.", GPT, "compatible", "max_completion_tokens")
    body = plan.body
    assert [m["role"] for m in body["messages"]] == ["system", "user"]
    assert body["messages"][0]["content"] == JUDGE_SYSTEM
    assert "Rubric: Names the city." in body["messages"][1]["content"]
    assert "Answer: In Porto." in body["messages"][1]["content"]
    assert body["temperature"] == 0.0 and body["stream"] is False and body["max_completion_tokens"] == 120
    assert list(body) == list(in_wire_order(body)) and plan.body_bytes == len(serialise(body))
    with FakeOpenAI() as server:
        server.behaviour.reply = '{"verdict": "pass", "reason": "It names Porto."}'
        client = make_client(ProviderConfig("compatible", "gpt-4o-mini", base_url=server.base_url))
        reply = Reply(client, body)
        reply.text()
        verdict = parse_verdict(reply.outcome)
        sent = next(r for r in server.requests if r.method == "POST")
    assert sent.body == serialise(body)  # what was planned (and counted) is what was sent
    assert verdict.passed is True and verdict.reason == "It names Porto."


@pytest.mark.parametrize(
    ("outcome", "reason"),
    [
        (CallOutcome(error="Rate limited (429): wait a moment, then retry."), "The judge call failed: Rate limited"),
        (CallOutcome(text="", finish_reason="stop"), "no text (a refusal or a content filter)"),
        (CallOutcome(text='{"verdict": "pa', finish_reason="length"), "stopped at its 120-token limit"),
        (CallOutcome(text="The answer is good.", finish_reason="stop"), "not JSON (Expecting value at character 0)"),
        (CallOutcome(text='["pass"]', finish_reason="stop"), "a list, not an object"),
        (CallOutcome(text='{"verdict": "maybe", "reason": "?"}', finish_reason="stop"), "got 'maybe'"),
        (CallOutcome(text='{"verdict": true, "reason": "?"}', finish_reason="stop"), "got True"),
        (CallOutcome(text='{"verdict": "pass"}', finish_reason="stop"), "no reason"),
    ],
)
def test_every_refusal_path_is_no_verdict_with_its_reason(outcome, reason):
    verdict = parse_verdict(outcome)
    assert verdict.passed is None
    assert reason in verdict.reason


def test_a_well_formed_verdict_is_read():
    fail = parse_verdict(CallOutcome(text=' {"verdict": "fail", "reason": "  wrong city "}\n', finish_reason="stop"))
    assert fail.passed is False and fail.reason == "wrong city"


def test_agreement_is_counted_both_ways():
    measured = agreement([(True, True), (False, False), (True, False), (False, True), (True, True)])
    assert (measured.both, measured.agree, measured.judge_pass_checks_fail, measured.judge_fail_checks_pass) == (
        5,
        3,
        1,
        1,
    )
    assert measured.rate == 0.6
    assert "3 of 5 cells (60 %)" in measured.sentence()
    assert agreement([]).rate is None and "no agreement to measure" in agreement([]).sentence()


@pytest.mark.slow
def test_the_embedded_judge_always_answers_in_the_verdict_shape(embedded_server, embedded_tokenizer):
    """SmolLM2-135M on its own rarely writes this JSON; with the schema as a grammar it must."""
    target = Target(models.MODELS[models.EMBEDDED_MODEL], embedded_tokenizer, models.EMBEDDED_MODEL)
    client = make_client(ProviderConfig("embedded", models.EMBEDDED_MODEL, base_url=embedded_server.base_url))
    answers = [
        ("The answer names a city.", "Where do I live?", "You live in Porto."),
        ("The answer is a number.", "What is my locker number?", "I do not know."),
    ]
    for rubric, question, answer in answers:
        plan = judge_request(rubric, question, answer, target, "embedded")
        reply = Reply(client, plan.body)
        reply.text()
        verdict = parse_verdict(reply.outcome)
        assert verdict.passed is not None, (reply.outcome.text, verdict.reason)
        assert json.loads(reply.outcome.text)["verdict"] in ("pass", "fail")
