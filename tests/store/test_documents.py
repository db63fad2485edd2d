"""The one reader of outside JSON and YAML (lib/store/documents.py): every limit named with its line,
and bounded in time. The timed tests' bound is the promise itself ("refused at once, not after minutes"),
so it is generous: seconds for what the old code took 25 s to 305 s on, or forever, to refuse."""

from __future__ import annotations

import time

import pytest

from lib.store import documents
from lib.store.documents import LINE, DocumentError, NotWellFormed, TooDeep, TooLong, load_json, load_yaml

DIGITS = "9" * 5_001


def _refused(load, text) -> DocumentError:
    with pytest.raises(DocumentError) as refused:
        load(text)
    return refused.value


def _quickly(load, text, seconds: float = 5.0) -> DocumentError:
    start = time.monotonic()
    problem = _refused(load, text)
    assert time.monotonic() - start < seconds
    return problem


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("[" * 100_000 + "]" * 100_000, 1),  # 200 KB of brackets: 305 s, then RecursionError, through YAML
        ("[" * 5_000_000, 1),
        ('{"a":\n' * 3_000 + "1" + "}" * 3_000, 65),
        ('["[[[[", ' + "[" * 70, 1),  # brackets in a string are text; the rest counts
    ],
)
def test_json_nested_too_deep_is_refused_at_its_line_before_parsing(text, line):
    problem = _quickly(load_json, text)
    assert isinstance(problem, TooDeep) and problem.line == line
    assert str(problem) == f"line {line}: lists and mappings nest more than 64 levels deep"


def test_json_at_the_depth_limit_is_read():
    assert load_json("[" * 64 + "]" * 64) is not None
    assert load_json('["' + "[" * 1000 + '"]') == ["[" * 1000]


@pytest.mark.parametrize(
    "text",
    [
        "cases:\n" + "".join(" " * (i + 2) + "- \n" for i in range(3_000)),  # 6 KB nested block: 25 s, RecursionError
        "cases: " + "[" * 3_000 + "]" * 3_000,
        "a: " + "{b: " * 100_000,
        "- " * 100_000,
    ],
)
def test_yaml_nested_too_deep_is_refused_before_composing(text):
    problem = _quickly(load_yaml, text)
    assert isinstance(problem, TooDeep) and "nest more than 64 levels" in str(problem)


@pytest.mark.parametrize(
    ("load", "text", "line"),
    [
        (load_json, '{"turns_ago":\n' + DIGITS + "}", 2),
        (load_json, "[-" + DIGITS + "]", 1),
        (load_yaml, "a: 1\nturns_ago: " + DIGITS, 2),
        (load_yaml, "a: 1\nb: 0o" + "7" * 5_000, 2),  # YAML 1.2's octal, as long as Python refuses
    ],
)
def test_a_number_python_cannot_read_is_refused_with_its_line(load, text, line):
    problem = _quickly(load, text)
    assert isinstance(problem, TooLong) and problem.line == line
    assert "a number of more than 4,300 digits" in str(problem)


def test_yaml_scalars_python_cannot_build_are_refused_with_their_line():
    assert str(_refused(load_yaml, "a: 1\nb: 0x_\n")) == "line 2: '0x_' is not a number"
    assert str(_refused(load_yaml, "a: 1\n\nb: 2001-02-30\n")) == "line 3: '2001-02-30' is not a date"


def test_a_billion_laughs_is_refused_at_the_first_alias():
    laughs = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    laughs += "".join(f"{b}: &{b} [{', '.join([f'*{a}'] * 9)}]\n" for a, b in zip("abcdefgh", "bcdefghi", strict=True))
    problem = _quickly(load_yaml, laughs, 1.0)
    assert str(problem) == "line 2: YAML aliases (*name) are not accepted: write the value out"


def test_too_many_values_are_refused_before_any_object_is_built():
    problem = _quickly(load_yaml, "cases: [" + "a," * 2_500_000 + "]")
    assert isinstance(problem, TooLong) and f"more than {documents.MAX_NODES:,} values" in str(problem)


def test_a_text_over_the_size_limit_is_refused_without_reading_it():
    for load in (load_json, load_yaml):
        problem = _quickly(load, " " * (documents.MAX_CHARS + 1), 1.0)
        assert isinstance(problem, TooLong) and "at most 5,242,880" in str(problem)


def test_a_line_of_a_megabyte_is_read_quickly():
    start = time.monotonic()
    assert load_yaml("a: " + "x" * 1_000_000) == {"a": "x" * 1_000_000}
    assert load_json('{"a": "' + "x" * 1_000_000 + '"}') == {"a": "x" * 1_000_000}
    assert time.monotonic() - start < 5


def test_an_unclosed_string_of_escaped_quotes_is_refused_in_linear_time():
    problem = _quickly(load_json, '"' + '\\"' * 2_000_000)
    assert isinstance(problem, NotWellFormed) and problem.line == 1


@pytest.mark.parametrize(
    ("load", "text", "line", "column"),
    [
        (load_json, '{"a": 1,\n "b": }', 2, 7),
        (load_yaml, "cases:\n  - question: [unclosed\n", 3, 1),
        (load_yaml, "a: b\n\tc: d\n", 2, 1),
    ],
)
def test_a_parse_error_names_its_line_and_column(load, text, line, column):
    problem = _refused(load, text)
    assert isinstance(problem, NotWellFormed) and (problem.line, problem.column) == (line, column)
    assert str(problem).startswith(f"line {line}: ")


def test_bytes_that_are_not_utf8_are_named_with_their_line():
    problem = _refused(load_json, b'{"a":\n"caf\xe9"}')
    assert isinstance(problem, NotWellFormed) and str(problem) == "line 2: not UTF-8 text (byte 10)"


def test_mappings_carry_their_line_when_asked():
    data = load_yaml("name: x\ncases:\n  - question: a\n  - question: b\n", note_lines=True)
    assert [c[LINE] for c in data["cases"]] == [3, 4] and data[LINE] == 1
    assert LINE not in load_yaml("a: {b: 1}")["a"]


def test_what_json_cannot_hold_is_named():
    assert documents.dump_json({"a": [1, "b"]}) == '{"a": [1, "b"]}'
    for value in (load_yaml("d: 2020-01-01")["d"], {1, 2}, b"x", float("nan")):
        with pytest.raises(DocumentError, match="not a JSON value"):
            documents.dump_json(value)


def test_yaml_is_yaml_1_2_so_base_60_is_text_read_at_once():
    """YAML 1.1's base 60 (`1:1:1…`, quadratic to add up) is gone in YAML 1.2, which js-yaml reads: text."""
    text = "b: 1" + ":1" * 10_000
    start = time.monotonic()
    assert load_yaml(text) == {"b": text[3:]}
    assert time.monotonic() - start < 5  # generous: YAML 1.1's reading took minutes
