"""Every check type, each passing and failing on a real answer, and the line form the editor writes."""

from __future__ import annotations

import pytest

from lib.analysis.experiments import kinds, patterns
from lib.analysis.experiments.cases import (
    Check,
    InvalidTestSet,
    check_from_dict,
    check_from_line,
    check_to_dict,
    checks_from_text,
    checks_to_text,
    kind_of,
)
from lib.analysis.experiments.checks import (
    CUT_BY_FILTER,
    CUT_BY_LENGTH,
    MAX_JSON_DEPTH,
    TOOL_AFTER_TEXT,
    TOOL_NO_TEXT,
    Verdict,
    evaluate,
    finish_note,
    json_in,
    overall,
    score,
)


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
        ("levenshtein: hello", "unknown check type 'levenshtein'"),
        ("contains(0.5): hello", "contains takes no threshold"),
        ("similar(2): hello", "similar's threshold must be from 0 to 1"),
        ('is-json: {"patternProperties": {"a+": {}}}', "patternProperties is not checked here"),
        ('is-json: {"type": 5}', "is-json's schema is not a valid JSON Schema"),
        ("is-json: [1]", "is-json's value must be a JSON Schema"),
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


# --- bounded: no answer, and no check anyone wrote, makes a check hang or raise -----------------------


def test_a_regex_that_backtracks_for_ever_is_that_cells_error_named(monkeypatch):
    monkeypatch.setattr(patterns, "MATCH_TIMEOUT_S", 0.5)
    verdicts = score(checks_from_text("contains: a\nregex: (?=.)^(.+)+QQQ$"), "a" * 40)
    assert verdicts[0].passed is True
    assert verdicts[1].passed is None and "ran longer than 0.5 s on this answer and was stopped" in verdicts[1].detail
    assert overall(verdicts) == "error"
    patterns.shutdown()


def test_the_testers_pattern_gets_a_verdict_not_a_freeze():
    check = check_from_line("regex: ^(.+)+QQQ$")
    assert evaluate(check, "a" * 50_000) == Verdict("regex: ^(.+)+QQQ$", False, "no match")
    assert evaluate(check, "abcQQQ").passed is True
    patterns.shutdown()


@pytest.mark.timeout(120)
@pytest.mark.parametrize("line", ["is-json", "json-field: a = 1"])
def test_an_opened_fence_then_spaces_is_read_in_linear_time(line):
    """The fence's regex took 85.6 s at 4,004 characters (cubic); 200 KB is now a plain pass over it."""
    answer = "```json" + " \n" * 100_000 + "x"
    result = evaluate(check_from_line(line), answer)
    assert result.passed is False and result.detail.startswith("not valid JSON (Expecting value")


@pytest.mark.parametrize(
    ("answer", "value"),
    [
        ('```json\n{"a": 1}\n```', {"a": 1}),
        ('```JSON {"a": 1} ```', {"a": 1}),
        ("```\n[1]\n```", [1]),
        ("``````", None),  # an empty fence: nothing to read
        ('```json{"a": "```"}```', {"a": "```"}),
    ],
)
def test_a_fence_around_the_whole_answer_is_taken_off(answer, value):
    data, problem = json_in(answer)
    assert data == value and (problem is None) is (value is not None)


@pytest.mark.parametrize(
    ("answer", "detail"),
    [
        ("1" * 6_000, "not valid JSON here: a number of 6,000 digits (at most 4,300 are read)"),
        ('{"n": -' + "9" * 5_000 + "}", "not valid JSON here: a number of 5,000 digits (at most 4,300 are read)"),
        ("[" * 100_000, f"not valid JSON here: nested deeper than {MAX_JSON_DEPTH} levels"),
        ("[" * 5_000 + "]" * 5_000, f"not valid JSON here: nested deeper than {MAX_JSON_DEPTH} levels"),
        ('{"a": ' * 101 + "1" + "}" * 101, f"not valid JSON here: nested deeper than {MAX_JSON_DEPTH} levels"),
    ],
)
@pytest.mark.parametrize("line", ["is-json", "json-field: a = 1"])
def test_an_answer_beyond_the_parsers_bounds_is_a_named_verdict(line, answer, detail):
    assert evaluate(check_from_line(line), answer) == Verdict(line, False, detail)


def test_brackets_inside_strings_do_not_count_as_depth():
    answer = '{"a": "' + "[{" * 1_000 + '\\"]"}'
    assert json_in(answer) == ({"a": "[{" * 1_000 + '"]'}, None)  # an escaped quote does not end the string
    assert json_in('{"a": ' * MAX_JSON_DEPTH + "1" + "}" * MAX_JSON_DEPTH)[1] is None  # the limit itself is read


def test_a_check_that_fails_to_decide_is_a_verdict_not_an_exception():
    """The expected value is the test set's (a file anyone wrote): nested too deep to compare, it is this
    check's error, named; the answer's other checks are still decided."""
    deep = Check("json-field", value="[" * 100_000 + "]" * 100_000, field="a")
    verdicts = score((Check("contains", "a"), deep), '{"a": 1}')
    assert verdicts[0].passed is True
    assert verdicts[1].passed is None and verdicts[1].detail.startswith("the check could not be decided: Recursion")
    assert overall(verdicts) == "error"


@pytest.mark.parametrize(
    ("finish", "text", "note"),
    [
        ("stop", "Porto", None),
        (None, "Porto", None),
        ("length", "Por", CUT_BY_LENGTH),
        ("content_filter", "", CUT_BY_FILTER),
        ("tool_calls", "", TOOL_NO_TEXT),
        ("tool_calls", "Let me look.", TOOL_AFTER_TEXT),
        ("function_call", " ", TOOL_NO_TEXT),
    ],
)
def test_a_reply_that_is_not_an_ordinary_answer_has_a_note(finish, text, note):
    assert finish_note(finish, text) == note


