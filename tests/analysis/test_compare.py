import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace

import pytest

from lib.analysis.compare import (
    PRESETS,
    STOPPED_BEFORE_SENT,
    CompareSetup,
    Comparison,
    ComparisonRun,
    InvalidComparison,
    Job,
    Target,
    Variant,
    VariantResult,
    answer_stats,
    distinct_names,
    input_estimate,
    plan_rows,
    plan_variant,
    run_concurrently,
    seeded,
    seeds_for,
    sent_calls,
    similarity,
    start_run,
    wait_until_idle,
    with_seed,
    word_diff,
)
from lib.backends.embedded import QueueState
from lib.backends.providers import CallLimits, ProviderConfig, make_client
from lib.backends.reply import STOPPED
from lib.context.conversation import Message, SystemPrompt
from lib.context.payload import Sampling, build_body, serialise
from lib.context.strategies import Strategy
from lib.context.tokens import TiktokenCounter
from lib.core import models
from lib.core.outcome import CallOutcome, Usage
from tests.fake_openai import FakeOpenAI
from tests.paths import DATA

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
    variant = Variant(
        "custom",
        Strategy("last_turns", last_turns=1),
        system_override="Talk like a pirate.",
        temperature=0.1,
        max_tokens=7,
    )
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


@contextmanager
def _jobs(server: FakeOpenAI, models_: list[str]) -> Iterator[list[Job]]:
    """The jobs, their one client closed after: an `openai` client that has sent refers to itself, and
    one left open keeps its sockets until the cycle collector runs, inside whichever test comes next."""
    body = lambda m: build_body(m, [{"role": "user", "content": "hi"}], Sampling())  # noqa: E731
    with make_client(ProviderConfig("compatible", "fake-model", base_url=server.base_url)) as client:
        yield [Job((i, 0), client, body(m)) for i, m in enumerate(models_)]


def test_variants_run_concurrently():
    """All at once: every job is sent before the first one is done (they overlap on the server)."""
    count = 4
    with FakeOpenAI() as server:
        server.behaviour.delay_s = 1.0
        with _jobs(server, ["fake-model"] * count) as jobs:
            events = list(run_concurrently(jobs))
    kinds = [e.kind for e in events if e.kind != "delta"]
    assert kinds[:count] == ["start"] * count and kinds[count:] == ["done"] * count
    assert all(e.outcome.ok for e in events if e.kind == "done")
    assert all(e.queued_s is not None for e in events if e.kind == "start")
    assert server.max_in_flight == count  # the server was answering all of them at once


def test_one_failing_variant_does_not_stop_the_others():
    with FakeOpenAI() as server:
        server.behaviour.reject_unknown_models = True
        with _jobs(server, ["fake-model", "no-such-model", "fake-model-2"]) as jobs:
            events = list(run_concurrently(jobs))
    outcomes = {e.key[0]: e.outcome for e in events if e.kind == "done"}
    assert outcomes[0].ok and outcomes[2].ok
    assert "(404)" in outcomes[1].error and "no-such-model" in outcomes[1].error
    texts = "".join(e.text for e in events if e.kind == "delta" and e.key[0] == 0)
    assert texts == outcomes[0].text == "Hello from the fake server."


def test_preset_names_say_what_each_sends():
    full, bare, last_two, system_only = PRESETS
    assert full.name == "System prompt + full history"
    assert "no system prompt" in bare.name and "no history" in bare.name
    assert bare.sends() == "no system prompt · no history · the question"
    assert system_only.sends() == "the conversation's system prompt · no history · the question"
    assert (
        last_two.sends(pinned=2)
        == "the conversation's system prompt · the last 2 turns (2 pinned messages still go) · the question"
    )
    assert bare.sends(pinned=1) == "no system prompt · no history (1 pinned message still goes) · the question"
    assert full.sends(pinned=3) == full.sends()  # the whole history holds the pinned ones anyway
    last_one = replace(last_two, strategy=Strategy("last_turns", last_turns=1))
    assert "· the last 1 turn ·" in last_one.sends() and last_one.context_label == "Last 1 turn"


def test_pinned_messages_still_go_under_the_bare_question():
    pinned = [Message("user", "Remember: I am Ada.", pinned=True), *HISTORY]
    plan = plan_variant(PRESETS[1], SystemPrompt("Be brief."), pinned, "Who am I?", TARGET, Sampling()).plan
    assert _contents(plan) == ["Remember: I am Ada.", "Who am I?"]


