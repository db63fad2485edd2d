"""The pre-call meter, the payload preview and the after-call report, as reusable renderers."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import streamlit as st

from lib.backends.providers import ProviderConfig
from lib.backends.snippets import curl_snippet, python_snippet
from lib.context import caching
from lib.context.display import inert_code, inert_inline, shortened_body
from lib.context.payload import RequestPlan
from lib.context.request import Request
from lib.core.outcome import CallOutcome
from lib.core.prices import FREE_LOCAL, billed, money
from ui import price_as, state, tools_panel
from ui.glossary import explain
from ui.state import LastCall

if TYPE_CHECKING:
    from ui.settings import Settings

__all__ = ["money"]  # pages take `money` from here


def meter(plan: RequestPlan) -> None:
    """What the next call will carry, before it is sent."""
    label = "" if plan.count.exact else " (estimate)"
    count = len(plan.messages)
    # Two to a row: three did not fit a five-digit byte count beside the others.
    tokens, size = st.columns(2)
    estimate = "" if plan.count.exact else " " + explain("estimate")
    tokens.metric(f"Prompt tokens{label}", f"{plan.prompt_tokens:,}", help=explain("prompt_tokens") + estimate)
    size.metric("Payload", f"{plan.body_bytes:,} B", help=explain("payload"))
    # The cost on a row of its own: a local model's carries two prices, and "$0.000002" did not fit half the
    # meter's column at 1280 px ("$0.000…").
    _input_cost(st, plan)
    if price_as.is_free(plan.model):  # only a free model's $0 needs a hosted price beside it
        price_as.picker(explained=True)
    messages, _ = st.columns(2)
    messages.metric("Messages sent", f"{count:,}")  # plain words: no hover (one control less on the first screen)
    share = plan.context_share
    st.progress(
        min(share, 1.0),
        text=f"{share:.2%} of {inert_inline(plan.model.name)}'s {plan.model.context_window:,}-token window",
    )
    st.caption(
        f"{plan.count.overhead:,} of these tokens are the chat format's own, outside any message (nobody typed "
        "them) · "
        f"counted with {plan.count.method} · prices: {plan.model.prices.source}",
        help=explain("chat_format_extra"),
    )
    tools_panel.meter_note(plan)
    if not plan.fits:
        over = -plan.reply_room
        st.error(
            f"Over the context window by {over:,} tokens: sending is blocked."
            if over > 0
            else "The prompt fills the whole context window, leaving no room for a reply: sending is blocked."
        )
    elif plan.reply_room < plan.max_tokens:
        st.warning(f"Only {plan.reply_room:,} tokens left for the reply (max is {plan.max_tokens:,}).")


def _input_cost(where, plan: RequestPlan) -> None:
    """The next call's input cost; a free model's $0 beside the same tokens at the hosted model picked
    (never a bare $0: a stakeholder would read it as "context costs nothing")."""
    name = price_as.chosen()
    if not price_as.is_free(plan.model):
        where.metric("Input cost", money(plan.input_cost), help=explain("input_cost"))
    elif not name:
        where.metric(
            "Input cost", money(plan.input_cost), "here (local model)", "off", help=price_as.HELP, delta_arrow="off"
        )
    else:
        where.metric(
            f"Input cost at {name}",
            money(price_as.at(plan.model, name).input_cost(plan.prompt_tokens)),
            f"{money(plan.input_cost)} here (local model)",
            "off",
            help=price_as.HELP,
            delta_arrow="off",
        )


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
    tools_panel.model_view(plan)  # the embedded model: what its template makes of tool calls and results


def last_call_report(call: LastCall) -> None:
    """Predicted against reported usage, and the timings, of the last call."""
    outcome = call.outcome
    actual = outcome.usage.prompt_tokens
    predicted, reported = st.columns(2)  # two to a row, as in the meter: four cut their labels short
    predicted.metric("Predicted prompt", f"{call.predicted_prompt_tokens:,}", help=explain("predicted_prompt"))
    reported.metric(
        "Reported prompt",
        ("implausible" if outcome.usage.flag else "none reported") if actual is None else f"{actual:,}",
        delta=None if actual is None else actual - call.predicted_prompt_tokens,
        delta_color="off",
        help=explain("reported_prompt"),
    )
    _cached_report(call)
    completion, latency = st.columns(2)
    made = outcome.usage.completion_tokens
    completion.metric("Reply tokens", "—" if made is None else f"{made:,}", help=explain("completion_tokens"))
    latency.metric(
        "Latency", "—" if outcome.latency_s is None else f"{outcome.latency_s:.2f} s", help=explain("latency")
    )
    ttft = "—" if outcome.ttft_s is None else f"{outcome.ttft_s:.2f} s"
    note = "exact count" if call.predicted_exact else "estimate"
    # The prediction is the one made before the call was sent, never one recomputed after it.
    note += (
        ", predicted before Send (the meter showed this request)"
        if call.shown
        else ", predicted at Send (the message changed after the meter was last drawn, or this was a retry)"
    )
    if actual is None and outcome.usage.flag:
        note += "; the server's usage is implausible (below), so there is nothing to compare against"
    elif actual is None:
        note += "; the server reported no usage, so there is nothing to compare against"
    elif actual == call.predicted_prompt_tokens:
        note += "; matches the server's count"
    st.caption(f"Time to first token {ttft} · {call.body_bytes:,} B sent to {inert_inline(call.model)} · {note}")
    if outcome.usage.flag:  # what the server said, named: its numbers are neither compared nor priced
        st.warning(inert_inline(outcome.usage.flag), icon=":material/warning:")
    if call.price_source:
        cached = outcome.usage.cached_tokens
        with_cache = f", {cached:,} cached tokens billed as cached" if cached else ""
        spent = f"Cost {money(call.cost)}"
        hosted = price_as.prices()
        if call.price_source == FREE_LOCAL and hosted is not None:  # never a bare $0: the same call at a hosted price
            spent = "Cost " + price_as.both(call.cost, billed(hosted, call.predicted_prompt_tokens, outcome.usage))
        st.caption(f"{spent}{with_cache} · prices: {call.price_source}")


def _cached_report(call: LastCall) -> None:
    """Cached tokens, predicted before the call and reported by the server, and what the call cost."""
    outcome, prediction = call.outcome, call.cache
    predicted = prediction.cached if prediction is not None else None
    reported = outcome.usage.cached_tokens
    if predicted is None and reported is None:
        return
    left, right = st.columns(2)
    left.metric(
        "Predicted cached",
        "—" if predicted is None else f"{predicted:,}",
        help=explain("cached_tokens") + (f" {prediction.rule.note}." if prediction is not None else ""),
    )
    right.metric(
        "Reported cached",
        "none reported" if reported is None else f"{reported:,}",
        delta=None if reported is None or predicted is None else reported - predicted,
        delta_color="off",
        help=explain("cached_tokens") + " (The server's usage.prompt_tokens_details.cached_tokens.)",
    )


# --- prompt caching: before the call (the meter) and after it (the last-call report) -------------


def backend_of(provider: ProviderConfig) -> tuple[str, ...]:
    """A provider's cache is its own: calls to another backend or model do not share it."""
    return (provider.kind, provider.base_url, provider.model)


