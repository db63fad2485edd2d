"""Test sets in and out: CSV, JSONL and YAML, promptfoo's configs and CSVs, and OpenAI Evals' samples.

Every reader turns its rows into the dicts `lib.analysis.experiments.cases` reads, so a case is checked the
same way whatever file it came from. A file is taken whole or not at all: the first problem refuses
it, with its line and the reason. A spreadsheet cell that could start a formula is written with a leading
quote, so opening the export runs no formula; reading drops exactly that quote (lib/store/csvtext.py).

An upload is one file, several, or one zip (`read_upload`): a promptfoo config and the files it names
are read together (lib/analysis/experiments/promptfoo.py), and what of them is not kept is the
`Imported.report`. OpenAI Evals' `samples.jsonl` (`{"input": [messages], "ideal": "…" | [...]}` a line)
is a case per line: the messages before the last user message are its conversation, that message its
question, and `ideal` the answer it must contain (one of them, when it is a list: Evals' `Match`/
`Includes` take any ideal answer).
"""

from __future__ import annotations

import csv
import io
import json
import posixpath
import zipfile
from collections.abc import Iterator
from typing import Any

import yaml

from lib.analysis.experiments import promptfoo
from lib.analysis.experiments.cases import (
    TOOL_KEYS,
    Case,
    InvalidTestSet,
    TestSet,
    case_from_dict,
    case_to_dict,
    check_to_dict,
    checks_from_text,
    checks_to_text,
    conversation_to_dict,
    history_from_text,
    test_set,
    tools_from_dict,
    tools_to_dict,
    whole_number,
)
from lib.analysis.experiments.promptfoo import Imported
from lib.context.tools import NO_TOOLS, ToolSettings
from lib.store import csvtext
from lib.store.documents import LINE, DocumentError, NotWellFormed, load_json, load_yaml

MAX_BYTES = 5 * 1024 * 1024
CSV_COLUMNS = ("id", "question", "conversation", "checks", "turns_ago", "description")
# The set's tool definitions, in a CSV (a column) or a JSONL (keys of a line): JSON of `tools`,
# `tool_choice`, `parallel_tool_calls`, written on every row (a sorted spreadsheet keeps them) and
# read back once: every row that fills it must hold the same.
TOOLS_COLUMN = "tools"
MAX_FILES = 200  # in one upload or zip
# What the import takes: test sets, and a promptfoo config's own files (prompts, vars) or a zip of them.
UPLOAD_TYPES = ("csv", "jsonl", "yaml", "yml", "json", "zip", "txt", "md", "j2")


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
    return read_upload([(name, data)]).test_set


def _set_name(path: str) -> str:
    stem = posixpath.basename(path).rpartition(".")[0]
    if stem.lower() in ("promptfooconfig", "samples", "tests") and posixpath.dirname(path):
        stem = posixpath.basename(posixpath.dirname(path))  # the example's folder says more than its file
    return stem or "Imported set"


