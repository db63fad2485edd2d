"""Test sets in and out: CSV, JSONL, YAML and promptfoo's subset; a malformed file is refused whole,
with its line and the reason."""

from __future__ import annotations

import contextlib
import copy
import csv
import io
import json
import time

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lib.analysis.experiments import builtin, formats
from lib.analysis.experiments.cases import Case, Check, Conversation, InvalidTestSet, TestSet, case_to_dict, set_to_dict
from lib.context.conversation import Message
from lib.store.csvtext import starts_formula

SET = TestSet(
    "Mixed",
    (
        Case(
            "a",
            "What is my name?",
            Conversation(
                "inline",
                (Message("user", "I am Ada", id="h0000"), Message("assistant", "Hi Ada", id="h0001")),
                "Be brief.",
            ),
            (Check("contains", "Ada", ignore_case=True), Check("max-words", limit=8)),
            1,
        ),
        Case("b", "=SUM(A1:A2)", Conversation("current"), (Check("llm-rubric", "Refuses politely."),)),
        Case(
            "c",
            "-1 or +1?",
            Conversation("session", session_id="s123"),
            (Check("json-field", '"x"', field="a.b"), Check("contains-any", values=("yes", "no"))),
        ),
        Case(
            "d",
            "Pinned",
            Conversation("inline", (Message("user", "keep me", id="h0000", pinned=True, included=False),)),
        ),
    ),
    "",
)


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


def test_promptfoo_csv_with_expected_columns():
    text = "question,__expected,__expected2,__description\n"
    text += "Capital of France?,icontains: paris,grade: names the capital,geo\n"
    text += "Two plus two?,4,,maths\n"
    first, second = formats.read_csv(text).cases
    # promptfoo keeps what follows the colon as it is: ` paris`, with its space (its assertionFromString).
    assert [c.describe() for c in first.checks] == ["icontains:  paris", "llm-rubric:  names the capital"]
    assert first.description == "geo"
    assert second.checks == (Check("equals", "4"),)  # a plain expected value is an equality


def test_jsonl_lines_are_case_dicts():
    line = json.loads(formats.to_jsonl(SET).splitlines()[0])
    assert line == {
        "id": "a",
        "question": "What is my name?",
        "conversation": {
            "source": "inline",
            "system": "Be brief.",
            "messages": [{"role": "user", "content": "I am Ada"}, {"role": "assistant", "content": "Hi Ada"}],
        },
        "checks": [{"type": "icontains", "value": "Ada"}, {"type": "max-words", "value": 8}],
        "turns_ago": 1,
    }


# --- hostile files: each one a named refusal with its line, never a traceback (issue 23) -----------

DIGITS = "9" * 5_001
# As many cases as the run's Hypothesis profile says (tests/conftest.py: 50 in `make test-fast`, 200 in
# `make test`); it was 300 in every run. Each fix these properties guard was found again at 50 (issue 27).
CASES = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
HOSTILE = [
    # What testers met: a traceback with the server's paths, or minutes of one busy core first.
    ("s.yaml", f"cases:\n  - question: a\n    turns_ago: {DIGITS}\n", "line 3: a number of more than 4,300 digits"),
    ("s.jsonl", f'{{"question": "a", "turns_ago": {DIGITS}}}\n', "line 1: a number of more than 4,300 digits"),
    ("s.json", f'{{"cases": [\n{{"question": "a", "turns_ago": {DIGITS}}}]}}', "line 2: a number of more than 4,300"),
    ("s.csv", f"question,turns_ago\na,{DIGITS}\n", "line 2: turns_ago 9999999999999999999999999999999999999999…"),
    ("s.csv", "question,turns_ago\na,²\n", "line 2: turns_ago '²' is not a whole number"),
    ("s.csv", "question,turns_ago\na,٣\n", "line 2: turns_ago '٣' is not a whole number"),
    (
        "p.yaml",
        "defaultTest:\n  assert: 5\ntests:\n  - vars: {question: a}\n",
        "defaultTest (line 2): `assert` must be a list of assertions",
    ),
    (
        "s.yaml",
        "cases:\n" + "".join(" " * (i + 2) + "- \n" for i in range(3_000)),
        "line 65: lists and mappings nest more than 64 levels deep",
    ),
    ("s.json", "[" * 100_000 + "]" * 100_000, "line 1: lists and mappings nest more than 64 levels deep"),
    # What the fuzzing below found, or reading the code did.
    ("s.csv", "question,checks\na,max-words: ²\n", "line 2: check line 1: max-words needs a whole number of words"),
    ("s.csv", "question,checks\na,contains-all: " + "[" * 100_000 + "\n", "line 2: check line 1: contains-all: the"),
    ("s.csv", "question,checks\na,json-field: x = " + DIGITS + "\n", "line 2: check line 1: json-field's value: a"),
    ("s.csv", 'question,conversation\na,"' + "[" * 100_000 + '"\n', "line 2: the conversation: lists and mappings"),
    ("s.yaml", "cases:\n  - question: a\n    turns_ago: 0x_\n", "line 3: '0x_' is not a number"),
    ("s.yaml", "cases:\n  - question: a\n    turns_ago: 2001-02-30\n", "line 3: '2001-02-30' is not a date"),
    ("s.yaml", "cases:\n  - {question: a, 1: b, c: d}\n", "line 2: unknown field 1"),
    ("p.yaml", "prompts: ['On {{d}}?']\ntests:\n  - vars: {d: 2020-01-01}\n    assert: {a: 1}\n", "test 1 (line 3): `"),
    ("p.yaml", "tests:\n  - vars: {1: 2, 3: 4}\n", "test 1 (line 2): not imported: which var is the question?"),
    ("p.yaml", "tests:\n  - {vars: 5, 1: x, b: y}\n", "test 1 (line 2): vars must be a mapping, not 5"),
    ("p.yaml", "defaultTest: hello\ntests: []\n", "defaultTest (line 1): must be a mapping"),
    ("p.yaml", "defaultTest:\n  vars: [a, 1]\ntests: []\n", "defaultTest (line 2): `vars` must be a mapping"),
    (
        "s.yaml",
        "cases:\n  - question: a\n    checks: [{type: json-field, field: a, value: 2020-01-01}]\n",
        "line 2: check 1: json-field's value is not a JSON value",
    ),
    ("s.yaml", "cases:\n  - question: a\n    turns_ago: 10000001\n", "line 2: `turns_ago` is more than 1,000,000"),
    ("s.yaml", 'a: &a ["lol","lol","lol"]\nb: [*a,*a,*a]\n', "line 2: YAML aliases"),
    ("s.yaml", "cases: [" + "a," * 2_500_000 + "]", "line 1: more than 200,000 values"),
]


