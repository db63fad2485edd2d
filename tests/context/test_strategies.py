from dataclasses import replace
from typing import get_args

import pytest
from hypothesis import given
from hypothesis import strategies as hs

from lib.analysis.agent_trace import BUILT_IN
from lib.context import conversation as conv
from lib.context.conversation import Message, SystemPrompt
from lib.context.payload import Sampling
from lib.context.request import Target, build_request
from lib.context.strategies import (
    BUDGET,
    STRATEGIES,
    STRATEGY_LABELS,
    TURNS,
    Strategy,
    StrategyKind,
    assemble,
    decide,
    spec_of,
    summarised,
    summary_key,
    summary_request,
)
from lib.context.tokens import TiktokenCounter
from lib.core.models import MODELS
from tests.context.test_properties import CASES
from tests.context.test_tool_pairs import agent_histories


def _history(turns: int = 3) -> list[Message]:
    history: list[Message] = []
    for i in range(turns):
        history = conv.append(history, "user", f"q{i}")
        history = conv.append(history, "assistant", f"a{i}")
    return history


def _kept(decisions) -> list[str]:
    return [d.message.content for d in decisions if d.kept]


def ten_each(message: Message) -> int:
    return 10


def test_manual_follows_the_toggles():
    history = _history()
    history = conv.update(history, history[0].id, included=False)
    decisions = decide(Strategy("manual"), history)
    assert _kept(decisions) == ["a0", "q1", "a1", "q2", "a2"]
    assert decisions[0].reason == "left out by hand"


def test_full_and_none():
    history = conv.include_all(_history(), False)
    assert _kept(decide(Strategy("full"), history)) == [m.content for m in history]
    assert _kept(decide(Strategy("none"), _history())) == []


@pytest.mark.parametrize(("turns", "kept"), [(0, []), (1, ["q2", "a2"]), (2, ["q1", "a1", "q2", "a2"]), (9, None)])
def test_last_n_turns(turns, kept):
    history = _history()
    expected = kept if kept is not None else [m.content for m in history]
    assert _kept(decide(Strategy("last_turns", last_turns=turns), history)) == expected


def test_token_budget_keeps_the_newest_that_fit_without_gaps():
    history = _history()
    decisions = decide(Strategy("token_budget", token_budget=35), history, ten_each, system_tokens=5)
    assert _kept(decisions) == ["a1", "q2", "a2"]
    assert "over the 35-token budget" in decisions[0].reason


def test_budget_smaller_than_the_system_prompt_keeps_only_pinned():
    history = _history()
    history = conv.update(history, history[0].id, pinned=True)
    decisions = decide(Strategy("token_budget", token_budget=3), history, ten_each, system_tokens=50)
    assert _kept(decisions) == ["q0"]
    assert decisions[0].reason == "pinned"


def test_pinned_messages_survive_every_strategy():
    history = _history()
    history = conv.update(history, history[1].id, pinned=True, included=False)
    for kind in ("manual", "none", "last_turns", "token_budget", "summarise"):
        assert "a0" in _kept(decide(Strategy(kind, last_turns=1, token_budget=0), history, ten_each))


def test_empty_history():
    for kind in ("manual", "full", "none", "last_turns", "token_budget", "summarise"):
        assert decide(Strategy(kind), [], ten_each) == []


def test_budget_needs_a_counter():
    with pytest.raises(ValueError, match="counter"):
        decide(Strategy("token_budget"), _history())


def test_summarise_marks_older_turns_and_assemble_inserts_the_note():
    history = _history()
    decisions = decide(Strategy("summarise", last_turns=1), history)
    older = summarised(decisions)
    assert [m.content for m in older] == ["q0", "a0", "q1", "a1"]
    sent = assemble(SystemPrompt("sys"), decisions, summary="Ada likes foxes.")
    assert [m.role for m in sent] == ["system", "system", "user", "assistant"]
    assert "Ada likes foxes." in sent[1].content
    assert "q0" in summary_request(older)[1]["content"]


