"""promptfoo test suites, read as promptfoo reads them (its docs and source are the reference:
src/util/config/load.ts, src/util/testCaseReader.ts, src/csv.ts, src/prompts/processors/*,
src/evaluator.ts, src/assertions/*), into a test set, with a report of everything that is not kept.

- **The upload is the disk.** A config names other files (`file://prompts.txt`, `tests: file://tests.csv`,
  `defaultTest: file://shared/default.yaml`, a var `file://vars/topic.yaml`, globs `file://tests/*`):
  they are looked up among the files of the same upload (several files, or one zip), relative to the
  file that names them, never on the server's disk. A file that is not there is named and the import
  refused (promptfoo fails on it too). A browser's multi-file upload drops folders, so a path that is
  not found is matched by its file name alone when exactly one uploaded file has it (said in the report).
- **The matrix.** promptfoo runs every test once per prompt (and per provider). Here each test × prompt
  is a case: with one prompt a test's case is `test-3`; with two, `test-3-p1` and `test-3-p2`, each
  described with its prompt. Providers are a run's variants here: they are named in the report. The
  tools a provider sends (`config.tools`, inline or `file://`, `config.tool_choice`,
  `parallel_tool_calls`) are the set's tools: every case is asked with them.
- **Vars.** A var holding a list of texts is one case per text (promptfoo's cartesian product of every
  such var); `defaultTest` (inline or from a file) gives its vars, asserts, options and metadata to
  every test, each test's own winning. Prompts and assertion values are nunjucks templates, rendered
  with Jinja2 in a sandbox (templates.py), with promptfoo's semantics for an undefined var.
- **CSV** (promptfoo's): every column a var, except `__expected…` (checks, in promptfoo's one-line
  form: `icontains: x`, `grade: rubric`, `similar(0.9): text`, `contains-any: a, b` split on commas),
  `__description`, `__prefix`/`__suffix` (around the prompt), `__metadata:name` (`name[]`: a list split
  on commas), kept in the case's description, and `__threshold`, `__metric`, `__providerOutput`
  (named as not applied).
- **Nothing changes silently.** Every key, assertion type, option or file this app does not take is a
  line of `Imported.report` saying which test and which key; a test whose question cannot be made is
  left out, and said so. A file is refused whole only when it cannot be read at all.
"""

from __future__ import annotations

import csv
import fnmatch
import io
import itertools
import json
import posixpath
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from lib.analysis.experiments.cases import (
    TOOL_KEYS,
    Case,
    InvalidTestSet,
    TestSet,
    case_from_dict,
    test_set,
    tools_from_dict,
    tools_label,
)
from lib.analysis.experiments.kinds import check_from_dict
from lib.analysis.experiments.templates import Rendered, render
from lib.context.tools import NO_TOOLS, ToolSettings
from lib.core.secrets import redact
from lib.store import csvtext
from lib.store.documents import LINE, DocumentError, NotWellFormed, dump_json, load_json, load_yaml

MAX_CASES = 2_000  # as many as a test set holds (cases.MAX_CASES)
MAX_REF_DEPTH = 32
MAX_RENDERING_S = 10.0  # every template of one import, in all (each one stops at templates.MAX_RENDER_S)
CONFIG_NAMES = ("promptfooconfig.yaml", "promptfooconfig.yml", "promptfooconfig.json")
QUESTION_VARS = ("question", "query", "prompt", "input")
PROMPT_DELIMITER = "---"
TEXT_EXTENSIONS = ("txt", "md", "markdown", "j2", "jinja", "jinja2", "prompt", "text")
SCRIPT_EXTENSIONS = ("py", "js", "ts", "mjs", "cjs", "mts", "cts", "sh", "rb", "go")
PROMPT_EXTENSIONS = (*TEXT_EXTENSIONS, "json", "jsonl", "yaml", "yml", "csv", *SCRIPT_EXTENSIONS)

# Assertion types taken, by promptfoo's name: (this app's check type, as check_from_dict reads it).
ASSERTS = {
    "contains": "contains",
    "icontains": "icontains",
    "not-contains": "not-contains",
    "not-icontains": "not-icontains",
    "contains-all": "contains-all",
    "contains-any": "contains-any",
    "icontains-all": "icontains-all",
    "icontains-any": "icontains-any",
    "starts-with": "starts-with",
    "regex": "regex",
    "equals": "equals",
    "is-json": "is-json",
    "llm-rubric": "llm-rubric",
    "similar": "similar",
    # Every call the reply makes names a tool the request sent, its arguments valid against its schema.
    "is-valid-openai-tools-call": "is-valid-openai-tools-call",
}
_LISTS = ("contains-all", "contains-any", "icontains-all", "icontains-any")
# promptfoo's other assertion types (src/types: BaseAssertionTypes), so a CSV cell `levenshtein: x` is that
# type, named as not taken, rather than the plain text promptfoo would compare it with.
OTHER_ASSERTS = (
    "answer-relevance",
    "bleu",
    "classifier",
    "contains-html",
    "contains-json",
    "contains-sql",
    "contains-xml",
    "context-faithfulness",
    "context-recall",
    "context-relevance",
    "conversation-relevance",
    "cost",
    "factuality",
    "finish-reason",
    "g-eval",
    "gleu",
    "guardrails",
    "icontains-all",
    "is-html",
    "is-refusal",
    "is-sql",
    "is-valid-function-call",
    "is-valid-openai-function-call",
    "is-xml",
    "javascript",
    "latency",
    "levenshtein",
    "meteor",
    "model-graded-closedqa",
    "model-graded-factuality",
    "moderation",
    "perplexity",
    "perplexity-score",
    "pi",
    "python",
    "rouge-n",
    "ruby",
    "select-best",
    "trace-span-count",
    "trace-span-duration",
    "trace-error-spans",
    "webhook",
    "word-count",
)
_CSV_ASSERT = re.compile(
    r"^(not-)?(" + "|".join(sorted((*ASSERTS, *OTHER_ASSERTS), key=len, reverse=True)) + r")"
    r"(?:\((\d+(?:\.\d+)?)\))?(?::([\s\S]*))?$"
)
_THRESHOLDED = (
    "similar",
    "starts-with",
    "levenshtein",
    "rouge-n",
    "classifier",
    "answer-relevance",
    "context-recall",
    "context-relevance",
    "context-faithfulness",
    "latency",
    "perplexity",
    "perplexity-score",
    "cost",
)
_CONFIG_KEYS_USED = {"description", "prompts", "tests", "defaultTest", "assertionTemplates"}
_TEST_KEYS = {"vars", "assert", "description", "metadata", "options", "threshold"}
_ASSERT_KEYS_USED = {"type", "value"}


