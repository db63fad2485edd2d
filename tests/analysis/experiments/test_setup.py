"""A run set up from the Experiments page's values (lib/analysis/experiments/setup.py): the variants'
table rows and back, conversations written out, the spec, the judge, and whether a backend can resume."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

from lib.analysis.compare import Variant
from lib.analysis.experiments import planner, setup, store
from lib.analysis.experiments.cases import Case, Conversation, InvalidTestSet, TestSet
from lib.analysis.experiments.judge import JudgeSpec
from lib.analysis.experiments.planner import RunSpec
from lib.analysis.targets import TargetSettings
from lib.backends.providers import ProviderConfig
from lib.context.conversation import Message, SystemPrompt
from lib.context.payload import Sampling
from lib.context.request import Target
from lib.context.strategies import Strategy
from lib.context.tokens import TiktokenCounter
from lib.core import models
from lib.store.session import Session, now

COUNTER = TiktokenCounter.for_model("gpt-4o-mini")
TARGETS = TargetSettings(
    Target(models.info_for("gpt-4o-mini"), COUNTER, "gpt-4o-mini"),
    "openai",
    False,
    lambda _name: COUNTER,
    lambda: COUNTER,
)


def test_the_default_variants_go_through_the_table_and_back_unchanged():
    rows = [setup.variant_row(v) for v in planner.DEFAULT_VARIANTS]
    assert setup.variants_from(rows) == list(planner.DEFAULT_VARIANTS)


def test_blank_cells_are_the_runs_own_and_a_blank_name_is_numbered():
    row = {
        **setup.variant_row(Variant("x", Strategy("last_turns", last_turns=3))),
        "name": " ",
        "temperature": math.nan,
        "max reply tokens": None,
        "turns": math.nan,
    }
    (variant,) = setup.variants_from([row])
    assert variant.name == "Variant 1" and variant.temperature is None and variant.max_tokens is None
    assert variant.strategy.last_turns == 0


def test_the_system_prompt_choice_is_none_the_conversations_or_the_custom_text():
    base = setup.variant_row(Variant("x"))
    modes = [{**base, "system prompt": mode, "custom system prompt": "Be terse."} for mode in setup.SYSTEM_CHOICES]
    assert [v.system_override for v in setup.variants_from(modes)] == [None, "", "Be terse."]


def test_every_conversation_is_written_out_and_a_missing_session_is_named():
    saved = Session("s1", messages=(Message("user", "hi from the saved one"),), system=SystemPrompt("S", True))
    cases = (Case("c1", "Q", Conversation("current")), Case("c2", "Q", Conversation("session", session_id="s1")))
    current = Conversation("inline", (Message("user", "now"),), "")
    resolved = setup.resolved(TestSet("t", cases), current, {"s1": saved}.get)
    assert resolved.cases[0].conversation == current
    assert resolved.cases[1].conversation == Conversation("inline", (saved.messages[0],), "S")
    with pytest.raises(InvalidTestSet, match="c2: the saved session 's1' is not there"):
        setup.resolved(TestSet("t", cases), current, {}.get)


def test_the_spec_takes_the_runs_numbers_and_never_a_seed_of_the_sidebars():
    provider = ProviderConfig("openai", "gpt-4o-mini", api_key="sk-x")
    spec = setup.run_spec(
        TestSet("t"),
        [Variant("v")],
        provider,
        Sampling(temperature=1.0, max_tokens=9, seed=7),
        None,
        temperature=0.0,
        max_tokens=48,
        repeats=2,
        seed=3,
        concurrency=4,
    )
    assert (spec.sampling.temperature, spec.sampling.max_tokens, spec.sampling.seed) == (0.0, 48, None)
    assert (spec.repeats, spec.base_seed, spec.concurrency, spec.provider_model) == (2, 3, 4, "gpt-4o-mini")
    assert "sk-x" not in repr(spec)


def test_a_judge_on_the_sidebars_backend_uses_its_model_and_the_embedded_one_starts_its_server():
    provider = ProviderConfig("openai", "gpt-4o-mini", api_key="sk-x")
    remote = setup.judge_setup(JudgeSpec("openai", "gpt-4o"), provider, TARGETS, lambda: pytest.fail("not started"))
    assert remote is not None and remote.config.model == "gpt-4o" and remote.target.wire_model == "gpt-4o"
    local = setup.judge_setup(JudgeSpec("embedded", models.EMBEDDED_MODEL), provider, TARGETS, lambda: "http://x/v1")
    assert local is not None and local.config.base_url == "http://x/v1" and not local.config.api_key
    assert setup.judge_setup(None, provider, TARGETS, lambda: "") is None


def test_a_run_is_resumed_only_on_its_own_backend_and_model():
    spec = RunSpec(
        TestSet("t"), (Variant("v"),), provider_kind="compatible", provider_model="m", provider_base_url="http://a/v1"
    )
    assert setup.backend_mismatch(spec, ProviderConfig("compatible", "m", base_url="http://a/v1")) is None
    assert "made with m at http://a/v1" in str(
        setup.backend_mismatch(spec, ProviderConfig("compatible", "m2", base_url="http://a/v1"))
    )
    assert "on the compatible backend" in str(setup.backend_mismatch(spec, ProviderConfig("openai", "m")))


def test_a_runs_status_says_who_is_sending_it_and_its_label_what_never_changes():
    made = "2026-12-07T10:00:00.000+00:00"
    info = store.RunInfo("r-setup-1", "Nightly", "Facts", "s1", "done", 8, 8, made, made)
    assert setup.status_word(info) == "done"
    assert setup.run_label(info) == "Nightly · 8 cells · started 2026-12-07 10:00:00"
    # Said running, and no thread of this process sends it: left behind by a process gone ...
    assert setup.status_word(replace(info, status="running")) == "interrupted"
    # ... or sent by another replica, which touched it a moment ago.
    touched = replace(info, status="running", updated_at=now())
    assert setup.status_word(touched) == "running on another replica"
    assert setup.tally(touched, []).startswith("**running on another replica** · **8 of 8 cells finished** · 0 pass")
