"""What the attribution panel asks of a conversation and of a backend's prices: the question an answer
replies to, the smallest context applied to the chat as its include toggles, and what a run of calls at
temperature 0 costs before it runs (through the one cost formula, lib/core/prices.cost)."""

from __future__ import annotations

from dataclasses import dataclass, replace

from lib.analysis.attribution.context import SYSTEM_ID, AnswerContext
from lib.analysis.attribution.planner import AblationPlan, PassCost
from lib.analysis.attribution.run import SmallestContext
from lib.context.conversation import Message
from lib.context.strategies import SUMMARY_ID
from lib.core import prices as pricing


def question_before(history: list[Message], answer_id: str) -> Message | None:
    """The user message the answer `answer_id` replies to (the last one before it), or None."""
    position = next((i for i, m in enumerate(history) if m.id == answer_id), None)
    if position is None:
        return None
    return next((m for m in reversed(history[:position]) if m.role == "user"), None)


def not_applicable(found: SmallestContext) -> str | None:
    """Why the smallest context cannot be the chat's include toggles (None: it can)."""
    summary_kept = any(u.message.id == SUMMARY_ID for u, k in zip(found.units, found.kept, strict=True) if k)
    if summary_kept:
        return "The smallest context keeps the strategy's summary, which no include toggle can send."
    return None


@dataclass(frozen=True)
class Toggles:
    """The chat once the smallest context is its include toggles (under the Manual strategy)."""

    history: list[Message]
    system_included: bool | None  # None: the system prompt was not part of the context, left as it is
    unpinned: int  # pinned messages left out, unpinned (every strategy keeps a pinned one)

    def sentence(self, found: SmallestContext) -> str:
        note = f" {self.unpinned} pinned message(s) left out were unpinned." if self.unpinned else ""
        return (
            f"Applied: the include toggles now send {found.minimal.kept_count} of the {len(found.units)} messages "
            f"before that question, and the strategy is Manual.{note} Messages after the question are unchanged."
        )


def as_toggles(history: list[Message], found: SmallestContext, question_id: str) -> Toggles | None:
    """Every message before the question included if and only if the smallest context keeps it; a
    dropped pinned message unpinned; the messages from the question on unchanged. None when the question
    is no longer in the history."""
    kept_ids = {u.message.id for u, k in zip(found.units, found.kept, strict=True) if k}
    position = next((i for i, m in enumerate(history) if m.id == question_id), None)
    if position is None:
        return None
    unpinned = 0
    changed = []
    for index, message in enumerate(history):
        if index >= position:
            changed.append(message)
            continue
        included = message.id in kept_ids
        unpinned += message.pinned and not included
        changed.append(replace(message, included=included, pinned=message.pinned and included))
    system = SYSTEM_ID in kept_ids if any(u.message.id == SYSTEM_ID for u in found.units) else None
    return Toggles(changed, system, unpinned)


@dataclass(frozen=True)
class CallsEstimate:
    """A regenerating run before it runs: its completion tokens, expected and at most, and their cost."""

    completion_tokens: int  # every pass's reply as long as the answer
    most_completion_tokens: int  # every pass's reply at its token limit
    expected: float | None  # USD; None: a price is unknown
    at_most: float | None


def calls_estimate(context: AnswerContext, plan: AblationPlan, cost: PassCost) -> CallsEstimate:
    """What the calls of a regenerating run cost (`cost`: its prompt tokens and the answer's length)."""
    prices = context.target.model.prices
    completion = plan.passes * cost.answer_tokens
    most = plan.passes * context.sampling.max_tokens
    expected = pricing.cost(prices, cost.prompt_tokens, completion_tokens=completion)
    at_most = pricing.cost(prices, cost.prompt_tokens, completion_tokens=most)
    return CallsEstimate(completion, most, expected, at_most)