@dataclass(frozen=True)
class Imported:
    """A test set and what of the file(s) it came from is not in it, one sentence a line."""

    test_set: TestSet
    report: tuple[str, ...] = ()


@dataclass
class _Prompt:
    raw: str
    label: str


@dataclass
class _Test:
    data: dict[str, Any]
    where: str  # "test 3" or "tests.csv row 2"
    base: str  # the folder its file:// paths are relative to


# --- the upload: every file a config may name -------------------------------------------------------


def _clean_path(path: str) -> str:
    return posixpath.normpath(path.replace("\\", "/")).lstrip("/") if path else path


class Upload:
    """The uploaded files by path (a zip's paths, or bare names): the only place a file:// is looked for."""

    def __init__(self, files: dict[str, bytes]) -> None:
        self.files = {_clean_path(name): data for name, data in files.items()}
        self.notes: list[str] = []

    def find(self, reference: str, base: str, who: str) -> str:
        """The uploaded path `reference` names from folder `base`; InvalidTestSet naming it if none."""
        ref = reference.removeprefix("file://").strip()
        if posixpath.isabs(ref) or re.match(r"^[A-Za-z]:[\\/]", ref):
            raise InvalidTestSet(f"{who} names {ref!r}: an absolute path is never read (only the uploaded files are)")
        path = _clean_path(posixpath.join(base, ref))
        if path in self.files:
            return path
        named = [p for p in self.files if posixpath.basename(p) == posixpath.basename(path)]
        if len(named) == 1:
            self.notes.append(f"{who} names {ref!r}: the uploaded {named[0]!r} is taken for it (same file name)")
            return named[0]
        uploaded = ", ".join(sorted(self.files)[:12]) + ("…" if len(self.files) > 12 else "")
        raise InvalidTestSet(
            f"{who} names the file {ref!r}, which is not in the upload (upload it with the config, or a zip of "
            f"the folder; uploaded: {uploaded})"
        )

    def glob(self, reference: str, base: str, who: str) -> list[str]:
        """The uploaded paths a glob names (`file://tests/*`), or the one file a plain path names."""
        ref = reference.removeprefix("file://").strip()
        if not any(ch in ref for ch in "*?["):
            return [self.find(ref, base, who)]
        pattern = _clean_path(posixpath.join(base, ref))
        found = sorted(p for p in self.files if fnmatch.fnmatchcase(p, pattern))
        if not found and "/" in pattern and all("/" not in p for p in self.files):
            raise InvalidTestSet(
                f"{who} names {ref!r}, files in a folder: upload a zip of the config's folder (an upload of "
                "several files keeps no folders, and a pattern is not guessed by file name)"
            )
        if not found:
            raise InvalidTestSet(f"{who} names {ref!r}: no uploaded file matches it")
        return found

    def text(self, path: str) -> str:
        data = self.files[path]
        try:
            return data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            line = data[: exc.start].count(b"\n") + 1
            raise InvalidTestSet(f"{path}: line {line}: not UTF-8 text (byte {exc.start})") from None


def _extension(path: str) -> str:
    return path.rsplit(".", 1)[-1].lower() if "." in posixpath.basename(path) else ""


def _yaml(text: str, path: str) -> Any:
    try:
        return _plain(load_yaml(text))
    except NotWellFormed as exc:
        raise InvalidTestSet(f"{path}: line {exc.line or 1}: not valid YAML ({exc.problem})") from None
    except DocumentError as exc:
        raise InvalidTestSet(f"{path}: line {exc.line or 1}: {exc.problem}") from None


def _plain(data: Any) -> Any:
    if isinstance(data, dict):
        return {k: _plain(v) for k, v in data.items() if k != LINE}
    if isinstance(data, list):
        return [_plain(v) for v in data]
    return data


