"""The composition of the next call: its prompt parts add up to the meter's prompt tokens, whatever
the strategy, and each message lands in the part a reader would name."""

from __future__ import annotations

from dataclasses import replace

import pytest

from lib.analysis.agent_trace import BUILT_IN
from lib.analysis.agent_trace import SYSTEM as BUILT_IN_SYSTEM
from lib.backends.providers import ProviderConfig, make_client, stream_chat
from lib.context.composition import PARTS, PROMPT_PARTS, compose, part_of
from lib.context.conversation import Message, SystemPrompt
from lib.context.payload import Sampling
from lib.context.request import Target, build_request
from lib.context.strategies import STRATEGIES, SUMMARY_ID, Strategy
from lib.context.tokens import TiktokenCounter
from lib.core.models import EMBEDDED_MODEL, MODELS, info_for
from lib.core.outcome import CallOutcome

TARGET = Target(MODELS["gpt-4o"], TiktokenCounter.for_model("gpt-4o"), "gpt-4o")


def _history() -> list[Message]:
    history = []
    for i in range(6):
        history.append(Message("user", f"Question {i}: tell me about foxes " * (i + 1)))
        history.append(Message("assistant", f"Answer {i}: foxes are canids. " * (2 * i + 1)))
    history[2] = replace(history[2], pinned=True)
    history[5] = replace(history[5], included=False)
    return history


STRATEGY_CASES = [Strategy(kind, last_turns=2, token_budget=120) for kind in STRATEGIES]


@pytest.mark.parametrize("strategy", STRATEGY_CASES, ids=lambda s: s.kind)
def test_the_prompt_parts_add_up_to_the_meters_prompt_tokens(strategy):
    question = Message("user", "And their tails?")
    request = build_request(
        SystemPrompt(),
        _history(),
        question,
        strategy,
        TARGET,
        Sampling(max_tokens=300),
        lambda older: "Foxes were discussed.",
    )
    composition = compose(request)
    assert sum(composition.tokens(p) for p in PROMPT_PARTS) == request.plan.prompt_tokens == composition.prompt_tokens
    assert sum(s.tokens for s in composition.segments) == composition.window == MODELS["gpt-4o"].context_window
    assert composition.tokens("reserve") == 300
    assert composition.tokens("question") == request.plan.tokens_of(question.id)
    assert composition.tokens("overhead") == request.plan.count.overhead == 3  # the reply priming
    assert [s.part for s in composition.segments] == list(PARTS)
    # The list of contributors is every message sent, largest first.
    assert sorted(c.message_id for c in composition.contributors) == sorted(m.id for m in request.plan.messages)
    sizes = [c.tokens for c in composition.contributors]
    assert sizes == sorted(sizes, reverse=True)


def test_each_message_lands_in_its_part():
    history = _history()
    request = build_request(
        SystemPrompt(),
        history,
        Message("user", "Q?", id="q"),
        Strategy("summarise", 1),
        TARGET,
        Sampling(),
        lambda older: "A summary.",
    )
    composition = compose(request)
    by_id = {c.message_id: c.part for c in composition.contributors}
    assert by_id["system"] == "system"
    assert by_id[SUMMARY_ID] == "summary"
    assert by_id["q"] == "question"
    assert by_id[history[2].id] == "pinned"
    assert by_id[history[-1].id] == "conversation"
    assert composition.tokens("summary") == request.plan.tokens_of(SUMMARY_ID) > 0
    assert composition.tokens("pinned") == request.plan.tokens_of(history[2].id)


def test_a_pinned_question_is_still_the_question():
    question = Message("user", "Q?", pinned=True)
    assert part_of(question, question.id) == "question"
    assert part_of(question, None) == "pinned"


def test_the_window_given_replaces_the_tables_and_free_space_is_what_is_left():
    request = build_request(
        SystemPrompt(), _history(), Message("user", "Q"), Strategy("full"), TARGET, Sampling(max_tokens=100)
    )
    composition = compose(request, window=4096, window_source="reported by the server")
    assert composition.window == 4096 and composition.window_source == "reported by the server"
    assert composition.tokens("free") == 4096 - request.plan.prompt_tokens - 100
    assert composition.over == 0


