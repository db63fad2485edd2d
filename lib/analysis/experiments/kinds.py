"""The check kinds, one class each, registered in one table (`KINDS`).

A kind says everything about itself in one place: its name and label, whether it takes the
case-insensitive `i` form (`icontains`), how a file gives its value (`read`: a dict, as every format
hands it over; `read_line`: the editor's `name: value` line), how it writes itself back (`to_dict`,
`line_value`) and how it scores an answer (`decide`). Every other module asks the table
(`KINDS[check.kind]`), so a new kind is one class here and nothing else.

`Check` is the record a test set keeps: the kind's name and its value(s). A check that cannot be
read is InvalidTestSet, naming why; a check that cannot decide an answer says so in its verdict.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from lib.analysis.compare import similarity
from lib.analysis.experiments import patterns, schemas
from lib.analysis.experiments.jsontext import MISSING, field_at, json_in
from lib.context.conversation import clean_text
from lib.core.errors import InvalidTestSet
from lib.store.documents import DocumentError, NotWellFormed, dump_json, load_json

MAX_TEXT = 200_000  # characters in one question, message or check value
MAX_COUNT = 1_000_000  # turns ago, words: far past any conversation or answer, and a number int() reads
_WORD = re.compile(r"\S+")


@dataclass(frozen=True)
class Check:
    kind: str  # a name in KINDS
    value: str = ""  # the text, the regex, the rubric, or (json-field) the expected value as JSON
    values: tuple[str, ...] = ()  # contains-all, contains-any
    ignore_case: bool = False
    field: str = ""  # json-field: a dotted path ("user.name", "items.0")
    limit: int = 0  # max-words
    threshold: float | None = None  # similar: the least similarity that passes (0-1)

    @property
    def spec(self) -> CheckType:
        return KINDS[self.kind]

    @property
    def is_judge(self) -> bool:
        return self.spec.judge

    @property
    def type_name(self) -> str:
        """The promptfoo-style name: "icontains" for a case-insensitive contains."""
        if self.ignore_case and self.spec.foldable:
            return self.kind.replace("contains", "icontains", 1) if "contains" in self.kind else f"i{self.kind}"
        return self.kind

    def describe(self) -> str:
        """One line, as the editor writes it (`to_line`) and reads it back (`check_from_line`)."""
        return to_line(self)


# --- values as a file gives them ------------------------------------------------------------------


def shown(value: Any) -> str:
    """A value in a message, cut short: a refused value can be megabytes long."""
    text = repr(value)
    return text if len(text) <= 80 else text[:80] + "…"


def text_value(value: Any, what: str, *, allow_empty: bool = False) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise InvalidTestSet(f"{what} must be text, not {type(value).__name__}")
    text = clean_text(str(value))  # a lone surrogate (a JSON "\\ud800") no database can store
    if not allow_empty and not text.strip():
        raise InvalidTestSet(f"{what} is empty")
    if len(text) > MAX_TEXT:
        raise InvalidTestSet(f"{what} is longer than {MAX_TEXT:,} characters")
    return text


def whole_number(value: Any, what: str) -> int:
    """A count written as text or given as a number: ASCII digits only (`str.isdigit` takes "²", which
    int() refuses), and at most MAX_COUNT (int() raises past 4,300 digits)."""
    if isinstance(value, str):
        digits = value.strip()
        if not (digits.isascii() and digits.isdecimal()):
            raise InvalidTestSet(f"{what} {value[:40]!r} is not a whole number")
        if len(digits) > len(str(MAX_COUNT)) or int(digits) > MAX_COUNT:
            raise InvalidTestSet(f"{what} {digits[:40]}{'…' * (len(digits) > 40)} is more than {MAX_COUNT:,}")
        return int(digits)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidTestSet(f"{what} must be a whole number, not {shown(value)}")
    if value > MAX_COUNT:
        raise InvalidTestSet(f"{what} is more than {MAX_COUNT:,}")
    return value


def _json_or_text(text: str, what: str) -> Any:
    try:
        return load_json(text)
    except NotWellFormed:
        return text
    except DocumentError as exc:
        raise InvalidTestSet(f"{what}: {exc.problem}") from None


def _fold(text: str, check: Check) -> str:
    return text.casefold() if check.ignore_case else text


def quote(text: str, limit: int = 60) -> str:
    return repr(text if len(text) <= limit else text[: limit - 1] + "…")


Decision = tuple[bool | None, str]


# --- the kinds ------------------------------------------------------------------------------------


class CheckType:
    """One kind of check. The defaults are a kind whose value is one text (contains, equals, …)."""

    name: ClassVar[str]
    label: ClassVar[str]
    foldable: ClassVar[bool] = False  # takes the `i` form that ignores case
    judge: ClassVar[bool] = False  # graded by the judge model, not here
    empty_allowed: ClassVar[bool] = False  # its text may be empty (equals "")
    takes_threshold: ClassVar[bool] = False  # `name(0.9): …`

    def read(self, data: dict[str, Any], ignore_case: bool) -> Check:
        """The check from a file's dict (`type` already read: `ignore_case` is its `i`)."""
        value = data.get("value")
        if value is None:
            raise InvalidTestSet(f"{self.name} needs a `value`")
        text = text_value(value, f"{self.name}'s value", allow_empty=self.empty_allowed)
        return Check(self.name, value=text, ignore_case=ignore_case)

    def read_line(self, rest: str) -> dict[str, Any]:
        """The dict `read` takes, from what follows `name:` on an editor's line."""
        return {"value": rest}

    def to_dict(self, check: Check) -> dict[str, Any]:
        """The dict's fields besides `type`: what `read` reads back."""
        return {"value": check.value}

    def line_value(self, check: Check) -> str | None:
        """What follows `name: ` on the editor's line; None: the name alone."""
        return check.value

    def type_suffix(self, check: Check) -> str:
        """What follows the name on the line, before the colon (`similar(0.9): …`)."""
        return ""

    def decide(self, check: Check, answer: str) -> Decision:
        """Pass or fail and why; None: it could not be decided (said why)."""
        raise NotImplementedError

    def decide_reply(self, check: Check, answer: str, calls: Sequence[dict], tools: Sequence[dict]) -> Decision:
        """The same, for a kind that reads the reply's tool calls (`calls`, wire dicts) and the tool
        definitions the request sent (`tools`); the others read the text only."""
        return self.decide(check, answer)


