"""The deterministic checks: each one reads the answer and says pass or fail, and why.

Pure and fast; the judge (`lib/analysis/experiments/judge.py`) is the one check that needs a call.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from lib.analysis.experiments.cases import Check

_WORD = re.compile(r"\S+")
_MISSING = object()


@dataclass(frozen=True)
class Verdict:
    """One check's result on one answer. `passed` None: it could not be decided (a judge that failed)."""

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


def json_in(answer: str) -> tuple[Any, str | None]:
    """The answer parsed as JSON (a ```json fence around it is allowed), or the parser's complaint."""
    text = answer.strip()
    fenced = re.fullmatch(r"```(?:json)?\s*(.*?)\s*```", text, re.DOTALL)
    if fenced:
        text = fenced.group(1)
    try:
        return json.loads(text), None
    except json.JSONDecodeError as exc:
        return None, f"not valid JSON ({exc.msg} at character {exc.pos})"


def evaluate(check: Check, answer: str) -> Verdict:
    """A deterministic check's verdict on `answer` (a judge check is not decided here)."""
    passed, detail = _decide(check, answer)
    return Verdict(check.describe(), passed, detail)


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
        match = re.search(check.value, answer, re.IGNORECASE if check.ignore_case else 0)
        return match is not None, f"matched {_quote(match.group(0))}" if match else "no match"
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


def score(checks: tuple[Check, ...], answer: str) -> list[Verdict]:
    """Every deterministic check's verdict, in order (judge checks are left to the judge)."""
    return [evaluate(c, answer) for c in checks if not c.is_judge]


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
