import pytest

from lib.core import models


def test_dated_names_resolve_to_their_family():
    assert models.lookup("gpt-4o-2024-08-06").name == "gpt-4o"
    assert models.lookup("gpt-4o-mini-2024-07-18").name == "gpt-4o-mini"
    assert models.lookup("gpt-4.1-nano").name == "gpt-4.1-nano"


def test_unknown_models_take_the_users_figures():
    info = models.info_for("llama3.2", context_window=4096, input_per_million=1.0)
    assert not models.is_known("llama3.2")
    assert (info.context_window, info.input_cost(1_000_000), info.output_cost(10)) == (4096, 1.0, None)


def test_costs_scale_per_million():
    gpt4o = models.MODELS["gpt-4o"]
    assert gpt4o.input_cost(2_000_000) == pytest.approx(5.0)
    assert gpt4o.output_cost(1000) == pytest.approx(0.01)


@pytest.mark.parametrize("name", ["gpt-5", "o3", "o4-mini"])
def test_reasoning_models_are_marked(name):
    assert models.MODELS[name].reasoning


def test_every_entry_is_sane():
    for info in models.MODELS.values():
        assert info.context_window >= 4096
        assert info.encoding in {"o200k_base", "cl100k_base", "embedded"}


def test_a_free_model_priced_as_a_priced_one_takes_only_its_prices():
    free = models.MODELS[models.EMBEDDED_MODEL]
    priced = models.priced_as(free, "gpt-4o-mini")
    assert (priced.name, priced.context_window, priced.encoding) == (free.name, free.context_window, "embedded")
    assert priced.input_cost(1_000_000) == pytest.approx(0.15) and priced.output_cost(1_000_000) == pytest.approx(0.6)
    assert free.input_cost(1_000_000) == 0.0  # the original is untouched
    assert models.priced_as(free, None) is free and models.priced_as(free, "") is free
    with pytest.raises(KeyError):
        models.priced_as(free, "no-such-model")


def test_a_hosted_model_keeps_its_own_prices_when_priced_as_another():
    own = models.MODELS["gpt-4o"]
    assert not own.free and models.MODELS[models.EMBEDDED_MODEL].free
    assert models.priced_as(own, "gpt-4o-mini") is own  # its calls cost its own list price


def test_the_priced_models_are_the_tables_with_a_price():
    names = models.priced_models()
    assert "gpt-4o-mini" in names and models.EMBEDDED_MODEL not in names
    assert all(models.MODELS[n].input_per_million > 0 for n in names)


@pytest.mark.parametrize(
    ("azure_name", "family"),
    [
        ("gpt-35-turbo", "gpt-3.5-turbo"),
        ("gpt-35-turbo-0125", "gpt-3.5-turbo"),
        ("gpt-35-turbo-16k", "gpt-3.5-turbo"),
        ("gpt-4o-2024-11-20", "gpt-4o"),
        ("gpt-4-0613", "gpt-4"),
    ],
)
def test_azure_deployment_names_map_to_their_model(azure_name, family):
    info = models.lookup(azure_name)
    assert info is not None and info.encoding == models.MODELS[family].encoding
    assert models.underlying_model(azure_name) == family in models.MODELS  # a name the sidebar's list holds
    assert info.input_per_million is not None  # priced, not left to the user's figures


def test_dated_names_keep_prices_of_their_own():
    # The first GPT-4o snapshot was priced higher than gpt-4o is now; the price data knows it.
    assert models.lookup("gpt-4o-2024-05-13").input_per_million == 5.0
    assert models.lookup("gpt-4o-2024-08-06").input_per_million == models.MODELS["gpt-4o"].input_per_million == 2.5


def test_gpt4_turbo_previews_and_32k_are_not_the_8k_gpt4():
    assert models.lookup("gpt-4-1106-preview").context_window == 128_000
    assert models.lookup("gpt-4-32k").context_window == 32_768
    assert models.lookup("gpt-4-32k").input_per_million == 60.0


def test_prices_come_from_genai_prices_with_the_datas_date():
    source = models.MODELS["gpt-4o"].prices.source
    assert source.startswith("genai-prices 0.2.3") and "prices checked up to 20" in source
    assert models.MODELS["gpt-4o"].cached_input_per_million == 1.25
    assert models.MODELS["gpt-4"].cached_input_per_million is None  # no prompt caching on GPT-4
    embedded = models.MODELS[models.EMBEDDED_MODEL]
    assert embedded.input_cost(10_000) == 0.0 and "local" in embedded.prices.source


def test_a_deployment_named_anything_says_nothing():
    assert models.underlying_model("my-prod-chat") is None


def test_a_preview_deployment_is_listed_under_its_family():
    assert models.underlying_model("gpt-4-1106-preview") == "gpt-4-turbo"
