"""The one request builder: from what the user chose to the exact request a call sends.

The chat's meter and payload preview, Send, Retry, every Compare variant, the Cost timeline and the
walkthrough all get their requests here, so what the meter shows is, by construction, what is sent.

The question (the new message, or the message being retried) is never subject to the strategy: a
strategy decides about the history *before* it; the question is always the last message sent.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from lib.context.conversation import Message, SystemPrompt
from lib.context.payload import RequestPlan, Sampling, blocking_reason, plan_request
from lib.context.strategies import Decision, Strategy, assemble, decide, summarised, summary_request
from lib.context.tokens import PromptCounter
from lib.context.tool_pairs import Finding, blocker, findings
from lib.context.tools import NO_TOOLS, ToolSettings
from lib.core.models import ModelInfo

# The summary call: a low temperature (a summary is not creative writing), a bounded reply, no stream.
SUMMARY_SAMPLING = Sampling(temperature=0.2, max_tokens=160, stream=False)


@dataclass(frozen=True)
class Target:
    """Where and how a request is sent: the model's facts, its counter, the name on the wire."""

    model: ModelInfo
    counter: PromptCounter
    wire_model: str

    def tokens_of(self, message: Message) -> int:
        return self.counter.count([message.as_api()]).per_message[0]


@dataclass(frozen=True)
class Request:
    """A planned call: the plan (the body and its counts) and why each history message is in it or not."""

    plan: RequestPlan
    decisions: tuple[Decision, ...]  # one per history message (the question excluded), in order
    question: Message | None  # the last message sent; None while there is no question yet
    strategy: Strategy
    to_summarise: tuple[Message, ...] = ()  # what the summarising strategy replaces by its summary
    summary: str | None = None  # the summary sent, when one is

    @property
    def needs_summary(self) -> bool:
        """The summarising strategy has older messages to condense but no summary of them yet."""
        return bool(self.to_summarise) and self.summary is None

    def decision_for(self, message_id: str) -> Decision | None:
        return next((d for d in self.decisions if d.message.id == message_id), None)

    @property
    def pair_findings(self) -> list[Finding]:
        """What the API would refuse about the tool calls and results this request sends."""
        return findings(self.plan.messages, [d.message for d in self.decisions])


def build_request(
    system: SystemPrompt,
    history: list[Message] | tuple[Message, ...],
    question: Message | None,
    strategy: Strategy,
    target: Target,
    sampling: Sampling,
    summaries: Callable[[tuple[Message, ...]], str | None] | None = None,
    tools: ToolSettings = NO_TOOLS,
) -> Request:
    """The request for `question` asked after `history`, under `strategy`.

    `summaries` finds the summary already made of the messages the summarising strategy leaves out
    (`summary_request_for` plans the call that makes one); without one they are not sent, and the
    request says it `needs_summary`.
    """
    system_message = system.as_message()
    system_tokens = target.tokens_of(system_message) if system_message else 0
    decisions = tuple(decide(strategy, list(history), target.tokens_of, system_tokens))
    older = tuple(summarised(list(decisions))) if strategy.kind == "summarise" else ()
    sent_summary = (summaries(older) or None) if older and summaries else None
    messages = assemble(system, list(decisions), sent_summary)
    if question is not None:
        messages.append(question)
    plan = plan_request(messages, target.model, target.counter, sampling, target.wire_model, tools)
    return Request(plan, decisions, question, strategy, older, sent_summary)


def split_for_retry(history: list[Message], message_id: str) -> tuple[list[Message], Message]:
    """A retried message is the question again: what came before it, and the message itself."""
    position = next(i for i, m in enumerate(history) if m.id == message_id)
    return history[:position], history[position]


def summary_request_for(older: tuple[Message, ...] | list[Message], target: Target, sampling: Sampling) -> RequestPlan:
    """The summarising strategy's own call, planned (tokens, bytes, cost) before it is made."""
    summary_sampling = replace(
        SUMMARY_SAMPLING,
        token_limit_field=sampling.token_limit_field,
        end_user=sampling.end_user,
        end_user_field=sampling.end_user_field,
    )
    messages = [Message(m["role"], m["content"], id=f"summary-{i}") for i, m in enumerate(summary_request(list(older)))]
    return plan_request(messages, target.model, target.counter, summary_sampling, target.wire_model)


def send_blocker(request: Request) -> str | None:
    """Why this request must not be sent, or None if it may: no question, a summary still to make,
    tools the API would refuse, a prompt the window cannot hold."""
    question = request.question.content if request.question is not None else ""
    tools_problem = request.plan.tools.problem()
    if tools_problem:
        return tools_problem
    pairs = blocker(request.plan.messages, [d.message for d in request.decisions])
    if pairs:
        return pairs
    if request.needs_summary:
        return (
            f"The summarising strategy leaves out {len(request.to_summarise):,} older messages: make their summary "
            "first (the button above says what that call costs), or pick another strategy."
        )
    return blocking_reason(request.plan, question)


def captioned(shown: Request, history: list[Message]) -> list[Decision]:
    """One decision per message of `history`, as the chat captions them under the call `shown`: its
    question says so, and a message after it is not in this call."""
    question_id = shown.question.id if shown.question is not None else None
    decided = {d.message.id: d for d in shown.decisions}
    drawn = []
    for message in history:
        decision = decided.get(message.id)
        if message.id == question_id:
            decision = Decision(message, True, "the question")
        elif decision is None:
            decision = Decision(message, False, "after the question: not in this call")
        drawn.append(Decision(message, decision.kept, decision.reason))
    return drawn
