from itertools import pairwise

import pytest

from lib.analysis.timeline import compositions, cost_figure, sample_conversation, timeline, timeline_figures, verdict
from lib.context import caching
from lib.context import conversation as conv
from lib.context.conversation import Message, SystemPrompt
from lib.context.payload import Sampling
from lib.context.request import Target, build_request
from lib.context.strategies import Strategy
from lib.context.tokens import PromptCount, TiktokenCounter
from lib.core.models import EMBEDDED_MODEL, MODELS

GPT4O = MODELS["gpt-4o"]


class FlatCounter:
    """A counter with round numbers, for checking the timeline's arithmetic: `per` tokens a message,
    `priming` a call."""

    def __init__(self, per: int, priming: int):
        self.per, self.priming = per, priming

    def count(self, messages: list[dict]) -> PromptCount:
        per_message = tuple(self.per for _ in messages)
        return PromptCount(per_message, sum(per_message) + (self.priming if messages else 0), True, "flat")


def _timeline(history, strategies, per=10, system=5, priming=3):
    """`system` tokens of system prompt: a system message costing `per`, so `system` must equal it or be 0."""
    prompt = SystemPrompt("s", included=bool(system))
    target = Target(GPT4O, FlatCounter(per, priming), "gpt-4o")
    return timeline(history, strategies, prompt, target, Sampling())


def _history(turns: int) -> list[Message]:
    history: list[Message] = []
    for i in range(turns):
        history = conv.append(history, "user", f"q{i}")
        history = conv.append(history, "assistant", f"a{i}")
    return history


def _series(rows, label, column="prompt tokens"):
    return [r[column] for r in rows if r["strategy"] == label]


def test_full_history_grows_linearly_per_turn_and_quadratically_in_total():
    rows = _timeline(_history(6), [Strategy("full")], system=10)
    per_turn = _series(rows, "Full history")
    assert per_turn == [10 + 10 + 3 + 20 * t for t in range(6)]
    cumulative = _series(rows, "Full history", "cumulative tokens")
    assert cumulative[-1] == sum(per_turn)
    steps = [b - a for a, b in pairwise(cumulative)]
    assert all(b - a == 20 for a, b in pairwise(steps))  # constant second difference


def test_bounded_strategies_level_off():
    strategies = [Strategy("last_turns", last_turns=2), Strategy("token_budget", token_budget=50), Strategy("none")]
    rows = _timeline(_history(8), strategies, system=10)
    assert _series(rows, "Last 2 turns")[2:] == [10 + 40 + 10 + 3] * 6
    # The budget covers the system prompt and the history; the question and the priming come on top.
    assert max(_series(rows, "Token budget 50")) == 50 + 10 + 3
    assert set(_series(rows, "No history (stateless)")) == {23}


def test_costs_and_hover_fields():
    rows = _timeline(_history(2), [Strategy("full")], per=1000, system=0, priming=0)
    assert rows[-1]["cumulative input cost $"] == pytest.approx(GPT4O.input_cost(rows[-1]["cumulative tokens"]))
    assert rows[-1]["cached tokens"] is None and rows[-1]["cumulative input cost with cache $"] is None
    assert [r["turn"] for r in rows] == [1, 2] and rows[1]["question"] == "q1"


def test_an_empty_conversation_has_no_turns():
    assert _timeline([], [Strategy("full")]) == []


def test_the_turn_axis_counts_whole_turns():
    for turns, dtick in ((2, 1), (30, None)):
        rows = _timeline(_history(turns), [Strategy("full")])
        for figure in timeline_figures(rows):
            assert figure.layout.xaxis.tickformat == "d" and figure.layout.xaxis.dtick == dtick


def test_strategies_that_send_the_same_draw_lines_that_can_be_told_apart():
    """Three turns: the full history and a window of two send the same, and their lines lie on each
    other; each strategy's own dash lets the one underneath show."""
    rows = _timeline(_history(3), [Strategy("full"), Strategy("last_turns", 2), Strategy("none")])
    for figure in timeline_figures(rows):
        dashes = {trace.name: trace.line.dash for trace in figure.data}
        assert len(dashes) == 3 and len(set(dashes.values())) == 3, dashes


