"""The walkthrough's demos: what each call sends, with and without the fact that makes the difference."""

from itertools import pairwise

import pytest

from lib.analysis.walkthrough import (
    GROWTH_QUESTIONS,
    SECRET,
    STEPS,
    carries,
    demo_body,
    growth_figure,
    growth_history,
    growth_rows,
    private_history,
    run_demo,
    verdict,
)
from lib.context.payload import serialise
from lib.context.tokens import TiktokenCounter
from lib.core.models import EMBEDDED_MODEL
from lib.core.outcome import CallOutcome, Usage

SEED_HEADINGS = [
    "No Conversation Memory",
    "API Call Independence",
    "Session-Based Interactions (Handling Context Manually)",
    "Enhanced Scalability",
    "User Data Protection & Security",
    "Context in Prompts: How to Improve Response Accuracy",
]
BY_NUMBER = {step.number: step for step in STEPS}
COUNTER = TiktokenCounter("o200k_base", True)


class RecordingSender:
    """Stands in for the server: answers "reply N" and keeps every body it was given."""

    def __init__(self):
        self.bodies: list[dict] = []

    def __call__(self, body: dict) -> CallOutcome:
        self.bodies.append(body)
        return CallOutcome(text=f"reply {len(self.bodies)}", usage=Usage(10 * len(self.bodies)), finish_reason="stop")


def _run(number: int):
    sender = RecordingSender()
    return run_demo(BY_NUMBER[number], sender, COUNTER), sender


def test_the_six_steps_are_the_seed_documents_points_in_order():
    assert [s.number for s in STEPS] == [1, 2, 3, 4, 5, 6]
    assert [s.title for s in STEPS] == SEED_HEADINGS
    assert all(s.point and s.demo and s.short for s in STEPS)


@pytest.mark.parametrize("step", STEPS, ids=lambda s: s.short)
def test_every_demo_call_is_reproducible_and_short(step):
    calls, sender = _run(step.number)
    assert [c.label for c in calls] == list(step.labels) and len(sender.bodies) == step.calls >= 2
    for call in calls:
        body = call.body
        assert body["model"] == EMBEDDED_MODEL and body["temperature"] == 0 and body["max_tokens"] <= 128
        assert body["stream"] is False


@pytest.mark.parametrize(
    ("number", "sent"),
    [(1, [False, True]), (2, [True, False]), (3, [True, True]), (5, [True, False]), (6, [False, True])],
)
def test_the_fact_is_in_exactly_the_payloads_meant_to_carry_it(number, sent):
    calls, _ = _run(number)
    needle = BY_NUMBER[number].needle
    assert [carries(call.body, needle) for call in calls] == sent


def test_no_memory_the_second_call_resends_the_earlier_turn():
    calls, _ = _run(1)
    first, second = (call.body["messages"] for call in calls)
    assert first == [{"role": "user", "content": "What is my name?"}]
    assert second[-1] == first[-1] and second[0] == {"role": "user", "content": "My name is Ada."}


def test_independent_calls_carry_nothing_of_each_other():
    calls, _ = _run(2)
    told, asked = (call.body["messages"] for call in calls)
    assert not any(m in asked for m in told)
    assert not carries(calls[1].body, "reply 1")  # not even the first call's answer


def test_the_session_resends_turn_one_and_its_real_reply():
    calls, _ = _run(3)
    turn_two = calls[1].body["messages"]
    assert turn_two[:2] == [calls[0].body["messages"][0], {"role": "assistant", "content": "reply 1"}]
    assert turn_two[-1]["content"] == "What is my PIN?"


def test_growth_resends_every_earlier_question_and_reply():
    calls, _ = _run(4)
    assert len(calls) == len(GROWTH_QUESTIONS)
    for turn, call in enumerate(calls):
        contents = [m["content"] for m in call.body["messages"]]
        assert contents[-1] == GROWTH_QUESTIONS[turn]
        assert [c for c in contents if c.startswith("reply ")] == [f"reply {n}" for n in range(1, turn + 1)]
    assert [m.content for m in growth_history(["a"])] == [GROWTH_QUESTIONS[0], "a", GROWTH_QUESTIONS[1]]


def test_growth_rows_grow_every_turn_and_keep_the_servers_count():
    calls, _ = _run(4)
    rows = growth_rows(calls, TiktokenCounter("o200k_base", True))
    assert [r["turn"] for r in rows] == [1, 2, 3, 4]
    assert [r["messages sent"] for r in rows] == [1, 3, 5, 7]
    for key in ("payload bytes", "prompt tokens"):
        assert all(a[key] < b[key] for a, b in pairwise(rows))
    assert rows[0]["payload bytes"] == len(serialise(calls[0].body))
    assert [r["reported prompt tokens"] for r in rows] == [10, 20, 30, 40]
    figure = growth_figure(rows)
    assert [list(trace.y) for trace in figure.data] == [
        [r[k] for r in rows] for k in ("payload bytes", "prompt tokens")
    ]


def test_a_message_left_out_stays_with_the_client_and_never_reaches_the_server():
    calls, sender = _run(5)
    client_side = private_history(left_out=True)
    assert any(SECRET in m.content and not m.included for m in client_side)
    assert SECRET not in serialise(sender.bodies[1]).decode()
    assert [m["content"] for m in calls[1].body["messages"]] == ["Got it.", "What is my account number?"]
    assert all(m.included for m in private_history(left_out=False))


def test_the_fact_goes_in_the_system_prompt():
    calls, _ = _run(6)
    assert calls[1].body["messages"][0]["role"] == "system" and "Plimtown" in calls[1].body["messages"][0]["content"]
    assert all(m["role"] != "system" for m in calls[0].body["messages"])


def test_a_failed_call_is_kept_and_the_chain_goes_on():
    def failing(body: dict) -> CallOutcome:
        return CallOutcome(error="Could not connect")

    calls = run_demo(BY_NUMBER[3], failing, COUNTER)
    assert [c.outcome.error for c in calls] == ["Could not connect"] * 2
    assert calls[1].body["messages"][1] == {"role": "assistant", "content": ""}


def test_verdict_says_what_the_payload_held():
    with_fact = demo_body(BY_NUMBER[6].plan(["x"]), COUNTER)
    without = demo_body(BY_NUMBER[6].plan([]), COUNTER)
    assert (
        verdict("Plimtown", with_fact, "It is plimtown.") == "The payload carried “Plimtown”, and the answer uses it."
    )
    assert "did not use it" in verdict("Plimtown", with_fact, "Azbab.")
    assert "could not know it" in verdict("Plimtown", without, "Azbab.")
    assert "a guess, not a memory" in verdict("Plimtown", without, "Plimtown!")


def test_an_answer_the_limit_cut_ends_at_its_last_full_sentence():
    from lib.analysis.walkthrough import shown_answer

    whole = CallOutcome(text="Your name is Ada. ", finish_reason="stop")
    assert shown_answer(whole) == ("Your name is Ada.", None)
    cut = CallOutcome(text="17 is lucky. It is 3.5 times 4! And it is also the sum of", finish_reason="length")
    text, note = shown_answer(cut, limit=96)
    assert text == "17 is lucky. It is 3.5 times 4!" and "96 tokens" in note and "last full sentence" in note
    quoted = shown_answer(CallOutcome(text='He said "yes." Then the', finish_reason="length"))[0]
    assert quoted == 'He said "yes."'
    assert shown_answer(CallOutcome(text="no end in sight", finish_reason="length"))[0] == "no end in sight …"
