from itertools import pairwise

from lib import conversation as conv
from lib.conversation import Message
from lib.models import MODELS
from lib.strategies import Strategy
from lib.timeline import timeline, timeline_figures

GPT4O = MODELS["gpt-4o"]


def _history(turns: int) -> list[Message]:
    history: list[Message] = []
    for i in range(turns):
        history = conv.append(history, "user", f"q{i}")
        history = conv.append(history, "assistant", f"a{i}")
    return history


def _series(rows, label, column="prompt tokens"):
    return [r[column] for r in rows if r["strategy"] == label]


def test_full_history_grows_linearly_per_turn_and_quadratically_in_total():
    rows = timeline(_history(6), [Strategy("full")], lambda m: 10, system_tokens=5, overhead=3, model=GPT4O)
    per_turn = _series(rows, "Full history")
    assert per_turn == [5 + 10 + 3 + 20 * t for t in range(6)]
    cumulative = _series(rows, "Full history", "cumulative tokens")
    assert cumulative[-1] == sum(per_turn)
    steps = [b - a for a, b in pairwise(cumulative)]
    assert all(b - a == 20 for a, b in pairwise(steps))  # constant second difference


def test_bounded_strategies_level_off():
    strategies = [Strategy("last_turns", last_turns=2), Strategy("token_budget", token_budget=50), Strategy("none")]
    rows = timeline(_history(8), strategies, lambda m: 10, system_tokens=5, overhead=3, model=GPT4O)
    assert _series(rows, "Last 2 turns")[2:] == [5 + 40 + 10 + 3] * 6
    assert max(_series(rows, "Token budget 50")) <= 50 + 10 + 3
    assert set(_series(rows, "No history (stateless)")) == {18}


def test_costs_and_hover_fields():
    rows = timeline(_history(2), [Strategy("full")], lambda m: 1000, system_tokens=0, overhead=0, model=GPT4O)
    assert rows[-1]["cumulative input cost $"] == GPT4O.input_cost(rows[-1]["cumulative tokens"])
    assert [r["turn"] for r in rows] == [1, 2] and rows[1]["question"] == "q1"


def test_an_empty_conversation_has_no_turns():
    assert timeline([], [Strategy("full")], lambda m: 1, 0, 0, GPT4O) == []


def test_the_turn_axis_counts_whole_turns():
    for turns, dtick in ((2, 1), (30, None)):
        rows = timeline(_history(turns), [Strategy("full")], lambda m: 10, system_tokens=5, overhead=3, model=GPT4O)
        for figure in timeline_figures(rows):
            assert figure.layout.xaxis.tickformat == "d" and figure.layout.xaxis.dtick == dtick
