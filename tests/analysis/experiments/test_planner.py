"""The run planner: every cell from the one builder, seeded per repeat; the prefix-sharing order; the
estimate; the spec stored with a run gives the same bodies when it is planned again."""

from __future__ import annotations

import itertools
from dataclasses import replace

from lib.analysis.compare import Variant, plan_variant, seeded
from lib.analysis.experiments import builtin, planner
from lib.analysis.experiments.cases import Case, Check, Conversation, TestSet
from lib.analysis.experiments.judge import JudgeSpec
from lib.analysis.experiments.planner import CellKey, RunSpec
from lib.context.conversation import Message
from lib.context.payload import Sampling
from lib.context.request import Target
from lib.context.strategies import Strategy
from lib.context.tokens import TiktokenCounter
from lib.core import models

GPT = Target(models.MODELS["gpt-4o-mini"], TiktokenCounter.for_model("gpt-4o-mini"), "gpt-4o-mini")
VARIANTS = (
    Variant("Full history", Strategy("full")),
    Variant("Last 2 turns", Strategy("last_turns", last_turns=2)),
    Variant("No history", Strategy("none")),
)
SAMPLING = Sampling(temperature=0.0, max_tokens=32)


def spec(repeats: int = 1, **changes) -> RunSpec:
    base = RunSpec(builtin.test_set(), VARIANTS, repeats, 5, SAMPLING, "openai", "gpt-4o-mini")
    return replace(base, **changes)


def target(_variant) -> Target:
    return GPT


def test_every_cell_is_the_variants_request_from_the_one_builder():
    run = spec(repeats=2)
    cells = planner.plan_cells(run, target)
    assert len(cells) == run.total_cells == 3 * 16 * 2
    cell = next(c for c in cells if c.key == CellKey(1, "B-city", 1))
    case = run.test_set.case("B-city")
    request = plan_variant(
        VARIANTS[1], case.conversation.system_prompt(), list(case.conversation.messages), case.question, GPT, SAMPLING
    )
    assert cell.plan.body == seeded(request.plan, 6).body  # repeat 2 sends seed 5 + 1
    assert cell.plan.body["messages"][-1] == {"role": "user", "content": case.question}
    assert len(cell.plan.body["messages"]) == 1 + 4 + 1  # the system prompt, the last 2 turns, the question


def test_a_single_repeat_sends_no_seed():
    cells = planner.plan_cells(spec(repeats=1), target)
    assert all("seed" not in c.plan.body for c in cells)


def test_the_prefix_order_sends_each_history_together():
    cells = planner.plan_cells(spec(repeats=2), target)
    ordered = planner.prefix_order(cells)
    assert sorted(c.key for c in ordered) == sorted(c.key for c in cells)
    runs = [c.prefix for c in ordered]
    changes = sum(a != b for a, b in itertools.pairwise(runs))
    groups = len(set(runs))
    assert changes == groups - 1  # each distinct history is sent in one stretch
    # Full history: 4 conversations; last 2 turns: 4; no history: the system prompt alone, once.
    assert groups == 4 + 4 + 1


def test_the_prefix_order_shares_far_more_than_the_naive_one():
    cells = planner.plan_cells(spec(), target)
    shared = planner.shared_prefix_tokens(planner.prefix_order(cells))
    naive = planner.shared_prefix_tokens(planner.interleaved_order(cells))
    assert shared > 5 * naive
    naive_keys = [c.key for c in planner.interleaved_order(cells)][:3]
    assert naive_keys == [CellKey(0, "A-name", 0), CellKey(1, "A-name", 0), CellKey(2, "A-name", 0)]


def test_a_cell_over_the_window_is_planned_with_its_reason():
    huge = Conversation("inline", (Message("user", "word " * 5000, id="h0000"),), None)
    small = models.ModelInfo("tiny", 1000, 1.0, 2.0, "o200k_base")
    tiny = Target(small, TiktokenCounter("o200k_base", True), "tiny")
    run = spec(test_set=TestSet("t", (Case("big", "Hi?", huge),)))
    full, _, none = planner.plan_cells(run, lambda _: tiny)
    assert "context window is 1,000" in full.blocker
    assert none.blocker is None
    estimate = planner.estimate(run, [full, none])
    assert [v.blocked for v in estimate.variants] == [1, 0, 0]


def test_the_estimate_counts_calls_tokens_and_cost_per_variant():
    run = spec(repeats=2)
    cells = planner.plan_cells(run, target)
    estimate = planner.estimate(run, cells)
    full = estimate.variants[0]
    assert full.calls == 32
    assert full.prompt_tokens == sum(c.plan.prompt_tokens for c in cells if c.key.variant == 0)
    price = models.MODELS["gpt-4o-mini"]
    assert abs(full.input_cost - price.input_cost(full.prompt_tokens)) < 1e-12
    assert abs(full.max_output_cost - 32 * price.output_cost(32)) < 1e-12
    assert estimate.calls == 96 and estimate.prompt_tokens == sum(c.plan.prompt_tokens for c in cells)
    assert abs(estimate.max_cost - sum(v.max_cost for v in estimate.variants)) < 1e-12
    assert estimate.variants[0].prompt_tokens > estimate.variants[1].prompt_tokens > estimate.variants[2].prompt_tokens
    done = {c.key for c in cells[:10]}
    assert planner.estimate(run, cells, skip=done).calls == 96 - 10  # a resume counts what is left


def test_the_estimate_includes_the_judge_at_most():
    judged = TestSet("j", (Case("a", "Q?", checks=(Check("llm-rubric", "Is polite."),)),))
    run = spec(test_set=judged, judge=JudgeSpec("openai", "gpt-4o-mini"))
    estimate = planner.estimate(run, planner.plan_cells(run, target), GPT)
    assert estimate.judge_calls == 3 and estimate.judge_prompt_tokens > 3 * 32
    assert estimate.rows()[-1]["variant"] == "judge (at most)"
    assert planner.estimate(run, planner.plan_cells(run, target)).judge_calls == 0  # no judge target, none counted


def test_a_stored_spec_plans_the_same_bodies():
    run = spec(repeats=3, judge=JudgeSpec("embedded", "SmolLM2-135M-Instruct"), summaries=(("k", "v"),))
    again = planner.spec_from_dict(planner.spec_to_dict(run))
    assert again == run
    assert [c.plan.body for c in planner.plan_cells(again, target)] == [
        c.plan.body for c in planner.plan_cells(run, target)
    ]


def test_a_summarising_variant_waits_for_its_summary_then_sends_it():
    summarise = (Variant("Summary + 2 turns", Strategy("summarise", last_turns=2)),)
    run = spec(variants=summarise, test_set=TestSet("one", builtin.test_set().cases[:2]))
    cells = planner.plan_cells(run, target)
    assert all("summary" in c.blocker for c in cells)
    needed = planner.summaries_needed(run, target)
    assert len(needed) == 1 and len(needed[0]) == 2 * 22  # both cases share one conversation: one summary
    made = replace(run, summaries=((planner.summary_id(needed[0]), "The user is Marisol from Porto."),))
    cells = planner.plan_cells(made, target)
    assert all(c.blocker is None for c in cells)
    assert "Marisol from Porto" in cells[0].plan.body["messages"][1]["content"]
    assert planner.summaries_needed(made, target) == []


def test_batch_bodies_are_whole_replies():
    cells = planner.plan_cells(planner.for_batch(spec()), target)
    assert all(c.plan.body["stream"] is False and "stream_options" not in c.plan.body for c in cells)
