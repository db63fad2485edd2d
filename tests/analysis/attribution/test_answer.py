"""An answer as the attribution panel takes it (lib/analysis/attribution/answer.py): its context at
temperature 0 (a reasoning model's sampled), the fingerprint that says results are stale, its length,
and what the check call's reply says."""

from __future__ import annotations

from lib.analysis.attribution.answer import answer_context, answer_tokens, check_said, fingerprint
from lib.analysis.attribution.context import sampling_of
from lib.context.conversation import Message, SystemPrompt
from lib.context.payload import Sampling
from lib.context.request import Target, build_request
from lib.context.strategies import Strategy
from lib.context.tokens import TiktokenCounter
from lib.core.models import MODELS
from lib.core.outcome import CallOutcome


def _target(name: str) -> Target:
    return Target(MODELS[name], TiktokenCounter.for_model(name), name)


def _plan(target: Target, temperature: float = 0.9):
    history = [Message("user", "My name is Ada.", id="m0"), Message("assistant", "Hello Ada.", id="m1")]
    question = Message("user", "What is my name?", id="q")
    sampling = Sampling(temperature=temperature, max_tokens=40)
    return build_request(SystemPrompt("Be brief."), history, question, Strategy("full"), target, sampling).plan


def test_every_ablation_is_built_at_temperature_0_except_for_a_reasoning_model():
    chat = _target("gpt-4o-mini")
    assert answer_context(_plan(chat), "Ada.", chat).sampling.temperature == 0.0
    reasoning = _target("o3-mini")
    plan = _plan(reasoning)
    assert answer_context(plan, "Ada.", reasoning).sampling == sampling_of(plan.body)  # as it was sent
    assert sampling_of(plan.body).temperature != 0.0


def test_the_fingerprint_changes_with_the_answer_and_where_it_was_sent():
    target = _target("gpt-4o-mini")
    context = answer_context(_plan(target), "Ada.", target)
    same = fingerprint(context, "openai", "https://api.openai.com/v1")
    assert same == fingerprint(answer_context(_plan(target), "Ada.", target), "openai", "https://api.openai.com/v1")
    assert same != fingerprint(context, "compatible", "https://api.openai.com/v1")
    assert same != fingerprint(context, "openai", "http://127.0.0.1:8080/v1")
    assert same != fingerprint(answer_context(_plan(target), "Grace.", target), "openai", "https://api.openai.com/v1")


def test_the_answer_is_counted_as_a_reply_of_the_context_model():
    target = _target("gpt-4o-mini")
    short = answer_tokens(answer_context(_plan(target), "Ada.", target))
    longer = answer_tokens(answer_context(_plan(target), "Your name is Ada, as you told me.", target))
    assert 0 < short < longer


def test_the_check_says_whether_the_answer_came_back():
    target = _target("gpt-4o-mini")
    plan = _plan(target)
    context = answer_context(plan, "Ada.", target)
    level, said = check_said(context, plan, CallOutcome(text=" Ada. "))
    assert level == "success" and f"{plan.prompt_tokens:,} prompt tokens" in said
    level, said = check_said(context, plan, CallOutcome(text="Grace."))
    assert level == "warning" and "a different answer" in said and said.endswith("Grace.")
    level, said = check_said(context, plan, CallOutcome(error="The server refused the call."))
    assert (level, said) == ("error", "The server refused the call.")
