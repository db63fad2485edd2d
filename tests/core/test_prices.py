import socket
from decimal import Decimal

import pytest
from genai_prices import Usage, calc_price

from lib.core import models, prices
from lib.core.outcome import CallOutcome
from lib.core.outcome import Usage as CallUsage  # genai_prices has a Usage of its own
from tests.paths import ROOT


@pytest.mark.parametrize(
    ("model", "prompt", "cached", "completion"),
    [
        ("gpt-4o", 5_000, 0, 200),
        ("gpt-4o", 5_000, 4_096, 200),
        ("gpt-4.1-mini", 2_048, 1_024, 0),
        ("gpt-5", 40_000, 39_936, 1_000),
        ("gpt-4", 3_000, 1_024, 10),  # no cached-input price: cached tokens cost as input
        ("gpt-5.4", 300_000, 290_000, 500),  # over the 272k tier: every token at the tier's price
        ("gpt-35-turbo-0125", 1_000, 0, 100),
    ],
)
def test_the_cost_formula_agrees_with_genai_prices(model, prompt, cached, completion):
    info = (
        models.info_for(model) if models.is_known(model) else models.ModelInfo(model, 1, "o200k_base", price_ref=model)
    )
    reference = calc_price(
        Usage(input_tokens=prompt, cache_read_tokens=cached, output_tokens=completion),
        models.canonical(model),
        provider_id="openai",
    ).total_price
    assert Decimal(str(prices.cost(info.prices, prompt, cached, completion))).quantize(
        Decimal("1e-9")
    ) == reference.quantize(Decimal("1e-9"))


def test_cached_tokens_cost_less_only_where_there_is_a_cached_price():
    gpt4o = models.MODELS["gpt-4o"]
    assert prices.cost(gpt4o.prices, 2_048, 1_024) == pytest.approx((1_024 * 2.5 + 1_024 * 1.25) / 1e6)
    assert prices.cost(gpt4o.prices, 2_048, 5_000) == prices.cost(
        gpt4o.prices, 2_048, 2_048
    )  # never more than the prompt
    user = models.info_for("llama3.2", input_per_million=1.0, output_per_million=2.0)
    assert prices.cost(user.prices, 1_000, 800, 10) == pytest.approx((1_000 * 1.0 + 10 * 2.0) / 1e6)
    discounted = models.info_for("llama3.2", input_per_million=1.0, cached_input_per_million=0.1)
    assert prices.cost(discounted.prices, 1_000, 800) == pytest.approx((200 * 1.0 + 800 * 0.1) / 1e6)


def test_an_unknown_price_is_unpriced_not_free():
    unknown = models.info_for("llama3.2")
    assert prices.cost(unknown.prices, 1_000) is None
    output_unknown = models.info_for("llama3.2", input_per_million=1.0)
    assert prices.cost(output_unknown.prices, 1_000) == pytest.approx(0.001)
    assert prices.cost(output_unknown.prices, 1_000, 0, 5) is None
    nothing_reported = CallOutcome()
    assert prices.billed(models.MODELS["gpt-4o"].prices, 100, nothing_reported.usage) == pytest.approx(100 * 2.5 / 1e6)


def test_a_finished_call_is_billed_from_its_usage_whichever_record_holds_it():
    """The outcome of a call and its run-log row are one usage: they cost the same, cached tokens at
    the cached rate, and the prediction stands in only for a prompt count the server did not report."""
    gpt4o = models.MODELS["gpt-4o"]
    outcome = CallOutcome(usage=CallUsage(prompt_tokens=1_000, cached_tokens=400, completion_tokens=50))
    expected = (600 * 2.5 + 400 * 1.25 + 50 * 10) / 1e6
    assert prices.billed(gpt4o.prices, 9_999, outcome.usage) == pytest.approx(expected)
    assert prices.cost(gpt4o.prices, 1_000, 400, 50) == pytest.approx(expected)
    assert prices.billed(gpt4o.prices, 200, CallUsage(completion_tokens=50)) == pytest.approx(
        (200 * 2.5 + 50 * 10) / 1e6
    )
    assert prices.output_cost(gpt4o.prices, 50) == pytest.approx(50 * 10 / 1e6)


def test_the_price_data_is_read_offline_and_never_updated(monkeypatch):
    prices.library_prices.cache_clear()
    prices._snapshot.cache_clear()

    def no_network(*args, **kwargs):
        raise AssertionError("the price data must not touch the network")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    assert prices.library_prices("gpt-4o-mini").input.base == 0.15
    assert not prices._snapshot().from_auto_update
    from genai_prices import update_prices

    assert update_prices._shared_updater.ref_count == 0  # nobody started the updater


def test_the_datas_date_is_shown_with_the_version():
    assert prices.data_date() is not None and prices.data_date() >= "2026-01-01"
    assert prices.data_label() == (
        f"genai-prices {prices.package_version()} (bundled data, prices checked up to {prices.data_date()}; "
        "never updated at run time)"
    )


def test_money_keeps_small_amounts_readable():
    assert (prices.money(None), prices.money(0), prices.money(0.0021), prices.money(12.5)) == (
        "unpriced",
        "$0",
        "$0.002100",
        "$12.5000",
    )


def test_the_installed_price_data_is_the_pinned_release():

    requirements = (ROOT / "requirements.txt").read_text()
    assert f"genai-prices=={prices.package_version()}" in requirements.splitlines()


def test_a_batch_call_is_billed_at_half_the_list_price_by_the_one_formula():
    """OpenAI's Batch API bills half the list price: input, cached input and output alike, at the tier
    the whole prompt picks."""
    gpt4o = models.MODELS["gpt-4o"]
    listed = (600 * 2.5 + 400 * 1.25 + 50 * 10) / 1e6
    assert prices.cost(gpt4o.prices, 1_000, 400, 50, batch=True) == pytest.approx(listed / 2)
    usage = CallUsage(prompt_tokens=1_000, cached_tokens=400, completion_tokens=50)
    assert prices.billed(gpt4o.prices, 9_999, usage, batch=True) == pytest.approx(listed / 2)
    assert prices.output_cost(gpt4o.prices, 50, batch=True) == pytest.approx(50 * 10 / 1e6 / 2)
    assert gpt4o.input_cost(1_000, batch=True) == pytest.approx(1_000 * 2.5 / 1e6 / 2)
    assert gpt4o.output_cost(50, batch=True) == pytest.approx(50 * 10 / 1e6 / 2)
    tiered = models.ModelInfo("gpt-5.4", 1, "o200k_base", price_ref="gpt-5.4")
    assert prices.cost(tiered.prices, 300_000, 0, 500, batch=True) == pytest.approx(
        prices.cost(tiered.prices, 300_000, 0, 500) / 2
    )
    assert prices.cost(models.info_for("llama3.2").prices, 1_000, batch=True) is None  # unpriced stays unpriced
