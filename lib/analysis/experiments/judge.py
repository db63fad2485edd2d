"""The judge: a model the user picks grades an answer against a rubric, in a fixed JSON shape.

The judge's output is forced into `{"verdict": "pass" | "fail", "reason": "…"}` by the server, so it
parses: OpenAI-style servers take `response_format: {"type": "json_schema", …, "strict": true}`;
llama-cpp-python's server (the embedded model) takes `{"type": "json_object", "schema": …}` and turns
the schema into a grammar that constrains every token it samples. What can still go wrong — the call
fails, the server refuses (no text), the reply is cut at the token limit, a server that ignored the
format sends prose — ends as a verdict of None with the reason named, never as a guess.

The judge's request comes from the one builder (`lib.context.request.build_request`): its rubric prompt is
the system prompt, the question and the answer to grade are the question, no history.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Any

from lib.backends.kinds import BACKENDS
from lib.context.conversation import Message, SystemPrompt
from lib.context.payload import RequestPlan, Sampling, in_wire_order, serialise
from lib.context.request import Target, build_request
from lib.context.strategies import Strategy
from lib.core.outcome import CallOutcome
from lib.core.wire import Kind, TokenLimitField

VERDICTS = ("pass", "fail")
REASON_CHARS = 200  # the embedded model's grammar bounds the reason: a verdict always fits the reply limit
JUDGE_MAX_TOKENS = 120
JUDGE_SYSTEM = (
    "You are a strict grader. You get a rubric, a question and an answer. Decide whether the answer "
    'meets the rubric. Reply with JSON only: {"verdict": "pass" or "fail", "reason": one short sentence}.'
)
QUESTION_ID = "judge-question"


def schema(bounded: bool) -> dict[str, Any]:
    """The verdict's JSON schema; `bounded` adds a length limit on the reason (llama.cpp's grammar
    honours it; OpenAI's strict mode refuses the keyword)."""
    reason: dict[str, Any] = {"type": "string"}
    if bounded:
        reason["maxLength"] = REASON_CHARS
    return {
        "type": "object",
        "properties": {"verdict": {"type": "string", "enum": list(VERDICTS)}, "reason": reason},
        "required": ["verdict", "reason"],
        "additionalProperties": False,
    }


def response_format(kind: Kind) -> dict[str, Any]:
    """How this backend is told to answer in the verdict's shape (the backend says how, and whether
    the reason's length may be bounded)."""
    backend = BACKENDS[kind]
    return backend.json_answer_format("verdict", schema(bounded=backend.bounds_json_strings))


@dataclass(frozen=True)
class JudgeSpec:
    """Who judges: a backend kind and model (the key is never part of it), and its reply limit."""

    kind: Kind
    model: str
    base_url: str = ""
    max_tokens: int = JUDGE_MAX_TOKENS

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "model": self.model, "base_url": self.base_url, "max_tokens": self.max_tokens}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> JudgeSpec:
        return cls(data["kind"], data["model"], data.get("base_url", ""), int(data.get("max_tokens", JUDGE_MAX_TOKENS)))


def prompt(rubric: str, question: str, answer: str) -> str:
    return f"Rubric: {rubric}\n\nQuestion: {question}\n\nAnswer: {answer}\n\nDoes the answer meet the rubric?"


def judge_request(
    rubric: str,
    question: str,
    answer: str,
    target: Target,
    kind: Kind,
    token_limit_field: TokenLimitField = "max_tokens",
    max_tokens: int = JUDGE_MAX_TOKENS,
) -> RequestPlan:
    """The judge's call, planned by the one builder, with the response format that forces its shape."""
    sampling = Sampling(temperature=0.0, max_tokens=max_tokens, token_limit_field=token_limit_field, stream=False)
    asked = Message("user", prompt(rubric, question, answer), id=QUESTION_ID)
    plan = build_request(SystemPrompt(JUDGE_SYSTEM), [], asked, Strategy("none"), target, sampling).plan
    body = in_wire_order({**plan.body, "response_format": response_format(kind)})
    return replace(plan, body=body, body_bytes=len(serialise(body)))


@dataclass(frozen=True)
class JudgeVerdict:
    passed: bool | None  # None: no verdict (the reason says why)
    reason: str


def parse_verdict(outcome: CallOutcome, max_tokens: int = JUDGE_MAX_TOKENS) -> JudgeVerdict:
    """The judge's reply read strictly: only `{"verdict": "pass"|"fail", "reason": str}` counts."""
    if outcome.error:
        return JudgeVerdict(None, f"The judge call failed: {outcome.error}")
    text = outcome.text.strip()
    if not text:
        return JudgeVerdict(None, "The judge answered with no text (a refusal or a content filter): no verdict.")
    if outcome.finish_reason == "length":
        return JudgeVerdict(
            None, f"The judge's reply stopped at its {max_tokens}-token limit before the JSON closed: no verdict."
        )
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        return JudgeVerdict(None, f"The judge's reply is not JSON ({exc.msg} at character {exc.pos}): no verdict.")
    if not isinstance(data, dict):
        return JudgeVerdict(None, f"The judge's JSON is a {type(data).__name__}, not an object: no verdict.")
    verdict = data.get("verdict")
    if verdict not in VERDICTS:
        return JudgeVerdict(None, f'The judge\'s JSON has no verdict of "pass" or "fail" (got {verdict!r}).')
    reason = data.get("reason")
    if not isinstance(reason, str):
        return JudgeVerdict(None, "The judge's JSON has no reason (a string): no verdict.")
    return JudgeVerdict(verdict == "pass", reason.strip() or "(no reason given)")


@dataclass(frozen=True)
class Agreement:
    """How often the judge's verdict matched the deterministic checks', on cells that had both."""

    both: int  # cells with a judge verdict and at least one deterministic check
    agree: int
    judge_pass_checks_fail: int
    judge_fail_checks_pass: int

    @property
    def rate(self) -> float | None:
        return self.agree / self.both if self.both else None

    def sentence(self) -> str:
        if not self.both:
            return "No cell has both a judge verdict and a deterministic check: no agreement to measure."
        return (
            f"The judge agreed with the deterministic checks on {self.agree} of {self.both} cells "
            f"({100 * self.agree / self.both:.0f} %): it passed {self.judge_pass_checks_fail} the checks failed "
            f"and failed {self.judge_fail_checks_pass} the checks passed."
        )


def agreement(pairs: list[tuple[bool, bool]]) -> Agreement:
    """`pairs`: (judge passed, deterministic checks all passed) per cell."""
    agree = sum(j == d for j, d in pairs)
    return Agreement(len(pairs), agree, sum(j and not d for j, d in pairs), sum(d and not j for j, d in pairs))
