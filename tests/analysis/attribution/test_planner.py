"""The ablation planner: which contexts are scored, in which order, and what that costs before it runs."""

from __future__ import annotations

import itertools

import pytest

from lib.analysis.attribution.planner import (
    DROP_PROBABILITY,
    LOO_MAX_UNITS,
    estimate,
    leave_one_out_masks,
    plan_ablations,
    prefix_order,
    random_masks,
    shared_prefix,
)


def test_leave_one_out_up_to_twenty_units_the_full_context_first_then_the_last_unit_dropped_first():
    plan = plan_ablations(4)
    assert plan.method == "leave_one_out"
    assert plan.masks == (
        (True, True, True, True),
        (True, True, True, False),
        (True, True, False, True),
        (True, False, True, True),
        (False, True, True, True),
    )
    assert plan_ablations(LOO_MAX_UNITS).method == "leave_one_out"
    assert plan_ablations(LOO_MAX_UNITS).passes == LOO_MAX_UNITS + 1


def test_unordered_plans_keep_the_order_the_masks_were_made_in():
    plan = plan_ablations(3, prefix_ordered=False)
    assert plan.masks[0] == (True, True, True)
    assert list(plan.masks[1:]) == leave_one_out_masks(3)
    assert set(plan.masks) == set(plan_ablations(3).masks)


def test_above_twenty_units_random_ablations_each_unit_left_out_somewhere():
    plan = plan_ablations(30)
    assert plan.method == "random_ablations"
    assert plan.masks[0] == (True,) * 30
    masks = plan.masks[1:]
    assert 32 <= len(masks) <= 64
    assert len(set(masks)) == len(masks)  # distinct
    assert all(not all(m) and any(m) for m in masks)
    assert all(any(not m[unit] for m in masks) for unit in range(30))
    dropped = sum(not kept for m in masks for kept in m) / (len(masks) * 30)
    assert 0.5 * DROP_PROBABILITY < dropped < 2 * DROP_PROBABILITY


def test_random_masks_are_seeded_so_a_second_run_scores_the_same_contexts():
    assert random_masks(25, 40, seed=3) == random_masks(25, 40, seed=3)
    assert random_masks(25, 40, seed=3) != random_masks(25, 40, seed=4)


def test_every_unit_is_left_out_even_when_chance_would_not():
    masks = random_masks(6, 8, drop_probability=0.01, seed=1)
    assert all(any(not m[unit] for m in masks) for unit in range(6))
    assert len(set(masks)) == len(masks)


def test_prefix_order_puts_passes_sharing_long_prefixes_next_to_each_other():
    masks = random_masks(12, 40, drop_probability=0.3, seed=0)
    ordered = prefix_order(masks)

    def shared(sequence):
        return sum(shared_prefix(a, b) for a, b in itertools.pairwise(sequence))

    assert sorted(ordered) == sorted(masks)
    assert shared(ordered) > shared(masks)


def test_shared_prefix_counts_leading_units_in_agreement():
    assert shared_prefix((True, True, False), (True, True, True)) == 2
    assert shared_prefix((False, True), (True, True)) == 0
    assert shared_prefix((True, False), (True, False)) == 2


def test_estimate_counts_each_pass_and_the_prefix_it_shares_with_the_one_before():
    tokens = [10, 20, 30]
    masks = [(True, True, True), (True, True, False), (True, False, True)]
    cost = estimate(masks, tokens, fixed_tokens=5, answer_tokens=7)
    assert cost.passes == 3
    assert cost.prompt_tokens == (60 + 5) + (30 + 5) + (40 + 5)
    # The second pass shares units 0-1 (30 tokens) with the first; the third shares unit 0 with the second.
    assert cost.reused_tokens == 30 + 10
    assert cost.evaluated_tokens == cost.prompt_tokens - 40


def test_prefix_ordered_leave_one_out_evaluates_less_than_unordered_random_order():
    tokens = [40] * 10
    ordered = plan_ablations(10)
    full, *rest = ordered.masks
    shuffled = [full, *rest[1::2], *rest[::2]]
    assert estimate(ordered.masks, tokens, 50, 0).evaluated_tokens < estimate(shuffled, tokens, 50, 0).evaluated_tokens


def test_nothing_to_plan_for_no_units():
    with pytest.raises(ValueError):
        plan_ablations(0)


def _ordered_over_scratch(units: int, unit_tokens: int, unshared: int) -> float:
    """Tokens the prefix-ordered plan evaluates over those evaluated from scratch, `unshared` being
    what every pass evaluates whatever the order (the question, the template's close, the answer)."""
    plan = plan_ablations(units)
    cost = estimate(plan.masks, [unit_tokens] * units, unshared, 0)
    return cost.evaluated_tokens / cost.prompt_tokens


@pytest.mark.parametrize("units", [5, 11, 20])
def test_leave_one_out_saving_is_the_closed_form_the_readme_states(units):
    # (n(n+1)T/2 + (n+1)U) / (n²T + (n+1)U): with no unshared part, (n+1)/2n — what no order can beat.
    for unit_tokens, unshared in [(40, 0), (40, 55), (110, 15), (30, 120)]:
        expected = (units * (units + 1) * unit_tokens / 2 + (units + 1) * unshared) / (
            units**2 * unit_tokens + (units + 1) * unshared
        )
        assert _ordered_over_scratch(units, unit_tokens, unshared) == pytest.approx(expected)


def test_at_eleven_units_six_tenths_is_reached_only_while_the_unshared_part_is_under_1_4_units():
    assert _ordered_over_scratch(11, 100, 0) == pytest.approx(12 / 22)
    assert _ordered_over_scratch(11, 100, 130) <= 0.6
    assert _ordered_over_scratch(11, 100, 145) > 0.6
    assert _ordered_over_scratch(11, 40, 110) > 0.6  # about the chat shape of bench/attribution.py
