"""Test sets in and out: CSV, JSONL and YAML, and the common subset of promptfoo's test format.

Every reader turns its rows into the dicts `lib.analysis.experiments.cases` reads, so a case is checked the
same way whatever file it came from. A file is taken whole or not at all: the first problem refuses
it, with its line and the reason. A spreadsheet cell that could start a formula is written with a leading
quote, so opening the export runs no formula; reading drops exactly that quote (lib/store/csvtext.py).

promptfoo (https://promptfoo.dev/docs/configuration/test-cases): `tests:` (or a bare list of tests),
each with `vars` and `assert`; the question is the one prompt with its {{vars}} filled in, or the var
named question, query, prompt or input, or the only var. Assertion types taken: contains, icontains,
not-contains, not-icontains, contains-all/any (and their i- forms), starts-with, regex, equals, is-json,
llm-rubric; `defaultTest.assert` applies to every test. promptfoo's CSV form (`__expected` columns,
`__description`) is read too. Anything else is named and refused, not skipped.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from typing import Any

import yaml

from lib.analysis.experiments.cases import (
    Case,
    InvalidTestSet,
    TestSet,
    case_from_dict,
    case_to_dict,
    check_from_line,
    check_to_dict,
    checks_from_text,
    checks_to_text,
    conversation_to_dict,
    history_from_text,
    test_set,
    whole_number,
)
from lib.core.errors import DocumentError, NotWellFormed
from lib.store import csvtext
from lib.store.documents import LINE, dump_json, load_json, load_yaml

MAX_BYTES = 5 * 1024 * 1024
CSV_COLUMNS = ("id", "question", "conversation", "checks", "turns_ago", "description")
QUESTION_VARS = ("question", "query", "prompt", "input")
PROMPTFOO_ASSERTS = (
    "contains", "icontains", "not-contains", "not-icontains", "contains-all", "contains-any", "icontains-all",
    "icontains-any", "starts-with", "regex", "equals", "is-json", "llm-rubric",
)  # fmt: skip
_TEST_KEYS = {"vars", "assert", "description", "metadata"}
_ASSERT_KEYS = {"type", "value"}
_VAR = re.compile(r"\{\{\s*([A-Za-z_][\w.]*)\s*\}\}")


# --- reading ----------------------------------------------------------------------------------


def text_of(data: bytes) -> str:
    if len(data) > MAX_BYTES:
        raise InvalidTestSet(f"the file is {len(data):,} bytes: at most {MAX_BYTES // 1024 // 1024} MB")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise InvalidTestSet(f"line {line}: not UTF-8 text (byte {exc.start})") from None


def read_file(name: str, data: bytes) -> TestSet:
    """The test set in an uploaded file, by its extension; InvalidTestSet names the line and the reason."""
    stem, _, extension = name.rpartition(".")
    extension = extension.lower()
    text = text_of(data)
    set_name = stem.rsplit("/", 1)[-1] or "Imported set"
    if extension == "csv":
        return read_csv(text, set_name)
    if extension in ("jsonl", "ndjson"):
        return read_jsonl(text, set_name)
    if extension in ("yaml", "yml", "json"):
        return read_yaml(text, set_name, "JSON" if extension == "json" else "YAML")
    raise InvalidTestSet(f"{name!r}: not a file this page reads (.csv, .jsonl, .yaml, .yml or .json)")


def _at(line: int, problem: InvalidTestSet | str) -> InvalidTestSet:
    return InvalidTestSet(f"line {line}: {problem}")


def read_jsonl(text: str, name: str = "Imported set") -> TestSet:
    cases: list[Case] = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            data = load_json(line)
        except NotWellFormed as exc:
            raise _at(number, f"not valid JSON ({exc.problem} at character {exc.column})") from None
        except DocumentError as exc:
            raise _at(number, exc.problem) from None
        try:
            cases.append(case_from_dict(data, f"case-{len(cases) + 1}"))
        except InvalidTestSet as problem:
            raise _at(number, problem) from None
    return _whole(name, cases, "")


def _whole(name: str, cases: list[Case], description: str) -> TestSet:
    if not cases:
        raise InvalidTestSet("the file holds no cases")
    return test_set(name, cases, description)


def unneutralised(cell: str) -> str:
    """A cell as written before `neutralised` quoted it (exactly that quote: lib/store/csvtext.py)."""
    return csvtext.unquoted(cell)


def read_csv(text: str, name: str = "Imported set") -> TestSet:
    try:
        delimiter = csv.Sniffer().sniff(text[:4096], delimiters=",;\t").delimiter if text.strip() else ","
    except csv.Error:
        delimiter = ","
    # Only the delimiter is guessed: the sniffer took the quote that guards a formula (`'=x'`) for the
    # quoting character and dropped it, so an export did not read back. Spreadsheets quote with ".
    reader = csv.DictReader(io.StringIO(text), delimiter=delimiter)
    try:
        header = [h.strip() for h in reader.fieldnames or []]
    except csv.Error as exc:
        raise _at(1, f"not readable as CSV ({exc})") from None
    if any(h.startswith("__expected") for h in header):
        return _read_promptfoo_csv(reader, header, name)
    if "question" not in header:
        raise _at(
            1, f"no `question` column (columns: {', '.join(header) or 'none'}; expected {', '.join(CSV_COLUMNS)})"
        )
    unknown = [h for h in header if h not in (*CSV_COLUMNS, "system", "history")]
    if unknown:
        raise _at(1, f"unknown column {unknown[0]!r} (columns: {', '.join(CSV_COLUMNS)}, system, history)")
    cases: list[Case] = []
    try:
        for line, row in _csv_rows(reader):
            try:
                cases.append(case_from_dict(_csv_case(row), f"case-{len(cases) + 1}"))
            except InvalidTestSet as problem:
                raise _at(line, problem) from None
    except csv.Error as exc:
        raise _at(reader.line_num, f"not readable as CSV ({exc})") from None
    return _whole(name, cases, "")


def _csv_rows(reader: csv.DictReader) -> Iterator[tuple[int, dict[str, str]]]:
    """Each non-blank row with its line number, names stripped and spreadsheet-formula guards undone."""
    for row in reader:
        cleaned = {k.strip(): unneutralised(v or "") for k, v in row.items() if k is not None}
        if any(v.strip() for v in cleaned.values()):
            yield reader.line_num, cleaned


def _csv_case(row: dict[str, str]) -> dict[str, Any]:
    data: dict[str, Any] = {"question": row.get("question", "")}
    if row.get("id", "").strip():
        data["id"] = row["id"].strip()
    data["conversation"] = _csv_conversation(row)
    data["checks"] = [check_to_dict(c) for c in checks_from_text(row.get("checks", ""))]
    if row.get("turns_ago", "").strip():
        data["turns_ago"] = whole_number(row["turns_ago"], "turns_ago")
    if row.get("description", "").strip():
        data["description"] = row["description"]
    return data


def _csv_conversation(row: dict[str, str]) -> dict[str, Any]:
    value = row.get("conversation", "").strip()
    if value == "current":
        return {"source": "current"}
    if value.startswith("session:"):
        return {"source": "session", "session_id": value.removeprefix("session:").strip()}
    if value:
        try:
            data = load_json(value)
        except NotWellFormed as exc:
            raise InvalidTestSet(
                f"the conversation is not `current`, `session:ID` or JSON ({exc.problem} at character {exc.column})"
            ) from None
        except DocumentError as exc:
            raise InvalidTestSet(f"the conversation: {exc.problem}") from None
        return data if isinstance(data, dict) else {"source": "inline", "messages": data}
    conversation: dict[str, Any] = {"source": "inline", "messages": []}
    if row.get("history", "").strip():
        conversation["messages"] = [{"role": m.role, "content": m.content} for m in history_from_text(row["history"])]
    if "system" in row and row["system"] != "":
        conversation["system"] = row["system"]
    return conversation


# --- YAML (and JSON), native or promptfoo -------------------------------------------------------


def _line(data: Any, fallback: int = 1) -> int:
    return data.get(LINE, fallback) if isinstance(data, dict) else fallback


def _plain(data: Any) -> Any:
    """`data` without the line notes."""
    if isinstance(data, dict):
        return {k: _plain(v) for k, v in data.items() if k != LINE}
    if isinstance(data, list):
        return [_plain(v) for v in data]
    return data


def _load_yaml(text: str, language: str = "YAML") -> Any:
    """The document, each mapping with its line; bounded in size, depth and values (lib/store/documents)."""
    try:
        return load_yaml(text, note_lines=True)
    except NotWellFormed as exc:
        raise _at(exc.line or 1, f"not valid {language} ({exc.problem})") from None
    except DocumentError as exc:
        raise _at(exc.line or 1, exc.problem) from None


def _is_promptfoo(data: Any) -> bool:
    if isinstance(data, dict):
        return "tests" in data or "prompts" in data
    return isinstance(data, list) and any(isinstance(t, dict) and ("vars" in t or "assert" in t) for t in data)


def read_yaml(text: str, name: str = "Imported set", language: str = "YAML") -> TestSet:
    data = _load_yaml(text, language)
    if _is_promptfoo(data):
        return read_promptfoo(data, name)
    if isinstance(data, list):
        data = {"cases": data, LINE: 1}
    if not isinstance(data, dict) or not isinstance(data.get("cases"), list):
        raise _at(_line(data), "expected `cases:` (a list of cases), or promptfoo's `tests:`")
    cases: list[Case] = []
    for item in data["cases"]:
        try:
            cases.append(case_from_dict(_plain(item), f"case-{len(cases) + 1}"))
        except InvalidTestSet as problem:
            raise _at(_line(item, _line(data)), problem) from None
    description = str(data.get("description") or "")
    return _whole(str(data.get("name") or name), cases, description)


# --- promptfoo -----------------------------------------------------------------------------------


def _render(template: str, variables: dict[str, Any], line: int) -> str:
    def value(match: re.Match) -> str:
        name = match.group(1)
        if name not in variables:
            raise _at(line, f"the prompt uses {{{{{name}}}}} but the test has no var {name!r}")
        found = variables[name]
        if isinstance(found, str):
            return found
        try:
            return dump_json(found)
        except DocumentError as problem:
            raise _at(line, f"var {name!r} is {problem.problem}") from None

    return _VAR.sub(value, template)


def _prompt_template(config: dict[str, Any]) -> str | None:
    prompts = config.get("prompts")
    if prompts is None:
        return None
    if isinstance(prompts, str):
        prompts = [prompts]
    if not isinstance(prompts, list) or len(prompts) != 1:
        count = len(prompts) if isinstance(prompts, list) else 0
        raise _at(_line(config), f"{count} prompts: a case asks one question, so keep exactly one prompt")
    prompt = prompts[0]
    if isinstance(prompt, dict):
        prompt = prompt.get("raw") if isinstance(prompt.get("raw"), str) else None
    if not isinstance(prompt, str) or prompt.startswith("file://"):
        raise _at(_line(config), "the prompt must be written in the file (a file:// prompt is not read)")
    return prompt


def _question(test: dict[str, Any], template: str | None, line: int) -> str:
    variables = test.get("vars") or {}
    if not isinstance(variables, dict):
        raise _at(line, "`vars` must be a mapping of names to values")
    variables = _plain(variables)
    if template is not None:
        return _render(template, variables, line)
    for name in QUESTION_VARS:
        if isinstance(variables.get(name), str):
            return variables[name]
    texts = [v for v in variables.values() if isinstance(v, str)]
    if len(texts) == 1:
        return texts[0]
    named = ", ".join(map(str, variables)) or "none"
    raise _at(line, f"which var is the question? Name it `question` (or query, prompt, input); vars: {named}")


def _promptfoo_check(assertion: Any, variables: dict[str, Any], line: int) -> dict[str, Any]:
    if not isinstance(assertion, dict):
        raise _at(line, "an assert must be a mapping with `type` and `value`")
    line = _line(assertion, line)
    extra = sorted(set(assertion) - _ASSERT_KEYS - {LINE}, key=str)
    if extra:
        raise _at(line, f"assert field {extra[0]!r} is beyond the supported subset (type, value)")
    kind = str(assertion.get("type", ""))
    if kind not in PROMPTFOO_ASSERTS:
        raise _at(line, f"assert type {kind!r} is not in the supported subset ({', '.join(PROMPTFOO_ASSERTS)})")
    value = _plain(assertion.get("value"))
    if isinstance(value, str):
        value = _render(value, variables, line)
    data: dict[str, Any] = {"type": kind}
    if value is not None:
        data["value"] = value
    return data


def _default_asserts(config: dict[str, Any]) -> list[Any]:
    """`defaultTest.assert`: the checks every test gets. Only that is read, so anything else is refused."""
    default = config.get("defaultTest")
    if default is None:
        return []
    line = _line(default, _line(config))
    if not isinstance(default, dict):
        raise _at(line, "defaultTest must be a mapping with `assert` (the checks every test gets)")
    extra = sorted(set(default) - {"assert", "description", "metadata", LINE}, key=str)
    if extra:
        raise _at(line, f"defaultTest field {extra[0]!r} is beyond the supported subset (assert)")
    asserts = default.get("assert")
    if asserts is None:
        return []
    if not isinstance(asserts, list):
        raise _at(line, "defaultTest.assert must be a list of checks")
    return asserts


def read_promptfoo(data: Any, name: str = "Imported set") -> TestSet:
    config = data if isinstance(data, dict) else {"tests": data, LINE: 1}
    template = _prompt_template(config)
    tests = config.get("tests")
    if not isinstance(tests, list):
        raise _at(_line(config), "`tests` must be a list of tests (a file:// reference is not read)")
    default_asserts = _default_asserts(config)
    cases: list[Case] = []
    for index, test in enumerate(tests):
        line = _line(test, _line(config))
        if not isinstance(test, dict):
            raise _at(line, "a test must be a mapping with `vars` and `assert`")
        extra = sorted(set(test) - _TEST_KEYS - {LINE}, key=str)
        if extra:
            raise _at(line, f"test field {extra[0]!r} is beyond the supported subset (vars, assert, description)")
        question = _question(test, template, line)
        variables = _plain(test.get("vars") or {})
        asserts = test.get("assert") or []
        if not isinstance(asserts, list):
            raise _at(line, "`assert` must be a list")
        checks = [_promptfoo_check(a, variables, line) for a in [*default_asserts, *asserts]]
        case = {"id": f"test-{index + 1}", "question": question, "conversation": {"source": "current"},
                "checks": checks}  # fmt: skip
        if test.get("description"):
            case["description"] = str(test["description"])
        try:
            cases.append(case_from_dict(case, f"test-{index + 1}"))
        except InvalidTestSet as problem:
            raise _at(line, problem) from None
    description = str(config.get("description") or "Imported from a promptfoo test file")
    return _whole(name, cases, description)


def _read_promptfoo_csv(reader: csv.DictReader, header: list[str], name: str) -> TestSet:
    variables = [h for h in header if not h.startswith("__")]
    cases: list[Case] = []
    try:
        for line, row in _csv_rows(reader):
            question = _question({"vars": {v: row.get(v, "") for v in variables}}, None, line)
            checks = []
            for column in [h for h in header if h.startswith("__expected")]:
                expected = row.get(column, "").strip()
                if expected:
                    checks.append(_expected_check(expected, line))
            case = {"id": f"test-{len(cases) + 1}", "question": question, "conversation": {"source": "current"},
                    "checks": checks, "description": row.get("__description", "")}  # fmt: skip
            try:
                cases.append(case_from_dict(case, f"test-{len(cases) + 1}"))
            except InvalidTestSet as problem:
                raise _at(line, problem) from None
    except csv.Error as exc:
        raise _at(reader.line_num, f"not readable as CSV ({exc})") from None
    return _whole(name, cases, "Imported from a promptfoo CSV")


def _expected_check(expected: str, line: int) -> dict[str, Any]:
    """promptfoo's `__expected` cell: `type: value`, `grade: rubric` (the judge), or plain text (equals)."""
    kind, colon, value = expected.partition(":")
    kind = kind.strip()
    if colon and kind == "grade":
        return {"type": "llm-rubric", "value": value.strip()}
    if kind == "is-json" and not value.strip():
        return {"type": "is-json"}
    if colon and kind in PROMPTFOO_ASSERTS:
        try:
            return check_to_dict(check_from_line(expected))
        except InvalidTestSet as problem:
            raise _at(line, problem) from None
    if colon and re.fullmatch(r"[a-z][a-z-]*", kind):
        raise _at(line, f"assert type {kind!r} is not in the supported subset ({', '.join(PROMPTFOO_ASSERTS)})")
    return {"type": "equals", "value": expected}