def test_repeated_names_are_told_apart():
    named = distinct_names([Variant("A"), Variant("A"), Variant(" "), Variant("A (2)"), Variant("")])
    assert [v.name for v in named] == ["A", "A (2)", "Unnamed", "A (2) (2)", "Unnamed (2)"]
    assert len({v.name for v in named}) == 5


def _comparison() -> Comparison:
    plan = _plan(PRESETS[0])
    ok = CallOutcome(text="Ada", usage=Usage(plan.prompt_tokens, 2), latency_s=1.5, ttft_s=0.5, finish_reason="stop")
    results = [
        VariantResult(PRESETS[0], plan, [ok], [None], [0.0], [()]),
        VariantResult(
            Variant("custom", Strategy("last_turns", last_turns=1), "Pirate.", "", 0.2, 9),
            _plan(PRESETS[2]),
            [CallOutcome(error="Rate limited (429)")],
            [None],
            [1.5],
            [("retried",)],
        ),
    ]
    return Comparison("What is my name?", results, "2026-11-25 10:00:00", 1, "test", one_at_a_time=True)


def test_a_comparison_round_trips_through_json():
    comparison = _comparison()
    text = json.dumps(comparison.to_dict())
    back = Comparison.from_dict(json.loads(text))
    assert back.to_dict() == comparison.to_dict()
    assert back.results[0].plan.body == comparison.results[0].plan.body
    assert back.results[0].plan.prompt_tokens == comparison.results[0].plan.prompt_tokens
    assert back.results[0].plan.model == models.MODELS["gpt-4o"]
    assert back.results[1].variant == comparison.results[1].variant
    assert back.results[1].queued == [1.5] and back.results[1].notices == [("retried",)]
    assert back.one_at_a_time and back.baseline == 1
    assert answer_stats(back.results, 1) == answer_stats(comparison.results, 1)


@pytest.mark.parametrize(
    "broken",
    [
        None,
        {"format": 99},
        {"format": 1, "question": "q", "created": "t", "results": []},
        {"format": 1, "question": "q", "created": "t", "results": [{"variant": {"name": 3}}]},
    ],
)
def test_a_broken_stored_comparison_is_refused_with_a_reason(broken):
    with pytest.raises(InvalidComparison):
        Comparison.from_dict(broken)


def test_a_setup_round_trips_and_keeps_the_inherit_choice():
    setup = CompareSetup((*PRESETS, Variant("mine", temperature=0.0, max_tokens=5)), "Who am I?", 3, 7, "gpt-4o-mini")
    back = CompareSetup.from_dict(json.loads(json.dumps(setup.to_dict())))
    assert back == setup
    assert back.variants[0].temperature is None and back.variants[-1].temperature == 0.0
    with pytest.raises(InvalidComparison):
        CompareSetup.from_dict({**setup.to_dict(), "variants": [{"name": "x", "strategy": {"kind": "telepathy"}}]})


def test_priced_as_prices_the_same_tokens_at_another_models_prices():
    free = Target(models.MODELS[models.EMBEDDED_MODEL], TARGET.counter, "free")
    plan = plan_variant(PRESETS[0], SystemPrompt("Be brief."), HISTORY, "What is my name?", free, Sampling()).plan
    outcome = CallOutcome(text="Ada", usage=Usage(plan.prompt_tokens, 10), finish_reason="stop")
    result = VariantResult(PRESETS[0], plan, [outcome], [None])
    assert answer_stats([result], 0)[0]["cost $"] == 0.0
    priced = answer_stats([result], 0, "gpt-4o-mini")[0]["cost $"]
    assert priced == pytest.approx(plan.prompt_tokens * 0.15 / 1e6 + 10 * 0.6 / 1e6)
    assert plan_rows([PRESETS[0]], [plan], "gpt-4o")[0]["input cost $"] == pytest.approx(plan.prompt_tokens * 2.5e-6)


class _Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_waiting_for_a_one_slot_server_lasts_while_it_serves_someone_else():
    clock = _Clock()
    states = iter([QueueState(True, 1), QueueState(True, 0), QueueState(False, 0)])
    assert wait_until_idle(lambda: next(states), poll_s=0.5, clock=clock, sleep=clock.sleep) == 1.0
    assert wait_until_idle(lambda: None, clock=clock, sleep=clock.sleep) == 0.0  # it cannot say: no wait
    busy = wait_until_idle(lambda: QueueState(True, 0), timeout_s=3, poll_s=1, clock=clock, sleep=clock.sleep)
    assert busy == 3.0  # gives up: the call then queues on the server