class Contains(CheckType):
    name, label, foldable = "contains", "contains", True

    def decide(self, check: Check, answer: str) -> Decision:
        found = _fold(check.value, check) in _fold(answer, check)
        return found, "found" if found else f"{quote(check.value)} is not in the answer"


class NotContains(CheckType):
    name, label, foldable = "not-contains", "does not contain", True

    def decide(self, check: Check, answer: str) -> Decision:
        found = _fold(check.value, check) in _fold(answer, check)
        return not found, f"{quote(check.value)} is in the answer" if found else "absent, as required"


class _ContainsList(CheckType):
    """A list of texts: `a | b` on a line (a JSON list when a text holds `|`), a list in a file."""

    foldable = True

    def read(self, data: dict[str, Any], ignore_case: bool) -> Check:
        value = data.get("value")
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not value:
            raise InvalidTestSet(f"{self.name} needs a non-empty list of texts as its `value`")
        values = tuple(text_value(v, f"a {self.name} value") for v in value)
        return Check(self.name, values=values, ignore_case=ignore_case)

    def read_line(self, rest: str) -> dict[str, Any]:
        if rest.startswith("["):
            try:
                return {"value": load_json(rest)}
            except NotWellFormed as exc:
                raise InvalidTestSet(f"{self.name}: the list is not valid JSON ({exc.problem})") from None
            except DocumentError as exc:
                raise InvalidTestSet(f"{self.name}: the list: {exc.problem}") from None
        return {"value": [part.strip() for part in rest.split("|") if part.strip()]}

    def to_dict(self, check: Check) -> dict[str, Any]:
        return {"value": list(check.values)}

    def line_value(self, check: Check) -> str:
        joined = " | ".join(check.values)
        # As JSON when the plain form would read back otherwise: a text holding `|`, or one starting `[`.
        if any("|" in v for v in check.values) or joined.startswith("["):
            return json.dumps(list(check.values), ensure_ascii=False)
        return joined

    @staticmethod
    def present(check: Check, answer: str) -> tuple[list[str], list[str]]:
        text = _fold(answer, check)
        present = [v for v in check.values if _fold(v, check) in text]
        return present, [v for v in check.values if v not in present]


