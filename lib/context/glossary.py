"""The words a stakeholder meets, each with a plain label and one line that explains it.

A term is explained the same way on every page: the chat meter, Compare, the Cost timeline, the token
inspector, Experiments, the presenter's view and the reports take their hover text (Streamlit `help=`, a
table column's header help, an HTML `title`) from here. A label is what a director reads; the explanation
says what it is and why it matters, in one sentence, without jargon the sentence does not explain itself.
"""

from __future__ import annotations

from dataclasses import dataclass

from lib.context.strategies import STRATEGY_LABELS


@dataclass(frozen=True)
class Term:
    label: str  # the plain label shown where the term appears
    explain: str  # one line, on hover


TERMS: dict[str, Term] = {
    "tokens": Term(
        "Tokens",
        "The pieces of text a model reads and writes (about ¾ of an English word each): what the API counts and bills.",
    ),
    "prompt_tokens": Term(
        "Prompt tokens",
        "Everything the model reads in this call — system prompt, the messages sent, the question and the chat "
        "format — counted in tokens; billed at the input price.",
    ),
    "completion_tokens": Term(
        "Reply tokens",
        "The tokens the model wrote in its answer (the API calls them completion tokens); billed at the output price.",
    ),
    "content_tokens": Term(
        "Content", "Tokens of the text itself — what someone wrote in the messages — as opposed to the chat format."
    ),
    "cached_tokens": Term(
        "Cached tokens",
        "Prompt tokens the server had already processed in an earlier call that started the same way: it reuses "
        "that work, so they come back faster and, at hosted providers, cheaper.",
    ),
    "cacheable_prefix": Term(
        "Cacheable prefix",
        "How many tokens at the start of this call are the same as in the last call, so the server can reuse its "
        "work on them instead of reading them again.",
    ),
    "cache_rule": Term(
        "Cache rule",
        "How this server decides what it reuses: from how many tokens, in what steps, and whether it keeps the "
        "previous reply too.",
    ),
    "chat_format": Term(
        "Chat format",
        "Tokens the API adds that nobody typed: markers around each message's role, the model template's own text, "
        "and a cue that starts the reply. They count and cost like any other prompt token.",
    ),
    "reply_reserve": Term(
        "Reserved for the reply",
        "Room kept free in the window for the answer: the reply limit (max_tokens) sent with the request. A prompt "
        "that leaves less cannot be answered in full.",
    ),
    "max_tokens": Term(
        "Max reply tokens",
        "The longest answer the model may write (max_tokens in the request); also the room the window keeps for it.",
    ),
    "context_window": Term(
        "Context window",
        "The most tokens a model can take in one call, prompt and reply together. What does not fit is not sent.",
    ),
    "window_share": Term(
        "Window share",
        "How much of the model's context window this call's prompt fills.",
    ),
    "payload": Term(
        "Payload",
        "The request body sent over the network (JSON, in bytes): the whole context travels with every call.",
    ),
    "messages_sent": Term(
        "Messages sent",
        "How many messages this call carries, the system prompt and the new question included.",
    ),
    "input_cost": Term(
        "Input cost",
        "What the prompt tokens of this call cost at the model's list price for input.",
    ),
    "price_as": Term(
        "Price as",
        "A local model costs nothing. To see what the same tokens would cost in a real deployment, they are priced "
        "at a hosted model's list prices (the token count stays this model's own).",
    ),
    "predicted_prompt": Term(
        "Predicted prompt",
        "The prompt tokens the meter counted before Send, with the model's own tokenizer.",
    ),
    "reported_prompt": Term(
        "Reported prompt",
        "The prompt tokens the server says it read (usage.prompt_tokens): what it bills. Equal to the prediction "
        "when the count was exact.",
    ),
    "cost": Term(
        "Cost",
        "What the call cost: prompt tokens at the input price (cached ones at the cached price) plus reply tokens at "
        "the output price.",
    ),
    "cost_at_most": Term(
        "Cost at most", "The cost if every reply used its whole reply limit: the most the run can cost."
    ),
    "queued": Term(
        "Queued",
        "Seconds the call waited for its turn (the embedded model answers one call at a time); not part of latency.",
    ),
    "token_budget": Term(
        "Token budget",
        "The most tokens of history a call may carry: the newest messages that fit are sent, older ones are not.",
    ),
    "frontier": Term(
        "Frontier",
        "The variants no other beats on both pass rate and size (or cost): the best trade-offs. A variant off it "
        "is beaten by one on it.",
    ),
    "interval": Term(
        "95 % interval",
        "The range the true pass rate lies in, 19 times out of 20, given how few answers were scored (Wilson's "
        "interval): wide means too few answers to be sure.",
    ),
    "pass_rate": Term("Pass rate", "The share of answers that passed the test case's checks."),
    "latency": Term("Latency", "Seconds from sending the call to the last word of the answer."),
    "ttft": Term("Time to first token", "Seconds until the first word of the answer arrived."),
    "strategy": Term(
        "Context strategy",
        "The rule that picks which earlier messages each call carries: the model remembers only what is resent.",
    ),
    "temperature": Term(
        "Temperature",
        "How much the model varies its wording: 0 gives the same answer to the same context every time; higher is "
        "more varied.",
    ),
    "stream": Term("Stream replies", "Show the answer word by word as it arrives, instead of all at once at the end."),
    "similarity": Term(
        "Similarity to the baseline",
        "How close an answer's words are to the baseline answer's, from 0 (nothing in common) to 1 (the same words). "
        "It says alike, not right: see *correct?* where an expected answer is given.",
    ),
    "baseline": Term(
        "Baseline",
        "The variant the others are measured against (similarity, word diff); usually the one sending the whole "
        "history.",
    ),
    "attribution": Term(
        "Attribution",
        "Which of the messages sent the answer leaned on: each is left out in turn, and the change in the answer "
        "measures its weight. #1, #2… are the messages' positions in the call, not ranks.",
    ),
    "seed": Term(
        "Seed",
        "A number sent with the request so that a repeated run samples the same way (where the server supports it).",
    ),
    "variant": Term(
        "Variant",
        "One way of building the context for the same question: which history, which system prompt, which model.",
    ),
    "position": Term(
        "#", "The message's position in the call, counted from the first message sent: #1 is the first, not the best."
    ),
    "pinned": Term("Pinned", "A pinned message is kept in every call, whatever the strategy leaves out."),
    "estimate": Term(
        "Estimate",
        "Counted with a tokenizer close to the model's, not its own: the server's count may differ by a few tokens.",
    ),
}

