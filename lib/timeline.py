"""The cost of statelessness: what each turn resends, and what that adds up to, per strategy.

Every call must carry the context again, so with the full history the tokens sent per turn grow
linearly and the tokens billed over a conversation grow quadratically; bounded strategies level off.
"""

from __future__ import annotations

from lib.conversation import Message, SystemPrompt
from lib.payload import Sampling
from lib.request import Target, build_request
from lib.strategies import Strategy

MAX_TURNS = 1000


def timeline(
    history: list[Message],
    strategies: list[Strategy],
    system: SystemPrompt,
    target: Target,
    sampling: Sampling,
) -> list[dict]:
    """One row per (turn, strategy): the prompt tokens that turn's call sends, and the running totals.

    Turn t is the call made for the t-th user message, planned by the one request builder exactly as
    the chat would plan it: the strategy chooses among the messages before it, the question is added.
    """
    questions = [i for i, m in enumerate(history) if m.role == "user"][:MAX_TURNS]
    rows = []
    for strategy in strategies:
        cumulative = 0
        for turn, index in enumerate(questions, start=1):
            plan = build_request(system, history[:index], history[index], strategy, target, sampling).plan
            cumulative += plan.prompt_tokens
            rows.append(
                {
                    "turn": turn,
                    "strategy": strategy.describe(),
                    "messages sent": len(plan.messages),
                    "prompt tokens": plan.prompt_tokens,
                    "cumulative tokens": cumulative,
                    "cumulative input cost $": target.model.input_cost(cumulative),
                    "question": history[index].content[:80],
                }
            )
    return rows


def timeline_figures(rows: list[dict]):
    """Per-turn prompt tokens and cumulative tokens billed, one line per strategy; hover names the turn."""
    import plotly.express as px

    hover = ["turn", "messages sent", "cumulative input cost $", "question"]
    per_turn = px.line(
        rows, x="turn", y="prompt tokens", color="strategy", markers=True, hover_data=hover,
        title="Prompt tokens sent at each turn",
    )  # fmt: skip
    cumulative = px.line(
        rows, x="turn", y="cumulative tokens", color="strategy", markers=True, hover_data=hover,
        title="Prompt tokens billed so far (cumulative)",
    )  # fmt: skip
    for figure in (per_turn, cumulative):
        figure.update_layout(height=380, margin={"t": 50, "b": 10}, legend={"orientation": "h", "y": -0.2})
        figure.update_xaxes(tickformat="d", dtick=1 if len({row["turn"] for row in rows}) <= 12 else None)
    return per_turn, cumulative


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