def test_a_prompt_that_leaves_too_little_room_shows_no_free_space_and_how_far_over():
    request = build_request(
        SystemPrompt(), _history(), Message("user", "Q"), Strategy("full"), TARGET, Sampling(max_tokens=1000)
    )
    prompt = request.plan.prompt_tokens
    composition = compose(request, window=prompt + 10)
    assert composition.tokens("reserve") == 10 and composition.tokens("free") == 0
    assert composition.over == 990
    assert sum(s.tokens for s in composition.segments) == prompt + 10


def test_the_largest_contributors_name_the_biggest_messages_first():
    history = [Message("user", "short"), Message("assistant", "long " * 400, id="big"), Message("user", "mid " * 50)]
    request = build_request(SystemPrompt(), history, Message("user", "Q"), Strategy("full"), TARGET, Sampling())
    largest = compose(request).largest(2)
    assert largest[0].message_id == "big" and largest[0].role == "assistant"
    assert largest[0].preview.startswith("long long") and largest[0].preview.endswith("…")


# --- tool-using contexts --------------------------------------------------------------------------------

AGENT = [Message.from_api(d) for d in BUILT_IN.messages]
QUESTION = Message("user", BUILT_IN.question, id="q")


def test_tool_calls_and_tool_results_are_parts_of_their_own_and_clearing_shrinks_the_results():
    # Results of a real size (a page of search rows): the placeholder that replaces one is far smaller.
    agent = [replace(m, content=m.content + " " + "row " * 300) if m.role == "tool" else m for m in AGENT]
    full = build_request(SystemPrompt(), agent, QUESTION, Strategy("full"), TARGET, Sampling())
    composition = compose(full)
    calls = sum(full.plan.tokens_of(m.id) for m in agent if m.tool_calls)
    results = sum(full.plan.tokens_of(m.id) for m in agent if m.role == "tool")
    assert composition.tokens("tool_calls") == calls > 0
    assert composition.tokens("tool_results") == results > 0
    by_id = {c.message_id: c for c in composition.contributors}
    assert by_id[agent[1].id].preview == 'get_weather({"city": "Rome"})'  # a call says nothing: its call is shown
    cleared = compose(
        build_request(SystemPrompt(), agent, QUESTION, Strategy("clear_tool_results", 0), TARGET, Sampling())
    )
    assert cleared.tokens("tool_calls") == calls
    assert cleared.tokens("tool_results") < results / 5
    assert sum(cleared.tokens(p) for p in PROMPT_PARTS) == cleared.prompt_tokens


@pytest.fixture(scope="module")
def embedded_target(embedded_tokenizer):
    return Target(info_for(EMBEDDED_MODEL), embedded_tokenizer, EMBEDDED_MODEL)


@pytest.mark.parametrize("strategy", [*STRATEGY_CASES, Strategy("clear_tool_results", 1)], ids=lambda s: s.describe())
def test_on_the_embedded_model_the_parts_add_up_to_the_prompt_tokens_the_server_reports(
    strategy, embedded_server, embedded_target
):
    """The meter before Send is what the server counts, tool calls and results and all, under every strategy."""
    history = [*AGENT, Message("user", "Thanks. Is Rome warmer?"), Message("assistant", "Yes, 24 °C against 12 °C.")]
    history[0] = replace(history[0], pinned=True)
    request = build_request(
        SystemPrompt(BUILT_IN_SYSTEM),
        history,
        QUESTION,
        strategy,
        embedded_target,
        Sampling(0.0, 1, stream=True),
        lambda older: "Weather was looked up.",
    )
    assert request.pair_findings == []
    outcome = CallOutcome()
    config = ProviderConfig("embedded", EMBEDDED_MODEL, base_url=embedded_server.base_url)
    for _ in stream_chat(make_client(config), request.plan.body, outcome):
        pass
    assert outcome.error is None, outcome.error
    composition = compose(request)
    assert outcome.usage.prompt_tokens == request.plan.prompt_tokens == sum(composition.tokens(p) for p in PROMPT_PARTS)
