"""The deterministic checks: each one reads the answer and says pass or fail, and why.

How each kind decides is its class's (`kinds.py`: one class per kind, in one table); here a verdict is
made safe to keep and a case's checks are scored in order. The judge (`judge.py`) is the one check that
needs a call. Every check is bounded whatever the answer and whoever wrote the check: a regex runs in a
worker process under a time limit (patterns.py), JSON is read only up to MAX_JSON_CHARS, MAX_JSON_DEPTH
levels and MAX_INT_DIGITS digits (jsontext.py), and a check that cannot be decided all the same is a
verdict of None (the cell's error, named), never an exception that would stop the run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from lib.analysis.experiments import patterns, stored
from lib.analysis.experiments.jsontext import MAX_JSON_DEPTH, json_in
from lib.analysis.experiments.kinds import Check

# Re-exported: JSON answers are read (within bounds) in jsontext.py, and looked up here too.
__all__ = ["MAX_JSON_DEPTH", "json_in"]


@dataclass(frozen=True)
class Verdict:
    """One check's result on one answer. `passed` None: it could not be decided (a judge that failed, a
    regex that ran out of time)."""

    check: str  # the check as one line (`icontains: Ada`)
    passed: bool | None
    detail: str
    judge: bool = False

    def as_dict(self) -> dict[str, Any]:
        """As a cell stores it (lib/analysis/experiments/stored.VerdictJson)."""
        return stored.written(
            stored.VerdictJson(check=self.check, passed=self.passed, detail=self.detail, judge=self.judge)
        )

    @classmethod
    def from_dict(cls, data: Any) -> Verdict:
        """A stored verdict; InvalidRun naming the field if it cannot be read."""
        kept = stored.read(stored.VerdictJson, data, "verdict")
        return cls(kept.check, kept.passed, kept.detail, kept.judge)


def evaluate(check: Check, answer: str, calls: Sequence[dict] = (), tools: Sequence[dict] = ()) -> Verdict:
    """A deterministic check's verdict on `answer` (a judge check is not decided here), and on the tool
    `calls` the reply made, given the `tools` its request sent. A check that fails to decide is a
    verdict of None saying why, never an exception: one answer must not stop a run."""
    try:
        passed, detail = check.spec.decide_reply(check, answer, calls, tools)
    except Exception as exc:
        passed, detail = None, f"the check could not be decided: {type(exc).__name__}: {str(exc)[:200]}"
    return Verdict(check.describe(), passed, detail)


SKIPPED_REGEX = "not run: a regex before it ran out of time on this answer"


def score(
    checks: tuple[Check, ...], answer: str, calls: Sequence[dict] = (), tools: Sequence[dict] = ()
) -> list[Verdict]:
    """Every deterministic check's verdict, in order (judge checks are left to the judge). Once one regex
    has run out of time on the answer, the regexes after it are not run (undecided, said so): a cell
    waits for one time limit at most, however many such checks its case has."""
    verdicts: list[Verdict] = []
    timed_out = False
    for check in (c for c in checks if not c.is_judge):
        if check.kind == "regex" and timed_out:
            verdicts.append(Verdict(check.describe(), None, SKIPPED_REGEX))
            continue
        verdict = evaluate(check, answer, calls, tools)
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
