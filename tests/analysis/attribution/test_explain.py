"""Scores in words: percentages, factors, and what an answer no longer mentions."""

from __future__ import annotations

import math

from lib.analysis.attribution.explain import no_longer_mentioned, probability_change, quoted_list, salient_words


def test_probability_changes_read_as_percentages_or_factors():
    assert probability_change(-math.log(1 - 0.94)) == "falls by 94 %"
    assert probability_change(0.0) == "falls by 0 %"
    assert probability_change(-math.log(1.3)) == "rises by 30 %"
    assert probability_change(math.log(5000)).startswith("falls by more than 99.9 % (it becomes 5,000× less likely)")
    assert probability_change(-math.log(40)) == "rises 40-fold"
    assert "falls by more than 99.9 %" in probability_change(5000.0)  # no overflow


def test_salient_words_are_names_numbers_and_longer_words_not_sentence_openers():
    text = "She lives in Lisbon. The flight leaves from gate B12 at 9, with Maria."
    assert salient_words(text) == ["lives", "Lisbon", "flight", "leaves", "B12", "9", "Maria"]


def test_what_the_answer_no_longer_mentions_names_first():
    answer = "Your sister lives in Lisbon, near the river."
    assert no_longer_mentioned(answer, "She lives in Lisbon by the river.", "She lives by a river.") == ["Lisbon"]
    # Lisbon, lost with every message too, says nothing about the message left out.
    assert no_longer_mentioned(answer, "She lives somewhere.", "She is somewhere.") == ["lives"]
    assert no_longer_mentioned(answer, answer, "I do not know.") == ["Lisbon", "sister", "lives"]


def test_quoted_list():
    assert quoted_list(["Lisbon"]) == "Lisbon"
    assert quoted_list(["Lisbon", "Porto", "Faro"]) == "Lisbon, Porto or Faro"
