"""Context strategies: which past messages a call carries, and why each one is kept or dropped.

The API is stateless, so every call must resend what the model should know, and every token
resent is paid for again. A strategy makes that trade-off explicit: it returns a decision with a
reason for every message, and the meter, the chat page and the compare page all read the same one.
The system prompt and pinned messages are kept by every strategy.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

from lib.context.conversation import Message, SystemPrompt, turn_starts
from lib.context.tool_pairs import pair_changes

StrategyKind = Literal["manual", "full", "none", "last_turns", "token_budget", "summarise"]
SUMMARY_ID = "summary"


@dataclass(frozen=True)
class Strategy:
    kind: StrategyKind = "manual"
    last_turns: int = 2  # for last_turns, and the turns summarise keeps verbatim
    token_budget: int = 1024  # for token_budget: prompt tokens the history may use

    def describe(self) -> str:
        if self.kind == "last_turns":
            return f"Last {self.last_turns} turns"
        if self.kind == "token_budget":
            return f"Token budget {self.token_budget:,}"
        if self.kind == "summarise":
            return f"Summarise all but the last {self.last_turns} turns"
        return STRATEGY_LABELS[self.kind]


# --- the registry: what a picker shows for each strategy and how it builds one -----------------------

ParameterField = Literal["last_turns", "token_budget"]


@dataclass(frozen=True)
class Parameter:
    """A number a strategy is tuned by: the `Strategy` field it sets, and how a page asks for it."""

    field: ParameterField
    key: str  # the short name pages keep it under ("strategy_turns" on Chat, a slot's "turns" on Compare)
    label: str
    default: int
    minimum: int
    maximum: int
    step: int = 1

    def clamp(self, value: object) -> int:
        """The value as an int within the bounds; the default when it is not a number."""
        try:
            number = int(value)  # type: ignore[call-overload]
        except (TypeError, ValueError):
            return self.default
        return max(self.minimum, min(self.maximum, number))


@dataclass(frozen=True)
class StrategySpec:
    kind: StrategyKind
    label: str
    parameters: tuple[Parameter, ...] = ()

    def build(self, values: Mapping[str, object] | None = None) -> Strategy:
        """The strategy, its parameters read from `values` by key (the default when absent)."""
        values = values or {}
        fields = {p.field: p.clamp(values.get(p.key, p.default)) for p in self.parameters}
        return Strategy(self.kind, **fields)

    def values_of(self, strategy: Strategy) -> dict[str, int]:
        """The reverse of `build`: this strategy's parameter values, by key."""
        return {p.key: getattr(strategy, p.field) for p in self.parameters}


TURNS = Parameter("last_turns", "turns", "Turns kept", Strategy.last_turns, 0, 10_000)
BUDGET = Parameter("token_budget", "budget", "Budget (tokens)", Strategy.token_budget, 0, 10_000_000, step=64)
PARAMETERS: tuple[Parameter, ...] = (TURNS, BUDGET)

STRATEGIES: dict[StrategyKind, StrategySpec] = {
    spec.kind: spec
    for spec in (
        StrategySpec("manual", "Manual (the include toggles)"),
        StrategySpec("full", "Full history"),
        StrategySpec("none", "No history (stateless)"),
        StrategySpec("last_turns", "Last N turns", (TURNS,)),
        StrategySpec("token_budget", "Token budget", (BUDGET,)),
        StrategySpec("summarise", "Summarise older turns", (TURNS,)),
    )
}
STRATEGY_LABELS: dict[StrategyKind, str] = {kind: spec.label for kind, spec in STRATEGIES.items()}


def spec_of(kind: object) -> StrategySpec:
    """The registry's entry for `kind`; Manual for an unknown one (an old session, a hand-edited file)."""
    return STRATEGIES.get(kind, STRATEGIES["manual"])  # type: ignore[call-overload]


@dataclass(frozen=True)
class Decision:
    message: Message
    kept: bool
    reason: str