class ContainsAll(_ContainsList):
    name, label = "contains-all", "contains all of"

    def decide(self, check: Check, answer: str) -> Decision:
        _, missing = self.present(check, answer)
        return not missing, "all found" if not missing else "missing: " + ", ".join(map(quote, missing))


class ContainsAny(_ContainsList):
    name, label = "contains-any", "contains any of"

    def decide(self, check: Check, answer: str) -> Decision:
        present, _ = self.present(check, answer)
        return bool(present), "found: " + ", ".join(map(quote, present)) if present else "none of them is there"


class Regex(CheckType):
    name, label = "regex", "matches the regex"

    def read(self, data: dict[str, Any], ignore_case: bool) -> Check:
        check = super().read(data, ignore_case)
        if (problem := patterns.compile_problem(check.value)) is not None:
            raise InvalidTestSet(f"the regex {shown(check.value)} does not compile: {problem}")
        return check

    def decide(self, check: Check, answer: str) -> Decision:
        try:
            matched = patterns.search(check.value, answer, check.ignore_case)
        except patterns.RegexProblem as undecided:
            return None, str(undecided)
        return matched is not None, "no match" if matched is None else f"matched {quote(matched)}"


class Equals(CheckType):
    name, label, foldable, empty_allowed = "equals", "equals", True, True

    def decide(self, check: Check, answer: str) -> Decision:
        equal = _fold(answer, check).strip() == _fold(check.value, check).strip()
        return equal, "equal (surrounding spaces aside)" if equal else f"the answer is {quote(answer.strip())}"


class StartsWith(CheckType):
    name, label, foldable = "starts-with", "starts with", True

    def decide(self, check: Check, answer: str) -> Decision:
        starts = _fold(answer, check).lstrip().startswith(_fold(check.value, check))
        return starts, "it does" if starts else f"it starts {quote(answer.lstrip()[: len(check.value) + 10])}"


class IsJson(CheckType):
    """Valid JSON; with a JSON Schema as its value (promptfoo's `is-json` with `value:`), valid against it."""

    name, label = "is-json", "is valid JSON (matching the schema, if one is given)"

    def read(self, data: dict[str, Any], ignore_case: bool) -> Check:
        schema = data.get("value")
        if schema is None or schema == "":
            return Check(self.name)
        if isinstance(schema, str):
            schema = _json_or_text(schema, "is-json's schema")
        if not isinstance(schema, (dict, bool)):
            raise InvalidTestSet(f"is-json's value must be a JSON Schema (an object), not {shown(schema)}")
        if (problem := schemas.schema_problem(schema)) is not None:
            raise InvalidTestSet(f"is-json's schema is not a valid JSON Schema: {problem}")
        try:
            return Check(self.name, value=clean_text(dump_json(schema)))
        except DocumentError as exc:
            raise InvalidTestSet(f"is-json's schema is {exc.problem}") from None

    def read_line(self, rest: str) -> dict[str, Any]:
        return {"value": rest} if rest else {}

    def to_dict(self, check: Check) -> dict[str, Any]:
        return {"value": json.loads(check.value)} if check.value else {}

    def line_value(self, check: Check) -> str | None:
        return check.value or None

    def decide(self, check: Check, answer: str) -> Decision:
        data, problem = json_in(answer)
        if problem is not None:
            return False, problem
        if not check.value:
            return True, "valid JSON"
        return schemas.validate(data, json.loads(check.value))


