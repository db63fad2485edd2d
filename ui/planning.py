"""The chat's requests, as every page sees them: the session's choices handed to the one builder.

`lib.context.request.build_request` decides; this module only reads the page state it needs (the system
prompt, the history, the strategy, the summaries made in this session) and the sidebar's settings.
"""

from __future__ import annotations

from lib.context import conversation as conv
from lib.context.request import Request, Target, build_request, split_for_retry
from lib.context.strategies import Strategy, spec_of, summary_key
from ui import state
from ui.settings import Settings

DRAFT_ID = "draft"


def chat_strategy() -> Strategy:
    spec = spec_of(state.get(state.STRATEGY_KIND))
    return spec.build({p.key: state.get(state.strategy_key(p)) for p in spec.parameters})


def target_of(settings: Settings) -> Target:
    return settings.target()


def summary_for(older: tuple[conv.Message, ...], settings: Settings) -> str | None:
    """The summary made in this session of these older messages with this backend, if any."""
    made = state.mapping(state.SUMMARIES).get(summary_cache_key(older, settings))
    return made.text if made is not None else None


def summary_cache_key(older, settings: Settings) -> tuple:
    return (settings.provider.kind, settings.provider.base_url, settings.provider.model, summary_key(list(older)))


def request_for(
    settings: Settings, history: list[conv.Message], question: conv.Message | None, strategy: Strategy | None = None
) -> Request:
    """The request for `question` after `history`, with the summary this session made, if any."""
    strategy = strategy or chat_strategy()
    return build_request(
        state.system_prompt(),
        history,
        question,
        strategy,
        target_of(settings),
        settings.sampling,
        lambda older: summary_for(older, settings),
        state.tool_settings(),
    )


def draft_request(settings: Settings, draft: str) -> Request:
    """What the next Send would send: the whole history, then the draft as the question."""
    question = conv.Message("user", draft, id=DRAFT_ID) if draft.strip() else None
    return request_for(settings, state.history(), question)


def retry_request(settings: Settings, message_id: str) -> Request:
    """What a retry of `message_id` sends: the history before it, then that message as the question."""
    before, question = split_for_retry(state.history(), message_id)
    return request_for(settings, before, question)


def unanswered_question(history: list[conv.Message]) -> conv.Message | None:
    """The last user message when it is still unanswered (nothing after it but broken-off replies):
    with an empty draft, the next call is its retry."""
    for message in reversed(history):
        if message.status == "incomplete":
            continue
        if message.role == "tool" and message.status != "incomplete":
            # Tool results written last: the next call sends them for the model to answer with.
            return message
        return message if message.role == "user" and message.status == "unanswered" else None
    return None


def next_request(settings: Settings, draft: str) -> Request:
    """What the meter shows: the draft as the next question or, with no draft, the retry of an
    unanswered last question (the Retry button sends exactly this), or the history alone."""
    if not draft.strip():
        waiting = unanswered_question(state.history())
        if waiting is not None:
            return retry_request(settings, waiting.id)
    return draft_request(settings, draft)
