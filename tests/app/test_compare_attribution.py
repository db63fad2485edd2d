"""“What did this answer use?” on a Compare variant's answer: the real Compare page, the real embedded
model (its server answers the variants; the same GGUF in process scores the passes)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from lib.analysis.compare import PRESETS
from lib.context.conversation import Message
from tests.app.conftest import new_app
from tests.app.test_attribution import FACT, PAIRS, QUESTION, _button, _wait, says_the_passes_then_ranks_the_fact_first
from ui.attribution.hooks import answer_key

pytestmark = pytest.mark.slow

PAGE = str(Path(__file__).resolve().parents[2] / "pages" / "compare.py")
FULL, BARE, LAST_TWO, SYSTEM_ONLY = (v.name for v in PRESETS)


def _sent_bodies(at: AppTest) -> list[dict]:
    """The exact bodies the pre-run preview shows, one per variant, in the variants' order."""
    return [json.loads(c.value) for c in at.code if c.language == "json"]


@pytest.fixture
def compared(embedded_server):
    """Two variants (the whole history, the last two turns) answered at temperature 0 on the embedded model."""
    at = new_app(PAGE)
    for key, value in {
        "history": [Message(role, text) for role, text in PAIRS],
        "temperature": 0.0,
        "max_tokens": 48,
        "compare_question": QUESTION,
    }.items():
        at.session_state[key] = value
    at.run()
    assert not at.exception, at.exception
    slots = at.session_state["compare_slots"]
    for slot in (slots[1], slots[3]):  # the bare question and the system prompt alone: not needed here
        at.button(key=f"remove_{slot}").click().run()
    assert [at.text_input(key=f"variant_{s}_name").value for s in at.session_state["compare_slots"]] == [
        FULL,
        LAST_TWO,
    ]
    at.session_state["compare_question"] = QUESTION  # the draft is the question's default: set it again
    at.run()
    next(b for b in at.button if b.label.startswith("Run 2 variants")).click().run()
    assert not at.exception, at.exception
    comparison = at.session_state["comparisons"][-1]
    full = comparison.results[0]
    assert full.variant.name == FULL and not full.errors and "Lisbon" in full.answer
    key = answer_key(comparison, 0)
    at.session_state[f"attribution_open_{key}"] = True  # what clicking the expander does
    at.run()
    assert not at.exception, at.exception
    return at, key, full


def test_a_variants_answer_is_attributed_and_its_smallest_context_becomes_a_variant(compared):
    at, key, full = compared
    says_the_passes_then_ranks_the_fact_first(at)  # the same flow as the chat's, on this variant's context

    _button(at, "Find the smallest context").click().run()
    _wait(at, lambda at: any(b.label == "Add as a Compare variant" for b in at.button))
    found = at.session_state[f"attribution_{key}"].smallest
    assert FACT in [m.content for m in found.messages] and found.minimal.kept_count < len(found.units)
    _button(at, "Add as a Compare variant").click().run()
    assert not at.exception, at.exception

    slots = at.session_state["compare_slots"]
    name = f"{FULL} · smallest context ({found.minimal.kept_count} of 7)"
    assert len(slots) == 3 and at.text_input(key=f"variant_{slots[2]}_name").value == name
    assert list(at.dataframe[-1].value["variant"]) == [FULL, LAST_TWO, name]  # the pre-run table has it
    sent = _sent_bodies(at)[2]
    kept = [{"role": m.role, "content": m.content} for m in found.messages]
    assert sent["messages"] == [*kept, {"role": "user", "content": QUESTION}]
    assert sent["temperature"] == full.plan.body["temperature"]  # the variant's own settings, not the scoring's
    assert any(f"Added as the variant “{name}”" in c.value for c in at.caption)

    # Verified by sending: the comparison run again, the smallest context gives the same answer back.
    next(b for b in at.button if b.label.startswith("Run 3 variants")).click().run()
    assert not at.exception, at.exception
    again = at.session_state["comparisons"][-1].results
    assert [r.variant.name for r in again] == [FULL, LAST_TWO, name]
    assert again[2].plan.body["messages"] == sent["messages"]
    assert again[2].answer == full.answer
