"""The pre-call meter, the payload preview and the after-call report, as reusable renderers."""

from __future__ import annotations

import json

import streamlit as st

from lib.display import inert_code, inert_inline, shortened_body
from lib.payload import RequestPlan
from lib.providers import ProviderConfig
from lib.snippets import curl_snippet, python_snippet
from ui.state import LastCall


def money(value: float | None) -> str:
    if value is None:
        return "unpriced"
    if value == 0:
        return "$0"
    return f"${value:.6f}" if value < 0.01 else f"${value:,.4f}"


def meter(plan: RequestPlan) -> None:
    """What the next call will carry, before it is sent."""
    label = "" if plan.count.exact else " (estimate)"
    count = len(plan.messages)
    # Two to a row: three did not fit a five-digit byte count beside the others.
    tokens, size = st.columns(2)
    tokens.metric(f"Prompt tokens{label}", f"{plan.prompt_tokens:,}")
    size.metric("Payload", f"{plan.body_bytes:,} B", help="Size of the UTF-8 JSON body POSTed")
    cost, messages = st.columns(2)
    cost.metric("Input cost", money(plan.input_cost))
    messages.metric("Messages sent", f"{count:,}", help="Including the system prompt and the draft")
    share = plan.context_share
    st.progress(
        min(share, 1.0),
        text=f"{share:.2%} of {inert_inline(plan.model.name)}'s {plan.model.context_window:,}-token window",
    )
    st.caption(
        f"{plan.count.overhead:,} tokens of chat-format overhead (reply priming, template) · "
        f"counted with {plan.count.method}"
    )
    if not plan.fits:
        over = -plan.reply_room
        st.error(
            f"Over the context window by {over:,} tokens: sending is blocked."
            if over > 0
            else "The prompt fills the whole context window, leaving no room for a reply: sending is blocked."
        )
    elif plan.reply_room < plan.max_tokens:
        st.warning(f"Only {plan.reply_room:,} tokens left for the reply (max is {plan.max_tokens:,}).")


def payload_preview(plan: RequestPlan, provider: ProviderConfig) -> None:
    """The body exactly as it is passed to the SDK, and the same call as curl and Python."""
    st.caption(f"POST {inert_code(provider.endpoint)}")
    body, left_out = shortened_body(plan.body)
    if left_out:
        st.caption(f"{left_out:,} characters of very long messages are not shown here; the call sends them all.")
    as_json, as_curl, as_python = st.tabs(["JSON body", "curl", "Python"])
    with as_json:
        st.code(json.dumps(body, ensure_ascii=False, indent=2), language="json", wrap_lines=True)
    with as_curl:
        # The snippets carry the whole body (only the JSON view above may shorten a huge message).
        st.code(curl_snippet(provider, plan.body), language="bash", wrap_lines=True)
    with as_python:
        st.code(python_snippet(provider, plan.body), language="python", wrap_lines=True)


def last_call_report(call: LastCall) -> None:
    """Predicted against reported usage, and the timings, of the last call."""
    outcome = call.outcome
    actual = outcome.prompt_tokens
    predicted, reported = st.columns(2)  # two to a row, as in the meter: four cut their labels short
    predicted.metric("Predicted prompt", f"{call.predicted_prompt_tokens:,}")
    reported.metric(
        "Reported prompt",
        "none reported" if actual is None else f"{actual:,}",
        delta=None if actual is None else actual - call.predicted_prompt_tokens,
        delta_color="off",
    )
    completion, latency = st.columns(2)
    completion.metric("Completion", "—" if outcome.completion_tokens is None else f"{outcome.completion_tokens:,}")
    latency.metric("Latency", "—" if outcome.latency_s is None else f"{outcome.latency_s:.2f} s")
    ttft = "—" if outcome.ttft_s is None else f"{outcome.ttft_s:.2f} s"
    note = "exact count" if call.predicted_exact else "estimate"
    # The prediction is the one made before the call was sent, never one recomputed after it.
    note += (
        ", predicted before Send (the meter showed this request)"
        if call.shown
        else ", predicted at Send (the message changed after the meter was last drawn, or this was a retry)"
    )
    if actual is None:
        note += "; the server reported no usage, so there is nothing to compare against"
    elif actual == call.predicted_prompt_tokens:
        note += "; matches the server's count"
    st.caption(f"Time to first token {ttft} · {call.body_bytes:,} B sent to {inert_inline(call.model)} · {note}")