def _shown(value: Any, limit: int = 60) -> str:
    """A value in a sentence, cut short: a text quoted, anything else as JSON."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    text = text if len(text) <= limit else text[: limit - 1] + "…"
    return repr(text) if isinstance(value, str) else text


# --- $ref: promptfoo dereferences local JSON pointers (`$ref: '#/assertionTemplates/x'`) ------------


def _pointer(document: Any, ref: str) -> Any:
    node = document
    for part in ref.removeprefix("#").strip("/").split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            raise InvalidTestSet(f"$ref {ref!r} points at nothing in the config")
    return node


def _dereferenced(node: Any, document: Any, depth: int = 0) -> Any:
    if depth > MAX_REF_DEPTH:
        raise InvalidTestSet(f"$ref nested more than {MAX_REF_DEPTH} deep (a $ref that points at itself?)")
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str):
            if not ref.startswith("#"):
                raise InvalidTestSet(f"$ref {ref!r} is not read: only references inside the config (#/…) are")
            return _dereferenced(_pointer(document, ref), document, depth + 1)
        return {k: _dereferenced(v, document, depth + 1) for k, v in node.items()}
    if isinstance(node, list):
        return [_dereferenced(v, document, depth + 1) for v in node]
    return node


# --- promptfoo's comma-separated values (src/util/parseCommaSeparatedValues.ts) -------------------


def comma_separated(value: str) -> list[str]:
    """`a, b, "c, d"` → ["a", "b", "c, d"]: promptfoo's split of a contains-any/all string."""
    results: list[str] = []
    i, size = 0, len(value)
    while i < size:
        while i < size and (value[i].isspace() or value[i] == ","):
            i += 1
        if i >= size:
            break
        if value[i] == '"':
            i += 1
            field: list[str] = []
            while i < size:
                if value[i] == "\\" and i + 1 < size and value[i + 1] in '"\\':
                    field.append(value[i + 1])
                    i += 2
                elif value[i] == '"' and i + 1 < size and value[i + 1] == '"':
                    field.append('"')
                    i += 2
                elif value[i] == '"':
                    i += 1
                    break
                else:
                    field.append(value[i])
                    i += 1
            else:
                raise InvalidTestSet(f"an unterminated quoted value in {_shown(value)}")
            results.append("".join(field))
            while i < size and value[i].isspace():
                i += 1
            if i < size and value[i] != ",":
                raise InvalidTestSet(f"a comma is expected after a quoted value in {_shown(value)}")
        else:
            end = value.find(",", i)
            end = size if end < 0 else end
            results.append(value[i:end].strip())
            i = end
    return results


# --- CSV rows as promptfoo reads them (src/csv.ts) ------------------------------------------------


def assertion_from_string(expected: str) -> dict[str, Any]:
    """promptfoo's one-line assertion (`__expected` cells): its assertionFromString."""
    for prefix in ("javascript:", "fn:", "eval:"):
        if expected.startswith(prefix):
            return {"type": "javascript", "value": expected[len(prefix) :].strip()}
    if expected.startswith("grade:") or expected.startswith("llm-rubric:"):
        return {"type": "llm-rubric", "value": expected[6 if expected.startswith("grade:") else 11 :]}
    if expected.startswith("python:") or (expected.startswith("file://") and ".py" in expected):
        return {"type": "python", "value": expected.split(":", 1)[1].strip()}
    if expected.startswith("file://") and re.search(r"\.(js|ts)(:|$)", expected):
        return {"type": "javascript", "value": expected.removeprefix("file://").strip()}
    match = _CSV_ASSERT.match(expected)
    if match is None:
        return {"type": "equals", "value": expected}
    negated, kind, threshold_text, value = match.groups()
    full = f"not-{kind}" if negated else kind
    value = value if value is not None else ""
    if kind in _LISTS:
        return {"type": full, "value": comma_separated(value)}
    if kind in _THRESHOLDED and (threshold_text or kind == "similar"):
        # promptfoo gives the others a default of 0.75 that starts-with never reads: only a written one is said.
        threshold = float(threshold_text) if threshold_text else 0.8  # similar's default in a CSV
        return {"type": full, "value": value, "threshold": threshold}
    return {"type": full, "value": value}


def _metadata_value(column: str, value: str) -> Any:
    if column.endswith("[]"):
        return [part.replace("\\,", ",").strip() for part in re.split(r"(?<!\\),", value) if part.strip()]
    return value


def csv_tests(text: str, path: str, note: Callable[[str, str], None]) -> list[tuple[dict[str, Any], str]]:
    """Each row of promptfoo's CSV as a test (its testCaseFromCsvRow), with where it is."""
    reader = csv.DictReader(io.StringIO(text))
    tests: list[tuple[dict[str, Any], str]] = []
    try:
        header = [h.strip() for h in reader.fieldnames or []]
        for name in header:
            if (
                name.startswith("_")
                and not name.startswith("__")
                and name[1:].split(":")[0]
                in (
                    "expected",
                    "prefix",
                    "suffix",
                    "description",
                    "metadata",
                    "threshold",
                    "metric",
                    "providerOutput",
                )
            ):
                note(f"the column {name!r} has one underscore, so it is a var (did you mean _{name}?)", path)
        for row in reader:
            cells = {(k or "").strip(): csvtext.unquoted(v or "") for k, v in row.items() if k is not None}
            if not any(v.strip() for v in cells.values()):
                continue
            where = f"{path} row {len(tests) + 1} (line {reader.line_num})"
            test: dict[str, Any] = {"vars": {}, "assert": [], "options": {}, "metadata": {}}
            for column, value in cells.items():
                if column.startswith("__expected"):
                    if value.strip():
                        test["assert"].append(assertion_from_string(value))
                elif column in ("__prefix", "__suffix"):
                    test["options"][column[2:]] = value
                elif column == "__description":
                    test["description"] = value
                elif column.startswith("__metadata:"):
                    if value.strip():
                        key = column.removeprefix("__metadata:").removesuffix("[]")
                        test["metadata"][key] = _metadata_value(column, value)
                elif column == "__threshold":
                    if value.strip():
                        test["threshold"] = value.strip()
                elif column in ("__metric", "__providerOutput"):
                    if value.strip():
                        note(f"{column} is not applied here", where)
                elif column.startswith("__"):
                    note(f"the column {column!r} is not one promptfoo reads: not imported", where)
                else:
                    test["vars"][column] = value
            test.setdefault("description", f"Row #{len(tests) + 1}")
            tests.append((test, where))
    except csv.Error as exc:
        raise InvalidTestSet(f"{path}: line {reader.line_num}: not readable as CSV ({exc})") from None
    return tests


# --- the reader ---------------------------------------------------------------------------------------


