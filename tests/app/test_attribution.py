"""“What did this answer use?” on the chat page: the real app, the real embedded model (server and in process)."""

from __future__ import annotations

import json
import time

import pytest
from streamlit.testing.v1 import AppTest

from lib.context.conversation import Message
from tests.analysis.attribution.test_regeneration import KnowsWhatItWasTold
from tests.app.conftest import app_of_string, chat_on, payload_json, run_log_rows, send, visible_text
from tests.fake_openai import FakeOpenAI

pytestmark = pytest.mark.slow

FACT = "Please remember: my sister Maria lives in Lisbon."
PAIRS = [
    ("user", "I went for a long walk in the park this morning."),
    ("assistant", "That sounds refreshing."),
    ("user", FACT),
    ("assistant", "Sure, noted."),
    ("user", "The weather has been rainy all week."),
    ("assistant", "I hope it gets sunnier soon."),
]
QUESTION = "In which city does my sister Maria live?"


def _wait(at, until, timeout_s: float = 900) -> None:
    """Rerun the page until `until(at)`: the run goes on on its own thread meanwhile."""
    deadline = time.monotonic() + timeout_s
    while not until(at):
        assert time.monotonic() < deadline, "the attribution did not finish"
        time.sleep(0.5)
        at.run()
        assert not at.exception, at.exception


def _bars(at) -> list:
    return [p for p in at.get("progress") if "·" in p.text]


def _button(at, label: str):
    return next(b for b in at.button if b.label.startswith(label))


@pytest.fixture
def answered(app):
    """The chat with a planted fact, a question and the embedded model's answer at temperature 0."""
    app.session_state["temperature"] = 0.0
    app.session_state["history"] = [Message(role, content) for role, content in PAIRS]
    app.run()
    send(app, QUESTION)
    _wait(app, lambda at: at.session_state["history"][-1].role == "assistant")
    answer = app.session_state["history"][-1]
    assert answer.status == "ok" and "Lisbon" in answer.content
    app.session_state[f"attribution_open_{answer.id}"] = True  # what clicking the expander does
    app.run()
    return app, answer


def says_the_passes_then_ranks_the_fact_first(at) -> None:
    """On the planted conversation (PAIRS) answered by the embedded model: what the run takes, said
    before it runs; then a bar per message, the fact's the longest, and the fact's message ranked first."""
    before = " ".join(i.value for i in at.info)
    assert "Before running:** 8 scoring passes" in before  # the system prompt and 6 messages, and the full context
    assert "no call to the server" in before and "Cost: $0" in before
    _button(at, "Run the attribution (8 passes)").click().run()
    _wait(at, lambda at: len(_bars(at)) == 7)
    bars = _bars(at)
    fact_bar = next(b for b in bars if "Maria lives in Lisbon" in b.text)
    assert fact_bar.value == 100 and all(b.value < 100 for b in bars if b is not fact_bar)
    top = next(m.value for m in at.markdown if m.value.startswith("**Most influential**"))
    assert "- **Rank 1:** message 4 of 7 (user) “Please remember: my sister Maria lives in Lisbon.”" in top
    assert "Without this message the answer's probability falls by" in top


def test_it_says_the_passes_ranks_the_fact_first_and_its_smallest_context_gives_the_answer_back_and_applies(answered):
    """The chat's attribution from start to end, on one attribution run: what it takes, said before it
    runs, and the bars; the smallest context, sent to check, gives the same answer back; applied, it
    becomes the include toggles the next request follows. These were three tests, each asking the model
    for the same temperature-0 answer and running the same attribution (and two the same search for the
    smallest context) again: a third of this file's time each (issue 27). Every assertion is kept."""
    at, _ = answered
    says_the_passes_then_ranks_the_fact_first(at)

    _wait(at, lambda at: any(b.label == "Find the smallest context" for b in at.button))
    _button(at, "Find the smallest context").click().run()
    _wait(at, lambda at: any("keep this answer" in s.value or "keeps this answer" in s.value for s in at.success))
    headline = next(s.value for s in at.success if "this answer" in s.value)
    assert "of 7 messages" in headline and "prompt tokens" in headline

    # Sent to check: one call with the smallest context at temperature 0 (the history is not touched).
    _button(at, "Send it to check").click().run()
    _wait(at, lambda at: any("Sent at temperature 0" in e.value for e in [*at.success, *at.warning]))
    assert any("the same answer came back" in s.value for s in at.success)

    # Applied: the include toggles, and the payload the chat would send next follows them.
    _button(at, "Apply as the include toggles").click().run()
    assert not at.exception
    history = at.session_state["history"]
    fact = next(m for m in history if m.content == FACT)
    assert fact.included  # the message holding the fact is kept
    assert at.session_state["strategy_kind"] == "manual"
    assert history[-2].included and history[-1].included  # the question and the answer are not touched
    kept_before_question = [m.content for m in history[:-2] if m.included]
    sent = [m["content"] for m in json.loads(payload_json(at))["messages"]]
    assert all(content in sent for content in kept_before_question)
    assert all(m.content not in sent for m in history[:-2] if not m.included)


