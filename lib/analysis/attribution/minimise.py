"""The smallest context that keeps the answer: drop the least influential unit, keep the drop if the
answer still holds, go on with the next, until every unit has been tried once.

Greedy, one scoring pass per unit tried: not the smallest set there is (that is a search over 2^n
contexts), but each step is checked, not predicted, so the context it returns is known to hold.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from lib.analysis.attribution.context import Mask


@dataclass(frozen=True)
class Step:
    unit: int
    held: bool  # the answer held without it: the unit stays out


@dataclass(frozen=True)
class Minimal:
    kept: Mask
    steps: tuple[Step, ...]  # in the order tried: one scoring pass each

    @property
    def kept_count(self) -> int:
        return sum(self.kept)

    @property
    def dropped(self) -> list[int]:
        return [i for i, kept in enumerate(self.kept) if not kept]


def drop_order(influence: Sequence[float]) -> list[int]:
    """Units from the least influential to the most (ties: the later unit first, so a prefix-sharing
    scorer re-evaluates less)."""
    return sorted(range(len(influence)), key=lambda i: (influence[i], -i))


def minimise(
    influence: Sequence[float],
    holds: Callable[[Mask], bool],
    keep: Sequence[int] = (),
    stop: Callable[[], bool] = lambda: False,
) -> Minimal:
    """Try leaving out each unit, least influential first; a unit stays out when `holds` says the
    answer still holds without it (and without every unit dropped before). `keep`: units never tried.
    `stop` is asked before each pass: a stopped search returns what it has, which holds."""
    kept = [True] * len(influence)
    steps: list[Step] = []
    for unit in drop_order(influence):
        if unit in keep:
            continue
        if stop():
            break
        kept[unit] = False
        held = holds(tuple(kept))
        if not held:
            kept[unit] = True
        steps.append(Step(unit, held))
    return Minimal(tuple(kept), tuple(steps))