class _Reader:
    def __init__(self, upload: Upload, config_path: str, lines: dict[str, Any] | None = None) -> None:
        self.upload = upload
        self.lines = lines or {"defaultTest": 1, "tests": []}
        self.config_path = config_path
        self.base = posixpath.dirname(config_path)
        self.notes: dict[str, list[str]] = {}  # what is not kept → where (the tests, asserts, files)
        self.rendering_ends = time.monotonic() + MAX_RENDERING_S

    def render(self, template: str, variables: dict[str, Any]) -> Rendered:
        """A template rendered within what is left of the import's time for templates."""
        left = self.rendering_ends - time.monotonic()
        if left <= 0:
            raise InvalidTestSet(
                f"the templates took more than {MAX_RENDERING_S:g} s to render in all: the import is stopped "
                "(a template that loops for long?)"
            )
        return render(template, variables, left)

    def note(self, message: str, where: str = "") -> None:
        wheres = self.notes.setdefault(message, [])
        if where and where not in wheres:
            wheres.append(where)

    def report(self) -> list[str]:
        """One line per thing not kept, naming every place it is (the first ones, and how many more)."""
        lines = []
        for message, wheres in self.notes.items():
            if not wheres:
                lines.append(message)
                continue
            shown = "; ".join(wheres[:6]) + (f" and {len(wheres) - 6} more" if len(wheres) > 6 else "")
            lines.append(f"{shown}: {message}")
        return [redact(line) for line in lines]  # a file's text can hold a key: none is shown

    # prompts ------------------------------------------------------------------------------------

    def prompts(self, config: dict[str, Any]) -> list[_Prompt] | None:
        prompts = config.get("prompts")
        if prompts is None:
            return None
        if isinstance(prompts, str):
            prompts = [prompts]
        if isinstance(prompts, dict) and all(isinstance(v, str) for v in prompts.values()):
            prompts = [{"id": key, "label": label} for key, label in prompts.items()]  # {path: label}
        if not isinstance(prompts, list):
            raise InvalidTestSet(f"`prompts` must be a list of prompts, not {type(prompts).__name__}")
        found: list[_Prompt] = []
        for index, prompt in enumerate(prompts, 1):
            found.extend(self.prompt(prompt, f"prompt {index}"))
        if not found:
            raise InvalidTestSet("no prompt could be read: " + "; ".join(self.report()))
        return found

    def prompt(self, prompt: Any, where: str) -> list[_Prompt]:
        label = None
        if isinstance(prompt, dict):
            label = prompt.get("label") if isinstance(prompt.get("label"), str) else None
            for key in sorted(set(prompt) - {"raw", "id", "label"}, key=str):
                self.note(f"its {key!r} is not applied here", where)
            if isinstance(prompt.get("raw"), str):
                return [_Prompt(prompt["raw"], label or prompt["raw"])]
            prompt = prompt.get("id")
        if not isinstance(prompt, str) or not prompt.strip():
            self.note(f"not a prompt ({_shown(prompt)}): not imported", where)
            return []
        if prompt.startswith("file://") or self._looks_like_a_file(prompt):
            return self.prompt_files(prompt, where, label)
        return [_Prompt(prompt, label or prompt)]

    def _looks_like_a_file(self, prompt: str) -> bool:
        """promptfoo reads `prompts: [prompts.txt]` as a file: so does this, in the upload. A text shaped
        like a file name (no spaces, a prompt file's extension) is a file, named if it is not uploaded;
        any other text is a file only if the upload has it (promptfoo's guess, maybeFilePath, takes
        `What is 3.14?` for a path)."""
        if "\n" in prompt or "{{" in prompt:
            return False
        name = prompt.rsplit(":", 1)[0] if _extension(prompt.rsplit(":", 1)[0]) in SCRIPT_EXTENSIONS else prompt
        if not any(ch.isspace() for ch in name) and _extension(name) in PROMPT_EXTENSIONS:
            return True
        path = _clean_path(posixpath.join(self.base, name))
        return path in self.upload.files

    def prompt_files(self, reference: str, where: str, label: str | None) -> list[_Prompt]:
        ref = reference.removeprefix("file://")
        path_part = ref
        if ":" in ref and _extension(ref.rsplit(":", 1)[0]) in SCRIPT_EXTENSIONS:
            path_part = ref.rsplit(":", 1)[0]
        if _extension(path_part) in SCRIPT_EXTENSIONS:
            self.note(f"{ref!r} is a prompt function (a script): not run here, not imported", where)
            return []
        found: list[_Prompt] = []
        for path in self.upload.glob(path_part, self.base, where):
            text, extension = self.upload.text(path), _extension(path)
            if extension == "txt" or extension not in PROMPT_EXTENSIONS:
                parts: list[str] = []
                buffer: list[str] = []
                for line in text.splitlines():
                    if line.strip() == PROMPT_DELIMITER:
                        parts.append("\n".join(buffer).strip())
                        buffer = []
                    else:
                        buffer.append(line)
                parts.append("\n".join(buffer).strip())
                found.extend(_Prompt(p, label or f"{path}: {p}") for p in parts if p)
            elif extension == "jsonl":
                found.extend(_Prompt(line, label or f"{path}: {line}") for line in text.splitlines() if line.strip())
            elif extension in ("yaml", "yml"):
                raw = dump_json(_yaml(text, path))
                found.append(_Prompt(raw, label or f"{path}: {raw[:80]}"))
            elif extension == "csv":
                found.extend(self.csv_prompts(text, path))
            else:  # json, markdown, jinja: the whole file is one prompt
                found.append(_Prompt(text, label or f"{path}: {text[:80]}"))
        return found

    def csv_prompts(self, text: str, path: str) -> list[_Prompt]:
        rows = list(csv.reader(io.StringIO(text)))
        if not rows:
            return []
        header = [h.strip().lower() for h in rows[0]]
        if "prompt" in header:
            at, label_at = header.index("prompt"), header.index("label") if "label" in header else None
            return [
                _Prompt(
                    row[at], row[label_at] if label_at is not None and label_at < len(row) else f"{path}: {row[at]}"
                )
                for row in rows[1:]
                if at < len(row) and row[at].strip()
            ]
        return [_Prompt(row[0], f"{path}: {row[0]}") for row in rows if row and row[0].strip()]

    # tests ----------------------------------------------------------------------------------------

    def tests(self, tests: Any) -> list[_Test]:
        if tests is None:
            raise InvalidTestSet("the config has no `tests`")
        if isinstance(tests, (str, dict)) and not (isinstance(tests, dict) and "path" not in tests):
            tests = [tests]
        if not isinstance(tests, list):
            raise InvalidTestSet(f"`tests` must be a list of tests or files, not {type(tests).__name__}")
        found: list[_Test] = []
        for index, item in enumerate(tests, 1):
            if isinstance(item, dict) and isinstance(item.get("path"), str):
                if "config" in item:
                    self.note("its `config` is not applied here", f"tests entry {index}")
                item = item["path"]
            if isinstance(item, str):
                found.extend(self.test_files(item, f"tests entry {index}"))
            elif isinstance(item, dict):
                line = self.lines["tests"][index - 1] if index <= len(self.lines["tests"]) else None
                where = f"test {len(found) + 1}" + (f" (line {line})" if line else "")
                found.append(_Test(item, where, self.base))
            else:
                self.note(f"not a test ({_shown(item)}): not imported", f"tests entry {index}")
        return found

    def test_files(self, reference: str, who: str) -> list[_Test]:
        ref = reference.removeprefix("file://")
        if re.match(r"^[a-z][a-z0-9+.-]*://", ref) or ref.startswith("https://"):
            self.note(f"{ref!r} is not a file (tests from the web or a dataset are not fetched): not imported", who)
            return []
        path_part = ref.rsplit(":", 1)[0] if ":" in ref else ref
        if _extension(path_part) in (*SCRIPT_EXTENSIONS, "xlsx", "xls"):
            self.note(f"{ref!r} generates tests (a script or a spreadsheet): not run here, not imported", who)
            return []
        found: list[_Test] = []
        for path in self.upload.glob(path_part, self.base, who):
            text, extension, base = self.upload.text(path), _extension(path), posixpath.dirname(path)
            if extension == "csv":
                found.extend(_Test(test, where, base) for test, where in csv_tests(text, path, self.note))
                continue
            if extension == "jsonl":
                items = []
                for number, line in enumerate(text.splitlines(), 1):
                    if line.strip():
                        try:
                            items.append(load_json(line))
                        except DocumentError as exc:
                            raise InvalidTestSet(f"{path}: line {number}: {exc.problem}") from None
            elif extension in ("yaml", "yml", "json"):
                items = _yaml(text, path)
                items = items if isinstance(items, list) else [items]
            else:
                self.note(f"{path!r} is not a test file promptfoo reads (csv, json, jsonl, yaml): not imported", who)
                continue
            for number, item in enumerate(items, 1):
                if isinstance(item, dict):
                    found.append(_Test(_dereferenced(item, items), f"{path} test {number}", base))
                else:
                    self.note(f"not a test ({_shown(item)}): not imported", f"{path} test {number}")
        return found

    def default_test(self, config: dict[str, Any]) -> dict[str, Any]:
        default = config.get("defaultTest")
        where = f"defaultTest (line {self.lines['defaultTest']})"
        if default is None:
            return {}
        if isinstance(default, str) and default.startswith("file://"):
            path = self.upload.find(default, self.base, "defaultTest")
            where = f"defaultTest ({path})"
            default = _yaml(self.upload.text(path), path)
            default = _dereferenced(default, default)
            if isinstance(default, dict):
                default = self.vars_files(default, posixpath.dirname(path), "defaultTest")
        if not isinstance(default, dict):
            raise InvalidTestSet(
                f"{where}: must be a mapping (vars, assert, options…) or a file://, not {_shown(default)}"
            )
        for key in ("vars", "options", "metadata"):
            if default.get(key) is not None and not isinstance(default[key], dict):
                raise InvalidTestSet(f"{where}: `{key}` must be a mapping, not {_shown(default[key])}")
        if default.get("assert") is not None and not isinstance(default["assert"], list):
            raise InvalidTestSet(f"{where}: `assert` must be a list of assertions, not {_shown(default['assert'])}")
        for key in sorted(set(default) - _TEST_KEYS, key=str):
            self.note(f"{key!r} is not applied here", "defaultTest")
        return default

    def vars_files(self, test: dict[str, Any], base: str, where: str) -> dict[str, Any]:
        """A test whose `vars` is a file (or files) of vars: the vars read (promptfoo's readTestFiles)."""
        variables = test.get("vars")
        if isinstance(variables, str) or (isinstance(variables, list) and all(isinstance(v, str) for v in variables)):
            merged: dict[str, Any] = {}
            for reference in [variables] if isinstance(variables, str) else variables:
                for path in self.upload.glob(reference, base, f"{where}'s vars"):
                    loaded = _yaml(self.upload.text(path), path)
                    if not isinstance(loaded, dict):
                        raise InvalidTestSet(f"{path}: vars must be a mapping of names to values")
                    merged.update(loaded)
            return {**test, "vars": merged}
        return test

    def var_value(self, name: str, value: Any, base: str, where: str) -> tuple[bool, Any]:
        """A var's value, a `file://` one read from the upload; (False, None) if it cannot be (said why)."""
        if not (isinstance(value, str) and value.startswith("file://")):
            return True, value
        ref = value.removeprefix("file://")
        extension = _extension(ref.rsplit(":", 1)[0] if ":" in ref else ref)
        if extension in SCRIPT_EXTENSIONS:
            self.note(f"var {name!r} is {value!r}, a script: not run here, so the test is not imported", where)
            return False, None
        if extension in ("png", "jpg", "jpeg", "gif", "webp", "pdf", "mp3", "wav", "mp4"):
            self.note(f"var {name!r} is {value!r}, not text: the test is not imported", where)
            return False, None
        path = self.upload.find(ref, base, f"{where}'s var {name!r}" if where == "defaultTest" else f"var {name!r}")
        text = self.upload.text(path)
        if extension in ("yaml", "yml", "json"):
            loaded = _yaml(text, path)
            return True, loaded
        return True, text

    # the cases --------------------------------------------------------------------------------------

    def read(self, config: dict[str, Any], name: str) -> Imported:
        tools = NO_TOOLS
        for key in sorted(set(config) - _CONFIG_KEYS_USED, key=str):
            if key == "providers":
                ids = _provider_ids(config[key])
                self.note(f"providers ({ids}): a run's models are its variants here: not imported")
                tools = self.provider_tools(config[key])
                if tools.tools:
                    self.note(
                        f"the tools the providers send ({tools_label(tools)}) are the set's: every case is asked "
                        "with them"
                    )
            elif key == "env":
                self.note("env: never read (keys and settings do not come from an imported file)")
            else:
                self.note(f"config key {key!r}: not applied here")
        prompts = self.prompts(config)
        default = self.default_test(config)
        tests = self.tests(config.get("tests"))
        if not tests:
            raise InvalidTestSet("`tests` holds no test (promptfoo runs each prompt against each test: none, nothing)")
        cases: list[dict[str, Any]] = []
        for number, test in enumerate(tests, 1):
            try:
                cases.extend(self.cases_of(test, number, default, prompts, len(cases)))
            except InvalidTestSet as problem:
                raise InvalidTestSet(f"{test.where}: {problem}") from None
            if len(cases) > MAX_CASES:
                raise InvalidTestSet(f"more than {MAX_CASES:,} cases (tests × prompts × values of list vars)")
        if any(c["conversation"]["source"] == "current" for c in cases):
            self.note(
                "each question is asked in the chat's current session (promptfoo sends the prompt alone: "
                "the 'No history' variant does that)"
            )
        if prompts is not None and len(prompts) > 1:
            self.note(
                f"{len(prompts)} prompts: as promptfoo runs each test once per prompt, each test is a case per prompt "
                f"(ids end -p1 … -p{len(prompts)}; each case's description names its prompt)"
            )
        built: list[Case] = []
        for data in cases:
            try:
                built.append(case_from_dict(data, data["id"]))
            except InvalidTestSet as problem:
                self.note(f"not imported: {problem}", data["id"])
        if not built:
            raise InvalidTestSet("no test could be imported: " + "; ".join(self.report()[-3:]))
        description = str(config.get("description") or "Imported from a promptfoo config")
        upload_notes = [redact(line) for line in self.upload.notes]
        return Imported(test_set(name, built, description, tools), tuple(upload_notes + self.report()))

    # the providers' tools ---------------------------------------------------------------------------

    def provider_tools(self, providers: Any) -> ToolSettings:
        """The tools promptfoo's providers send (`config.tools`, `config.tool_choice`, and
        `parallel_tool_calls` in `config` or its `passthrough`), as the set's: every case is asked with
        them. Providers that send different tools: the first's are kept, and the report says so."""
        found: list[tuple[str, ToolSettings]] = []
        for provider_id, options in _providers(providers):
            config: dict[str, Any] = options["config"] if isinstance(options.get("config"), dict) else {}
            where = f"provider {provider_id}"
            if config.get("functions") is not None:
                self.note("config.functions (the retired functions API) is not sent: write them as `tools`", where)
            passthrough: dict[str, Any] = config["passthrough"] if isinstance(config.get("passthrough"), dict) else {}
            wanted = {key: config.get(key, passthrough.get(key)) for key in TOOL_KEYS}
            if wanted["tools"] is None:
                if wanted["tool_choice"] is not None or wanted["parallel_tool_calls"] is not None:
                    self.note("tool_choice / parallel_tool_calls without tools: nothing about tools is sent", where)
                continue
            if isinstance(wanted["tools"], str) and wanted["tools"].startswith("file://"):
                path = self.upload.find(wanted["tools"], self.base, f"{where}'s config.tools")
                wanted["tools"] = _yaml(self.upload.text(path), path)
            try:
                found.append((provider_id, tools_from_dict(wanted, f"{where}'s config")))
            except InvalidTestSet as problem:
                self.note(f"its tools are not imported: {problem}", where)
        if not found:
            return NO_TOOLS
        first_id, first = found[0]
        others = [provider_id for provider_id, tools in found[1:] if tools != first]
        if others:
            self.note(
                f"providers {', '.join(others)} send other tools than {first_id}: the set keeps {first_id}'s; a run's "
                "variants can send fewer (their *tools* column)"
            )
        return first

    def cases_of(
        self, test: _Test, number: int, default: dict[str, Any], prompts: list[_Prompt] | None, taken: int
    ) -> Iterator[dict[str, Any]]:
        where = test.where
        data = self.vars_files(test.data, test.base, where)
        for key in sorted(set(data) - _TEST_KEYS, key=str):
            self.note(f"{key!r} is not applied here", where)
        merged = _merged(default, data)
        own_options: dict[str, Any] = data["options"] if isinstance(data.get("options"), dict) else {}
        for key in sorted(set(merged["options"]) - {"prefix", "suffix"}, key=str):
            source = where if key in own_options else "defaultTest"
            self.note(f"options.{key} is not applied here (the answer is scored as it comes)", source)
        if merged.get("threshold") not in (None, ""):
            source = where if data.get("threshold") not in (None, "") else "defaultTest"
            self.note(f"threshold {merged['threshold']} is not applied (a case passes when every check passes)", source)
        own_vars: dict[str, Any] = data["vars"] if isinstance(data.get("vars"), dict) else {}
        variables: dict[str, Any] = {}
        for name, value in merged["vars"].items():
            # promptfoo reads a file:// var relative to the config (its basePath), wherever the test is.
            source = where if name in own_vars else "defaultTest"
            ok, loaded = self.var_value(str(name), value, self.base, source)
            if not ok:
                return
            variables[str(name)] = loaded
        if merged["metadata"]:
            self.note("metadata is kept in each case's description (`name: value`), not as fields")
        prefix, suffix = str(merged["options"].get("prefix") or ""), str(merged["options"].get("suffix") or "")
        defaults = len(default.get("assert") or [])
        combos = list(_combinations(variables))
        for combo_index, combo in enumerate(combos, 1):
            for prompt_index, prompt in enumerate(prompts or [None], 1):
                case_id = f"test-{number}" + (f".{combo_index}" if len(combos) > 1 else "")
                case_id += f"-p{prompt_index}" if prompts is not None and len(prompts) > 1 else ""
                place = (
                    where
                    if prompt is None or prompts is None or len(prompts) < 2
                    else f"{where} (prompt {prompt_index})"
                )
                question = self.question(prompt, prefix, suffix, combo, place)
                if question is None:
                    continue
                text, conversation = question
                checks = []
                for index, assertion in enumerate(merged["assert"], 1):
                    who = f"defaultTest, assert {index}" if index <= defaults else f"{where}, assert {index - defaults}"
                    if (check := self.check(assertion, combo, who)) is not None:
                        checks.append(check)
                description = _description(merged, combo if len(combos) > 1 else {}, prompt, prompt_index, prompts)
                yield {
                    "id": case_id,
                    "question": text,
                    "conversation": conversation,
                    "checks": checks,
                    "description": description,
                }

    def question(
        self, prompt: _Prompt | None, prefix: str, suffix: str, variables: dict[str, Any], where: str
    ) -> tuple[str, dict[str, Any]] | None:
        if prompt is None:
            text = _question_var(variables)
            if text is None:
                named = ", ".join(variables) or "none"
                self.note(
                    f"not imported: which var is the question? There is no prompt, and the vars are {named} "
                    "(name one question, query, prompt or input)",
                    where,
                )
                return None
            return prefix + text + suffix, {"source": "current"}
        rendered = self.render(prefix + prompt.raw + suffix, variables)
        for note in rendered.notes:
            self.note(note, where)
        return _chat_or_text(rendered.text, where, self.note)

    def rendered_value(self, value: Any, variables: dict[str, Any], who: str) -> Any:
        """An assertion's value with its templates rendered with the test's vars (promptfoo renders them)."""
        if isinstance(value, str):
            rendered = self.render(value, variables)
            for line in rendered.notes:
                self.note(line, who)
            return rendered.text
        if isinstance(value, list):
            return [self.rendered_value(v, variables, who) for v in value]
        return value

    def check(self, assertion: Any, variables: dict[str, Any], who: str) -> dict[str, Any] | None:
        if not isinstance(assertion, dict) or not isinstance(assertion.get("type"), str):
            self.note(f"not an assertion with a `type` ({_shown(assertion)}): not imported", who)
            return None
        kind = assertion["type"]
        if kind not in ASSERTS:
            self.note(f"type {kind!r} is not supported here: not imported", who)
            return None
        if "transform" in assertion:
            self.note(f"{kind}: its transform is not run, so it would check another text: not imported", who)
            return None
        for key in sorted(set(assertion) - _ASSERT_KEYS_USED - {"threshold"}, key=str):
            self.note(f"{kind}: its {key!r} is not applied here", who)
        if "threshold" in assertion and kind != "similar":
            self.note(f"{kind}: its threshold is not applied (the check passes or fails)", who)
        value = assertion.get("value")
        if isinstance(value, str) and value.startswith("file://"):
            ref = value.removeprefix("file://")
            if _extension(ref.rsplit(":", 1)[0] if ":" in ref else ref) in SCRIPT_EXTENSIONS:
                self.note(f"{kind}: its value {value!r} is a script: not run here, not imported", who)
                return None
            path = self.upload.find(ref, self.base, f"{who}'s value")
            text = self.upload.text(path)
            value = _yaml(text, path) if _extension(path) in ("yaml", "yml", "json") else text
        value = self.rendered_value(value, variables, who)
        if kind == "is-json" and isinstance(value, str) and value.strip():
            value = _yaml(value, f"{who}'s schema")  # promptfoo reads a schema given as text as YAML
        if kind in _LISTS and isinstance(value, str):
            try:
                value = comma_separated(value)
            except InvalidTestSet as problem:
                self.note(f"{kind}: not imported: {problem}", who)
                return None
        data: dict[str, Any] = {"type": ASSERTS[kind]}
        if value is not None:
            data["value"] = value
        if kind == "similar" and assertion.get("threshold") is not None:
            data["threshold"] = assertion["threshold"]
        try:
            check_from_dict(data)
        except InvalidTestSet as problem:
            self.note(f"{kind}: not imported: {problem}", who)
            return None
        if kind == "similar":
            self.note(
                "similar: scored by word similarity (the cosine of word counts), not by embeddings as promptfoo "
                "does: there is no embedding model offline"
            )
        return data


