"""The deterministic checks: each one reads the answer and says pass or fail, and why.

The judge (`lib/analysis/experiments/judge.py`) is the one check that needs a call. Every check is
bounded whatever the answer and whoever wrote the check: a regex runs in a worker process under a time
limit (patterns.py), JSON is read only up to MAX_JSON_CHARS, MAX_JSON_DEPTH levels and MAX_INT_DIGITS
digits, and a check that cannot be decided all the same is a verdict of None (the cell's error, named),
never an exception that would stop the run.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from typing import Any

from lib.analysis.experiments import patterns
from lib.analysis.experiments.cases import Check

_WORD = re.compile(r"\S+")
_MISSING = object()
# JSON answers are read within bounds, so that no answer makes a check raise (Python's parser recurses
# once per level, and refuses integers longer than sys.get_int_max_str_digits()) or take long.
MAX_JSON_CHARS = 2_000_000
MAX_JSON_DEPTH = 100
MAX_INT_DIGITS = min(sys.get_int_max_str_digits() or 4300, 4300)


@dataclass(frozen=True)
class Verdict:
    """One check's result on one answer. `passed` None: it could not be decided (a judge that failed, a
    regex that ran out of time)."""

    check: str  # the check as one line (`icontains: Ada`)
    passed: bool | None
    detail: str
    judge: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {"check": self.check, "passed": self.passed, "detail": self.detail, "judge": self.judge}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Verdict:
        return cls(str(data["check"]), data.get("passed"), str(data.get("detail", "")), bool(data.get("judge")))


def _fold(text: str, check: Check) -> str:
    return text.casefold() if check.ignore_case else text


def _quote(text: str, limit: int = 60) -> str:
    return repr(text if len(text) <= limit else text[: limit - 1] + "…")


def field_at(data: Any, path: str) -> Any:
    """The value at a dotted path ("user.name", "items.0"); `_MISSING` when there is none."""
    current = data
    for part in [p for p in path.split(".") if p]:
        if isinstance(current, dict) and part in current:
            current = current[part]
        elif isinstance(current, list) and part.lstrip("-").isdigit() and -len(current) <= int(part) < len(current):
            current = current[int(part)]
        else:
            return _MISSING
    return current


class _NotRead(ValueError):
    """JSON beyond the bounds: the message completes "not valid JSON here: …"."""


def unfenced(text: str) -> str:
    """The text inside a ```json (or ```) fence that wraps all of `text` (stripped), else `text`.
    Plain string operations: the regex this replaces backtracked in cubic time on an answer that opens
    a fence and goes on with spaces (85 s at 4,004 characters)."""
    if len(text) < 6 or not text.startswith("```") or not text.endswith("```"):
        return text
    inner = text[3:-3]
    if inner[:4].lower() == "json":
        inner = inner[4:]
    return inner.strip()


def _depth_over(text: str, limit: int) -> bool:
    """Whether brackets outside strings nest deeper than `limit` (one pass; brackets in strings don't count)."""
    if text.count("[") + text.count("{") <= limit:
        return False
    depth, in_string, escaped = 0, False, False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > limit:
                return True
        elif char in "]}":
            depth -= 1
    return False


def _integer(digits: str) -> int:
    if len(digits.lstrip("-")) > MAX_INT_DIGITS:
        raise _NotRead(f"a number of {len(digits.lstrip('-')):,} digits (at most {MAX_INT_DIGITS:,} are read)")
    return int(digits)


def json_in(answer: str) -> tuple[Any, str | None]:
    """The answer parsed as JSON (a ```json fence around it is allowed), or why not."""
    text = unfenced(answer.strip())
    if len(text) > MAX_JSON_CHARS:
        return None, f"not valid JSON here: {len(text):,} characters (at most {MAX_JSON_CHARS:,} are read)"
    if _depth_over(text, MAX_JSON_DEPTH):
        return None, f"not valid JSON here: nested deeper than {MAX_JSON_DEPTH} levels"
    try:
        return json.loads(text, parse_int=_integer), None
    except json.JSONDecodeError as exc:
        return None, f"not valid JSON ({exc.msg} at character {exc.pos})"
    except _NotRead as exc:
        return None, f"not valid JSON here: {exc}"
    except (ValueError, RecursionError) as exc:  # whatever else the parser refuses: a verdict, not a crash
        return None, f"not valid JSON here: {type(exc).__name__}: {str(exc)[:200]}"


def evaluate(check: Check, answer: str) -> Verdict:
    """A deterministic check's verdict on `answer` (a judge check is not decided here). A check that
    fails to decide is a verdict of None saying why, never an exception: one answer must not stop a run."""
    try:
        passed, detail = _decide(check, answer)
    except Exception as exc:
        passed, detail = None, f"the check could not be decided: {type(exc).__name__}: {str(exc)[:200]}"
    return Verdict(check.describe(), passed, detail)


def states(answer: str, expected: str) -> bool | None:
    """Whether `answer` states `expected` (an experiment's `icontains` check, as Compare's *correct?* and
    attribution's warning read it); None when nothing is expected."""
    if not expected.strip():
        return None
    return evaluate(Check("contains", expected.strip(), ignore_case=True), answer).passed


def _decide(check: Check, answer: str) -> tuple[bool | None, str]:
    kind = check.kind
    text = _fold(answer, check)
    if kind in ("contains", "not-contains"):
        found = _fold(check.value, check) in text
        if kind == "contains":
            return found, "found" if found else f"{_quote(check.value)} is not in the answer"
        return not found, f"{_quote(check.value)} is in the answer" if found else "absent, as required"
    if kind in ("contains-all", "contains-any"):
        present = [v for v in check.values if _fold(v, check) in text]
        missing = [v for v in check.values if v not in present]
        if kind == "contains-all":
            return not missing, "all found" if not missing else "missing: " + ", ".join(map(_quote, missing))
        return bool(present), "found: " + ", ".join(map(_quote, present)) if present else "none of them is there"
    if kind == "regex":
        try:
            matched = patterns.search(check.value, answer, check.ignore_case)
        except patterns.RegexProblem as undecided:
            return None, str(undecided)
        return matched is not None, "no match" if matched is None else f"matched {_quote(matched)}"
    if kind == "equals":
        equal = text.strip() == _fold(check.value, check).strip()
        return equal, "equal (surrounding spaces aside)" if equal else f"the answer is {_quote(answer.strip())}"
    if kind == "starts-with":
        starts = text.lstrip().startswith(_fold(check.value, check))
        return starts, "it does" if starts else f"it starts {_quote(answer.lstrip()[: len(check.value) + 10])}"
    if kind == "max-words":
        words = len(_WORD.findall(answer))
        return words <= check.limit, f"{words} words"
    if kind == "is-json":
        _, problem = json_in(answer)
        return problem is None, problem or "valid JSON"
    if kind == "json-field":
        data, problem = json_in(answer)
        if problem:
            return False, problem
        found = field_at(data, check.field)
        if found is _MISSING:
            return False, f"no field {check.field!r}"
        expected = json.loads(check.value)
        # 1 is not true and "1" is not 1: equal values of the same JSON type (any two numbers compare).
        same = found == expected and (type(found) is type(expected) or (_is_number(found) and _is_number(expected)))
        return same, f"{check.field} = {json.dumps(found, ensure_ascii=False)[:80]}"
    if kind == "llm-rubric":
        return None, "graded by the judge"
    raise ValueError(f"unknown check kind {kind!r}")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


SKIPPED_REGEX = "not run: a regex before it ran out of time on this answer"


def score(checks: tuple[Check, ...], answer: str) -> list[Verdict]:
    """Every deterministic check's verdict, in order (judge checks are left to the judge). Once one regex
    has run out of time on the answer, the regexes after it are not run (undecided, said so): a cell
    waits for one time limit at most, however many such checks its case has."""
    verdicts: list[Verdict] = []
    timed_out = False
    for check in (c for c in checks if not c.is_judge):
        if check.kind == "regex" and timed_out:
            verdicts.append(Verdict(check.describe(), None, SKIPPED_REGEX))
            continue
        verdict = evaluate(check, answer)
        timed_out = timed_out or (check.kind == "regex" and verdict.detail.startswith(patterns.TIMED_OUT))
        verdicts.append(verdict)
    return verdicts


# A reply scored as it came, but not an ordinary answer: flagged in the grid and the export, by these
# notes (kept with the cell's notices: lib/analysis/experiments/results.finish_note finds them).
CUT_BY_LENGTH = "Cut by max_tokens: the reply stopped at its token limit, not where the model ended it."
CUT_BY_FILTER = "Cut by the content filter: the server withheld the rest of the reply."
TOOL_NO_TEXT = "No text: the model asked for a tool (tool_calls) instead of answering."
TOOL_AFTER_TEXT = "The model asked for a tool (tool_calls) after this text: the answer may be incomplete."
FINISH_NOTES = (CUT_BY_LENGTH, CUT_BY_FILTER, TOOL_NO_TEXT, TOOL_AFTER_TEXT)


def finish_note(finish_reason: str | None, text: str) -> str | None:
    """What a reply's finish_reason says about it, when it is not an ordinary end ("stop")."""
    if finish_reason == "length":
        return CUT_BY_LENGTH
    if finish_reason == "content_filter":
        return CUT_BY_FILTER
    if finish_reason in ("tool_calls", "function_call"):
        return TOOL_AFTER_TEXT if text.strip() else TOOL_NO_TEXT
    return None


def overall(verdicts: list[Verdict]) -> str:
    """The cell's status from its verdicts: "fail" if any failed, "error" if one could not be decided
    (a judge that failed), else "pass"; "answered" when the case has no checks."""
    if not verdicts:
        return "answered"
    if any(v.passed is False for v in verdicts):
        return "fail"
    if any(v.passed is None for v in verdicts):
        return "error"
    return "pass"
