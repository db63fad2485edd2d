"""An answer as the attribution panel takes it: its context with the sampling every ablated request is
built with, the fingerprint that tells a changed context from the one attributed, the answer's length
in tokens, and the smallest context sent back as one real call, with what its reply says."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from typing import Literal

import openai

from lib.analysis.attribution.context import AnswerContext, sampling_of
from lib.analysis.compare import similarity
from lib.backends.reply import Reply
from lib.context.payload import RequestPlan, serialise
from lib.context.request import Target
from lib.core.outcome import CallOutcome


def answer_context(plan: RequestPlan, answer: str, target: Target) -> AnswerContext:
    """The answer's context; every ablated request is the original at temperature 0 (a reasoning
    model takes none: its regenerations are sampled). Raises AttributionError when there is nothing
    to attribute (no question before the answer, or only the question sent)."""
    sampling = sampling_of(plan.body)
    if not plan.model.reasoning:
        sampling = replace(sampling, temperature=0.0)
    return AnswerContext(plan, answer, target, sampling)


def fingerprint(context: AnswerContext, kind: str, base_url: str) -> str:
    """The body sent, the answer and where it was sent: results made for another are said to be stale."""
    digest = hashlib.sha256(serialise(context.plan.body))
    digest.update(context.answer.encode("utf-8", "replace"))
    digest.update(f"{kind}|{base_url}".encode())
    return digest.hexdigest()


def answer_tokens(context: AnswerContext) -> int:
    """The answer's tokens as the context's model counts a reply (each pass scores, or regenerates, them)."""
    return context.target.counter.count([{"role": "assistant", "content": context.answer}]).per_message[0]


def send_check(client: openai.OpenAI, plan: RequestPlan, secrets: tuple[str, ...]) -> CallOutcome:
    """The smallest context sent as it was planned (temperature 0): one real call, read to its end."""
    reply = Reply(client, plan.body, secrets)
    reply.text()
    return reply.outcome


def check_said(
    context: AnswerContext, plan: RequestPlan, outcome: CallOutcome
) -> tuple[Literal["success", "warning", "error"], str]:
    """(level, sentence): whether the check call gave the answer back."""
    if not outcome.ok:
        return "error", outcome.error or "The call failed."
    if outcome.text.strip() == context.answer.strip():
        return "success", f"Sent at temperature 0 with {plan.prompt_tokens:,} prompt tokens: the same answer came back."
    return "warning", (
        f"Sent at temperature 0: a different answer (word similarity "
        f"{similarity(context.answer, outcome.text):.2f}):\n\n{outcome.text}"
    )