def _providers(providers: Any) -> Iterator[tuple[str, dict[str, Any]]]:
    """Each provider's id and options, in promptfoo's forms: an id, `{id, config}`, or `{id: options}`."""
    items = providers if isinstance(providers, list) else [providers]
    for index, item in enumerate(items, 1):
        if isinstance(item, dict) and isinstance(item.get("id"), str):
            yield item["id"][:60], item
        elif isinstance(item, dict) and len(item) == 1:
            (provider_id, options), *_ = item.items()
            yield str(provider_id)[:60], options if isinstance(options, dict) else {}
        elif isinstance(item, dict):
            yield f"{index}", item


def _provider_ids(providers: Any) -> str:
    """The providers' ids only: their config can hold a key (`apiKey`), which no report shows."""
    items = providers if isinstance(providers, list) else [providers]
    ids = [p if isinstance(p, str) else p.get("id") if isinstance(p, dict) else None for p in items]
    return ", ".join(str(i)[:60] for i in ids if isinstance(i, str)) or "given"


def _merged(default: dict[str, Any], test: dict[str, Any]) -> dict[str, Any]:
    """A test with defaultTest under it: promptfoo's merge (vars, options, metadata by key; asserts appended)."""

    def mapping(key: str) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for source in (default, test):
            found = source.get(key)
            if isinstance(found, dict):
                values.update(found)
            elif found is not None:
                raise InvalidTestSet(f"{key} must be a mapping, not {_shown(found)}")
        return values

    asserts: list[Any] = []
    for source in (default, test):
        found = source.get("assert") or []
        if not isinstance(found, list):
            raise InvalidTestSet(f"`assert` must be a list, not {_shown(found)}")
        asserts.extend(found)
    threshold = test.get("threshold", default.get("threshold"))
    return {
        **default,
        **test,
        "vars": mapping("vars"),
        "options": mapping("options"),
        "metadata": mapping("metadata"),
        "assert": asserts,
        "threshold": threshold,
    }


