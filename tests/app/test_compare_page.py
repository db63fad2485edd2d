"""The Compare page through AppTest: the pre-run table, a real run on the embedded server, a broken variant."""

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from lib import storage
from lib.compare import PRESETS
from lib.conversation import Message
from tests.app.conftest import type_server
from tests.fake_openai import FakeOpenAI

pytestmark = pytest.mark.slow

PAGE = str(Path(__file__).resolve().parents[2] / "pages" / "compare.py")
HISTORY = [
    Message("user", "My name is Ada."),
    Message("assistant", "Hello Ada!"),
    Message("user", "I like foxes."),
    Message("assistant", "Foxes are clever."),
]


@pytest.fixture
def compare():
    at = AppTest.from_file(PAGE, default_timeout=300)
    at.session_state["history"] = list(HISTORY)
    at.run()
    assert not at.exception, at.exception
    return at


def _run_button(at):
    return next(b for b in at.button if b.label.startswith("Run "))


def test_the_pre_run_table_lists_the_default_variants_and_sends_nothing(compare):
    table = compare.dataframe[0].value
    assert list(table["variant"]) == [v.name for v in PRESETS]
    tokens = dict(zip(table["variant"], table["prompt tokens"], strict=True))
    assert tokens["Full history"] > tokens["No history (stateless)"] > tokens["Only the system prompt"]
    # Sending no system prompt costs more on SmolLM2: its chat template then adds its own, longer one.
    assert compare.session_state["comparisons"] == []


def test_a_run_on_the_embedded_model_gives_one_answer_per_variant(compare):
    _run_button(compare).click().run()
    assert not compare.exception, compare.exception
    comparison = compare.session_state["comparisons"][-1]
    assert [r.variant.name for r in comparison.results] == [v.name for v in PRESETS]
    for result in comparison.results:
        assert result.errors == [] and result.answer.strip()
        assert result.outcomes[0].prompt_tokens == result.plan.prompt_tokens  # exact prediction
    assert len(compare.dataframe) == 2  # the pre-run table and every run's row
    assert any(b.label.startswith("Download the report") for b in compare.get("download_button"))


def test_a_broken_variant_shows_its_error_and_the_others_finish(compare):
    with FakeOpenAI() as server:
        server.behaviour.reject_unknown_models = True
        type_server(compare, server.base_url)
        broken_slot = compare.session_state["compare_slots"][1]
        compare.session_state[f"variant_{broken_slot}_model"] = "no-such-model"
        compare.run()
        _run_button(compare).click().run()
    assert not compare.exception, compare.exception
    results = compare.session_state["comparisons"][-1].results
    assert "(404)" in results[1].errors[0]
    assert all(r.answer == "Hello from the fake server." for i, r in enumerate(results) if i != 1)
    assert any("(404)" in e.value for e in compare.error)


def _run_repeated_on(server: FakeOpenAI, at, repeats: int, seed: int) -> list:
    """Run every variant `repeats` times against the fake server; the requests it received."""
    at.session_state["provider_kind"] = "compatible"
    at.session_state["base_url"] = server.base_url
    at.session_state["compare_repeats"] = repeats
    at.session_state["compare_seed"] = seed
    at.run()
    _run_button(at).click().run()
    assert not at.exception, at.exception
    return [r for r in server.requests if r.method == "POST"]


def test_repeats_send_a_seed_each(compare):
    with FakeOpenAI() as server:
        seeds = sorted(r.json()["seed"] for r in _run_repeated_on(server, compare, 3, 7))
    assert seeds == sorted([7, 8, 9] * len(PRESETS))
    results = compare.session_state["comparisons"][-1].results
    assert all(len(r.outcomes) == 3 and r.seeds == [7, 8, 9] for r in results)


def test_every_run_is_in_the_run_log_with_the_bytes_it_sent(compare):
    with FakeOpenAI() as server:
        sent = sorted(len(r.body) for r in _run_repeated_on(server, compare, 2, 3))
    with storage.opened() as conn:
        calls = storage.calls(conn)
    assert sorted(c.variant for c in calls) == sorted([v.name for v in PRESETS] * 2)
    assert sorted(c.payload_bytes for c in calls) == sent  # the seeded bodies, byte for byte
    assert {(c.status, c.provider) for c in calls} == {("ok", "compatible")}
