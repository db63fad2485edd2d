"""Test sets in and out: CSV, JSONL, YAML and promptfoo's subset; a malformed file is refused whole,
with its line and the reason."""

from __future__ import annotations

import csv
import io
import json

import pytest

from lib.analysis.experiments import builtin, formats
from lib.analysis.experiments.cases import Case, Check, Conversation, InvalidTestSet, TestSet
from lib.context.conversation import Message
from lib.store.csvtext import starts_formula

SET = TestSet(
    "Mixed",
    (
        Case("a", "What is my name?", Conversation("inline", (Message("user", "I am Ada", id="h0000"),
                                                              Message("assistant", "Hi Ada", id="h0001")), "Be brief."),
             (Check("contains", "Ada", ignore_case=True), Check("max-words", limit=8)), 1),
        Case("b", "=SUM(A1:A2)", Conversation("current"), (Check("llm-rubric", "Refuses politely."),)),
        Case("c", "-1 or +1?", Conversation("session", session_id="s123"),
             (Check("json-field", '"x"', field="a.b"), Check("contains-any", values=("yes", "no")))),
        Case("d", "Pinned", Conversation("inline", (Message("user", "keep me", id="h0000", pinned=True,
                                                            included=False),))),
    ),
    "",
)  # fmt: skip


@pytest.mark.parametrize("kind", ["csv", "jsonl", "yaml"])
def test_every_format_reads_back_what_it_writes(kind):
    write, _ = formats.EXPORTERS[kind]
    back = formats.read_file(f"mixed.{kind}", write(SET).encode())
    assert back.cases == SET.cases


def test_the_built_in_set_survives_yaml_with_its_name_and_description():
    built_in = builtin.test_set()
    assert formats.read_yaml(formats.to_yaml(built_in)) == built_in


def test_csv_cells_a_spreadsheet_would_run_are_quoted_and_read_back():
    text = formats.to_csv(SET)
    rows = list(csv.DictReader(io.StringIO(text)))
    assert rows[1]["question"] == "'=SUM(A1:A2)"
    assert rows[2]["question"] == "'-1 or +1?"
    assert not [v for row in rows for v in row.values() if starts_formula(v)]
    assert formats.read_csv(text).case("b").question == "=SUM(A1:A2)"


def test_formula_starts_are_all_neutralised():
    for start in ("=", "+", "-", "@", "\t", "\r", "\n", " =", "\uff1d"):
        assert formats.neutralised(f"{start}cmd") == f"'{start}cmd"
    assert formats.neutralised("plain") == "plain" and formats.neutralised(3) == 3


def test_a_friendly_csv_with_a_history_column():
    text = (
        'question,history,system,checks\n"What is my name?","user: I am Ada\nassistant: Hi",Be brief,icontains: ada\n'
    )
    case = formats.read_csv(text).cases[0]
    assert [m.content for m in case.conversation.messages] == ["I am Ada", "Hi"]
    assert case.conversation.system == "Be brief" and case.id == "case-1"
    assert case.checks == (Check("contains", "ada", ignore_case=True),)


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("s.jsonl", '{"question": "a"}\n{"question": "b", "checks": [{"type": "nope"}]}\n', "line 2: check 1: unknown"),
        ("s.jsonl", '{"question": "a"}\n\n{"question": \n', "line 3: not valid JSON"),
        ("s.jsonl", '{"question": "a", "colour": "red"}\n', "line 1: unknown field 'colour'"),
        ("s.jsonl", '{"id": "x", "question": "a"}\n{"id": "x", "question": "b"}\n', "case id 'x' is used twice"),
        ("s.csv", "question,checks\nhello,contains: a\nbye,regex: (\n", "line 3: check line 1: the regex"),
        ("s.csv", "prompt,checks\nhello,x\n", "line 1: no `question` column"),
        ("s.csv", "question,colour\nhello,red\n", "line 1: unknown column 'colour'"),
        ("s.csv", 'question,conversation\nhello,"{broken"\n', "line 2: the conversation is not"),
        ("s.csv", "question,turns_ago\nhello,three\n", "line 2: turns_ago 'three'"),
        (
            "s.yaml",
            "cases:\n  - question: a\n  - question: b\n    checks:\n      - type: max-words\n        value: x\n",
            "line 3: check 1: max-words needs a whole number",
        ),
        ("s.yaml", "cases:\n  - question: [unclosed\n", "line 3: not valid YAML"),
        ("s.yaml", "a: &x [1]\nb: *x\n", "line 2: YAML aliases"),
        ("s.yaml", "just text\n", "line 1: expected `cases:`"),
        ("s.yaml", "cases:\n  - question: a\n    conversation:\n      source: web\n", "line 2: conversation source"),
        ("s.yaml", "cases: []\n", "the file holds no cases"),
        ("s.txt", "question\n", "not a file this page reads"),
        ("s.jsonl", b'{"question": "caf\xe9"}', "line 1: not UTF-8"),
    ],
)
def test_a_malformed_file_is_refused_whole_with_its_line_and_reason(name, content, reason):
    data = content if isinstance(content, bytes) else content.encode()
    with pytest.raises(InvalidTestSet) as refused:
        formats.read_file(name, data)
    assert reason in str(refused.value)