@pytest.mark.parametrize(("name", "content", "reason"), HOSTILE, ids=lambda v: v[:30] if isinstance(v, str) else v)
def test_a_hostile_file_is_refused_by_name_and_line_at_once(name, content, reason):
    start = time.monotonic()
    with pytest.raises(InvalidTestSet) as refused:
        formats.read_file(name, content.encode())
    assert reason in str(refused.value)
    assert time.monotonic() - start < 10  # generous: the old code took 25 s to 305 s on some of these


def test_a_worst_case_file_is_refused_or_read_in_seconds():
    """10 MB, a megabyte on one line, 5 MB of brackets: each answered in seconds. (The most values a
    file may hold, 200,000, take 1.5 s to read on a quiet machine; tests/store/test_documents.py)"""
    too_big = b"cases:\n  - question: " + b"x" * 10_000_000
    one_line = ("cases:\n  - question: q\n    description: " + "x" * 1_000_000 + "\n").encode()
    for name, data in (("s.yaml", too_big), ("s.yaml", one_line), ("s.json", b"[" * 5_000_000)):
        start = time.monotonic()
        with pytest.raises(InvalidTestSet):
            formats.read_file(name, data)
        assert time.monotonic() - start < 10, name


def test_a_lone_surrogate_escape_is_kept_as_a_replacement_character():
    (case,) = formats.read_file("s.jsonl", b'{"question": "a\\ud800", "checks": ["contains: b\\udfff"]}\n').cases
    assert case.question == "a\ufffd" and case.checks[0].value == "b\ufffd"
    json.dumps(set_to_dict(TestSet("x", (case,))), ensure_ascii=False).encode("utf-8")  # what the store saves


ODD = [
    None,
    0,
    -1,
    2**70,
    1.5,
    float("nan"),
    True,
    "",
    "²",
    "٣",
    "\ud800",
    "\x00",
    "{{missing}}",
    [],
    [1],
    [[[]]],
    {},
    {"a": 1},
    {1: 2},
    {None: 1},
    "file://x",
    "[",
    "(",
    "*x",
    "x" * 300,
]
odd_values = st.recursive(
    st.sampled_from(ODD) | st.dates(),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.sampled_from(["type", "value", 1, None, "role"]), inner, max_size=3)
    ),
    max_leaves=6,
)
SAMPLES = [yaml.safe_load(PROMPTFOO), {"cases": [case_to_dict(c) for c in SET.cases]}]


def _paths(node, prefix=()):
    yield prefix
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, value in items:
        yield from _paths(value, (*prefix, key))


def _with(node, path, value):
    node = copy.deepcopy(node)
    if not path:
        return value
    parent = node
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = value
    return node


@CASES
@given(st.data())
def test_any_value_at_any_key_is_read_or_refused_by_name(data):
    """An odd value (a number, a list, a date, nothing, a mapping with odd keys) put anywhere in a real
    file: the file is read (and what is read can be stored and exported) or refused with InvalidTestSet."""
    sample = data.draw(st.sampled_from(SAMPLES))
    path = data.draw(st.sampled_from(list(_paths(sample))))
    document = _with(sample, path, data.draw(odd_values))
    text = yaml.safe_dump(document, allow_unicode=True)
    for name, content in (("f.yaml", text), ("f.json", json.dumps(document, default=str))):
        try:
            read = formats.read_file(name, content.encode("utf-8", "surrogatepass"))
        except InvalidTestSet:
            continue
        json.dumps(set_to_dict(read), ensure_ascii=False).encode("utf-8")
        for write, _ in formats.EXPORTERS.values():
            formats.read_file(
                "x.yaml" if write is formats.to_yaml else "x.csv" if write is formats.to_csv else "x.jsonl",
                write(read).encode(),
            )


@CASES
@given(
    st.sampled_from(["question", "conversation", "checks", "turns_ago", "history", "system", "__expected"]),
    st.lists(
        st.sampled_from(
            [
                "²",
                "9" * 5_000,
                "[",
                "{",
                "]",
                "current",
                "session:",
                "user:",
                "contains-all:",
                "json-field: a =",
                "max-words:",
                "regex:",
                " ",
                "\n",
                "\ud800",
                "'=",
                "2020-01-01",
                '"',
                ",",
                "0x_",
                "-1",
                "1e999",
            ]
        ),
        max_size=6,
    ).map("".join),
)
def test_any_csv_cell_is_read_or_refused_by_name(column, cell):
    out = io.StringIO()
    header, row = (["question", column], ["q", cell]) if column != "question" else ([column], [cell])
    csv.writer(out).writerows([header, row])
    with contextlib.suppress(InvalidTestSet):  # refused by name is fine; anything else fails the test
        formats.read_file("f.csv", out.getvalue().encode("utf-8", "surrogatepass"))