def predict_cache(settings: Settings, request: Request) -> caching.CachePrediction | None:
    """What the request would read from the cache the session's last call left."""
    last = state.last_call()
    previous = last.cache_after if last is not None else None
    # A session reopened (or imported) has replies but no call made here yet: not "no earlier call".
    replied = any(m.role == "assistant" for m in state.history())
    return caching.predict(
        previous,
        backend_of(settings.provider),
        request.plan.messages,
        settings.counter(),
        settings.provider.backend.rule_for(settings.counter()),
        caching.NOT_HERE_YET if replied else None,
    )


def cache_meter(settings: Settings, request: Request) -> None:
    """The cacheable prefix of the next call, its input cost with and without the cache, and what broke it."""
    prediction = predict_cache(settings, request)
    if prediction is None or request.question is None:
        return
    model, at = request.plan.model, ""
    if price_as.is_free(model) and price_as.chosen():  # a free model's costs, as the hosted model picked would bill
        model, at = price_as.at(model), f" at {price_as.chosen()}"
    rule = prediction.rule
    shared, total = prediction.shared, prediction.prompt_tokens
    # One above the other: side by side, at 1280 px, a cost of millionths ("$0.000014") and its label
    # ("Input cost with cache at gpt-4o-mini") were cut to "$0.000…" under "Input cost with cache a…".
    cached, plain = st.container(), st.container()
    if prediction.cached is None:
        # The number alone as the value, "of N tokens" under it: "1,114 of 2,300" was cut to "114 of …"
        # in the meter's column at 1280 px.
        cached.metric(
            "Shared prefix (estimate)",
            f"{shared:,}",
            f"of {total:,} tokens",
            "off",
            help=f"{explain('cacheable_prefix')} {rule.note}.",
            delta_arrow="off",
        )
        plain.metric(f"Input cost, no cache{at}", money(prediction.input_cost_uncached(model)))
    else:
        cached.metric(
            "Cacheable prefix" + (" (estimate)" if rule.estimate else ""),
            f"{prediction.cached:,}",
            f"of {total:,} tokens",
            "off",
            delta_arrow="off",
            help=f"{explain('cacheable_prefix')} {rule.note}. Shared from the start with the last call: {shared:,} "
            "tokens.",
        )
        plain.metric(
            f"Input cost with cache{at}",
            money(prediction.input_cost(model)),
            delta=_saving(prediction, model),
            delta_color="off",
        )
    # "llama.cpp's rule" meant nothing to a director: say whose cache it is; the rule itself is on hover.
    notes = [f"{shared:,} tokens start the same as in the last call (how {rule.name} caches"]
    notes[0] += ")" if rule.known else ", an estimate: whether it reuses them is unknown)"
    if prediction.cold:
        notes = [f"Nothing cached yet: {prediction.cold}"]
    elif prediction.cached is not None:
        notes.append(f"without the cache {money(prediction.input_cost_uncached(model))}{at}")
    if not model.prices.cache_discount and model.prices.input is not None and prediction.cached:
        notes.append("no cached-input price for this model: cached tokens are billed in full")
    st.caption(" · ".join(notes), help=f"{explain('cache_rule')} Here: {rule.note}.")
    why = caching.describe_break(prediction, state.history(), request.decisions, state.strategy_kind())
    if why and prediction.breaks_at is not None:
        if prediction.lost:
            extra = prediction.lost_cost(model)
            price = f"+{money(extra)} per call{at}" if extra else "free here, but evaluated again: a slower first token"
            lost = f"this change makes {prediction.lost:,} tokens uncached ({price})"
            st.warning(f"Since the last call, {inert_inline(why)}: {lost}.")
        else:
            st.caption(f"Since the last call, {inert_inline(why)}: the cache is not reused from there on.")


