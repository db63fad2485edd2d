"""The summarising strategy's one extra call, cached until the summarised messages change."""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from lib.conversation import Message
from lib.payload import Sampling, build_body
from lib.providers import CallOutcome, ProviderConfig, stream_chat
from lib.strategies import summary_key, summary_request
from ui import resources


@dataclass(frozen=True)
class Summary:
    text: str
    prompt_tokens: int | None
    completion_tokens: int | None
    error: str | None


@st.cache_data(show_spinner="Summarising the older turns…", max_entries=64)
def _summarise(key: tuple[tuple[str, str], ...], provider: ProviderConfig, token_field: str) -> Summary:
    older = [Message(role, content) for role, content in key]
    body = build_body(provider.model, summary_request(older), Sampling(0.2, 160, token_field, stream=False))
    outcome = CallOutcome()
    for _ in stream_chat(resources.client(provider), body, outcome, provider.secrets):
        pass
    if outcome.error:
        raise SummaryFailed(outcome.error)  # raised, so a failure is not cached
    return Summary(outcome.text.strip(), outcome.prompt_tokens, outcome.completion_tokens, None)


class SummaryFailed(RuntimeError):
    pass


def summary_of(older: list[Message], provider: ProviderConfig) -> Summary | None:
    """None when there is nothing to summarise."""
    if not older:
        return None
    try:
        return _summarise(summary_key(older), provider, provider.token_limit_field)
    except SummaryFailed as failure:
        return Summary("", None, None, f"The summary call failed: {failure}")
