import pytest

from lib import models
from lib.compare import (
    PRESETS,
    Job,
    Target,
    Variant,
    VariantResult,
    answer_stats,
    plan_rows,
    plan_variant,
    run_concurrently,
    seeded,
    seeds_for,
    similarity,
    with_seed,
    word_diff,
)
from lib.conversation import Message, SystemPrompt
from lib.payload import Sampling, build_body, serialise
from lib.providers import CallOutcome, ProviderConfig, make_client
from lib.strategies import Strategy
from lib.tokens import TiktokenCounter
from tests.fake_openai import FakeOpenAI

HISTORY = [
    Message("user", "My name is Ada."),
    Message("assistant", "Hello Ada."),
    Message("user", "I like foxes."),
    Message("assistant", "Foxes are clever."),
]
TARGET = Target(models.MODELS["gpt-4o"], TiktokenCounter.for_model("gpt-4o"), "gpt-4o")


def _contents(plan) -> list[str]:
    return [m["content"] for m in plan.body["messages"]]


def _plan(variant: Variant):
    return plan_variant(variant, SystemPrompt("Be brief."), HISTORY, "What is my name?", TARGET, Sampling()).plan


def test_presets_send_what_their_names_say():
    full, stateless, last_two, only_system = (_plan(v) for v in PRESETS)
    assert _contents(full) == ["Be brief.", *[m.content for m in HISTORY], "What is my name?"]
    assert _contents(stateless) == ["What is my name?"]
    assert _contents(last_two) == _contents(full)  # two turns is the whole history here
    assert _contents(only_system) == ["Be brief.", "What is my name?"]
    assert full.prompt_tokens > only_system.prompt_tokens > stateless.prompt_tokens


def test_overrides_apply_to_one_variant():
    variant = Variant("custom", Strategy("last_turns", last_turns=1), system_override="Talk like a pirate.",
                      temperature=0.1, max_tokens=7)  # fmt: skip
    plan = _plan(variant)
    assert _contents(plan) == ["Talk like a pirate.", "I like foxes.", "Foxes are clever.", "What is my name?"]
    assert plan.body["temperature"] == 0.1 and plan.body["max_tokens"] == 7


def test_plan_rows_describe_each_variant_before_sending():
    plans = [_plan(v) for v in PRESETS]
    rows = plan_rows(list(PRESETS), plans)
    assert [r["variant"] for r in rows] == [v.name for v in PRESETS]
    assert rows[0]["prompt tokens"] == plans[0].prompt_tokens and rows[0]["payload bytes"] == plans[0].body_bytes


def test_similarity_is_a_cosine_of_word_counts():
    assert similarity("The fox jumps", "the FOX jumps") == pytest.approx(1.0)
    assert similarity("red apples", "blue sky") == 0.0
    assert 0 < similarity("my name is Ada", "your name is Bob") < 1
    assert similarity("", "") == 1.0 and similarity("", "word") == 0.0


def test_word_diff_rebuilds_both_texts():
    old, new = "Your name is Ada, I think.", "Your name is Bob, I am sure."
    ops = word_diff(old, new)
    assert "".join(t for op, t in ops if op != "insert") == old
    assert "".join(t for op, t in ops if op != "delete") == new
    assert ("delete", "Ada, ") in ops and ("insert", "Bob, ") in ops


def test_seeds_only_when_repeating():
    assert seeds_for(1) == [None] and seeds_for(3, 10) == [10, 11, 12]
    assert with_seed({"a": 1}, None) == {"a": 1} and with_seed({"a": 1}, 5)["seed"] == 5


def test_a_seeded_plan_counts_the_bytes_of_its_seed():
    plan = _plan(PRESETS[0])
    assert seeded(plan, None) is plan
    sent = seeded(plan, 12345)
    assert sent.body["seed"] == 12345 and "seed" not in plan.body
    assert sent.body_bytes == len(serialise(sent.body)) == plan.body_bytes + len(',"seed":12345')
    assert sent.prompt_tokens == plan.prompt_tokens  # a seed is not part of the prompt


def test_stats_have_a_row_per_run_with_similarity_to_the_baseline():
    plan = _plan(PRESETS[0])
    base = VariantResult(PRESETS[0], plan, [CallOutcome(text="Ada", finish_reason="stop")], [None])
    other = VariantResult(PRESETS[1], plan, [CallOutcome(text="Bob"), CallOutcome(error="boom")], [1, 2])
    rows = answer_stats([base, other], baseline=0)
    assert [r["similarity to baseline"] for r in rows] == [1.0, 0.0, None]
    assert rows[2]["error"] == "boom" and rows[1]["seed"] == 1


def _jobs(server: FakeOpenAI, models_: list[str]) -> list[Job]:
    client = make_client(ProviderConfig("compatible", "fake-model", base_url=server.base_url))
    body = lambda m: build_body(m, [{"role": "user", "content": "hi"}], Sampling())  # noqa: E731
    return [Job((i, 0), client, body(m)) for i, m in enumerate(models_)]


def test_variants_run_concurrently():
    count = 4
    with FakeOpenAI() as server:
        server.behaviour.delay_s = 1.0  # long enough for all four to be in the server at once
        events = list(run_concurrently(_jobs(server, ["fake-model"] * count)))
    done = [e for e in events if e.kind == "done"]
    assert len(done) == count and all(e.outcome.ok for e in done)
    assert server.max_in_flight == count  # the server was answering all of them at once


def test_one_failing_variant_does_not_stop_the_others():
    with FakeOpenAI() as server:
        server.behaviour.reject_unknown_models = True
        events = list(run_concurrently(_jobs(server, ["fake-model", "no-such-model", "fake-model-2"])))
    outcomes = {e.key[0]: e.outcome for e in events if e.kind == "done"}
    assert outcomes[0].ok and outcomes[2].ok
    assert "(404)" in outcomes[1].error and "no-such-model" in outcomes[1].error
    texts = "".join(e.text for e in events if e.kind == "delta" and e.key[0] == 0)
    assert texts == outcomes[0].text == "Hello from the fake server."