# The strategies, as a director reads them (keys: lib/context/strategies.py's kinds).
STRATEGIES: dict[str, str] = {
    "manual": "You choose: the In context toggle on each message decides whether it is sent.",
    "full": "Every earlier message is sent, every time: the model remembers everything, and each call costs more.",
    "none": "Only the system prompt and the question: the model remembers nothing of the conversation.",
    "last_turns": "Only the last N question-and-answer pairs: older ones are forgotten.",
    "token_budget": "The newest messages that fit in a number of tokens: older ones are forgotten.",
    "summarise": "Older messages are replaced by a short summary (one extra call); the last N turns are sent in full.",
    "clear_tool_results": "Old tool results are blanked out (the call stays, its bulky output goes).",
    "drop_tool_rounds": "Whole old rounds of tool calls and results are left out.",
}


def label(term: str) -> str:
    return TERMS[term].label


def explain(term: str) -> str:
    return TERMS[term].explain


def strategy_help(kinds: list[str] | None = None) -> str:
    """The strategies, one line each (markdown), for a strategy picker's hover."""
    labels: dict[str, str] = {str(kind): text for kind, text in STRATEGY_LABELS.items()}
    lines = [f"- **{labels[k]}**: {STRATEGIES[k]}" for k in kinds or list(STRATEGIES) if k in STRATEGIES]
    return explain("strategy") + "\n\n" + "\n".join(lines)


# Table columns (Compare, Experiments, the run log, the Cost timeline) → the term that explains them. A column
# is matched by its name, or by its start ("input cost $ (priced as gpt-4o-mini)").
COLUMNS: dict[str, str] = {
    "prompt tokens": "prompt_tokens",
    "prompt tokens (predicted)": "predicted_prompt",
    "predicted prompt tokens": "predicted_prompt",
    "prompt tokens (reported)": "reported_prompt",
    "prompt tokens per call": "prompt_tokens",
    "cumulative tokens": "prompt_tokens",
    "cumulative cached tokens": "cached_tokens",
    "cost $": "cost",
    "cost at most $": "cost_at_most",
    "context window %": "window_share",
    "first token s": "ttft",
    "queued s": "queued",
    "messages sent": "messages_sent",
    "max reply tokens": "max_tokens",
    "seed": "seed",
    "temperature": "temperature",
    "token budget": "token_budget",
    "pass rate %": "pass_rate",
    "content tokens": "content_tokens",
    "chat-format tokens": "chat_format",
    "#": "position",
    "completion tokens": "completion_tokens",
    "reply tokens": "completion_tokens",
    "cached tokens": "cached_tokens",
    "payload bytes": "payload",
    "window share %": "window_share",
    "input cost $": "input_cost",
    "similarity to baseline": "similarity",
    "similarity": "similarity",
    "latency s": "latency",
    "ttft s": "ttft",
    "messages": "messages_sent",
    "strategy": "strategy",
    "variant": "variant",
}


def column_help(column: str) -> str | None:
    """The hover for a table column, or None when the column explains itself."""
    name = column.lower().replace("_", " ").strip()  # the run log names its columns as its fields
    for start in sorted(COLUMNS, key=len, reverse=True):
        if name == start or name.startswith(start + " ") or name.startswith(start + "("):
            return explain(COLUMNS[start])
    return None