def test_one_at_a_time_sends_each_job_after_the_last_one_is_done():
    with FakeOpenAI() as server:
        server.behaviour.delay_s = 0.2
        turns: list[int] = []
        with _jobs(server, ["fake-model"] * 3) as jobs:
            events = list(run_concurrently(jobs, max_workers=1, wait_turn=lambda: turns.append(1) or 0.0))
    order = [(e.kind, e.key[0]) for e in events if e.kind != "delta"]
    assert order == [("start", 0), ("done", 0), ("start", 1), ("done", 1), ("start", 2), ("done", 2)]
    assert len(turns) == 3
    starts = {e.key[0]: e.queued_s for e in events if e.kind == "start"}
    done = {e.key[0]: e.outcome for e in events if e.kind == "done"}
    # Each one's wait covers the calls before it; its own latency starts when it is sent.
    assert starts[1] >= starts[0] + done[0].latency_s and starts[2] >= starts[1] + done[1].latency_s


def test_a_comparison_run_goes_on_in_its_own_thread_and_hands_over_the_result_once():
    kept: list[Comparison] = []
    with FakeOpenAI() as server, _jobs(server, ["fake-model", "fake-model"]) as jobs:
        plan = _plan(PRESETS[0])
        skeleton = Comparison(
            "q", [VariantResult(PRESETS[0], plan, seeds=[None]), VariantResult(PRESETS[1], plan, seeds=[None])], "now"
        )
        run = ComparisonRun(skeleton, jobs, one_at_a_time=True, on_done=kept.append)
        assert run.wait(30) and run.done and run.failure is None
    assert kept == [run.comparison] and run.progress == (2, 2)
    assert [r.answer for r in kept[0].results] == ["Hello from the fake server."] * 2
    assert all(len(r.queued) == 1 and r.queued[0] is not None for r in kept[0].results)
    assert run.texts[(1, 0)] == "Hello from the fake server."


def test_stopping_a_run_keeps_what_arrived_and_sends_no_more():
    with FakeOpenAI() as server:
        server.behaviour.delay_s = 0.5
        stop = threading.Event()
        stop.set()
        with _jobs(server, ["fake-model"] * 2) as jobs:
            events = list(run_concurrently(jobs, max_workers=1, stop=stop))
        posts = [r for r in server.requests if r.method == "POST"]
    assert posts == []
    assert [e.outcome.error for e in events if e.kind == "done"] == [STOPPED_BEFORE_SENT] * 2


def test_a_fixed_context_variant_sends_exactly_its_messages_whatever_the_conversation_holds():
    mine = Variant(
        "mine", Strategy("last_turns", last_turns=1), system_override="Pirate.", temperature=0.3, max_tokens=9
    )
    fixed = mine.keeping([Message("system", "Be brief."), Message("user", "I like foxes.")], "kept")
    plan = _plan(fixed)
    assert plan.body["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "I like foxes."},
        {"role": "user", "content": "What is my name?"},
    ]
    assert plan.body["temperature"] == 0.3 and plan.body["max_tokens"] == 9  # its own settings stay
    other = plan_variant(
        fixed, SystemPrompt("Other."), [Message("user", "New.")], "What is my name?", TARGET, Sampling()
    ).plan
    assert other.body["messages"] == plan.body["messages"]
    assert fixed.name == "kept" and "exactly 2 fixed messages" in fixed.sends()
    assert plan_rows([fixed], [plan])[0]["strategy"] == "Fixed context: 2 messages"


def test_a_fixed_context_round_trips_and_a_broken_one_is_refused():
    fixed = PRESETS[0].keeping([Message("user", "I like foxes.")], "kept")
    setup = CompareSetup((PRESETS[1], fixed), "Who am I?")
    back = CompareSetup.from_dict(json.loads(json.dumps(setup.to_dict())))
    assert back == setup and back.variants[1].fixed_context == (("user", "I like foxes."),)
    assert back.variants[0].fixed_context is None
    older = setup.to_dict()
    del older["variants"][0]["fixed_context"]  # a set-up saved before fixed contexts existed
    assert CompareSetup.from_dict(older).variants[0].fixed_context is None
    for broken in ([["wizard", "x"]], [["user"]], "user: x", [["user", 3]]):
        raw = setup.to_dict()
        raw["variants"][1]["fixed_context"] = broken
        with pytest.raises(InvalidComparison, match="fixed_context"):
            CompareSetup.from_dict(raw)