def test_summary_key_changes_only_when_the_summarised_messages_change():
    history = _history()
    older = summarised(decide(Strategy("summarise", last_turns=1), history))
    edited_recent = conv.update(history, history[-1].id, content="changed")
    assert summary_key(summarised(decide(Strategy("summarise", last_turns=1), edited_recent))) == summary_key(older)
    edited_old = conv.update(history, history[0].id, content="changed")
    assert summary_key(summarised(decide(Strategy("summarise", last_turns=1), edited_old))) != summary_key(older)


def test_assemble_without_a_system_prompt():
    decisions = decide(Strategy("full"), _history(1))
    assert [m.content for m in assemble(SystemPrompt("x", included=False), decisions)] == ["q0", "a0"]


# --- the registry: what the Chat and Compare pickers show, and how they build a strategy -------------


def test_the_registry_names_every_strategy_once_with_its_label():
    assert set(STRATEGIES) == set(get_args(StrategyKind))
    assert all(spec.kind == kind for kind, spec in STRATEGIES.items())
    assert {kind: spec.label for kind, spec in STRATEGIES.items()} == STRATEGY_LABELS
    assert len(set(STRATEGY_LABELS.values())) == len(STRATEGY_LABELS)


@pytest.mark.parametrize(
    ("kind", "keys"),
    [
        ("manual", []),
        ("full", []),
        ("none", []),
        ("last_turns", ["turns"]),
        ("token_budget", ["budget"]),
        ("summarise", ["turns"]),
        ("clear_tool_results", ["turns"]),
        ("drop_tool_rounds", ["turns"]),
    ],
)
def test_each_strategy_declares_the_parameters_it_reads(kind, keys):
    spec = STRATEGIES[kind]
    assert [p.key for p in spec.parameters] == keys
    for parameter in spec.parameters:
        assert parameter.minimum <= parameter.default <= parameter.maximum
        assert parameter.default == getattr(Strategy(), parameter.field)


def test_build_reads_each_parameter_by_key_and_ignores_the_others():
    assert STRATEGIES["last_turns"].build({"turns": 5, "budget": 7}) == Strategy("last_turns", last_turns=5)
    assert STRATEGIES["token_budget"].build({"turns": 5, "budget": 640}) == Strategy("token_budget", token_budget=640)
    assert STRATEGIES["summarise"].build({"turns": 1}) == Strategy("summarise", last_turns=1)
    assert STRATEGIES["full"].build({"turns": 5}) == Strategy("full")
    assert STRATEGIES["last_turns"].build() == Strategy("last_turns", last_turns=TURNS.default)


def test_build_keeps_a_parameter_within_its_bounds_and_falls_back_on_junk():
    spec = STRATEGIES["token_budget"]
    assert spec.build({"budget": -5}).token_budget == BUDGET.minimum
    assert spec.build({"budget": 10**12}).token_budget == BUDGET.maximum
    assert spec.build({"budget": "many"}).token_budget == BUDGET.default
    assert spec.build({"budget": None}).token_budget == BUDGET.default


@pytest.mark.parametrize("strategy", [Strategy("last_turns", last_turns=4), Strategy("token_budget", token_budget=96)])
def test_values_of_is_the_reverse_of_build(strategy):
    spec = STRATEGIES[strategy.kind]
    assert spec.build(spec.values_of(strategy)) == strategy


def test_an_unknown_kind_is_read_as_manual():
    assert spec_of("vibes") is STRATEGIES["manual"]
    assert spec_of(None) is STRATEGIES["manual"]
    assert spec_of("token_budget") is STRATEGIES["token_budget"]


# --- the agent strategies ------------------------------------------------------------------------------


TARGET = Target(MODELS["gpt-4o"], TiktokenCounter.for_model("gpt-4o"), "gpt-4o")
AGENT = [Message.from_api(d) for d in BUILT_IN.messages]  # 3 rounds: Rome's weather, a time zone, Oslo's weather
RESULTS = [m for m in AGENT if m.role == "tool"]
CALLS = [m for m in AGENT if m.tool_calls]
QUESTION = Message("user", BUILT_IN.question, id="q")


def _request(strategy: Strategy, history=AGENT):
    return build_request(SystemPrompt(), history, QUESTION, strategy, TARGET, Sampling(), lambda _: "summary")


