"""Every check type, each passing and failing on a real answer, and the line form the editor writes."""

from __future__ import annotations

import pytest

from lib.analysis.experiments.cases import (
    Check,
    InvalidTestSet,
    check_from_line,
    checks_from_text,
    checks_to_text,
    kind_of,
)
from lib.analysis.experiments.checks import Verdict, evaluate, overall, score


def verdict(line: str, answer: str) -> bool | None:
    return evaluate(check_from_line(line), answer).passed


ANSWER = "Your name is Marisol, and you live in Porto."


@pytest.mark.parametrize(
    ("line", "answer", "expected"),
    [
        ("contains: Marisol", ANSWER, True),
        ("contains: marisol", ANSWER, False),  # case matters unless asked not to
        ("icontains: marisol", ANSWER, True),
        ("contains-all: Marisol | Porto", ANSWER, True),
        ("contains-all: Marisol | Lisbon", ANSWER, False),
        ("icontains-all: marisol | porto", ANSWER, True),
        ("contains-any: Lisbon | Porto", ANSWER, True),
        ("contains-any: Lisbon | Madrid", ANSWER, False),
        ("icontains-any: LISBON | PORTO", ANSWER, True),
        ("not-contains: sorry", ANSWER, True),
        ("not-contains: Porto", ANSWER, False),
        ("not-icontains: porto", ANSWER, False),
        ("regex: \\bPor+to\\b", ANSWER, True),
        ("regex: ^\\d{4}$", ANSWER, False),
    ],
)
def test_text_checks_pass_and_fail(line, answer, expected):
    assert verdict(line, answer) is expected


@pytest.mark.parametrize(
    ("line", "answer", "expected"),
    [
        ("equals: 42", " 42\n", True),  # surrounding spaces aside
        ("equals: 42", "42.", False),
        ("iequals: Yes", "yes", True),
        ("starts-with: Yes", "  Yes, it is.", True),
        ("starts-with: Yes", "No. Yes.", False),
        ("istarts-with: yes", "YES!", True),
        ("max-words: 3", "one two three", True),
        ("max-words: 3", "one two three four", False),
        ("max-words: 0", "", True),
    ],
)
def test_equals_starts_with_and_word_limits(line, answer, expected):
    assert verdict(line, answer) is expected


@pytest.mark.parametrize(
    ("line", "answer", "expected"),
    [
        ("is-json", '{"a": 1}', True),
        ("is-json", '```json\n{"a": 1}\n```', True),  # a fenced block is JSON too
        ("is-json", "{'a': 1}", False),
        ("is-json", 'Sure! {"a": 1}', False),
        ('json-field: user.name = "Ada"', '{"user": {"name": "Ada"}}', True),
        ('json-field: user.name = "Ada"', '{"user": {"name": "Bob"}}', False),
        ('json-field: user.name = "Ada"', '{"user": {}}', False),
        ("json-field: items.1 = 2", '{"items": [1, 2]}', True),
        ("json-field: items.5 = 2", '{"items": [1, 2]}', False),
        ("json-field: n = 1", '{"n": 1.0}', True),  # any two equal numbers
        ("json-field: n = 1", '{"n": true}', False),  # true is not 1
        ('json-field: n = "1"', '{"n": 1}', False),  # "1" is not 1
        ("json-field: ok = true", '{"ok": true}', True),
        ("json-field: a = 1", "not json", False),
    ],
)
def test_json_checks(line, answer, expected):
    assert verdict(line, answer) is expected


def test_each_verdict_says_why():
    assert evaluate(check_from_line("contains: Lisbon"), ANSWER).detail == "'Lisbon' is not in the answer"
    assert evaluate(check_from_line("contains-all: Marisol | Lisbon | Rome"), ANSWER).detail == (
        "missing: 'Lisbon', 'Rome'"
    )
    assert evaluate(check_from_line("max-words: 3"), ANSWER).detail == "9 words"
    assert evaluate(check_from_line("is-json"), "nope").detail.startswith("not valid JSON (Expecting value")
    assert evaluate(check_from_line("regex: P\\w+"), ANSWER).detail == "matched 'Porto'"


def test_the_judge_is_not_decided_by_the_rules():
    checks = checks_from_text("icontains: porto\nllm-rubric: The answer names a city.")
    verdicts = score(checks, ANSWER)
    assert [v.check for v in verdicts] == ["icontains: porto"]  # the rubric waits for the judge


def test_a_cell_passes_only_when_every_check_passes():
    ok, bad = Verdict("a", True, ""), Verdict("b", False, "")
    undecided = Verdict("judge", None, "the judge failed", judge=True)
    assert overall([ok, ok]) == "pass"
    assert overall([ok, bad, undecided]) == "fail"
    assert overall([ok, undecided]) == "error"
    assert overall([]) == "answered"


def test_the_line_form_reads_back_what_it_writes():
    text = "\n".join(
        [
            "icontains: Marisol",
            "contains-all: Ada | Porto",
            'contains-any: ["a|b", "c"]',
            "not-icontains: sorry",
            "regex: \\d{4}",
            "iequals: yes",
            "istarts-with: Yes",
            "is-json",
            'json-field: user.name = "Ada"',
            "max-words: 12",
            "llm-rubric: The answer names the city.",
        ]
    )
    checks = checks_from_text(text)
    assert checks_to_text(checks) == text
    assert checks[2] == Check("contains-any", values=("a|b", "c"))


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("similar: hello", "unknown check type 'similar'"),
        ("iregex: ada", "unknown check type 'iregex'"),  # never a silently case-folded regex
        ("regex: (", "the regex '(' does not compile"),
        ("max-words: many", "max-words needs a whole number"),
        ("json-field: user.name", "json-field needs `path = value`"),
        ("contains: ", "contains's value is empty"),
        ("contains-all:", "contains-all needs a non-empty list"),
    ],
)
def test_a_bad_check_is_refused_with_its_reason(line, reason):
    with pytest.raises(InvalidTestSet, match=reason.replace("(", r"\(").replace("[", r"\[")):
        check_from_line(line)


def test_a_bad_line_is_named_by_its_number():
    with pytest.raises(InvalidTestSet, match="check line 2: unknown check type 'nope'"):
        checks_from_text("contains: a\nnope: b")


def test_promptfoo_type_names_map_to_kinds():
    assert kind_of("icontains") == ("contains", True)
    assert kind_of("not-icontains") == ("not-contains", True)
    assert kind_of("icontains-any") == ("contains-any", True)
    assert kind_of("is_json") == ("is-json", False)
    assert kind_of("LLM-RUBRIC") == ("llm-rubric", False)