class JsonField(CheckType):
    name, label = "json-field", "has the JSON field"

    def read(self, data: dict[str, Any], ignore_case: bool) -> Check:
        path = text_value(data.get("field", ""), "json-field's `field` (a dotted path)")
        try:
            expected = dump_json(data.get("value"))
        except DocumentError as exc:
            raise InvalidTestSet(f"json-field's value is {exc.problem}") from None
        return Check(self.name, value=clean_text(expected), field=path.strip())

    def read_line(self, rest: str) -> dict[str, Any]:
        path, equals, expected = rest.partition("=")
        if not equals:
            raise InvalidTestSet('json-field needs `path = value`, e.g. `json-field: user.name = "Ada"`')
        return {"field": path.strip(), "value": _json_or_text(expected.strip(), "json-field's value")}

    def to_dict(self, check: Check) -> dict[str, Any]:
        return {"field": check.field, "value": json.loads(check.value)}

    def line_value(self, check: Check) -> str:
        return f"{check.field} = {check.value}"

    def decide(self, check: Check, answer: str) -> Decision:
        data, problem = json_in(answer)
        if problem:
            return False, problem
        found = field_at(data, check.field)
        if found is MISSING:
            return False, f"no field {check.field!r}"
        expected = json.loads(check.value)
        # 1 is not true and "1" is not 1: equal values of the same JSON type (any two numbers compare).
        same = found == expected and (type(found) is type(expected) or (_is_number(found) and _is_number(expected)))
        return same, f"{check.field} = {json.dumps(found, ensure_ascii=False)[:80]}"


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


class MaxWords(CheckType):
    name, label = "max-words", "has at most N words"

    def read(self, data: dict[str, Any], ignore_case: bool) -> Check:
        value = data.get("value")
        try:
            limit = whole_number(value, "max-words")
        except InvalidTestSet:
            raise InvalidTestSet(f"max-words needs a whole number of words, not {shown(value)}") from None
        return Check(self.name, limit=limit)

    def to_dict(self, check: Check) -> dict[str, Any]:
        return {"value": check.limit}

    def line_value(self, check: Check) -> str:
        return str(check.limit)

    def decide(self, check: Check, answer: str) -> Decision:
        words = len(_WORD.findall(answer))
        return words <= check.limit, f"{words} words"


class Similar(CheckType):
    """promptfoo's `similar`: the answer is close to the expected text, at least `threshold` (0-1).

    promptfoo measures it with an embedding model; this app has none offline, so the measure here is
    the word similarity Compare uses (the cosine of the two texts' word counts, case-folded), and every
    verdict says so. Word overlap is stricter than meaning: a paraphrase can fail what embeddings pass."""

    name, label, takes_threshold = "similar", "is similar to (word overlap, not embeddings)", True
    DEFAULT_THRESHOLD = 0.75  # promptfoo's, for `similar` in a config (its CSV form's is 0.8)

    def read(self, data: dict[str, Any], ignore_case: bool) -> Check:
        check = super().read(data, ignore_case)
        raw = data.get("threshold", self.DEFAULT_THRESHOLD)
        if isinstance(raw, bool) or not isinstance(raw, (int, float, str)):
            raise InvalidTestSet(f"similar's threshold must be a number from 0 to 1, not {shown(raw)}")
        try:
            threshold = float(raw)
        except ValueError:
            raise InvalidTestSet(f"similar's threshold must be a number from 0 to 1, not {shown(raw)}") from None
        if not 0 <= threshold <= 1:
            raise InvalidTestSet(f"similar's threshold must be from 0 to 1, not {threshold:g}")
        return Check(self.name, value=check.value, threshold=threshold)

    def read_line(self, rest: str) -> dict[str, Any]:
        return {"value": rest}

    def to_dict(self, check: Check) -> dict[str, Any]:
        return {"value": check.value, "threshold": check.threshold}

    def line_value(self, check: Check) -> str:
        return check.value

    def type_suffix(self, check: Check) -> str:
        return f"({check.threshold:g})"

    def decide(self, check: Check, answer: str) -> Decision:
        threshold = self.DEFAULT_THRESHOLD if check.threshold is None else check.threshold
        score = similarity(answer, check.value)
        verdict = "at least" if score >= threshold else "below"
        return score >= threshold, f"word similarity {score:.2f}, {verdict} {threshold:g} (words, not embeddings)"


