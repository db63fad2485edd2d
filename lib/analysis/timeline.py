"""The cost of statelessness: what each turn resends, and what that adds up to, per strategy.

Every call must carry the context again, so with the full history the tokens sent per turn grow
linearly and the tokens billed over a conversation grow quadratically; bounded strategies level off.
Prompt caching changes the bill: the full history repeats the previous call's prompt as its prefix,
so most of it is read from the cache (at OpenAI, at a fraction of the input price), while a sliding
window drops the oldest messages and shifts everything after them, so its prefix breaks every turn.
"""

from __future__ import annotations

from lib.context import caching
from lib.context.composition import Composition, compose
from lib.context.conversation import Message, SystemPrompt
from lib.context.payload import Sampling
from lib.context.request import Target, build_request
from lib.context.strategies import Strategy
from lib.core.prices import cost, money

MAX_TURNS = 1000
BACKEND = ("timeline",)  # every turn of one strategy goes to the same backend: its cache carries over


def _reply_after(history: list[Message], index: int) -> str:
    """The answer that followed the question at `index` (what the next call's cache holds after it)."""
    following = history[index + 1] if index + 1 < len(history) else None
    return following.content if following is not None and following.role == "assistant" else ""


def _sum(total: float | None, value: float | None) -> float | None:
    return None if total is None or value is None else total + value


def timeline(
    history: list[Message],
    strategies: list[Strategy],
    system: SystemPrompt,
    target: Target,
    sampling: Sampling,
    rule: caching.CacheRule | None = None,
) -> list[dict]:
    """One row per (turn, strategy): the prompt tokens that turn's call sends, what the cache of the
    strategy's previous turn serves of them under `rule`, and the running totals with and without it.

    Turn t is the call made for the t-th user message, planned by the one request builder exactly as
    the chat would plan it: the strategy chooses among the messages before it, the question is added.
    Each strategy is its own session: turn t's cache is what turn t-1 of the same strategy left.
    """
    questions = [i for i, m in enumerate(history) if m.role == "user"][:MAX_TURNS]
    rows = []
    model = target.model
    for strategy in strategies:
        cumulative, cumulative_cached = 0, 0
        spent: float | None = 0.0
        spent_cached: float | None = 0.0
        previous: caching.CachedCall | None = None
        for turn, index in enumerate(questions, start=1):
            plan = build_request(system, history[:index], history[index], strategy, target, sampling).plan
            prediction = (
                caching.predict(previous, BACKEND, plan.messages, target.counter, rule) if rule is not None else None
            )
            cached = prediction.cached if prediction is not None else None
            previous = caching.CachedCall(BACKEND, plan.messages, _reply_after(history, index))
            cumulative += plan.prompt_tokens
            cumulative_cached += cached or 0
            call_cost, call_cost_cached = (
                cost(model.prices, plan.prompt_tokens),
                cost(model.prices, plan.prompt_tokens, cached or 0),
            )
            spent, spent_cached = _sum(spent, call_cost), _sum(spent_cached, call_cost_cached)
            rows.append(
                {
                    "turn": turn,
                    "strategy": strategy.describe(),
                    "messages sent": len(plan.messages),
                    "prompt tokens": plan.prompt_tokens,
                    "cached tokens": cached,
                    "cumulative tokens": cumulative,
                    "cumulative cached tokens": cumulative_cached,
                    "cumulative input cost $": spent,
                    "cumulative input cost with cache $": spent_cached if cached is not None else None,
                    "question": history[index].content[:80],
                }
            )
    return rows


def compositions(
    history: list[Message],
    strategy: Strategy,
    system: SystemPrompt,
    target: Target,
    sampling: Sampling,
    window: int | None = None,
    window_source: str = "the model table",
) -> list[tuple[int, Composition]]:
    """What each turn's call carries, by part (lib/context/composition.py), planned as `timeline` plans
    it: in a tool-using conversation, the tool results resent turn after turn pile up here."""
    questions = [i for i, m in enumerate(history) if m.role == "user"][:MAX_TURNS]
    return [
        (
            turn,
            compose(
                build_request(system, history[:index], history[index], strategy, target, sampling),
                window=window,
                window_source=window_source,
            ),
        )
        for turn, index in enumerate(questions, start=1)
    ]


