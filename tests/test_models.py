import pytest

from lib import models


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


def test_the_priced_models_are_the_tables_with_a_price():
    names = models.priced_models()
    assert "gpt-4o-mini" in names and models.EMBEDDED_MODEL not in names
    assert all(models.MODELS[n].input_per_million > 0 for n in names)