def test_a_cell_waits_for_one_regex_time_limit_at_most(monkeypatch):
    monkeypatch.setattr(patterns, "MATCH_TIMEOUT_S", 0.5)
    forever = "regex: (?=.)^(.+)+QQQ$"
    verdicts = score(checks_from_text(f"regex: ^a\n{forever}\n{forever}\nregex: (?=a)a\ncontains: a"), "a" * 40)
    assert [v.passed for v in verdicts] == [True, None, None, None, True]
    assert verdicts[1].detail.startswith("the regex ran longer than 0.5 s")
    assert [v.detail for v in verdicts[2:4]] == ["not run: a regex before it ran out of time on this answer"] * 2
    patterns.shutdown()


# --- the kinds are one table: reading, writing and scoring are lookups in it ---------------------------


def test_a_kind_is_one_class_in_the_table_and_every_reader_and_scorer_finds_it(monkeypatch):
    """No ladder of `if kind ==` is left: a kind added to the table alone is read from a line and a dict,
    written back both ways, labelled and scored."""

    class EndsWith(kinds.CheckType):
        name, label, foldable = "ends-with", "ends with", True

        def decide(self, check, answer):
            ends = kinds._fold(answer, check).rstrip().endswith(kinds._fold(check.value, check))
            return ends, "it does" if ends else "it does not"

    monkeypatch.setitem(kinds.KINDS, "ends-with", EndsWith())
    check = check_from_line("iends-with: PORTO.")
    assert check == Check("ends-with", "PORTO.", ignore_case=True)
    assert check.describe() == "iends-with: PORTO."
    assert check_from_dict(check_to_dict(check)) == check
    assert evaluate(check, ANSWER) == Verdict("iends-with: PORTO.", True, "it does")
    assert check.spec.label == "ends with"


def test_every_kind_in_the_table_reads_back_what_it_writes():
    examples = {
        "contains": "contains: a",
        "contains-all": "icontains-all: a | b",
        "contains-any": "contains-any: a",
        "not-contains": "not-icontains: a",
        "regex": "regex: a+",
        "equals": "iequals: a",
        "starts-with": "starts-with: a",
        "is-json": "is-json",
        "json-field": "json-field: a = 1",
        "max-words": "max-words: 3",
        "llm-rubric": "llm-rubric: Says a.",
        "similar": "similar(0.8): a b",
        "calls-tool": "calls-tool: get_weather",
        "is-valid-openai-tools-call": "is-valid-openai-tools-call",
    }
    assert set(examples) == set(kinds.KINDS)
    for line in examples.values():
        check = check_from_line(line)
        assert check.describe() == line and check_from_dict(check_to_dict(check)) == check
        assert kinds.CHECK_LABELS[check.kind] == check.spec.label


def test_a_list_whose_first_text_starts_with_a_bracket_reads_back():
    """`contains-any: [x | y` read back as a broken JSON list: written as JSON it reads back."""
    check = Check("contains-any", values=("[x", "y"))
    assert check_from_line(check.describe()) == check


# --- similar and is-json with a schema (promptfoo's) --------------------------------------------------


def test_similar_passes_at_its_threshold_and_says_it_measured_words():
    check = check_from_line("similar(0.9): Ahoy, world")
    assert check == Check("similar", "Ahoy, world", threshold=0.9) and check.describe() == "similar(0.9): Ahoy, world"
    assert evaluate(check, "ahoy world") == Verdict(
        "similar(0.9): Ahoy, world", True, "word similarity 1.00, at least 0.9 (words, not embeddings)"
    )
    assert evaluate(check, "Ahoy there, matey").passed is False
    assert check_from_line("similar: Ahoy").threshold == 0.75  # promptfoo's default
    assert check_from_dict(check_to_dict(check)) == check


SCHEMA = '{"type": "object", "required": ["color"], "properties": {"color": {"type": "string", "pattern": "^[a-z]+$"}}}'


@pytest.mark.parametrize(
    ("answer", "passed", "detail"),
    [
        ('{"color": "yellow"}', True, "valid JSON, matching the schema"),
        ('{"colour": "yellow"}', False, "does not match the schema at the top level: 'color' is a required property"),
        ('{"color": 7}', False, "does not match the schema at color: 7 is not of type 'string'"),
        ('{"color": "Yellow"}', False, "does not match the schema at color: 'Yellow' does not match '^[a-z]+$'"),
        ("nope", False, "not valid JSON (Expecting value at character 0)"),
    ],
)
def test_is_json_with_a_schema_checks_the_answer_against_it(answer, passed, detail):
    check = check_from_line(f"is-json: {SCHEMA}")
    assert check_from_dict(check_to_dict(check)) == check and check_from_line(check.describe()) == check
    assert evaluate(check, answer) == Verdict(check.describe(), passed, detail)
    patterns.shutdown()


def test_a_schema_pattern_that_backtracks_for_ever_is_undecided_not_a_freeze(monkeypatch):
    monkeypatch.setattr(patterns, "MATCH_TIMEOUT_S", 0.5)
    check = check_from_line('is-json: {"properties": {"a": {"pattern": "(?=.)^(.+)+QQQ$"}}}')
    verdict_ = evaluate(check, '{"a": "' + "a" * 40 + '"}')
    assert verdict_.passed is None and "ran longer than 0.5 s" in verdict_.detail
    patterns.shutdown()


def test_a_schema_ref_to_another_document_is_never_fetched():
    check = check_from_line('is-json: {"$ref": "https://example.invalid/schema.json"}')
    verdict_ = evaluate(check, "{}")
    assert verdict_.passed is None and verdict_.detail.startswith("the schema could not be checked")