STRATEGIES = [Strategy("full"), Strategy("none"), Strategy("last_turns", 2), Strategy("token_budget", 2, 200)]


@pytest.mark.parametrize("strategy", STRATEGIES, ids=lambda s: s.kind)
def test_each_turn_is_the_request_the_chat_would_send(embedded_tokenizer, strategy):
    """The timeline plans each turn with the chat's builder and the embedded model's exact counter: no
    default system prompt of the template added on top of the app's own (it was, on every turn)."""
    history = _history(5)
    system = SystemPrompt("You are a helpful assistant.")
    target = Target(MODELS[EMBEDDED_MODEL], embedded_tokenizer, EMBEDDED_MODEL)
    rows = timeline(history, [strategy], system, target, Sampling())
    questions = [i for i, m in enumerate(history) if m.role == "user"]
    for row, index in zip(rows, questions, strict=True):
        request = build_request(system, history[:index], history[index], strategy, target, Sampling())
        sent = request.plan.body["messages"]
        assert row["prompt tokens"] == request.plan.prompt_tokens
        # Counted from the rendered template itself: one system prompt, the app's.
        prompt, special = embedded_tokenizer.render(sent)
        assert row["prompt tokens"] == len(embedded_tokenizer.tokenize(prompt, special))
        assert prompt.count("<|im_start|>system") == 1


PARAGRAPH = "Foxes are small omnivores of the dog family; they hunt at dusk and at night, mostly alone. " * 30


def _long_history(turns: int) -> list[Message]:
    history: list[Message] = []
    for i in range(turns):
        history = conv.append(history, "user", f"Question {i}: {PARAGRAPH}")
        history = conv.append(history, "assistant", f"Answer {i}: {PARAGRAPH}")
    return history


def _cached_timeline(model: str, turns: int = 10):
    target = Target(MODELS[model], TiktokenCounter.for_model(model), model)
    strategies = [Strategy("full"), Strategy("last_turns", last_turns=2), Strategy("none")]
    return timeline(_long_history(turns), strategies, SystemPrompt("Be brief."), target, Sampling(), caching.OPENAI)


def test_full_history_reads_the_previous_prompt_from_the_cache_and_a_window_does_not():
    rows = _cached_timeline("gpt-4.1")
    full = [r for r in rows if r["strategy"] == "Full history"]
    for before, after in pairwise(full):
        repeated = before["prompt tokens"]  # the whole previous prompt: 128-token steps, from 1,024
        assert after["cached tokens"] == (repeated - repeated % 128 if repeated >= 1024 else 0)
    assert full[-1]["cached tokens"] > 10_000
    window = [r for r in rows if r["strategy"] == "Last 2 turns"]
    assert all(r["cached tokens"] == 0 for r in window[3:])  # the oldest turn drops out: the prefix breaks
    for row in rows:
        assert row["cumulative input cost with cache $"] <= row["cumulative input cost $"]


def test_caching_can_make_the_full_history_the_cheaper_strategy():
    rows = _cached_timeline("gpt-4.1")  # cached input at a quarter of the input price
    last = {r["strategy"]: r for r in rows if r["turn"] == 10}
    full, window = last["Full history"], last["Last 2 turns"]
    assert full["cumulative input cost $"] > window["cumulative input cost $"]
    assert full["cumulative input cost with cache $"] < window["cumulative input cost with cache $"]
    sentence = verdict(rows, "gpt-4.1", "genai-prices")
    assert sentence.startswith("Over these 10 turns on gpt-4.1, with prompt caching, **Full history costs least**")
    assert "Without the cache, Last 2 turns would have been cheapest: caching changes the winner." in sentence
    figure = cost_figure(rows)
    assert {trace.name for trace in figure.data} >= {"Full history, with cache", "Last 2 turns, without cache"}


