"""The built-in demo conversations: their shapes (pure), and on the embedded model (temperature 0, so one
variant each is the answer every time) right with the full context and wrong without the fact.
bench/demo_conversations.py measures all ten variants of each."""

from __future__ import annotations

import pytest

from lib.analysis.compare import plan_variant, states
from lib.analysis.demo_conversations import DEMOS, DemoCase, answered, demo
from lib.analysis.experiments.checks import evaluate
from lib.analysis.experiments.kinds import check_from_line
from lib.backends.providers import ProviderConfig, make_client, stream_chat
from lib.context.conversation import Message, SystemPrompt
from lib.context.payload import Sampling
from lib.context.request import Target
from lib.context.tokens import TiktokenCounter
from lib.core import models
from lib.core.models import EMBEDDED_MODEL
from lib.core.outcome import CallOutcome

SAMPLING = Sampling(temperature=0.0, max_tokens=32, stream=False)
OFFLINE = Target(models.MODELS["gpt-4o"], TiktokenCounter.for_model("gpt-4o"), "gpt-4o")


def _sent(case: DemoCase, arm, target: Target = OFFLINE) -> list[dict]:
    history = [Message.from_api(m) for m in case.messages]
    system = SystemPrompt(case.system, included=bool(case.system))
    return plan_variant(arm.variant, system, history, case.question, target, SAMPLING).plan.body["messages"]


@pytest.mark.parametrize("conversation", DEMOS, ids=[d.key for d in DEMOS])
def test_each_demo_has_ten_variants_a_title_and_a_line_for_a_stakeholder(conversation):
    assert len(conversation.values) == 10 and len(set(conversation.values)) == 10
    assert conversation.title.strip() and "\n" not in conversation.title
    assert conversation.shows.strip() and "\n" not in conversation.shows
    assert demo(conversation.key) is conversation
    first = conversation.arms[0]
    assert first.right and first.variant.strategy.kind == "full" and first.variant.system_override is None
    assert any(not arm.right for arm in conversation.arms)
    assert conversation.expected == conversation.values[0] and conversation.question == conversation.case().question


@pytest.mark.parametrize("conversation", DEMOS, ids=[d.key for d in DEMOS])
def test_the_fact_is_sent_where_the_answer_should_be_right_and_only_there(conversation):
    """Pure: the right arms' requests carry the planted word, the wrong arms' do not, in every variant;
    the question never gives it away."""
    for case in conversation.cases():
        assert case.expected.casefold() not in case.question.casefold()
        for arm in conversation.arms:
            text = " ".join(str(m["content"]) for m in _sent(case, arm)[:-1])
            assert (case.expected.casefold() in text.casefold()) is arm.right, (case.expected, arm.variant.name)


def test_correct_means_what_the_experiments_icontains_and_compare_say():
    check = check_from_line("icontains: Biscuit")
    for answer in ("Your dog's name is BISCUIT.", "biscuits", "Max", "", "Bis cuit"):
        assert answered(answer, "Biscuit") is evaluate(check, answer).passed is states(answer, "Biscuit")


def test_an_unknown_demo_is_named_with_the_known_ones():
    with pytest.raises(KeyError, match="known: "):
        demo("nope")


def _answer(client, target: Target, case: DemoCase, arm) -> str:
    history = [Message.from_api(m) for m in case.messages]
    system = SystemPrompt(case.system, included=bool(case.system))
    request = plan_variant(arm.variant, system, history, case.question, target, SAMPLING)
    outcome = CallOutcome()
    for _ in stream_chat(client, request.plan.body, outcome):
        pass
    assert not outcome.error, outcome.error
    assert outcome.usage.prompt_tokens == request.plan.prompt_tokens  # the meter is the server's count
    return outcome.text


@pytest.mark.parametrize("conversation", DEMOS, ids=[d.key for d in DEMOS])
def test_on_the_embedded_model_the_full_context_is_right_and_the_others_wrong(
    conversation, embedded_server, embedded_tokenizer
):
    """Temperature 0 is deterministic: the loaded variant answers the same every time (the bench does 10)."""
    target = Target(models.MODELS[EMBEDDED_MODEL], embedded_tokenizer, EMBEDDED_MODEL)
    client = make_client(ProviderConfig("embedded", EMBEDDED_MODEL, base_url=embedded_server.base_url, timeout_s=300))
    try:
        case = conversation.case()
        for arm in conversation.arms:
            text = _answer(client, target, case, arm)
            assert case.answered(text) is arm.right, (arm.variant.name, text)
    finally:
        client.close()