def _combinations(variables: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """promptfoo's generateVarCombinations: a var holding a list of texts is one combination per text."""
    names = list(variables)
    choices = []
    for name in names:
        value = variables[name]
        expand = isinstance(value, list) and bool(value) and isinstance(value[0], str)
        choices.append(value if expand else [value])
    total = 1
    for options in choices:
        total *= len(options)
        if total > MAX_CASES:
            raise InvalidTestSet(f"the list vars make more than {MAX_CASES:,} combinations")
    for picked in itertools.product(*choices):
        yield dict(zip(names, picked, strict=True))


def _question_var(variables: dict[str, Any]) -> str | None:
    for name in QUESTION_VARS:
        if isinstance(variables.get(name), str):
            return variables[name]
    texts = [v for v in variables.values() if isinstance(v, str)]
    return texts[0] if len(texts) == 1 else None


def _chat_or_text(text: str, where: str, note: Any) -> tuple[str, dict[str, Any]]:
    """A rendered prompt: a JSON list of chat messages is a conversation whose last user message is the
    question (promptfoo sends such a prompt as messages); any other text is the question itself."""
    stripped = text.strip()
    if stripped.startswith("["):
        try:
            messages = load_json(stripped)
        except DocumentError:
            messages = None
        if (
            isinstance(messages, list)
            and messages
            and all(
                isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str)
                for m in messages
            )
        ):
            users = [i for i, m in enumerate(messages) if m["role"] == "user"]
            if users:
                last = users[-1]
                if last < len(messages) - 1:
                    note(f"the {len(messages) - 1 - last} message(s) after the last user message are dropped", where)
                system = [m["content"] for m in messages[:last] if m["role"] == "system"]
                history = [
                    {"role": m["role"], "content": m["content"]}
                    for m in messages[:last]
                    if m["role"] in ("user", "assistant")
                ]
                others = sorted({m["role"] for m in messages[:last]} - {"user", "assistant", "system"})
                if others:
                    note(f"messages with role {', '.join(others)} are dropped", where)
                conversation: dict[str, Any] = {"source": "inline", "messages": history}
                if system:
                    conversation["system"] = "\n\n".join(system)
                return messages[last]["content"], conversation
    return text, {"source": "current"}


