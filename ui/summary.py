"""The summarising strategy's extra call: made when the user asks for it, logged, kept for the session.

Selecting "Summarise older turns" spends nothing: the meter shows the summary call's own tokens and
cost, and the call is made on the user's click. Its text is then part of every request that leaves
out the same older messages (lib/context/request.py looks it up here), until one of them changes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import streamlit as st

from lib.backends.reply import Reply
from lib.context.conversation import Message
from lib.context.display import inert_markdown
from lib.context.payload import RequestPlan
from lib.context.request import summary_request_for
from lib.core.outcome import Usage
from ui import call_details, resources, state
from ui.planning import summary_cache_key, target_of
from ui.settings import Settings


@dataclass(frozen=True)
class Summary:
    text: str
    usage: Usage  # of the call that made it


def summary_plan(older: tuple[Message, ...], settings: Settings) -> RequestPlan:
    return summary_request_for(older, target_of(settings), settings.sampling)


def make_summary(older: tuple[Message, ...], settings: Settings, variant: str = "summary") -> str | None:
    """Make and keep the summary of `older`; returns the error, or None when it was made."""
    missing = settings.provider.missing()
    if missing:
        return f"Set {missing} in the sidebar first."
    plan = summary_plan(older, settings)
    reply = Reply(
        resources.client(settings.provider), plan.body, settings.provider.secrets, limits=settings.provider.limits
    )
    text = reply.text().strip()
    call_details.log_call(settings, plan, reply.outcome, variant=variant)
    if reply.outcome.error:
        return f"The summary call failed: {reply.outcome.error}"
    if not text:
        return "The summary call answered with no text: try again, or pick another strategy."
    made = dict(state.mapping(state.SUMMARIES))
    made[summary_cache_key(older, settings)] = Summary(text, reply.outcome.usage)
    state.put(state.SUMMARIES, made)
    return None


def made_summary(older: tuple[Message, ...], settings: Settings) -> Summary | None:
    return state.mapping(state.SUMMARIES).get(summary_cache_key(older, settings))


def summaries_cost(wanted: Sequence[tuple[Message, ...]], settings: Settings) -> tuple[int, float]:
    """The prompt tokens and the input cost of the summary calls `wanted` would make (one call each)."""
    plans = [summary_plan(older, settings) for older in wanted]
    return sum(p.prompt_tokens for p in plans), sum(p.input_cost or 0 for p in plans)


def summaries_button(wanted: Sequence[tuple[Message, ...]], settings: Settings, key: str, variant: str) -> None:
    """The button that makes the summaries `wanted` (each call logged as `variant`): the page runs again
    once every one is made, each failure said as it came."""
    if st.button("Make the summaries", key=key, icon=":material/summarize:"):
        with st.spinner("Summarising the older messages…"):
            errors = [e for older in wanted if (e := make_summary(older, settings, variant=variant))]
        for error in errors:
            st.error(inert_markdown(error))
        if not errors:
            st.rerun()
