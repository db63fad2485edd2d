"""The chat's next request, as every page sees it: the strategy's decisions, then the plan."""

from __future__ import annotations

from dataclasses import dataclass

from lib import conversation as conv
from lib.payload import RequestPlan, plan_request
from lib.strategies import Decision, Strategy, assemble, decide, summarised
from ui import state
from ui.settings import Settings
from ui.summary import Summary, summary_of

DRAFT_ID = "draft"


@dataclass(frozen=True)
class ChatPlan:
    plan: RequestPlan
    decisions: list[Decision]  # one per history message considered, with the reason
    summary: Summary | None  # the summarising strategy's extra call, when it made one


def chat_strategy() -> Strategy:
    return Strategy(
        state.get(state.STRATEGY_KIND),
        last_turns=int(state.get(state.STRATEGY_TURNS)),
        token_budget=int(state.get(state.STRATEGY_BUDGET)),
    )


def current_plan(settings: Settings, draft: str = "", upto: str | None = None) -> ChatPlan:
    """The request for the history (plus the draft), or up to message `upto` for a retry."""
    history = state.history()
    if upto is not None:
        cut = next(i for i, m in enumerate(history) if m.id == upto)
        history = history[: cut + 1]
    system, counter, strategy = state.system_prompt(), settings.counter(), chat_strategy()
    system_message = system.as_message()
    system_tokens = counter.count([system_message.as_api()]).total if system_message else 0
    decisions = decide(strategy, history, lambda m: counter.count([m.as_api()]).per_message[0], system_tokens)
    summary = summary_of(summarised(decisions), settings.provider) if strategy.kind == "summarise" else None
    messages = assemble(system, decisions, summary.text if summary and not summary.error else None)
    if draft.strip():
        messages.append(conv.Message("user", draft, id=DRAFT_ID))
    plan = plan_request(messages, settings.model, counter, settings.sampling, settings.provider.model)
    return ChatPlan(plan, decisions, summary)
