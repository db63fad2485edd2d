"""*Price as* on the chat meter: a free local model's cost is never a bare $0 — the same tokens are priced at a
hosted model's list prices (one formula, lib/core/prices.py), and the choice is the one every page shows."""

import pytest

from lib.core import models
from lib.core.prices import billed, cost, money
from tests.app.conftest import metric, send

pytestmark = pytest.mark.slow


def _tokens(at) -> int:
    return int(metric(at, "Prompt tokens").replace(",", ""))


def _cost_metric(at):
    return next(m for m in at.metric if m.label.startswith("Input cost"))


def test_the_chat_meter_prices_the_local_models_exact_tokens_as_a_hosted_model(app):
    app.text_area(key="draft").set_value("What does a long context cost?").run()
    shown = _cost_metric(app)
    tokens = _tokens(app)
    assert shown.label == "Input cost at gpt-4o-mini"  # the default: a cheap, common hosted model
    assert shown.value == money(cost(models.lookup("gpt-4o-mini").prices, tokens))
    assert shown.proto.delta == "$0 here (local model)"
    assert shown.value != "$0"

    app.selectbox(key="price_as").set_value("gpt-4.1").run()
    shown = _cost_metric(app)
    assert shown.label == "Input cost at gpt-4.1"
    assert shown.value == money(cost(models.lookup("gpt-4.1").prices, _tokens(app)))

    app.selectbox(key="price_as").set_value("").run()  # each model's own: $0, but said to be the local model's
    shown = _cost_metric(app)
    assert (shown.label, shown.value, shown.proto.delta) == ("Input cost", "$0", "here (local model)")


def test_the_last_calls_cost_is_shown_at_the_hosted_price_too(app):
    app.session_state["max_tokens"] = 8
    app.run()
    send(app, "Name a colour.")
    call = app.session_state["last_call"]
    expected = billed(models.lookup("gpt-4o-mini").prices, call.predicted_prompt_tokens, call.outcome.usage)
    captions = " ".join(c.value for c in app.caption)
    assert f"Cost $0 here (local model) · {money(expected)} at gpt-4o-mini" in captions
    assert expected and expected > 0


def test_the_choice_follows_the_user_to_compare_and_back(app):
    app.selectbox(key="price_as").set_value("gpt-4.1").run()
    app.switch_page("pages/compare.py").run()
    assert not app.exception, app.exception
    assert app.selectbox(key="price_as").value == "gpt-4.1"  # Compare's *Price the run* is the same picker
    assert "priced as gpt-4.1" in next(b for b in app.button if b.label.startswith("Run ")).label
    table = app.dataframe[0].value
    hosted = models.lookup("gpt-4.1").prices
    for tokens, shown in zip(table["prompt tokens"], table["input cost $ (priced as gpt-4.1)"], strict=True):
        assert shown == pytest.approx(cost(hosted, int(tokens)))  # the one formula, on each variant's tokens

    app.selectbox(key="price_as").set_value("gpt-4o").run()
    app.switch_page("pages/chat.py").run()
    assert not app.exception, app.exception
    assert _cost_metric(app).label == "Input cost at gpt-4o"