def test_a_file_over_the_limit_is_refused():
    with pytest.raises(InvalidTestSet, match="at most 5 MB"):
        formats.read_file("big.jsonl", b" " * (formats.MAX_BYTES + 1))


PROMPTFOO = """
description: Geography
prompts:
  - "Answer briefly: {{question}}"
defaultTest:
  assert:
    - type: not-icontains
      value: as an ai
tests:
  - description: capital
    vars:
      question: What is the capital of France?
    assert:
      - type: icontains
        value: paris
      - type: contains-any
        value: [Paris, PARIS]
      - type: regex
        value: "^[A-Z]"
      - type: llm-rubric
        value: Names {{question}} correctly
  - vars:
      question: Give JSON
    assert:
      - type: is-json
      - type: equals
        value: "{}"
      - type: not-contains
        value: error
      - type: contains
        value: "{"
"""


def test_promptfoo_tests_become_cases():
    imported = formats.read_file("promptfooconfig.yaml", PROMPTFOO.encode())
    first, second = imported.cases
    assert first.question == "Answer briefly: What is the capital of France?"
    assert first.description == "capital" and first.conversation.source == "current"
    assert [c.describe() for c in first.checks] == [
        "not-icontains: as an ai",
        "icontains: paris",
        "contains-any: Paris | PARIS",
        "regex: ^[A-Z]",
        "llm-rubric: Names What is the capital of France? correctly",
    ]
    assert [c.kind for c in second.checks] == ["not-contains", "is-json", "equals", "not-contains", "contains"]


def test_a_bare_list_of_promptfoo_tests_uses_the_question_var():
    text = "- vars: {query: Hi there}\n  assert: [{type: icontains, value: hello}]\n"
    case = formats.read_yaml(text).cases[0]
    assert case.question == "Hi there" and case.checks == (Check("contains", "hello", ignore_case=True),)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (
            "tests:\n  - vars: {question: a}\n    assert:\n      - type: similar\n        value: b\n",
            "line 4: assert type 'similar' is not in the supported subset",
        ),
        (
            "tests:\n  - vars: {question: a}\n    assert:\n      - type: contains\n        value: b\n"
            "        weight: 2\n",
            "line 4: assert field 'weight' is beyond the supported subset",
        ),
        ("tests:\n  - vars: {a: x, b: y}\n", "line 2: which var is the question?"),
        ("prompts: [one, two]\ntests: []\n", "line 1: 2 prompts"),
        ("prompts: ['Q: {{missing}}']\ntests:\n  - vars: {question: a}\n", "line 3: the prompt uses {{missing}}"),
        ("tests:\n  - vars: {question: a}\n    options: {x: 1}\n", "line 2: test field 'options' is beyond"),
        ("tests: file://tests.yaml\n", "line 1: `tests` must be a list"),
        ("prompts: ['file://p.txt']\ntests: []\n", "line 1: the prompt must be written in the file"),
    ],
)
def test_promptfoo_beyond_the_subset_is_refused_by_line(text, reason):
    with pytest.raises(InvalidTestSet) as refused:
        formats.read_yaml(text)
    assert reason in str(refused.value)


def test_promptfoo_csv_with_expected_columns():
    text = "question,__expected,__expected2,__description\n"
    text += "Capital of France?,icontains: paris,grade: names the capital,geo\n"
    text += "Two plus two?,4,,maths\n"
    first, second = formats.read_csv(text).cases
    assert [c.describe() for c in first.checks] == ["icontains: paris", "llm-rubric: names the capital"]
    assert first.description == "geo"
    assert second.checks == (Check("equals", "4"),)  # a plain expected value is an equality


def test_promptfoo_csv_with_an_unsupported_type_is_refused():
    with pytest.raises(InvalidTestSet, match="line 2: assert type 'levenshtein'"):
        formats.read_csv("question,__expected\nhi,levenshtein: hello\n")


def test_jsonl_lines_are_case_dicts():
    line = json.loads(formats.to_jsonl(SET).splitlines()[0])
    assert line == {
        "id": "a",
        "question": "What is my name?",
        "conversation": {"source": "inline", "system": "Be brief.",
                         "messages": [{"role": "user", "content": "I am Ada"},
                                      {"role": "assistant", "content": "Hi Ada"}]},
        "checks": [{"type": "icontains", "value": "Ada"}, {"type": "max-words", "value": 8}],
        "turns_ago": 1,
    }  # fmt: skip
