"""Where the pages meet attribution: the chat's hook on every assistant answer, Compare's on each
variant's answer (with the key that tells one kept comparison's answer from another's), and the
request the chat would send now for an answer's question."""

from __future__ import annotations

import hashlib

import streamlit as st

from lib.analysis.attribution.chat import question_before
from lib.analysis.compare import Comparison, Variant
from lib.context import conversation as conv
from lib.context.payload import RequestPlan
from lib.context.request import Request, split_for_retry
from ui import state
from ui.attribution.common import KEY
from ui.attribution.panel import attribution_panel
from ui.planning import request_for
from ui.settings import Settings


def chat_answer(settings: Settings, message: conv.Message) -> None:
    """The chat's hook, called for every message drawn: on an assistant answer, an expander that
    attributes it to the context the chat would send for its question now."""
    if message.role != "assistant" or message.status != "ok" or not message.content.strip():
        return
    box = st.expander(
        "What did this answer use?", icon=":material/troubleshoot:", key=f"{KEY}open_{message.id}", on_change="rerun"
    )
    if not box.open:  # drawn only while open: a closed panel costs the page one element
        return
    with box:
        request = chat_request(settings, message.id)
        if request is None:
            st.caption("No question comes before this answer: there is nothing to attribute it to.")
            return
        attribution_panel(settings, request.plan, message.content, message.id, chat=True)


def compare_answer(
    settings: Settings, plan: RequestPlan, answer: str, key: str, variant: Variant | None = None, expected: str = ""
) -> None:
    """Compare's hook, on each variant's answer: `plan` is the request the variant sent; with `variant`
    (the one that sent it), the smallest context can be added as a variant of its own; `expected`: the
    answer the question should get (Compare's optional field), checked before anything is attributed."""
    if not answer.strip():
        return
    box = st.expander(
        "What did this answer use?", icon=":material/troubleshoot:", key=f"{KEY}open_{key}", on_change="rerun"
    )
    if box.open:
        with box:
            attribution_panel(settings, plan, answer, key, variant=variant, expected=expected)


def answer_key(comparison: Comparison, index: int) -> str:
    """The panel's key for a Compare variant's answer, among every kept comparison's (one shown at a time)."""
    answer = comparison.results[index].answer
    digest = hashlib.sha256(f"{comparison.created}|{comparison.question}|{answer}".encode("utf-8", "replace"))
    return f"compare_{digest.hexdigest()[:12]}_{index}"


def chat_request(settings: Settings, answer_id: str) -> Request | None:
    """The request the chat would send now for the question this answer replies to."""
    history = state.history()
    question = question_before(history, answer_id)
    if question is None:
        return None
    before, question = split_for_retry(history, question.id)
    return request_for(settings, before, question)