def test_clear_old_tool_results_keeps_the_last_k_verbatim_and_says_what_the_model_sees_instead():
    request = _request(Strategy("clear_tool_results", last_turns=1))
    sent = {m["tool_call_id"]: m["content"] for m in request.plan.body["messages"] if m["role"] == "tool"}
    assert sent["call_2"] == RESULTS[2].content  # the newest, verbatim
    rome = sent["call_0"]
    assert rome == (
        f'[Tool result cleared to save context: get_weather({{"city": "Rome"}}) returned {len(RESULTS[0].content):,} '
        "characters, not resent.]"
    )
    assert "lookup_timezone" in sent["call_1"] and "+01:00" not in sent["call_1"]
    decision = request.decision_for(RESULTS[0].id)
    assert decision.kept and decision.message.content == RESULTS[0].content  # the history keeps the result
    assert decision.reason.startswith("cleared (older than the last 1 tool results): the model sees “[Tool result")
    assert request.pair_findings == []  # every call still has its (cleared) result
    assert all(d.kept for d in request.decisions)


def test_clearing_none_sends_every_result_and_clearing_all_sends_none():
    every = _request(Strategy("clear_tool_results", last_turns=10)).plan.body["messages"]
    assert [m["content"] for m in every if m["role"] == "tool"] == [m.content for m in RESULTS]
    none = _request(Strategy("clear_tool_results", last_turns=0)).plan.body["messages"]
    assert all(m["content"].startswith("[Tool result cleared") for m in none if m["role"] == "tool")


def test_a_pinned_tool_result_is_never_cleared():
    history = [replace(m, pinned=True) if m.id == RESULTS[0].id else m for m in AGENT]
    sent = _request(Strategy("clear_tool_results", last_turns=0), history).plan.body["messages"]
    assert RESULTS[0].content in [m["content"] for m in sent]


def test_drop_old_tool_rounds_leaves_out_calls_and_results_together_and_keeps_the_talk():
    request = _request(Strategy("drop_tool_rounds", last_turns=1))
    sent_ids = {m.id for m in request.plan.messages}
    assert CALLS[2].id in sent_ids and RESULTS[2].id in sent_ids
    for old in (*CALLS[:2], *RESULTS[:2]):
        assert old.id not in sent_ids
        assert (
            request.decision_for(old.id).reason == "an older tool round (the last 1 are kept): dropped with its calls"
        )
    talk = [m for m in AGENT if m.role in ("user", "assistant") and not m.tool_calls]
    assert all(m.id in sent_ids for m in talk)
    assert request.pair_findings == []


def test_the_agent_strategies_describe_themselves_and_read_their_k_from_the_turns_key():
    assert STRATEGIES["clear_tool_results"].build({"turns": 3}) == Strategy("clear_tool_results", last_turns=3)
    assert Strategy("clear_tool_results", last_turns=3).describe() == "Clear tool results but the last 3"
    assert Strategy("drop_tool_rounds", last_turns=0).describe() == "Drop tool rounds but the last 0"
    assert [p.label for p in STRATEGIES["drop_tool_rounds"].parameters] == ["Tool rounds kept"]


def test_a_window_of_one_turn_is_named_in_the_singular():
    assert Strategy("last_turns", last_turns=1).describe() == "Last 1 turn"
    assert Strategy("last_turns", last_turns=2).describe() == "Last 2 turns"
    assert Strategy("summarise", last_turns=1).describe() == "Summarise all but the last 1 turn"


@CASES
@given(history=agent_histories(), kind=hs.sampled_from(list(STRATEGIES)[1:]), k=hs.integers(0, 4))
def test_every_strategy_old_and_new_sends_only_whole_pairs(history, kind, k):
    request = _request(Strategy(kind, last_turns=k, token_budget=40 * k), history)
    assert request.pair_findings == []
    sent = {m.id: m for m in request.plan.messages}
    for message in history:
        if message.role == "tool" and message.id in sent and sent[message.id].content != message.content:
            assert kind == "clear_tool_results" and sent[message.id].content.startswith("[Tool result cleared")