def _call_parts(call: Any) -> tuple[str, str]:
    """A reply's tool call (a wire dict, whoever sent it) as its function's name and arguments text."""
    function = call.get("function") if isinstance(call, dict) else None
    if not isinstance(function, dict):
        return "", ""
    name, arguments = function.get("name"), function.get("arguments")
    return (name if isinstance(name, str) else ""), (arguments if isinstance(arguments, str) else "")


def _calls_said(calls: Sequence[dict]) -> str:
    said = [f"{name or '(no name)'}({arguments[:60]})" for name, arguments in map(_call_parts, calls[:5])]
    return ", ".join(said) + (f" and {len(calls) - 5} more" if len(calls) > 5 else "")


class CallsTool(CheckType):
    """The reply asks for a call of the named function (its `tool_calls`, not its text)."""

    name, label = "calls-tool", "calls the tool"

    def read(self, data: dict[str, Any], ignore_case: bool) -> Check:
        value = data.get("value")
        text = text_value(value if value is not None else "", "calls-tool's value (a function's name)").strip()
        return Check(self.name, value=text)

    def decide(self, check: Check, answer: str) -> Decision:
        return self.decide_reply(check, answer, (), ())

    def decide_reply(self, check: Check, answer: str, calls: Sequence[dict], tools: Sequence[dict]) -> Decision:
        if not calls:
            return False, "the reply calls no tool" + (" (it answers in text)" if answer.strip() else "")
        names = [_call_parts(call)[0] for call in calls]
        if check.value in names:
            return True, f"calls {_calls_said(calls)}"
        return False, f"calls {_calls_said(calls)}, not {quote(check.value)}"


class ValidToolsCall(CheckType):
    """promptfoo's `is-valid-openai-tools-call`: the reply calls at least one tool, and every call names
    a function the request sent, with arguments that are a JSON object matching its parameters' schema
    (checked under the same bounds as `is-json`'s)."""

    name, label = "is-valid-openai-tools-call", "calls the tools sent, with valid arguments"

    def read(self, data: dict[str, Any], ignore_case: bool) -> Check:
        return Check(self.name)

    def read_line(self, rest: str) -> dict[str, Any]:
        return {}

    def to_dict(self, check: Check) -> dict[str, Any]:
        return {}

    def line_value(self, check: Check) -> str | None:
        return None

    def decide(self, check: Check, answer: str) -> Decision:
        return self.decide_reply(check, answer, (), ())

    def decide_reply(self, check: Check, answer: str, calls: Sequence[dict], tools: Sequence[dict]) -> Decision:
        if not calls:
            return False, "the reply calls no tool"
        sent = {}
        for tool in tools:
            function = tool.get("function") if isinstance(tool, dict) else None
            if isinstance(function, dict) and isinstance(function.get("name"), str):
                sent[function["name"]] = function.get("parameters") or {"type": "object"}
        for number, call in enumerate(calls, 1):
            name, arguments = _call_parts(call)
            if name not in sent:
                known = ", ".join(sent) or "none"
                return False, f"call {number} names {quote(name or '(nothing)')}, not a tool the request sent ({known})"
            data, problem = json_in(arguments)
            if problem is not None:
                return False, f"call {number} ({name}): its arguments are not JSON: {problem}"
            if not isinstance(data, dict):
                return False, f"call {number} ({name}): its arguments are not a JSON object"
            if (schema_problem := schemas.schema_problem(sent[name])) is not None:
                return None, f"call {number} ({name}): the tool's parameters cannot be checked here: {schema_problem}"
            valid, detail = schemas.validate(data, sent[name])
            if not valid:
                return valid, f"call {number} ({name}): the arguments {detail}"
        return True, f"every call is valid: {_calls_said(calls)}"


