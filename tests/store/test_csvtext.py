"""The app's one CSV writer (lib/store/csvtext.py): no cell of any CSV the app offers can start a formula
in a spreadsheet, whatever text it holds; a test set's CSV imports back exactly as it was exported."""

from __future__ import annotations

import csv
import io
import math

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lib.analysis import runlog
from lib.analysis.compare import Variant
from lib.analysis.experiments import formats, results
from lib.analysis.experiments.cases import Case, Check, Conversation, TestSet
from lib.analysis.experiments.checks import Verdict
from lib.analysis.experiments.planner import CellKey, RunSpec
from lib.analysis.experiments.store import CellResult
from lib.context.payload import Sampling
from lib.context.strategies import Strategy
from lib.core.outcome import Usage
from lib.store import csvtext

# As many cases as the run's Hypothesis profile says (tests/conftest.py: 50 in `make test-fast`, 200 in
# `make test`); it was 500 in every run. Each fix these properties guard was found again at 50 (issue 27).
CASES = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
# How a formula can start: ASCII, full-width and small forms, a minus sign, behind blanks, breaks and
# invisible characters (a spreadsheet skips them), and behind quotes (the guard itself).
STARTS = ["=", "+", "-", "@", "\uff1d", "\uff0b", "\uff0d", "\uff20", "\ufe66", "\ufe62", "\ufe63", "\u2212"]
BEFORE = ["", " ", "  ", "\t", "\r", "\n", "\r\n", "\u00a0", "\u3000", "\u200b", "\ufeff", "'", "''", " '"]
hostile = st.builds(
    lambda before, start, rest: before + start + rest,
    st.sampled_from(BEFORE),
    st.sampled_from(STARTS),
    st.text(max_size=20),
)
texts = st.one_of(st.text(max_size=30), hostile)


def spreadsheet_would_run(cell: str) -> bool:
    """A spreadsheet's reading of a cell, on the generous side: after blanks and invisible characters,
    a formula start (ASCII or its wide forms) that is not a plain finite number."""
    if cell.startswith("'"):
        return False  # text, whatever follows
    if cell[:1] in ("\t", "\r", "\n"):
        return True
    visible = cell.lstrip().lstrip("\u200b\ufeff\u2060").lstrip()
    if not visible or visible[0] not in "=+-@\uff1d\uff0b\uff0d\uff20\ufe66\ufe62\ufe63\u2212":
        return False
    try:
        return not math.isfinite(float(cell))
    except ValueError:
        return True


def cells_of(text: str) -> list[str]:
    """Every cell, as a strict reader finds them (a bare CR or LF outside quotes is an error)."""
    return [cell for row in csv.reader(io.StringIO(text, newline=""), strict=True) for cell in row]


@pytest.mark.parametrize(
    "text",
    [
        "=1+1",
        " =1+1",
        '  =HYPERLINK("http://x")',
        "\uff1dcmd",
        "\ufe66cmd",
        "\n=1",
        "\r=1",
        "\t=1",
        "+1",
        "-x",
        "@SUM(A1)",
        "\u3000=1",
        "\u200b=1",
        "\ufeff=1",
        "\u2212 1",
        "\nplain",
        "'=1",
        "''+1",
    ],
)
def test_a_text_that_could_start_a_formula_is_quoted(text):
    assert csvtext.quoted(text) == "'" + text
    assert csvtext.unquoted(csvtext.quoted(text)) == text


@pytest.mark.parametrize("text", ["plain", "a = b", "x-1", "", "'already text", " ", "'", "1+1"])
def test_other_text_is_left_as_it_is(text):
    assert csvtext.quoted(text) == text
    assert csvtext.unquoted(text) == text


@CASES
@given(texts)
def test_no_text_starts_a_formula_once_written_and_every_text_reads_back(text):
    cell = csvtext.quoted(text)
    assert not spreadsheet_would_run(cell)
    assert csvtext.unquoted(cell) == text


@CASES
@given(st.lists(st.one_of(texts, st.integers(), st.floats(), st.none()), min_size=1, max_size=6))
def test_no_cell_of_the_one_writer_starts_a_formula(values):
    columns = [f"c{i}" for i in range(len(values))]
    text = csvtext.csv_text([dict(zip(columns, values, strict=True))], columns)
    assert [cell for cell in cells_of(text) if spreadsheet_would_run(cell)] == []


SPEC = RunSpec(TestSet("t", (Case("c1", "q"),)), (Variant("v", Strategy("full")),), 1, 1, Sampling(), "openai", "m")


@CASES
@given(texts, texts, texts, texts)
def test_no_cell_of_any_export_starts_a_formula(question, answer, check, error):
    """A test set (the question, its checks, its conversation and description) and a run's results (the
    model's answer, the verdicts, the server's error), and the run log's table: every CSV the app offers."""
    case = Case("c1", question, Conversation("inline", (), error), (Check("contains", check),), None, answer)
    verdicts = (Verdict(check, False, error),)
    cell = CellResult(CellKey(0, "c1", 0), "fail", answer, verdicts, {}, 3, Usage(-1), -0.5, float("nan"), error)
    frame = pd.DataFrame({question: [answer, error], "tokens": [-3, 4], "share": [-0.5, float("nan")]})
    spec = RunSpec(TestSet("t", (case,)), (Variant(question, Strategy("full")),), 1, 1, Sampling(), "openai", "m")
    for text in (formats.to_csv(TestSet("t", (case,))), results.run_csv(spec, [cell]), runlog.csv_text(frame)):
        assert [c for c in cells_of(text) if spreadsheet_would_run(c)] == []


# What a question may hold for the round trip (the CSV dialect sniffer's own guesses are another matter).
plain = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters=';,\t"|'), max_size=20)
questions = st.one_of(
    plain,
    st.builds(
        lambda before, start, rest: before + start + rest, st.sampled_from(BEFORE), st.sampled_from(STARTS), plain
    ),
)


@CASES
@given(questions)
def test_a_test_set_csv_imports_back_unchanged(question):
    """A question that really starts with `=` (or with a quote and then `=`) survives export and import;
    so does a description."""
    question = question if question.strip() else "q"
    case = Case("c1", question, Conversation("current"), (Check("contains", "x"),), description=question)
    back = formats.read_csv(formats.to_csv(TestSet("t", (case,)))).cases[0]
    assert (back.question, back.checks, back.description) == (case.question, case.checks, case.description)


def test_a_question_starting_with_a_formula_survives_export_and_import():
    for question in ("=SUM(A1:A2)", " =1", "\uff1dHYPERLINK(1)", "'=already quoted", "''+x", "-1 or +1?", "@me"):
        text = formats.to_csv(TestSet("t", (Case("c1", question),)))
        assert next(csv.DictReader(io.StringIO(text)))["question"].startswith("'")
        assert formats.read_csv(text).cases[0].question == question


def test_numbers_stay_numbers_and_missing_values_are_empty():
    rows = [{"a": -3, "b": -0.5, "c": None, "d": float("nan"), "e": pd.NA, "f": True}]
    frame = pd.DataFrame(rows).astype({"a": "Int64"})
    assert csvtext.csv_text([{"a": -3, "b": -0.5, "c": None, "d": float("nan")}], ["a", "b", "c", "d"]) == (
        "a,b,c,d\r\n-3,-0.5,,\r\n"
    )
    assert runlog.csv_text(frame).splitlines()[1] == "-3,-0.5,,,,True"