def verdict(rows: list[dict], model_name: str, price_source: str) -> str | None:
    """Which strategy that keeps history costs least over the whole conversation, caching included, in
    one plain sentence; None with no rows. Prices unknown or zero (a local model): compared in tokens
    computed again (what the cache does not serve), which is what the time to first token follows."""
    last = {}
    for row in rows:
        last[row["strategy"]] = row
    candidates = {name: row for name, row in last.items() if name != Strategy("none").describe()}
    if not candidates:
        return None
    turns = max(row["turn"] for row in candidates.values())
    cached_known = all(row["cumulative input cost with cache $"] is not None for row in candidates.values())
    priced = all(row["cumulative input cost $"] for row in candidates.values())
    if priced:
        column = "cumulative input cost with cache $" if cached_known else "cumulative input cost $"
        amount = {name: row[column] for name, row in candidates.items()}
        shown = {name: money(value) for name, value in amount.items()}
        plain = {name: row["cumulative input cost $"] for name, row in candidates.items()}
    else:
        amount = {name: row["cumulative tokens"] - row["cumulative cached tokens"] for name, row in candidates.items()}
        shown = {name: f"{value:,} tokens computed" for name, value in amount.items()}
        plain = {name: row["cumulative tokens"] for name, row in candidates.items()}
    ranked = sorted(amount, key=amount.__getitem__)
    # Ties as the user reads them: strategies that send the same so far (a window wider than the
    # conversation keeps every message) are not ranked one over the other.
    least = [name for name in ranked if shown[name] == shown[ranked[0]]]
    others = ", ".join(f"{name} {shown[name]}" for name in ranked[len(least) :])
    cache_note = "with prompt caching" if cached_known else "with no prompt caching known for this backend"
    if len(least) == 1:
        claim = f"**{least[0]} costs least**: {shown[least[0]]}"
    else:
        claim = f"**{_listed(least)} cost the same{', and least' if others else ''}**: {shown[least[0]]} each"
    sentence = (
        f"Over these {turns} turns on {model_name}, {cache_note}, {claim}"
        + (f" (against {others})" if others else "")
        + "."
    )
    if cached_known and len(ranked) > 1:
        plain_shown = {name: money(value) if priced else f"{value:,}" for name, value in plain.items()}
        cheapest = min(plain, key=plain.__getitem__)
        plain_least = [name for name in ranked if plain_shown[name] == plain_shown[cheapest]]
        if plain_least == least:
            if len(least) == 1:
                sentence += f" Without the cache too, {least[0]} is cheapest."
            else:
                sentence += " Without the cache too, " + (
                    f"{_listed(least)} cost the same, and least." if others else "they cost the same."
                )
        elif not set(plain_least) & set(least):
            sentence += (
                f" Without the cache, {_listed(plain_least)} would have been cheapest: caching changes the winner."
            )
        else:
            sentence += (
                f" Without the cache, {_listed(plain_least)} {'is' if len(plain_least) == 1 else 'are'} cheapest."
            )
    if priced:
        sentence += f" Prices: {price_source}."
    return sentence


def _listed(names: list[str]) -> str:
    """ "A", "A and B", "A, B and C"."""
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def timeline_figures(rows: list[dict]):
    """Per-turn prompt tokens and cumulative tokens billed, one line per strategy; hover names the turn.
    Each strategy's line has its own dash too: strategies that send the same (a window wider than the
    conversation) draw one line over another, and the dashes of the top one let the others show."""
    import plotly.express as px

    hover = ["turn", "messages sent", "cached tokens", "cumulative input cost $", "question"]
    per_turn = px.line(
        rows,
        x="turn",
        y="prompt tokens",
        color="strategy",
        line_dash="strategy",
        markers=True,
        hover_data=hover,
        title="Prompt tokens sent at each turn",
    )
    cumulative = px.line(
        rows,
        x="turn",
        y="cumulative tokens",
        color="strategy",
        line_dash="strategy",
        markers=True,
        hover_data=hover,
        title="Prompt tokens billed so far (cumulative)",
    )
    for figure in (per_turn, cumulative):
        figure.update_layout(height=380, margin={"t": 50, "b": 10}, legend={"orientation": "h", "y": -0.2})
        figure.update_xaxes(tickformat="d", dtick=1 if len({row["turn"] for row in rows}) <= 12 else None)
    return per_turn, cumulative


def cost_figure(rows: list[dict]):
    """Cumulative input cost per strategy, with the cache (solid) beside without it (dotted); None
    when nothing is priced."""
    import plotly.express as px

    long = []
    for row in rows:
        for pricing, column in (
            ("without cache", "cumulative input cost $"),
            ("with cache", "cumulative input cost with cache $"),
        ):
            if row[column] is not None:
                point = {"turn": row["turn"], "strategy": row["strategy"], "pricing": pricing}
                long.append({**point, "cost $": row[column], "question": row["question"]})
    if not long or not any(point["cost $"] for point in long):
        return None
    figure = px.line(
        long,
        x="turn",
        y="cost $",
        color="strategy",
        line_dash="pricing",
        markers=True,
        hover_data=["question"],
        title="Input cost so far (cumulative), with the prompt cache and without",
        line_dash_map={"with cache": "solid", "without cache": "dot"},
    )
    figure.update_layout(height=420, margin={"t": 50, "b": 10}, legend={"orientation": "h", "y": -0.2})
    figure.update_xaxes(tickformat="d")
    return figure


_FACT = (
    "foxes are small omnivores of the dog family, found on every continent except Antarctica, "
    "and they hunt mostly at dusk and at night."
)


def sample_conversation(turns: int = 30) -> list[Message]:
    """A made-up conversation for trying the timeline before having one of your own."""
    history: list[Message] = []
    for i in range(1, turns + 1):
        history.append(Message("user", f"Question {i}: tell me one more fact about foxes, please, in a sentence."))
        history.append(Message("assistant", f"Fact {i}: {_FACT}"))
    return history