def test_stop_hangs_up_every_run_at_once_while_their_servers_send_nothing():
    """Compare's Stop ends the calls in flight, not at their next token: the connections close."""
    with FakeOpenAI() as server, _jobs(server, ["fake-model", "fake-model"]) as jobs:
        server.behaviour.reply, server.behaviour.repeat, server.behaviour.interval_s = "tok ", None, 30.0
        plan = _plan(PRESETS[0])
        skeleton = Comparison(
            "q", [VariantResult(PRESETS[0], plan, seeds=[None]), VariantResult(PRESETS[1], plan, seeds=[None])], "now"
        )
        run = ComparisonRun(skeleton, jobs)
        while sum(text == "tok " for text in run.texts.values()) < 2:  # both runs have begun streaming
            time.sleep(0.02)
        started = time.monotonic()
        run.stop()
        assert run.wait(10) and time.monotonic() - started < 5  # not the 30 s to the servers' next token
        outcomes = [result.outcomes[0] for result in run.comparison.results]
        assert [(o.text, o.error) for o in outcomes] == [("tok ", STOPPED)] * 2  # kept, marked stopped
        deadline = time.monotonic() + 5
        while server.hangups < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert server.hangups == 2


def test_a_runs_limits_go_with_each_call():
    with FakeOpenAI() as server:
        server.behaviour.reply, server.behaviour.repeat = "x" * 1_000, None
        client = make_client(ProviderConfig("compatible", "fake-model", base_url=server.base_url))
        body = build_body("fake-model", [{"role": "user", "content": "hi"}], Sampling())
        job = Job((0, 0), client, body, limits=CallLimits(deadline_s=60, max_reply_bytes=5_000))
        (done,) = [e for e in run_concurrently([job]) if e.kind == "done"]
        client.close()
    assert done.outcome.text == "x" * 5_000 and "stopped at 5 KB: the reply size cap" in done.outcome.error


# --- variants with and without tools ---------------------------------------------------------------