def _saving(prediction: caching.CachePrediction, model) -> str | None:
    with_cache, without = prediction.input_cost(model), prediction.input_cost_uncached(model)
    if with_cache is None or without is None or without == with_cache:
        return None
    return f"-{money(without - with_cache)} vs no cache"


def last_call(settings: Settings, request: Request, outcome: CallOutcome, shown: bool) -> LastCall:
    """The finished call's report: its prediction (made from the call before it, as the meter showed)
    and what it leaves in the cache for the next one. A call that got nothing evaluated leaves the
    cache as it was."""
    plan = request.plan
    previous = state.last_call()
    prediction = predict_cache(settings, request)
    after: caching.CachedCall | None = None
    if outcome.text or outcome.usage.prompt_tokens is not None:
        after = caching.CachedCall(
            backend_of(settings.provider), plan.messages, outcome.text, outcome.finish_reason == "stop"
        )
    else:
        after = previous.cache_after if previous is not None else None
    spent = billed(plan.model.prices, plan.prompt_tokens, outcome.usage)
    return LastCall(
        plan.prompt_tokens,
        plan.count.exact,
        plan.body_bytes,
        plan.model.name,
        outcome,
        shown,
        cache=prediction,
        cache_after=after,
        cost=spent,
        price_source=plan.model.prices.source,
    )
