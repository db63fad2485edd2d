"""The guided tour "Why the API has no memory": six points, each proved by a live demo.

The points are those of the seed document "Understanding ChatCompletion Statelessness". Each demo
is a short series of calls; what each call sends is decided here (it may depend on the replies
before it), the page sends them to the embedded model and shows both payloads and both answers.
The prompts were tried against SmolLM2-135M at temperature 0 and chosen because that tiny model
gets them right; where it still misses, `verdict` says what the payload did contain.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace

from lib.context.conversation import Message, SystemPrompt, selected
from lib.context.payload import Sampling, serialise
from lib.context.request import Target, build_request
from lib.context.strategies import Strategy
from lib.context.tokens import PromptCounter
from lib.core.models import EMBEDDED_MODEL, info_for
from lib.core.outcome import CallOutcome

# Temperature 0: the same request gets the same answer, so a difference comes from the payload.
# The reply limit is a bound, not a length: most demo answers end on their own well before it (48
# stopped them mid-sentence); one that rambles on is shown up to its last full sentence (`shown_answer`).
DEMO_SAMPLING = Sampling(temperature=0.0, max_tokens=96, token_limit_field="max_tokens", stream=False)

# The sidebar's backend and sampling do not apply to the tour: the page says so, starting with this.
SIDEBAR_NOTE_START = "On this page the sidebar's backend and sampling settings are not used:"

Plan = Callable[[list[str]], list[Message]]  # the earlier calls' replies -> the next call's messages


@dataclass(frozen=True)
class Step:
    number: int
    title: str  # the seed document's heading
    short: str  # for the step picker
    point: str  # what it means
    demo: str  # what the demo sends, and what to look for
    labels: tuple[str, ...]  # one per call, in order
    needle: str | None  # the fact a right answer carries; None when the demo is about size
    plan: Plan

    @property
    def calls(self) -> int:
        return len(self.labels)


@dataclass(frozen=True)
class DemoCall:
    label: str
    body: dict  # exactly what was POSTed
    outcome: CallOutcome


def demo_body(messages: list[Message], counter: PromptCounter) -> dict:
    """The demo call's body, from the one request builder: the messages as given (the last one is the
    question), no strategy dropping any of them."""
    target = Target(info_for(EMBEDDED_MODEL), counter, EMBEDDED_MODEL)
    request = build_request(NO_SYSTEM, messages[:-1], messages[-1], Strategy("full"), target, DEMO_SAMPLING)
    return request.plan.body


def carries(body: dict, text: str) -> bool:
    """Whether `text` is anywhere in the body as it goes on the wire."""
    return text in serialise(body).decode()


def verdict(needle: str, body: dict, answer: str) -> str:
    """One honest sentence: what the payload held, and whether the answer used it."""
    sent, said = carries(body, needle), needle.lower() in answer.lower()
    if sent and said:
        return f"The payload carried “{needle}”, and the answer uses it."
    if sent:
        return (
            f"The payload carried “{needle}”, but the model did not use it: SmolLM2-135M is tiny. "
            "The context was sent; a bigger model would answer from it."
        )
    if said:
        return f"The payload did not contain “{needle}”: the answer's “{needle}” is a guess, not a memory."
    return f"The payload did not contain “{needle}”, so the model could not know it."


_SENTENCE_END = re.compile(r"[.!?…][\"”’)\]]*(?=\s|$)")


def shown_answer(outcome: CallOutcome, limit: int = DEMO_SAMPLING.max_tokens) -> tuple[str, str | None]:
    """The answer as the tour shows it, and a note when the reply limit cut it: then it ends at its
    last full sentence (or with "…" when it has none), never mid-word."""
    text = outcome.text.strip()
    if outcome.finish_reason != "length":
        return text, None
    ends = [match.end() for match in _SENTENCE_END.finditer(text)]
    if ends:
        return text[: ends[-1]], f"The model went on past {limit} tokens; shown up to its last full sentence."
    return f"{text} …", f"The model went on past {limit} tokens; cut there."


def run_demo(step: Step, send: Callable[[dict], CallOutcome], counter: PromptCounter) -> list[DemoCall]:
    """Send the step's calls in order; each may be built from the replies before it."""
    replies: list[str] = []
    calls = []
    for label in step.labels:
        body = demo_body(step.plan(replies), counter)
        outcome = send(body)
        calls.append(DemoCall(label, body, outcome))
        replies.append(outcome.text)
    return calls


# --- the demos -----------------------------------------------------------------------------------

NAME_QUESTION = "What is my name?"
NAME_TURN = [Message("user", "My name is Ada."), Message("assistant", "Nice to meet you, Ada!")]


def _memory(replies: list[str]) -> list[Message]:
    earlier = NAME_TURN if replies else []
    return [*earlier, Message("user", NAME_QUESTION)]


def _independence(replies: list[str]) -> list[Message]:
    return [Message("user", "What is my lucky number?" if replies else "My lucky number is 17.")]


SESSION_FIRST, SESSION_QUESTION = "My PIN is 7305.", "What is my PIN?"


def _session(replies: list[str]) -> list[Message]:
    first = Message("user", SESSION_FIRST)
    if not replies:
        return [first]
    return [first, Message("assistant", replies[0]), Message("user", SESSION_QUESTION)]


GROWTH_QUESTIONS = ("My name is Ada.", "I like foxes.", "What do foxes eat?", "Where do foxes live?")


