"""Other backends: each ablation regenerated at temperature 0, checked on the wire (tests/fake_openai.py)."""

from __future__ import annotations

import pytest

from lib.analysis.attribution import AnswerContext, Job, RegenerationScorer, attribute, plan_ablations
from lib.backends.providers import ProviderConfig, make_client
from lib.context.conversation import Message, SystemPrompt
from lib.context.payload import Sampling, serialise
from lib.context.request import Target, build_request
from lib.context.strategies import Strategy
from lib.context.tokens import TiktokenCounter
from lib.core.models import MODELS
from tests.fake_openai import Behaviour, FakeOpenAI

TARGET = Target(MODELS["gpt-4o-mini"], TiktokenCounter.for_model("gpt-4o-mini"), "gpt-4o-mini")
KEY = "sk-attribution-test-key-0123456789"
HISTORY = [
    Message("user", "I went for a walk."),
    Message("assistant", "Nice."),
    Message("user", "My sister Maria lives in Lisbon."),
    Message("assistant", "Noted."),
]


class KnowsWhatItWasTold(Behaviour):
    """Answers from the messages it was sent, as a model would: Lisbon only if it was told."""

    def reply_to(self, request: dict) -> str:
        told = any("Lisbon" in str(m.get("content")) for m in request["messages"][:-1])
        return "She lives in Lisbon, Portugal." if told else "I do not know where Maria lives."


def _context() -> AnswerContext:
    request = build_request(
        SystemPrompt("Be brief."),
        HISTORY,
        Message("user", "Where does Maria live?"),
        Strategy("full"),
        TARGET,
        Sampling(temperature=0.9, max_tokens=50),
    )
    return AnswerContext.of(request, "She lives in Lisbon.", TARGET, Sampling(temperature=0.0, max_tokens=50))


@pytest.fixture
def fake():
    with FakeOpenAI() as server:
        server.behaviour = KnowsWhatItWasTold()
        yield server


def _scorer(fake) -> RegenerationScorer:
    client = make_client(ProviderConfig("compatible", "gpt-4o-mini", base_url=fake.base_url, api_key=KEY))
    return RegenerationScorer(client, (KEY,))


def test_each_ablation_is_sent_as_the_builder_made_it_at_temperature_zero(fake):
    context = _context()
    plan = plan_ablations(len(context.units))
    scorer = _scorer(fake)
    attribute(context, scorer, plan)
    sent = [r for r in fake.requests if r.method == "POST"]
    assert [r.body for r in sent] == [serialise(context.request_for(mask).plan.body) for mask in plan.masks]
    assert all(r.json()["temperature"] == 0.0 for r in sent)
    assert len(scorer.calls) == plan.passes  # each one for the run log


def test_the_message_the_answer_rests_on_is_found_and_named(fake):
    context = _context()
    result = attribute(context, _scorer(fake), plan_ablations(len(context.units)))
    assert result.measure == "similarity"
    fact = next(u.index for u in context.units if "Lisbon" in u.message.content)
    assert result.ranking()[0] == fact and result.bar(fact) == 1.0
    assert result.sentence(fact) == "Without it the answer no longer mentions Lisbon."
    assert all(result.influence[u.index] == 0.0 for u in context.units if u.index != fact)


def test_a_failing_call_ends_the_run_with_the_servers_reason_and_no_key(fake):
    fake.behaviour = Behaviour(status=400, error_body={"error": {"message": f"bad request for {KEY}"}})
    context = _context()
    job = Job(lambda progress: attribute(context, _scorer(fake), plan_ablations(len(context.units)), progress))
    assert job.wait(60)
    assert job.result is None and "400" in job.error and KEY not in job.error


# --- tool-using contexts: the same tools, whole tool rounds ---------------------------------------------


def _tool_context():
    from lib.context.conversation import ToolCall
    from lib.context.tools import ToolDefinition, ToolSettings

    weather = ToolDefinition(
        "get_weather", "Weather in a city.", {"type": "object", "properties": {"city": {"type": "string"}}}
    )
    tools = ToolSettings((weather,), "auto", False)
    history = [
        Message("user", "Where does Maria live, and what is the weather there?", id="u1"),
        Message("assistant", "", id="a1", tool_calls=(ToolCall("call_1", "get_weather", '{"city": "Lisbon"}'),)),
        Message("tool", "Lisbon: 21 °C, sunny.", id="t1", tool_call_id="call_1"),
        Message("assistant", "Maria lives in Lisbon, where it is sunny.", id="a2"),
    ]
    question = Message("user", "How warm is it there?", id="q")
    request = build_request(
        SystemPrompt("Be brief."), history, question, Strategy("full"), TARGET, Sampling(0.9, 50), tools=tools
    )
    return tools, AnswerContext.of(request, "21 °C.", TARGET, Sampling(temperature=0.0, max_tokens=50))


def test_with_tools_every_ablation_sends_the_chats_tools_and_whole_tool_rounds(fake):
    import json

    from lib.context.request import send_blocker

    tools, context = _tool_context()
    scorer = _scorer(fake)
    plan = plan_ablations(len(context.units))
    attribute(context, scorer, plan)
    bodies = [r.json() for r in fake.requests if r.method == "POST"]
    assert len(bodies) == plan.passes == len(context.units) + 1
    for body in bodies:
        assert body["tools"] == tools.api_tools() and body["tool_choice"] == "auto"
        assert body["parallel_tool_calls"] is False
        calls = {c["id"] for m in body["messages"] for c in m.get("tool_calls", [])}
        results = {m["tool_call_id"] for m in body["messages"] if m["role"] == "tool"}
        assert calls == results  # never a result without its call, nor a call without its result
    # units 2 (the call) and 3 (its result): leaving out either leaves out both
    without_call, without_result = (tuple(j != i for j in range(len(context.units))) for i in (2, 3))
    assert context.paired(without_call) == context.paired(without_result) == (True, True, False, False, True)
    for mask in plan.masks:
        assert send_blocker(context.request_for(mask)) is None
    sent = [json.dumps(b["messages"]) for b in bodies]
    assert sum("call_1" not in s for s in sent) == 2  # the two passes that leave out the round