def test_a_variant_sends_the_sessions_tools_none_or_only_some():
    from lib.context.tools import ToolDefinition, ToolSettings

    weather, clock = ToolDefinition("get_weather"), ToolDefinition("get_time", included=False)
    session = ToolSettings((weather, clock), "get_weather", True)

    def body(variant):
        return plan_variant(variant, SystemPrompt("Be brief."), HISTORY, "Q?", TARGET, Sampling(), tools=session).plan

    same, bare, fewer = Variant("same"), Variant("bare", tools=()), Variant("fewer", tools=("get_time",))
    assert [t["function"]["name"] for t in body(same).body["tools"]] == ["get_weather"]
    assert body(same).body["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}
    assert "tools" not in body(bare).body and "tool_choice" not in body(bare).body
    only = body(fewer).body
    assert [t["function"]["name"] for t in only["tools"]] == ["get_time"] and "tool_choice" not in only
    assert body(bare).prompt_tokens < body(same).prompt_tokens  # the definitions are counted
    assert bare.sends().endswith("· no tool definitions") and fewer.sends().endswith("only the tools get_time")
    for variant in (same, bare, fewer):
        assert Variant.from_dict(json.loads(json.dumps(variant.to_dict()))) == variant
    assert "tools" not in same.to_dict()  # a set-up without tools is stored as before


def test_a_smallest_context_with_a_tool_round_is_a_variant_that_sends_the_round_whole():
    """Attribution's smallest context of a tool-using answer, added as a Compare variant: its call and
    result keep their shape (stored and read back), so the variant sends a body the API takes."""
    from lib.context.conversation import ToolCall
    from lib.context.request import send_blocker

    kept = [
        Message("user", "Weather in Rome?", id="u", name="ada"),
        Message("assistant", "", id="a", tool_calls=(ToolCall("call_1", "get_weather", '{"city": "Rome"}'),)),
        Message("tool", "wind 14 km/h", id="t", tool_call_id="call_1"),
    ]
    variant = Variant("Full").keeping(kept, "Full · smallest context (3 of 5)")
    stored = Variant.from_dict(json.loads(json.dumps(variant.to_dict())))
    assert stored == variant
    request = plan_variant(stored, SystemPrompt("Be brief."), HISTORY, "And the wind?", TARGET, Sampling())
    assert send_blocker(request) is None
    assert [m for m in request.plan.body["messages"][:-1]] == [m.as_api() for m in kept]
    plain = Variant("Full").keeping([Message("user", "Hi", id="h")], "plain")
    assert plain.to_dict()["fixed_context"] == [["user", "Hi"]]  # a plain message is stored as before


STORED_BEFORE_PYDANTIC = DATA / "compare_stored_before_pydantic.json"


def test_a_comparison_and_a_setup_stored_before_the_pydantic_models_read_back_and_write_the_same_json():
    """tests/data/compare_stored_before_pydantic.json was written by the hand-written codec (commit 53a9b55):
    three variants (a preset, a custom one on a model with its own prices, a fixed context), outcomes with
    cached tokens, implausible usage as a server reported it, and a rate-limit error."""
    stored = json.loads(STORED_BEFORE_PYDANTIC.read_text(encoding="utf-8"))
    comparison = Comparison.from_dict(stored["comparison"])
    assert json.dumps(comparison.to_dict()) == json.dumps(stored["comparison"])  # byte for byte, key order too
    setup = CompareSetup.from_dict(stored["setup"])
    assert json.dumps(setup.to_dict()) == json.dumps(stored["setup"])
    custom = comparison.results[1]
    assert custom.variant.fixed_context is None and custom.variant.temperature == 0.7
    assert custom.plan.model.own_prices is not None and custom.plan.model.own_prices.input.base == 1.0
    odd = custom.outcomes[0]
    assert odd.usage.prompt_tokens is None and "prompt_tokens -5 (negative)" in odd.usage.flag
    assert comparison.results[0].outcomes[0].usage == Usage(31, 2, 16)
    assert comparison.results[2].variant.fixed_context == (("system", "Be brief."), ("user", "My name is Ada."))
    assert comparison.results[2].outcomes[0].status_code == 429


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"question": 7}, "question"),
        ({"one_at_a_time": "yes"}, "one_at_a_time"),
        ({"baseline": True}, "baseline"),
        ({"results": []}, "without results"),
        ({"format": 2}, "format 2"),
    ],
)
def test_a_stored_comparison_that_does_not_fit_is_refused_by_name(change, named):
    stored = json.loads(STORED_BEFORE_PYDANTIC.read_text(encoding="utf-8"))["comparison"]
    with pytest.raises(InvalidComparison, match=named):
        Comparison.from_dict({**stored, **change})


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ("Your locker is 4471.", "4471"),
        ("It is 1480.", "4471"),
        ("SHE IS BISCUIT", "biscuit"),
        ("Straße", "STRASSE"),
        ("", "x"),
        ("İstanbul", "i̇stanbul"),
    ],
)
def test_correct_is_decided_as_the_experiments_icontains_check_decides_it(answer, expected):
    from lib.analysis.compare import states
    from lib.analysis.experiments.cases import Check
    from lib.analysis.experiments.checks import evaluate

    assert states(answer, expected) == evaluate(Check("contains", expected, ignore_case=True), answer).passed
    assert states(answer, "  ") is None


def test_a_run_sends_what_may_be_sent_says_where_each_variant_stands_and_logs_only_what_was_sent():
    summarising = Variant("Summary", Strategy("summarise", last_turns=1))  # no summary made: not sent
    variants = [PRESETS[0], summarising, PRESETS[1]]
    requests = [
        plan_variant(v, SystemPrompt("Be brief."), HISTORY, "What is my name?", TARGET, Sampling()) for v in variants
    ]
    with FakeOpenAI() as server:
        server.behaviour.delay_s = 0.5
        with make_client(ProviderConfig("compatible", "fake-model", base_url=server.base_url)) as client:
            run = start_run(variants, requests, "What is my name?", client, [None], created="now", one_at_a_time=True)
            assert run.live_state(1).startswith("Not sent: The summarising strategy leaves out 2 older messages")
            assert run.live_state(2) == "queued: waiting for its turn"  # one at a time: after the first
            assert run.wait(30) and run.failure is None
            assert run.live_state(0) == run.live_state(2) == "done"
        posts = [r for r in server.requests if r.method == "POST"]
    assert len(posts) == 2 and run.progress == (2, 2)
    logged = list(sent_calls(run.comparison))
    assert [call.result.variant.name for call in logged] == [PRESETS[0].name, PRESETS[1].name]
    assert all(call.outcome.ok and call.plan == call.result.plan for call in logged)
    # What the prompts of a run cost, the variants that can be sent, each time they are sent:
    plans = [r.plan for r in requests]
    once = input_estimate(plans)
    assert once > 0 and input_estimate(plans, price_as="gpt-4o-mini") == once  # a hosted model keeps its price
    assert input_estimate(plans, repeats=3) == pytest.approx(3 * once)
