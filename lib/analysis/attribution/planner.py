"""Which ablations to score, in which order, and what they cost before anything runs.

Up to `LOO_MAX_UNITS` units: leave-one-out, exact (the full context, then one pass without each
unit). Above: ContextCite-style random ablations (Cohen-Wang et al., NeurIPS 2024) and a sparse
linear fit (`lib.analysis.attribution.fit`). Units are dropped with probability `DROP_PROBABILITY` rather than
ContextCite's 1/2: the question here is what dropping a message from *this* context does, so the
ablations stay near it (a few units out at a time), and near the full context the passes share
longer prompt prefixes (below).

Prefix order: a pass need not evaluate again the tokens it shares, from the start, with the pass
before it (llama.cpp keeps their keys and values). A context without unit i shares everything before
i with the full context, so the passes run from the full context down through the masks in
descending lexicographic order (kept before left out): leave-one-out then drops the last unit
first, then the one before it, each pass re-evaluating only what follows its dropped unit.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from lib.analysis.attribution.context import Mask

LOO_MAX_UNITS = 20
RANDOM_MASKS = 48
DROP_PROBABILITY = 0.1
MIN_RANDOM_MASKS = 32
MAX_RANDOM_MASKS = 64

Method = Literal["leave_one_out", "random_ablations"]


@dataclass(frozen=True)
class AblationPlan:
    method: Method
    masks: tuple[Mask, ...]  # in the order they are scored; the full context first
    prefix_ordered: bool

    @property
    def passes(self) -> int:
        return len(self.masks)

    @property
    def units(self) -> int:
        return len(self.masks[0]) if self.masks else 0

    def describe(self) -> str:
        if self.method == "leave_one_out":
            return f"leave-one-out: the full context, then {self.passes - 1} passes each without one message"
        return (
            f"{self.passes - 1} random ablations (each message left out with probability "
            f"{DROP_PROBABILITY:.0%}) and the full context, then a sparse linear fit"
        )


def leave_one_out_masks(units: int) -> list[Mask]:
    """One mask per unit, that unit left out, in the units' order."""
    return [tuple(j != i for j in range(units)) for i in range(units)]


def random_masks(units: int, count: int, drop_probability: float = DROP_PROBABILITY, seed: int = 0) -> list[Mask]:
    """`count` distinct masks, each leaving out at least one unit and keeping at least one, every unit
    left out by at least one of them (else the fit could say nothing about it). Seeded: the same
    context gives the same masks, so a second run gives the same numbers."""
    if units < 2:
        raise ValueError("random ablations need at least two units")
    rng = random.Random(seed)
    masks: list[Mask] = []
    seen: set[Mask] = set()
    attempts = 0
    while len(masks) < count and attempts < count * 1000:
        attempts += 1
        mask = tuple(rng.random() >= drop_probability for _ in range(units))
        if all(mask) or not any(mask) or mask in seen:
            continue
        seen.add(mask)
        masks.append(mask)
    for unit in range(units):  # a unit no mask left out: leave it out of a mask that keeps the most
        if any(not mask[unit] for mask in masks):
            continue
        for k in sorted(range(len(masks)), key=lambda k: -sum(masks[k])):
            changed = tuple(kept and j != unit for j, kept in enumerate(masks[k]))
            if changed not in seen and any(changed):
                seen.discard(masks[k])
                seen.add(changed)
                masks[k] = changed
                break
    return masks


def shared_prefix(a: Mask, b: Mask) -> int:
    """How many leading units two masks agree on: their prompts are the same up to there."""
    count = 0
    for x, y in zip(a, b, strict=True):
        if x != y:
            break
        count += 1
    return count


def prefix_order(masks: Sequence[Mask]) -> list[Mask]:
    """The full context first, then descending lexicographic order (a kept unit before a left-out one):
    consecutive passes share the longest prefixes (the order a depth-first walk of their trie takes)."""
    return sorted(masks, reverse=True)


def plan_ablations(
    units: int,
    *,
    max_leave_one_out: int = LOO_MAX_UNITS,
    random_count: int = RANDOM_MASKS,
    drop_probability: float = DROP_PROBABILITY,
    seed: int = 0,
    prefix_ordered: bool = True,
) -> AblationPlan:
    """The passes for `units` units: leave-one-out up to `max_leave_one_out`, random ablations above.
    Without `prefix_ordered` the passes run in the order they were made (units ascending): what
    ordering buys is measured against that (bench/attribution.py)."""
    if units < 1:
        raise ValueError("nothing to attribute: no units")
    full: Mask = (True,) * units
    if units <= max_leave_one_out:
        method: Method = "leave_one_out"
        masks = leave_one_out_masks(units)
    else:
        method = "random_ablations"
        count = min(max(random_count, MIN_RANDOM_MASKS), MAX_RANDOM_MASKS)
        masks = random_masks(units, count, drop_probability, seed)
    ordered = [full, *(prefix_order(masks) if prefix_ordered else masks)]
    return AblationPlan(method, tuple(ordered), prefix_ordered)


@dataclass(frozen=True)
class PassCost:
    """What a plan will take, before it runs."""

    passes: int
    prompt_tokens: int  # summed over every pass, as each would be sent
    reused_tokens: int  # of those, the prefix shared with the pass before (in process: not evaluated again)
    answer_tokens: int  # per pass: the answer scored (in process) or at most the reply's limit (regenerated)

    @property
    def evaluated_tokens(self) -> int:
        return self.prompt_tokens - self.reused_tokens


def estimate(masks: Sequence[Mask], unit_tokens: Sequence[int], fixed_tokens: int, answer_tokens: int) -> PassCost:
    """Tokens for scoring `masks` in order: each pass's prompt (the kept units plus `fixed_tokens`:
    the question and the chat template's framing), and the units before its first difference with
    the previous pass, which it shares (an estimate: the template's tokens around the first
    difference are not counted as shared)."""
    prompt = reused = 0
    previous: Mask | None = None
    for mask in masks:
        prompt += fixed_tokens + sum(t for t, kept in zip(unit_tokens, mask, strict=True) if kept)
        if previous is not None:
            same = shared_prefix(previous, mask)
            reused += sum(t for t, kept in zip(unit_tokens[:same], mask[:same], strict=True) if kept)
        previous = mask
    return PassCost(len(masks), prompt, reused, answer_tokens)
