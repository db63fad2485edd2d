"""The greedy minimiser: least influential first, each drop checked, the result known to hold."""

from __future__ import annotations

from lib.analysis.attribution.minimise import drop_order, minimise


def test_drops_the_least_influential_first_and_keeps_what_the_answer_needs():
    influence = [0.1, 5.0, 0.0, 2.0, -0.3]
    needed = {1, 3}
    tried = []

    def holds(mask):
        tried.append(mask)
        return all(mask[i] for i in needed)

    result = minimise(influence, holds)
    assert result.kept == (False, True, False, True, False)
    assert [s.unit for s in result.steps] == [4, 2, 0, 3, 1]  # one pass each, least influential first
    assert [s.held for s in result.steps] == [True, True, True, False, False]
    assert len(tried) == 5 and result.kept_count == 2 and result.dropped == [0, 2, 4]


def test_each_check_is_of_everything_dropped_so_far():
    seen = []
    minimise([1.0, 2.0, 3.0], lambda mask: seen.append(mask) or True)
    assert seen == [(False, True, True), (False, False, True), (False, False, False)]


def test_a_drop_that_breaks_the_answer_is_undone_and_the_search_goes_on():
    # Either of units 0 and 1 is enough, not both gone: the search keeps 1 after dropping 0.
    result = minimise([0.0, 0.5, 9.0], lambda mask: mask[0] or mask[1])
    assert result.kept == (False, True, False)


def test_units_to_keep_are_never_tried():
    result = minimise([0.0, 0.0, 0.0], lambda mask: True, keep=[1])
    assert result.kept == (False, True, False) and 1 not in [s.unit for s in result.steps]


def test_nothing_holds_keeps_everything():
    result = minimise([1.0, 2.0], lambda mask: False)
    assert result.kept == (True, True) and all(not s.held for s in result.steps)


def test_ties_try_the_later_unit_first():
    assert drop_order([0.0, 0.0, 1.0, 0.0]) == [3, 1, 0, 2]
