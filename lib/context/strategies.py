"""Context strategies: which past messages a call carries, and why each one is kept or dropped.

The API is stateless, so every call must resend what the model should know, and every token
resent is paid for again. A strategy makes that trade-off explicit: it returns a decision with a
reason for every message, and the meter, the chat page and the compare page all read the same one.
The system prompt and pinned messages are kept by every strategy.

Tool-using contexts: an assistant message that calls tools and the `tool` messages that answer it
travel together (the API refuses a result whose call is not sent, and a call whose results are not
all sent): every strategy but Manual passes its decisions through `tool_pairs.pair_changes`, which
says why on each message it changes (Manual's toggles carry pairs; a broken pair is flagged). Two
strategies are made for agent contexts, where old tool results fill the window: *clear old tool
results* sends every result but the last K as a short placeholder naming the tool and what was
removed; *drop old tool rounds* leaves the older rounds out entirely, calls and results alike.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Literal

from lib.context.conversation import Message, SystemPrompt, is_tool_call, is_tool_result, turn_starts
from lib.context.tool_pairs import call_of, pair_changes, pair_of

StrategyKind = Literal[
    "manual", "full", "none", "last_turns", "token_budget", "summarise", "clear_tool_results", "drop_tool_rounds"
]
SUMMARY_ID = "summary"


@dataclass(frozen=True)
class Strategy:
    kind: StrategyKind = "manual"
    # for last_turns, and the turns summarise keeps verbatim; the tool results (or rounds) the agent
    # strategies keep: one number each strategy is tuned by, kept with the session under one name
    last_turns: int = 2
    token_budget: int = 1024  # for token_budget: prompt tokens the history may use

    def describe(self) -> str:
        if self.kind == "last_turns":
            return f"Last {counted(self.last_turns)}"
        if self.kind == "token_budget":
            return f"Token budget {self.token_budget:,}"
        if self.kind == "summarise":
            return f"Summarise all but the last {counted(self.last_turns)}"
        if self.kind == "clear_tool_results":
            return f"Clear tool results but the last {self.last_turns}"
        if self.kind == "drop_tool_rounds":
            return f"Drop tool rounds but the last {self.last_turns}"
        return STRATEGY_LABELS[self.kind]


def counted(count: int, what: str = "turn") -> str:
    """ "1 turn", "2 turns": a strategy's words for its window, wherever they are shown."""
    return f"1 {what}" if count == 1 else f"{count} {what}s"


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
# The agent strategies' K, under the turns' key (one number per strategy, kept as the turns are).
RESULTS_KEPT = Parameter("last_turns", "turns", "Tool results kept", Strategy.last_turns, 0, 10_000)
ROUNDS_KEPT = Parameter("last_turns", "turns", "Tool rounds kept", Strategy.last_turns, 0, 10_000)