class LlmRubric(CheckType):
    name, label, judge = "llm-rubric", "a judge model grades it by the rubric", True

    def decide(self, check: Check, answer: str) -> Decision:
        return None, "graded by the judge"


def _table(*kinds: type[CheckType]) -> dict[str, CheckType]:
    return {kind.name: kind() for kind in kinds}


# The one table: the order is the editor's and the error message's.
KINDS: dict[str, CheckType] = _table(
    Contains,
    ContainsAll,
    ContainsAny,
    NotContains,
    Regex,
    Equals,
    StartsWith,
    IsJson,
    JsonField,
    MaxWords,
    Similar,
    CallsTool,
    ValidToolsCall,
    LlmRubric,
)
CHECK_KINDS: tuple[str, ...] = tuple(KINDS)
CHECK_LABELS: dict[str, str] = {name: kind.label for name, kind in KINDS.items()}
FOLDABLE: tuple[str, ...] = tuple(name for name, kind in KINDS.items() if kind.foldable)
_ALIASES = {"not-icontains": ("not-contains", True)}


def kind_of(type_name: str) -> tuple[str, bool]:
    """("contains", True) for "icontains"; raises InvalidTestSet for an unknown type."""
    name = type_name.strip().lower().replace("_", "-")
    if name in _ALIASES:
        return _ALIASES[name]
    if name in KINDS:
        return name, False
    if name.startswith("i") and name[1:] in KINDS and KINDS[name[1:]].foldable:
        return name[1:], True
    known = ", ".join(CHECK_KINDS)
    raise InvalidTestSet(f"unknown check type {shown(type_name.strip())} (known: {known}; an i- prefix ignores case)")


def to_line(check: Check) -> str:
    value = check.spec.line_value(check)
    name = check.type_name + check.spec.type_suffix(check)
    return name if value is None else f"{name}: {value}"


# `similar(0.9): text`: promptfoo's CSV form of a threshold, written after the type's name.
_THRESHOLD = re.compile(r"^\s*([A-Za-z_-]+)\s*\(\s*([0-9]*\.?[0-9]+)\s*\)\s*$")


def check_from_line(line: str) -> Check:
    """`icontains: Ada`, `contains-all: Ada | Porto`, `json-field: user.name = "Ada"`, `max-words: 12`,
    `is-json`, `llm-rubric: The answer names the city.`"""
    name, _, rest = line.partition(":")
    threshold = None
    if (written := _THRESHOLD.match(name)) is not None:
        name, threshold = written.group(1), written.group(2)
    kind, ignore_case = kind_of(name)
    data = {"type": kind, "ignore_case": ignore_case, **KINDS[kind].read_line(rest.strip())}
    if threshold is not None:
        if not KINDS[kind].takes_threshold:
            raise InvalidTestSet(f"{kind} takes no threshold ({name}({threshold}) is written for similar)")
        data["threshold"] = threshold
    return check_from_dict(data)


def check_from_dict(data: Any) -> Check:
    if not isinstance(data, dict):
        raise InvalidTestSet(f"a check must be an object with a `type`, not {type(data).__name__}")
    if "type" not in data:
        raise InvalidTestSet("a check has no `type`")
    kind, folded = kind_of(text_value(data["type"], "a check's type"))
    return KINDS[kind].read(data, folded or bool(data.get("ignore_case", False)))


def check_to_dict(check: Check) -> dict[str, Any]:
    return {"type": check.type_name, **check.spec.to_dict(check)}


def decide(check: Check, answer: str) -> Decision:
    return check.spec.decide(check, answer)