def unzipped(name: str, data: bytes) -> dict[str, bytes]:
    """A zip's files by path, bounded: at most MAX_FILES files and MAX_BYTES in all, read no further
    than that whatever the zip's headers claim; folders, and macOS's __MACOSX copies, left out."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as exc:
        raise InvalidTestSet(f"{name!r} is not a readable zip ({exc})") from None
    files: dict[str, bytes] = {}
    total = 0
    with archive:
        members = [m for m in archive.infolist() if not m.is_dir() and not m.filename.startswith("__MACOSX/")]
        if len(members) > MAX_FILES:
            raise InvalidTestSet(f"{name!r} holds {len(members):,} files: at most {MAX_FILES} are read")
        for member in members:
            if member.flag_bits & 0x1:
                raise InvalidTestSet(f"{name!r}: {member.filename!r} is encrypted")
            try:
                with archive.open(member) as stream:
                    content = stream.read(MAX_BYTES - total + 1)
            except (zipfile.BadZipFile, RuntimeError, OSError, EOFError, NotImplementedError) as exc:
                raise InvalidTestSet(f"{name!r}: {member.filename!r} cannot be read ({exc})") from None
            total += len(content)
            if total > MAX_BYTES:
                raise InvalidTestSet(f"{name!r} unpacks to more than {MAX_BYTES // 1024 // 1024} MB")
            files[member.filename] = content
    return files


def read_upload(uploads: list[tuple[str, bytes]]) -> Imported:
    """The test set in one uploaded file, or in several (or a zip): a promptfoo config and the files it
    names. InvalidTestSet names the file, the line and the reason; the report says what was not kept."""
    files: dict[str, bytes] = {}
    total = 0
    for name, data in uploads:
        total += len(data)
        if total > MAX_BYTES:
            size = f"{len(data):,} bytes" if len(uploads) == 1 else f"{total:,} bytes or more in all"
            raise InvalidTestSet(f"{name!r} is {size}: at most {MAX_BYTES // 1024 // 1024} MB")
        if name.lower().endswith(".zip"):
            files.update(unzipped(name, data))
        else:
            files[posixpath.basename(name.replace("\\", "/"))] = data
    if len(files) > MAX_FILES:
        raise InvalidTestSet(f"{len(files):,} files: at most {MAX_FILES} are read")
    if not files:
        raise InvalidTestSet("the upload holds no file")
    upload = promptfoo.Upload(files)
    if len(upload.files) == 1:
        return _read_one(upload, next(iter(upload.files)))
    configs = _configs(upload)
    if len(configs) != 1:
        names = ", ".join(configs) if configs else "none"
        raise InvalidTestSet(
            f"{len(upload.files)} files: upload one promptfoo config (promptfooconfig.yaml) with the files it names "
            f"(configs found: {names})"
        )
    return promptfoo.read_config(upload, configs[0], _set_name(configs[0]))


def _configs(upload: promptfoo.Upload) -> list[str]:
    """The promptfoo configs among the uploaded files: promptfooconfig.* if any, else YAML with prompts."""
    named = [p for p in upload.files if posixpath.basename(p).lower() in promptfoo.CONFIG_NAMES]
    if named:
        shallowest = min(p.count("/") for p in named)
        return sorted(p for p in named if p.count("/") == shallowest)
    found = []
    for path in upload.files:
        if path.rsplit(".", 1)[-1].lower() in ("yaml", "yml", "json"):
            try:
                data = load_yaml(upload.text(path))
            except (DocumentError, InvalidTestSet):
                continue
            if isinstance(data, dict) and "prompts" in data:
                found.append(path)
    return sorted(found)


def _read_one(upload: promptfoo.Upload, path: str) -> Imported:
    extension = path.rsplit(".", 1)[-1].lower() if "." in path else ""
    text = text_of(upload.files[path])
    set_name = _set_name(path)
    if extension == "csv":
        if _is_promptfoo_csv(text):
            return promptfoo.read_csv(upload, path, set_name)
        return Imported(read_csv(text, set_name))
    if extension in ("jsonl", "ndjson"):
        return read_jsonl_upload(text, set_name)
    if extension in ("yaml", "yml", "json"):
        data = _load_yaml(text, "JSON" if extension == "json" else "YAML")
        if promptfoo.is_config(data):
            return promptfoo.read_config(upload, path, set_name)
        return Imported(_native_yaml(data, set_name))
    raise InvalidTestSet(
        f"{path!r}: not a file this page reads (.csv, .jsonl, .yaml, .yml, .json, or a .zip of a promptfoo config "
        "and its files)"
    )


def _at(line: int, problem: InvalidTestSet | str) -> InvalidTestSet:
    return InvalidTestSet(f"line {line}: {problem}")


def read_jsonl_upload(text: str, name: str = "Imported set") -> Imported:
    """A JSONL of cases, or OpenAI Evals' samples (each line with `input` and `ideal`)."""
    first = next((line for line in text.splitlines() if line.strip()), "")
    try:
        probe = load_json(first) if first else None
    except DocumentError:
        probe = None
    if isinstance(probe, dict) and "input" in probe and "question" not in probe:
        return read_evals_samples(text, name)
    return Imported(read_jsonl(text, name))


