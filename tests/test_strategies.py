import pytest

from lib.context import conversation as conv
from lib.context.conversation import Message, SystemPrompt
from lib.context.strategies import Strategy, assemble, decide, summarised, summary_key, summary_request


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