def growth_history(replies: list[str]) -> list[Message]:
    """Turn k's call: every earlier question and reply, then question k."""
    history = []
    for question, reply in zip(GROWTH_QUESTIONS, replies, strict=False):
        history += [Message("user", question), Message("assistant", reply)]
    return [*history, Message("user", GROWTH_QUESTIONS[len(replies)])]


SECRET = "88123"
PRIVATE_HISTORY = [
    Message("user", f"My account number is {SECRET}.", id="account"),
    Message("assistant", "Got it.", id="ack"),
    Message("user", "What is my account number?", id="question"),
]
NO_SYSTEM = SystemPrompt(included=False)


def private_history(left_out: bool) -> list[Message]:
    """The client's history, with the account number's message switched off when `left_out`."""
    return [replace(m, included=not (left_out and m.id == "account")) for m in PRIVATE_HISTORY]


def _protection(replies: list[str]) -> list[Message]:
    return selected(NO_SYSTEM, private_history(left_out=bool(replies)))


FACT = "Fact: the capital of Zorbania is Plimtown."
FACT_QUESTION = "What is the capital of Zorbania?"


def _context(replies: list[str]) -> list[Message]:
    question = Message("user", FACT_QUESTION)
    return [Message("system", FACT), question] if replies else [question]


STEPS: tuple[Step, ...] = (
    Step(
        1,
        "No Conversation Memory",
        "No memory",
        "The API keeps nothing between calls. What the model knows about your conversation is what this "
        "one request carries — nothing more.",
        "Ask “What is my name?” twice: alone, then after the earlier turn “My name is Ada.”, resent by the client.",
        ("Without the earlier turn", "With the earlier turn"),
        "Ada",
        _memory,
    ),
    Step(
        2,
        "API Call Independence",
        "Independent calls",
        "Each call stands alone. The server does not link it to the call before it, even one from the same "
        "client a second earlier.",
        "Call 1 says “My lucky number is 17.”; call 2, sent right after, asks for it. Nothing of call 1 is in call 2.",
        ("Call 1: tell", "Call 2: ask"),
        "17",
        _independence,
    ),
    Step(
        3,
        "Session-Based Interactions (Handling Context Manually)",
        "Sessions",
        "Continuity is the client's job: it keeps the history under its own session id and resends it with "
        "every call. The id ties the turns together on the client; the server never sees it.",
        "Turn 1 says “My PIN is 7305.”; turn 2 asks for it, and the client resends turn 1 and its reply.",
        ("Turn 1", "Turn 2: turn 1 resent"),
        "7305",
        _session,
    ),
    Step(
        4,
        "Enhanced Scalability",
        "Scalability",
        "With no conversation state on the server, any server can answer any call, so providers scale out "
        "freely. The price is paid in the payload: it grows with every turn the client resends.",
        f"A {len(GROWTH_QUESTIONS)}-turn conversation, each call carrying the whole history so far.",
        tuple(f"Turn {i}" for i in range(1, len(GROWTH_QUESTIONS) + 1)),
        None,
        growth_history,
    ),
    Step(
        5,
        "User Data Protection & Security",
        "Data protection",
        "The provider keeps no conversation, and it only ever sees what the request contains. A message the "
        "client leaves out never leaves your machine.",
        f"The same history twice: with every message, then with the account number's message ({SECRET}) left out.",
        ("Every message included", "The account number left out"),
        SECRET,
        _protection,
    ),
    Step(
        6,
        "Context in Prompts: How to Improve Response Accuracy",
        "Context",
        "The model answers from the context it is given. Put the facts it needs in the prompt — here in the "
        "system prompt — and the answer improves.",
        "Ask about a made-up country, without and with one sentence of fact in the system prompt.",
        ("Without the fact", "With the fact in the system prompt"),
        "Plimtown",
        _context,
    ),
)


def growth_rows(calls: list[DemoCall], counter: PromptCounter) -> list[dict]:
    """Per turn: the messages sent, the payload's bytes and its prompt tokens (and the server's own count)."""
    return [
        {
            "turn": turn,
            "messages sent": len(call.body["messages"]),
            "payload bytes": len(serialise(call.body)),
            "prompt tokens": counter.count(call.body["messages"]).total,
            "reported prompt tokens": call.outcome.usage.prompt_tokens,
        }
        for turn, call in enumerate(calls, start=1)
    ]


def growth_figure(rows: list[dict]):
    """Payload bytes (bars) and prompt tokens (line) per turn."""
    from plotly.subplots import make_subplots

    turns = [row["turn"] for row in rows]
    figure = make_subplots(specs=[[{"secondary_y": True}]])
    figure.add_bar(x=turns, y=[row["payload bytes"] for row in rows], name="payload bytes")
    figure.add_scatter(
        x=turns, y=[row["prompt tokens"] for row in rows], name="prompt tokens", mode="lines+markers", secondary_y=True
    )
    figure.update_layout(
        title="What each call carries as the history grows",
        height=320,
        margin={"t": 50, "b": 10},
        legend={"orientation": "h", "y": -0.25},
        xaxis={"title": "turn", "dtick": 1},
    )
    figure.update_yaxes(title_text="bytes", rangemode="tozero", secondary_y=False)
    figure.update_yaxes(title_text="tokens", rangemode="tozero", showgrid=False, tickmode="auto", secondary_y=True)
    return figure
