from typing import get_args

import pytest

from lib.context import conversation as conv
from lib.context.conversation import Message, SystemPrompt
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
    [("manual", []), ("full", []), ("none", []), ("last_turns", ["turns"]), ("token_budget", ["budget"]),
     ("summarise", ["turns"])],
)  # fmt: skip
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