class _SetTools:
    """The set's tools as the rows of a CSV or the lines of a JSONL repeat them: the first row that
    holds them says them, every other row that does must agree."""

    def __init__(self) -> None:
        self.seen: tuple[int, str] | None = None
        self.tools = NO_TOOLS

    def take(self, line: int, data: dict[str, Any]) -> None:
        if not any(data.get(key) is not None for key in TOOL_KEYS):
            return
        canonical = json.dumps({k: data.get(k) for k in TOOL_KEYS}, sort_keys=True, ensure_ascii=False)
        if self.seen is None:
            self.tools = tools_from_dict(data)
            self.seen = (line, canonical)
        elif canonical != self.seen[1]:
            raise InvalidTestSet(
                f"its tools differ from line {self.seen[0]}'s: the tools are the set's, the same on every line "
                "that gives them (a case's own go in its conversation)"
            )


def read_jsonl(text: str, name: str = "Imported set") -> TestSet:
    cases: list[Case] = []
    tools = _SetTools()
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
            if isinstance(data, dict):
                tools.take(number, data)
                data = {k: v for k, v in data.items() if k not in TOOL_KEYS}
            cases.append(case_from_dict(data, f"case-{len(cases) + 1}"))
        except InvalidTestSet as problem:
            raise _at(number, problem) from None
    return _whole(name, cases, "", tools.tools)


def _whole(name: str, cases: list[Case], description: str, tools: ToolSettings = NO_TOOLS) -> TestSet:
    if not cases:
        raise InvalidTestSet("the file holds no cases")
    return test_set(name, cases, description, tools)


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
    if any(h.startswith("__") for h in header):
        return promptfoo.read_csv(promptfoo.Upload({"tests.csv": text.encode()}), "tests.csv", name).test_set
    if "question" not in header:
        raise _at(
            1, f"no `question` column (columns: {', '.join(header) or 'none'}; expected {', '.join(CSV_COLUMNS)})"
        )
    unknown = [h for h in header if h not in (*CSV_COLUMNS, TOOLS_COLUMN, "system", "history")]
    if unknown:
        raise _at(
            1, f"unknown column {unknown[0]!r} (columns: {', '.join(CSV_COLUMNS)}, {TOOLS_COLUMN}, system, history)"
        )
    cases: list[Case] = []
    tools = _SetTools()
    try:
        for line, row in _csv_rows(reader):
            try:
                tools.take(line, _csv_tools(row.get(TOOLS_COLUMN, "")))
                cases.append(case_from_dict(_csv_case(row), f"case-{len(cases) + 1}"))
            except InvalidTestSet as problem:
                raise _at(line, problem) from None
    except csv.Error as exc:
        raise _at(reader.line_num, f"not readable as CSV ({exc})") from None
    return _whole(name, cases, "", tools.tools)


def _csv_tools(cell: str) -> dict[str, Any]:
    """The `tools` cell: JSON, either the body's `tools` list or an object with `tools`, `tool_choice`,
    `parallel_tool_calls`; blank: none."""
    if not cell.strip():
        return {}
    try:
        data = load_json(cell)
    except NotWellFormed as exc:
        raise InvalidTestSet(f"the tools are not JSON ({exc.problem} at character {exc.column})") from None
    except DocumentError as exc:
        raise InvalidTestSet(f"the tools: {exc.problem}") from None
    if isinstance(data, list):
        return {"tools": data}
    if not isinstance(data, dict):
        raise InvalidTestSet("the tools must be a JSON list of tool definitions, or an object with `tools`")
    return data


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


def _is_promptfoo_csv(text: str) -> bool:
    header = text.split("\n", 1)[0]
    return any(cell.strip().strip('"').startswith("__") for cell in header.split(","))


def read_yaml(text: str, name: str = "Imported set", language: str = "YAML") -> TestSet:
    data = _load_yaml(text, language)
    if promptfoo.is_config(data):
        return promptfoo.read_config(promptfoo.Upload({"config.yaml": text.encode()}), "config.yaml", name).test_set
    return _native_yaml(data, name)


def _native_yaml(data: Any, name: str) -> TestSet:
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
    try:
        tools = tools_from_dict(_plain(data))
    except InvalidTestSet as problem:
        raise _at(_line(data), problem) from None
    return _whole(str(data.get("name") or name), cases, description, tools)