STRATEGIES: dict[StrategyKind, StrategySpec] = {
    spec.kind: spec
    for spec in (
        StrategySpec("manual", "Manual (the include toggles)"),
        StrategySpec("full", "Full history"),
        StrategySpec("none", "No history (stateless)"),
        StrategySpec("last_turns", "Last N turns", (TURNS,)),
        StrategySpec("token_budget", "Token budget", (BUDGET,)),
        StrategySpec("summarise", "Summarise older turns", (TURNS,)),
        StrategySpec("clear_tool_results", "Clear old tool results", (RESULTS_KEPT,)),
        StrategySpec("drop_tool_rounds", "Drop old tool rounds", (ROUNDS_KEPT,)),
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
    # What is sent in the message's place (same id), when not the message itself: a cleared tool result.
    sent: Message | None = None

    @property
    def outgoing(self) -> Message:
        return self.message if self.sent is None else self.sent


# --- the agent strategies: old tool results cleared, old tool rounds dropped -------------------------


def placeholder(history: list[Message], result: Message) -> str:
    """What the model sees in place of a cleared tool result: the tool, and what was removed."""
    calling = call_of(history, result)
    call = next((c for c in calling.tool_calls if c.id == result.tool_call_id), None) if calling else None
    called = f"{call.name}({call.arguments})" if call is not None else (result.name or "a tool")
    size = len(result.content or "")
    return f"[Tool result cleared to save context: {called} returned {size:,} characters, not resent.]"


def _clear_tool_results(history: list[Message], keep: int) -> list[Decision]:
    results = [m for m in history if is_tool_result(m)]
    recent = {m.id for m in results[len(results) - keep :]} if keep > 0 else set()
    decisions = []
    for m in history:
        if not is_tool_result(m):
            decisions.append(Decision(m, True, "kept: only old tool results are cleared"))
        elif m.id in recent or m.pinned:
            decisions.append(Decision(m, True, f"one of the last {keep} tool results: sent verbatim"))
        else:
            text = placeholder(history, m)
            reason = f"cleared (older than the last {keep} tool results): the model sees “{text}” instead"
            decisions.append(Decision(m, True, reason, sent=replace(m, content=text)))
    return decisions


def _rounds(history: list[Message]) -> dict[str, str]:
    """Each message of a tool round (a call and the results answering it), by id, to its call's id."""
    of: dict[str, str] = {}
    for calling in (m for m in history if is_tool_call(m)):
        of |= {m.id: calling.id for m in pair_of(history, calling)}
    return of


def _drop_tool_rounds(history: list[Message], keep: int) -> list[Decision]:
    of = _rounds(history)
    order = list(dict.fromkeys(of.values()))  # the rounds, oldest first
    recent = set(order[len(order) - keep :]) if keep > 0 else set()
    decisions = []
    for m in history:
        if m.id not in of:
            decisions.append(Decision(m, True, "kept: only old tool rounds are dropped"))
        elif of[m.id] in recent:
            decisions.append(Decision(m, True, f"in the last {counted(keep, 'tool round')}"))
        else:
            decisions.append(
                Decision(m, False, f"an older tool round (the last {keep} are kept): dropped with its calls")
            )
    return decisions


def _turn_of(history: list[Message]) -> list[int]:
    """The turn number of every message, counting from the newest turn (0) backwards."""
    starts = turn_starts(history)  # ascending: bisect counts the turns begun by each index
    return [len(starts) - bisect_right(starts, index) for index in range(len(history))]


def _manual(history: list[Message]) -> list[Decision]:
    return [Decision(m, m.included, "included" if m.included else "left out by hand") for m in history]


def _last_turns(history: list[Message], turns: int) -> list[Decision]:
    ages = _turn_of(history)
    return [
        Decision(m, age < turns, f"in the last {counted(turns)}" if age < turns else f"older than {counted(turns)}")
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
    elif strategy.kind == "clear_tool_results":
        decisions = _clear_tool_results(history, strategy.last_turns)
    elif strategy.kind == "drop_tool_rounds":
        decisions = _drop_tool_rounds(history, strategy.last_turns)
    else:
        raise ValueError(f"unknown strategy {strategy.kind!r}")
    decisions = [Decision(d.message, True, "pinned") if d.message.pinned else d for d in decisions]
    if strategy.kind == "manual":
        return decisions  # the toggles carry pairs (tool_pairs.set_included); a broken pair is flagged
    # Every other strategy keeps a tool call and its results together: the API refuses either alone.
    changes = pair_changes([(d.message, d.kept) for d in decisions])
    return [
        replace(d, kept=changes[d.message.id][0], reason=changes[d.message.id][1]) if d.message.id in changes else d
        for d in decisions
    ]


def summarised(decisions: list[Decision]) -> list[Message]:
    return [d.message for d in decisions if d.reason == "summarised"]


def assemble(system: SystemPrompt, decisions: list[Decision], summary: str | None = None) -> list[Message]:
    """The messages a call sends: the system prompt, an optional summary note, the kept messages."""
    head = system.as_message()
    messages = [head] if head else []
    if summary:
        messages.append(Message("system", f"Summary of the earlier conversation: {summary}", id=SUMMARY_ID))
    return messages + [d.outgoing for d in decisions if d.kept]


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