def _turn_of(history: list[Message]) -> list[int]:
    """The turn number of every message, counting from the newest turn (0) backwards."""
    starts = turn_starts(history)  # ascending: bisect counts the turns begun by each index
    return [len(starts) - bisect_right(starts, index) for index in range(len(history))]


def _manual(history: list[Message]) -> list[Decision]:
    return [Decision(m, m.included, "included" if m.included else "left out by hand") for m in history]


def _last_turns(history: list[Message], turns: int) -> list[Decision]:
    ages = _turn_of(history)
    return [
        Decision(m, age < turns, f"in the last {turns} turns" if age < turns else f"older than {turns} turns")
        for m, age in zip(history, ages, strict=True)
    ]


def _token_budget(
    history: list[Message], system_tokens: int, budget: int, tokens_of: Callable[[Message], int]
) -> list[Decision]:
    """Keep the newest messages that fit; pinned ones first, whatever they cost."""
    used = system_tokens + sum(tokens_of(m) for m in history if m.pinned)
    kept: dict[str, str] = {}
    for message in reversed([m for m in history if not m.pinned]):
        used += tokens_of(message)
        if used > budget:
            break  # older messages are dropped too: the kept history has no gaps
        kept[message.id] = f"fits the budget ({used:,}/{budget:,} tokens)"
    return [Decision(m, m.id in kept, kept.get(m.id, f"over the {budget:,}-token budget")) for m in history]


def decide(
    strategy: Strategy,
    history: list[Message],
    tokens_of: Callable[[Message], int] | None = None,
    system_tokens: int = 0,
) -> list[Decision]:
    """A decision for every message of `history`, in order. Pinned messages are always kept."""
    if strategy.kind == "manual":
        decisions = _manual(history)
    elif strategy.kind == "full":
        decisions = [Decision(m, True, "full history") for m in history]
    elif strategy.kind == "none":
        decisions = [Decision(m, False, "stateless: no history") for m in history]
    elif strategy.kind in ("last_turns", "summarise"):
        decisions = _last_turns(history, strategy.last_turns)
        if strategy.kind == "summarise":
            decisions = [d if d.kept else Decision(d.message, False, "summarised") for d in decisions]
    elif strategy.kind == "token_budget":
        if tokens_of is None:
            raise ValueError("the token-budget strategy needs a token counter")
        decisions = _token_budget(history, system_tokens, strategy.token_budget, tokens_of)
    else:
        raise ValueError(f"unknown strategy {strategy.kind!r}")
    decisions = [Decision(d.message, True, "pinned") if d.message.pinned else d for d in decisions]
    if strategy.kind == "manual":
        return decisions  # the toggles carry pairs (tool_pairs.set_included); a broken pair is flagged
    # Every other strategy keeps a tool call and its results together: the API refuses either alone.
    changes = pair_changes([(d.message, d.kept) for d in decisions])
    return [Decision(d.message, *changes[d.message.id]) if d.message.id in changes else d for d in decisions]


def summarised(decisions: list[Decision]) -> list[Message]:
    return [d.message for d in decisions if d.reason == "summarised"]


def assemble(system: SystemPrompt, decisions: list[Decision], summary: str | None = None) -> list[Message]:
    """The messages a call sends: the system prompt, an optional summary note, the kept messages."""
    head = system.as_message()
    messages = [head] if head else []
    if summary:
        messages.append(Message("system", f"Summary of the earlier conversation: {summary}", id=SUMMARY_ID))
    return messages + [d.message for d in decisions if d.kept]


def summary_request(older: list[Message]) -> list[dict]:
    """The one call that condenses the messages a summarising strategy leaves out."""
    transcript = "\n".join(f"{m.role}: {m.content}" for m in older)
    return [
        {
            "role": "system",
            "content": "Summarise the conversation below in at most three sentences. Keep names, "
            "facts and decisions; drop pleasantries.",
        },
        {"role": "user", "content": transcript},
    ]


def summary_key(older: list[Message]) -> tuple[tuple[str, str], ...]:
    """What the summary depends on: it is reused until one of these messages changes."""
    return tuple((m.role, m.content) for m in older)