# --- OpenAI Evals: samples.jsonl ---------------------------------------------------------------------


def _evals_case(data: Any, number: int) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise InvalidTestSet("a sample must be an object with `input` and `ideal`")
    messages = data.get("input")
    if isinstance(messages, str):
        messages = [{"role": "user", "content": messages}]
    if not isinstance(messages, list) or not messages:
        raise InvalidTestSet("`input` must be a list of chat messages (or a prompt's text)")
    for index, message in enumerate(messages, 1):
        if not isinstance(message, dict) or not isinstance(message.get("content"), str):
            raise InvalidTestSet(f"input message {index} must be an object with a text `content`")
        if message.get("role") not in ("system", "user", "assistant"):
            raise InvalidTestSet(
                f"input message {index} has role {message.get('role')!r}: use system, user or assistant"
            )
    users = [i for i, m in enumerate(messages) if m["role"] == "user"]
    if not users or users[-1] != len(messages) - 1:
        raise InvalidTestSet("the last input message must be the user's: it is the question")
    before = messages[:-1]
    system = [m["content"] for m in before if m["role"] == "system"]
    conversation: dict[str, Any] = {
        "source": "inline",
        "messages": [{"role": m["role"], "content": m["content"]} for m in before if m["role"] != "system"],
    }
    if system:
        conversation["system"] = "\n\n".join(system)
    ideal = data.get("ideal")
    ideals = ideal if isinstance(ideal, list) else [ideal] if ideal is not None else []
    if not all(isinstance(i, str) and i.strip() for i in ideals):
        raise InvalidTestSet("`ideal` must be a text or a list of texts")
    checks = [{"type": "contains-any", "value": ideals}] if ideals else []
    return {
        "id": f"sample-{number}",
        "question": messages[-1]["content"],
        "conversation": conversation,
        "checks": checks,
    }


def read_evals_samples(text: str, name: str = "Imported set") -> Imported:
    """OpenAI Evals' samples.jsonl: a case per line (see the module's docstring)."""
    cases: list[Case] = []
    extra: set[str] = set()
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
            cases.append(case_from_dict(_evals_case(data, len(cases) + 1), f"sample-{len(cases) + 1}"))
        except InvalidTestSet as problem:
            raise _at(number, problem) from None
        extra.update(str(k) for k in data if k not in ("input", "ideal"))
    report = [
        "each sample is a case: its messages before the last are the conversation, the last the question, "
        "and `ideal` a contains-any check (the answer contains one of the ideal answers, as Evals' Includes "
        "checks; Evals' Match checks that it starts with one)"
    ]
    report.extend(f"the samples' {key!r} is not imported" for key in sorted(extra))
    return Imported(_whole(name, cases, "Imported from OpenAI Evals samples"), tuple(report))


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
        "id": case.id,
        "question": case.question,
        "conversation": where,
        "checks": checks_to_text(case.checks),
        "turns_ago": "" if case.turns_ago is None else case.turns_ago,
        "description": case.description,
    }


def to_csv(test_set_: TestSet) -> str:
    tools = tools_to_dict(test_set_.tools)
    if not tools:  # a set without tools is written as before
        return csv_text([_csv_row(c) for c in test_set_.cases], CSV_COLUMNS)
    cell = json.dumps(tools, ensure_ascii=False)
    rows = [_csv_row(c) | {TOOLS_COLUMN: cell} for c in test_set_.cases]
    return csv_text(rows, (*CSV_COLUMNS, TOOLS_COLUMN))


def to_jsonl(test_set_: TestSet) -> str:
    tools = tools_to_dict(test_set_.tools)
    return "".join(json.dumps(case_to_dict(c) | tools, ensure_ascii=False) + "\n" for c in test_set_.cases)


def to_yaml(test_set_: TestSet) -> str:
    data = {
        "name": test_set_.name,
        "description": test_set_.description,
        **tools_to_dict(test_set_.tools),
        "cases": [case_to_dict(c) for c in test_set_.cases],
    }
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)


EXPORTERS = {
    "csv": (to_csv, "text/csv"),
    "jsonl": (to_jsonl, "application/jsonl"),
    "yaml": (to_yaml, "application/yaml"),
}
