from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from lib.context.conversation import Message
from tests.app.conftest import new_app

pytestmark = pytest.mark.slow
PAGE = str(Path(__file__).resolve().parents[2] / "pages" / "timeline.py")


def _page(history=None) -> AppTest:
    at = new_app(PAGE)
    if history is not None:
        at.session_state["history"] = history
    at.run()
    assert not at.exception, at.exception
    return at


def test_the_sample_conversation_shows_full_history_outgrowing_bounded_strategies():
    at = _page()
    frame = at.dataframe[0].value
    last = frame[frame["turn"] == frame["turn"].max()].set_index("strategy")["cumulative tokens"]
    assert last["Full history"] > 3 * last["Last 2 turns"] > last["No history (stateless)"]
    # Two lines and the composition per turn; the embedded model is free: no cost chart.
    assert len(at.get("plotly_chart")) == 3
    assert at.get("download_button")
    # Its llama.cpp cache serves the full history's repeated prefix; a window breaks it every turn.
    assert "**Full history costs least**" in at.info[0].value and "tokens computed" in at.info[0].value
    cached = frame[frame["strategy"] == "Full history"]["cached tokens"]
    assert (cached.iloc[1:] > 0).all()


def test_the_users_own_conversation_is_used_when_long_enough():
    history = []
    for i in range(4):
        history += [Message("user", f"my question {i}"), Message("assistant", f"my answer {i}")]
    at = _page(history)
    frame = at.dataframe[0].value
    assert list(frame[frame["strategy"] == "Full history"]["question"]) == [f"my question {i}" for i in range(4)]


def test_a_conversation_every_strategy_sends_whole_names_no_cheapest():
    """Three short turns: the last two turns and the token budget keep every message, as the full history
    does; the page said the full history costs least, the same tokens beside it."""
    history = []
    for i in range(3):
        history += [Message("user", f"my question {i}"), Message("assistant", f"my answer {i}")]
    verdict = _page(history).info[0].value
    assert "**Full history, Last 2 turns and Token budget 1,024 cost the same**" in verdict
    assert "costs least" not in verdict


def test_priced_models_get_the_cost_with_and_without_the_cache_and_a_plain_verdict():
    at = new_app(PAGE)
    at.session_state["provider_kind"] = "openai"
    at.session_state["openai_model"] = "gpt-4.1"
    at.session_state["api_key"] = "sk-test-not-used-0123456789"
    at.run()
    assert not at.exception, at.exception
    assert len(at.get("plotly_chart")) == 4  # with the composition per turn
    verdict = at.info[0].value
    assert verdict.startswith("Over these 30 turns on gpt-4.1, with prompt caching, **") and "genai-prices" in verdict