# --- writing ------------------------------------------------------------------------------------


def neutralised(value: Any) -> Any:
    """A cell a spreadsheet will show, not run (the app's one rule: lib/store/csvtext.py)."""
    return csvtext.quoted(value) if isinstance(value, str) else value


def csv_text(rows: list[dict[str, Any]], columns: list[str] | tuple[str, ...]) -> str:
    """Rows as CSV, every cell neutralised: the app's one CSV writer (lib/store/csvtext.py)."""
    return csvtext.csv_text(rows, columns)


def _csv_row(case: Case) -> dict[str, Any]:
    conversation = case.conversation
    if conversation.source == "current":
        where = "current"
    elif conversation.source == "session":
        where = f"session:{conversation.session_id}"
    else:
        where = json.dumps(conversation_to_dict(conversation), ensure_ascii=False)
    return {
        "id": case.id, "question": case.question, "conversation": where, "checks": checks_to_text(case.checks),
        "turns_ago": "" if case.turns_ago is None else case.turns_ago, "description": case.description,
    }  # fmt: skip


def to_csv(test_set_: TestSet) -> str:
    return csv_text([_csv_row(c) for c in test_set_.cases], CSV_COLUMNS)


def to_jsonl(test_set_: TestSet) -> str:
    return "".join(json.dumps(case_to_dict(c), ensure_ascii=False) + "\n" for c in test_set_.cases)


def to_yaml(test_set_: TestSet) -> str:
    data = {"name": test_set_.name, "description": test_set_.description,
            "cases": [case_to_dict(c) for c in test_set_.cases]}  # fmt: skip
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)


EXPORTERS = {
    "csv": (to_csv, "text/csv"),
    "jsonl": (to_jsonl, "application/jsonl"),
    "yaml": (to_yaml, "application/yaml"),
}