def test_a_free_local_model_is_compared_in_tokens_computed_again(embedded_tokenizer):
    target = Target(MODELS[EMBEDDED_MODEL], embedded_tokenizer, EMBEDDED_MODEL)
    strategies = [Strategy("full"), Strategy("last_turns", last_turns=1)]
    rows = timeline(_history(6), strategies, SystemPrompt("Be brief."), target, Sampling(), caching.LLAMA_CPP)
    full = [r for r in rows if r["strategy"] == "Full history"]
    assert all(after["cached tokens"] >= before["prompt tokens"] for before, after in pairwise(full))
    sentence = verdict(rows, EMBEDDED_MODEL, "free")
    assert "**Full history costs least**" in sentence and "tokens computed" in sentence and "Prices" not in sentence
    assert cost_figure(rows) is None  # nothing to price


def test_each_turns_composition_is_the_timelines_call_by_part():
    history = _history(4)
    target = Target(GPT4O, FlatCounter(10, 3), "gpt-4o")
    rows = timeline(history, [Strategy("full")], SystemPrompt("s"), target, Sampling())
    parts = compositions(
        history, Strategy("full"), SystemPrompt("s"), target, Sampling(), 1000, "reported by the server"
    )
    assert [turn for turn, _ in parts] == [1, 2, 3, 4]
    assert [c.prompt_tokens for _, c in parts] == _series(rows, "Full history")  # the same calls
    assert [c.tokens("conversation") for _, c in parts] == [0, 20, 40, 60]  # the history grows a turn a call
    assert all(c.tokens("question") == 10 and c.tokens("system") == 10 for _, c in parts)
    assert all(c.window == 1000 and c.window_source == "reported by the server" for _, c in parts)


def test_without_the_cache_too_the_same_strategy_is_cheapest():
    target = Target(MODELS["gpt-4.1"], TiktokenCounter.for_model("gpt-4.1"), "gpt-4.1")
    strategies = [Strategy("full"), Strategy("last_turns", last_turns=2)]
    rows = timeline(_history(6), strategies, SystemPrompt("Be brief."), target, Sampling(), caching.OPENAI)
    sentence = verdict(rows, "gpt-4.1", "genai-prices")  # short messages: under the cache's 1,024 tokens
    assert "**Last 2 turns costs least**" in sentence
    assert "Without the cache too, Last 2 turns is cheapest." in sentence and "changes the winner" not in sentence


def test_strategies_that_send_the_same_are_not_ranked_one_over_the_other():
    """Three turns: a window of two keeps every message, so it sends what the full history sends; the
    sentence named the first of them the cheapest, at the same price as the other."""
    rows = _cached_timeline("gpt-4.1", turns=3)
    sentence = verdict(rows, "gpt-4.1", "genai-prices")
    assert "**Full history and Last 2 turns cost the same**: $0.009570 each." in sentence
    assert "costs least" not in sentence and "Without the cache too, they cost the same." in sentence
    rows = _cached_timeline("gpt-4.1", turns=4)  # the fourth turn: the window drops the first
    assert "**Full history costs least**" in verdict(rows, "gpt-4.1", "genai-prices")
    # A tie for least beside a strategy that costs more.
    target = Target(MODELS["gpt-4.1"], TiktokenCounter.for_model("gpt-4.1"), "gpt-4.1")
    strategies = [Strategy("full"), Strategy("last_turns", last_turns=2), Strategy("last_turns", last_turns=1)]
    rows = timeline(_long_history(3), strategies, SystemPrompt("Be brief."), target, Sampling(), caching.OPENAI)
    sentence = verdict(rows, "gpt-4.1", "genai-prices")
    assert "**Full history and Last 2 turns cost the same, and least**: $0.009570 each (against Last 1 turn" in sentence
    assert "Without the cache, Last 1 turn would have been cheapest: caching changes the winner." in sentence


def test_the_sample_conversation_is_whole_turns_of_one_topic():
    history = sample_conversation(3)
    assert [m.role for m in history] == ["user", "assistant"] * 3
    assert history[4].content.startswith("Question 3: ") and history[5].content.startswith("Fact 3: foxes")
    assert len(sample_conversation()) == 60
