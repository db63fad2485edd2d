"""Where a variant's request goes (lib/analysis/targets.py): the sidebar's target unless the variant names
a model the backend can serve; a stored run's targets are its own backend's and model's, whatever the
sidebar shows now; the sidebar only lends its own figures for the very model it has."""

from __future__ import annotations

from dataclasses import replace

from lib.analysis.compare import Variant
from lib.analysis.targets import TargetSettings, embedded_target, model_target, stored_target_for, target_for
from lib.context.request import Target
from lib.context.tokens import TiktokenCounter
from lib.core import models

COUNTERS: dict[str, TiktokenCounter] = {}


def counter_for(name: str) -> TiktokenCounter:
    return COUNTERS.setdefault(name, TiktokenCounter.for_model(name))


EMBEDDED_COUNTER = TiktokenCounter.for_model("gpt-4o")  # a stand-in: only where it is used is checked here
# The sidebar's model with the user's own figures (a custom window and prices the table lacks).
CUSTOM = replace(models.info_for("my-model", 5000, 1.0, 2.0), name="my-model")
SIDEBAR = TargetSettings(
    Target(CUSTOM, counter_for("gpt-4o"), "my-model"), "compatible", False, counter_for, lambda: EMBEDDED_COUNTER
)


def test_a_variant_without_a_model_goes_to_the_sidebars_target():
    assert target_for(Variant("v"), SIDEBAR) is SIDEBAR.chat


def test_a_variant_naming_a_model_is_counted_and_priced_as_that_model():
    target = target_for(Variant("v", model="gpt-4o-mini"), SIDEBAR)
    assert target.wire_model == "gpt-4o-mini" and target.model == models.info_for("gpt-4o-mini")
    assert target.counter is counter_for("gpt-4o-mini")


def test_a_model_the_table_lacks_takes_the_sidebars_window():
    target = model_target("unknown-model", SIDEBAR)
    assert target.model.context_window == 5000 and target.wire_model == "unknown-model"


def test_a_backend_with_one_model_serves_it_whatever_a_variant_names():
    one = replace(SIDEBAR, one_model=True)
    assert target_for(Variant("v", model="gpt-4o-mini"), one) is one.chat


def test_a_stored_embedded_run_is_planned_on_the_embedded_model_whatever_the_sidebar_shows():
    target = stored_target_for(Variant("v", model="gpt-4o"), "embedded", models.EMBEDDED_MODEL, SIDEBAR)
    assert target == embedded_target(SIDEBAR)
    assert target.wire_model == models.EMBEDDED_MODEL and target.counter is EMBEDDED_COUNTER


def test_a_stored_run_on_the_sidebars_model_keeps_the_users_figures():
    same = stored_target_for(Variant("v"), "compatible", "my-model", SIDEBAR)
    assert same.model is CUSTOM and same.wire_model == "my-model"
    elsewhere = stored_target_for(Variant("v"), "openai", "my-model", SIDEBAR)  # same name, another backend
    assert elsewhere.model.own_prices != CUSTOM.own_prices and elsewhere.model.context_window == 5000


def test_a_stored_variant_naming_a_model_is_planned_for_it():
    target = stored_target_for(Variant("v", model="gpt-4o-mini"), "openai", "gpt-4o", SIDEBAR)
    assert target.wire_model == "gpt-4o-mini" and target.model == models.info_for("gpt-4o-mini")