def test_other_backends_regenerate_each_ablation_say_so_and_log_every_call():
    history = [Message(role, content) for role, content in PAIRS]
    history += [Message("user", QUESTION), Message("assistant", "She lives in Lisbon.")]
    with FakeOpenAI() as fake:
        fake.behaviour = KnowsWhatItWasTold(models=["gpt-4o-mini"])
        at = chat_on(fake.base_url, compatible_model="gpt-4o-mini")
        at.session_state["history"] = history
        at.session_state[f"attribution_open_{history[-1].id}"] = True
        at.run()
        before = " ".join(i.value for i in at.info)
        assert "Before running:** 8 calls to gpt-4o-mini at temperature 0" in before
        assert "at most $" in before
        _button(at, "Run the attribution (8 calls)").click().run()
        _wait(at, lambda at: len(_bars(at)) == 7, timeout_s=120)
        fact_bar = next(b for b in _bars(at) if "Maria lives in Lisbon" in b.text)
        assert fact_bar.value == 100
        top = next(m.value for m in at.markdown if m.value.startswith("**Most influential**"))
        assert "Without it the answer no longer mentions Lisbon." in top
        assert "regenerated at temperature 0" in visible_text(at)
        posted = [r for r in fake.requests if r.method == "POST"]
        assert len(posted) == 8 and all(r.json()["temperature"] == 0.0 for r in posted)
    logged = [row for row in run_log_rows() if row.variant == "attribution"]
    assert len(logged) == 8


COMPARE_SCRIPT = """
from lib.analysis.compare import Variant, plan_variant
from lib.context.conversation import Message, SystemPrompt
from lib.context.strategies import Strategy
from ui import state
from ui.attribution import hooks as attribution
from ui.planning import target_of
from ui.settings import page_setup

settings = page_setup()
variant = Variant("Last 2 turns", Strategy("last_turns", last_turns=2))
request = plan_variant(variant, state.system_prompt(), state.history(), "Where does Maria live?",
                       target_of(settings), settings.sampling)
attribution.compare_answer(settings, request.plan, "She lives in Lisbon.", "variant-0")
"""


def test_the_compare_hook_attributes_a_variants_answer_to_what_that_variant_sent():
    with FakeOpenAI() as fake:
        fake.behaviour = KnowsWhatItWasTold(models=["gpt-4o-mini"])
        at = app_of_string(COMPARE_SCRIPT)
        for name, value in {
            "provider_kind": "compatible",
            "base_url": fake.base_url,
            "api_key": "",
            "compatible_model": "gpt-4o-mini",
            "attribution_open_variant-0": True,
        }.items():
            at.session_state[name] = value
        at.session_state["history"] = [Message(role, content) for role, content in PAIRS]
        at.run()
        assert not at.exception, at.exception
        # "Last 2 turns" sends the system prompt and the last four messages: five units, six calls.
        assert "Before running:** 6 calls to gpt-4o-mini" in " ".join(i.value for i in at.info)
        _button(at, "Run the attribution (6 calls)").click().run()
        _wait(at, lambda at: len(_bars(at)) == 5, timeout_s=120)
        fact_bar = next(b for b in _bars(at) if "Maria lives in Lisbon" in b.text)
        assert fact_bar.value == 100


def _compare_hook(fake: FakeOpenAI, answer: str, expected: str) -> AppTest:
    script = COMPARE_SCRIPT.replace(
        '"She lives in Lisbon.", "variant-0")', f"{answer!r}, 'variant-0', None, {expected!r})"
    )
    at = app_of_string(script)
    for name, value in {
        "provider_kind": "compatible",
        "base_url": fake.base_url,
        "api_key": "",
        "compatible_model": "gpt-4o-mini",
        "attribution_open_variant-0": True,
    }.items():
        at.session_state[name] = value
    at.session_state["history"] = [Message(role, content) for role, content in PAIRS]
    at.run()
    assert not at.exception, at.exception
    return at


def test_attribution_names_positions_as_positions_ranks_as_ranks_and_warns_of_a_wrong_answer():
    """Was: "#1…#7" (positions read as ranks), and a wrong answer attributed without a word that it does not
    state the fact asked about."""
    with FakeOpenAI() as fake:
        fake.behaviour = KnowsWhatItWasTold(models=["gpt-4o-mini"])
        wrong = _compare_hook(fake, "She lives in Porto.", "Lisbon")
        assert any("does not contain the expected “Lisbon”" in w.value for w in at_warnings(wrong))
        right = _compare_hook(fake, "She lives in Lisbon.", "lisbon")
        assert not at_warnings(right) and "The answer contains the expected “lisbon”." in visible_text(right)
        unchecked = _compare_hook(fake, "She lives in Lisbon.", "")
        assert "The answer was not checked against an expected answer" in visible_text(unchecked)
        _button(right, "Run the attribution (6 calls)").click().run()
        _wait(right, lambda at: len(_bars(at)) == 5, timeout_s=120)
        # The system prompt, then the last two turns: the fact is the second of five messages.
        assert any(b.text.startswith("**message 2 of 5 (user)** · Please remember") for b in _bars(right))
        top = next(m.value for m in right.markdown if m.value.startswith("**Most influential**"))
        assert "- **Rank 1:** message 2 of 5 (user) “Please remember: my sister Maria lives in Lisbon.”" in top
        assert "#" not in top


def at_warnings(at) -> list:
    return [w for w in at.warning if "expected" in w.value]