def _description(
    test: dict[str, Any], combo: dict[str, Any], prompt: _Prompt | None, index: int, prompts: list[_Prompt] | None
) -> str:
    parts = [str(test["description"])] if test.get("description") else []
    if combo:
        parts.append(", ".join(f"{k} = {v}" for k, v in combo.items() if isinstance(v, str))[:200])
    if prompt is not None and prompts is not None and len(prompts) > 1:
        parts.append(f"prompt {index}: {prompt.label[:120]}")
    for key, value in (test.get("metadata") or {}).items():
        shown = ", ".join(map(str, value)) if isinstance(value, list) else str(value)
        parts.append(f"{key}: {shown}")
    return " · ".join(parts)


# --- the entry points ----------------------------------------------------------------------------


def is_config(data: Any) -> bool:
    if isinstance(data, dict):
        return "tests" in data or "prompts" in data
    return isinstance(data, list) and any(isinstance(t, dict) and ("vars" in t or "assert" in t) for t in data)


def read_config(upload: Upload, path: str, name: str) -> Imported:
    """The promptfoo config at `path` in the upload, its files read from the upload."""
    try:
        data = load_yaml(upload.text(path), note_lines=True)
    except NotWellFormed as exc:
        raise InvalidTestSet(f"{path}: line {exc.line or 1}: not valid YAML ({exc.problem})") from None
    except DocumentError as exc:
        raise InvalidTestSet(f"{path}: line {exc.line or 1}: {exc.problem}") from None
    config = data if isinstance(data, dict) else {"tests": data, LINE: 1}
    # Where the tests and defaultTest are, to name them in a problem (the lines go before anything is read).
    tests = config.get("tests")
    lines = {
        "defaultTest": _line_of(config.get("defaultTest"), _line_of(config, 1)),
        "tests": [_line_of(t, _line_of(config, 1)) for t in tests] if isinstance(tests, list) else [],
    }
    plain = _plain(config)
    return _Reader(upload, path, lines).read(_dereferenced(plain, plain), name)


def _line_of(data: Any, fallback: int) -> int:
    return data.get(LINE, fallback) if isinstance(data, dict) else fallback


def read_csv(upload: Upload, path: str, name: str) -> Imported:
    """promptfoo's CSV on its own (no config, so no prompt: the question is a var)."""
    reader = _Reader(upload, path)
    return reader.read({"tests": f"file://{posixpath.basename(path)}"}, name)
