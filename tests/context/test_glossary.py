"""The glossary: one plain label and one line per term, every strategy explained, table columns matched to terms."""

import pytest

from lib.context import composition, glossary
from lib.context.strategies import STRATEGIES


@pytest.mark.parametrize("key", sorted(glossary.TERMS))
def test_every_term_has_a_plain_label_and_one_line(key):
    term = glossary.TERMS[key]
    assert term.label.strip() and term.explain.strip()
    assert "\n" not in term.explain and len(term.explain) <= 240  # one line on hover, not a paragraph
    assert term.explain.rstrip().endswith((".", ")"))


def test_every_strategy_a_user_can_pick_is_explained():
    assert set(glossary.STRATEGIES) == set(STRATEGIES)
    text = glossary.strategy_help()
    assert all(spec.label in text for spec in STRATEGIES.values())


def test_the_composition_bar_says_what_the_meter_says():
    assert composition.EXPLANATIONS["overhead"] == glossary.explain("chat_format")
    assert composition.EXPLANATIONS["reserve"] == glossary.explain("reply_reserve")


@pytest.mark.parametrize(
    ("column", "term"),
    [
        ("prompt tokens", "prompt_tokens"),
        ("input cost $ (priced as gpt-4o-mini)", "input_cost"),
        ("cost $", "cost"),
        ("similarity to baseline", "similarity"),
        ("completion tokens", "completion_tokens"),
        ("cached tokens (reported)", "cached_tokens"),
        ("context window %", "window_share"),
        ("latency_s", "latency"),  # the run log's field names
        ("#", "position"),
    ],
)
def test_table_columns_take_their_terms_hover(column, term):
    assert glossary.column_help(column) == glossary.explain(term)


def test_a_column_that_explains_itself_gets_no_hover():
    assert glossary.column_help("answer") is None and glossary.column_help("model") is None
