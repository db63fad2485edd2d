"""Compare: the same question under different contexts, side by side, with what each one cost."""

from __future__ import annotations

import json
import time

import pandas as pd
import streamlit as st

from lib import models
from lib.compare import (
    MAX_VARIANTS,
    PRESETS,
    Comparison,
    Job,
    Target,
    Variant,
    VariantResult,
    answer_stats,
    plan_rows,
    plan_variant,
    run_concurrently,
    seeded,
    seeds_for,
)
from lib.conversation import new_id
from lib.display import inert_inline, inert_markdown, shortened_body
from lib.providers import CallOutcome
from lib.report import diff_html, plan_figure, report_html, report_markdown, result_figures
from lib.request import Request, send_blocker
from lib.strategies import STRATEGY_LABELS, Strategy
from ui import resources, sessions, state
from ui.meter import money
from ui.planning import summary_for
from ui.settings import Settings, page_setup
from ui.summary import make_summary, summary_plan

SYSTEM_MODES = {"conversation": "The conversation's", "none": "None", "custom": "Custom"}


# --- variant slots: each is a set of widgets keyed by the slot's id ----------------------------


def _add_slot(variant: Variant) -> None:
    slot = new_id()
    mode = "conversation" if variant.system_override is None else ("none" if not variant.system_override else "custom")
    values = {
        "name": variant.name,
        "strategy": variant.strategy.kind,
        "turns": variant.strategy.last_turns,
        "budget": variant.strategy.token_budget,
        "system_mode": mode,
        "system_text": variant.system_override or "",
        "model": variant.model,
        "temperature": -1.0 if variant.temperature is None else variant.temperature,
        "max_tokens": 0 if variant.max_tokens is None else variant.max_tokens,
    }
    for name, value in values.items():
        state.put(state.slot_key(slot, name), value)
    state.put(state.COMPARE_SLOTS, [*state.get(state.COMPARE_SLOTS), slot])


def _remove_slot(slot: str) -> None:
    state.put(state.COMPARE_SLOTS, [s for s in state.get(state.COMPARE_SLOTS) if s != slot])


def _reset_slots() -> None:
    state.put(state.COMPARE_SLOTS, [])
    for preset in PRESETS:
        _add_slot(preset)


def _variant_of(slot: str) -> Variant:
    value = lambda name: state.get(state.slot_key(slot, name))  # noqa: E731 - a local shorthand
    mode = value("system_mode")
    override = None if mode == "conversation" else ("" if mode == "none" else value("system_text"))
    strategy = Strategy(value("strategy"), last_turns=int(value("turns")), token_budget=int(value("budget")))
    return Variant(
        name=value("name") or "Unnamed",
        strategy=strategy,
        system_override=override,
        model=value("model") or "",
        temperature=None if value("temperature") < 0 else value("temperature"),
        max_tokens=int(value("max_tokens")) or None,
    )


def _slot_editor(slot: str, settings: Settings) -> None:
    key = lambda name: state.slot_key(slot, name)  # noqa: E731 - a local shorthand
    with st.container(border=True):
        st.text_input("Name", key=key("name"))
        st.selectbox("Context", list(STRATEGY_LABELS), format_func=STRATEGY_LABELS.__getitem__, key=key("strategy"))
        kind = state.get(key("strategy"))
        if kind in ("last_turns", "summarise"):
            st.number_input("Turns kept", 0, 1000, key=key("turns"))
        if kind == "token_budget":
            st.number_input("Token budget", 0, 10_000_000, step=64, key=key("budget"))
        st.radio(
            "System prompt",
            list(SYSTEM_MODES),
            format_func=SYSTEM_MODES.__getitem__,
            key=key("system_mode"),
            horizontal=True,
        )
        if state.get(key("system_mode")) == "custom":
            st.text_area("Custom system prompt", key=key("system_text"), height=68)
        if settings.provider.kind != "embedded":
            st.text_input("Model (blank: the sidebar's)", key=key("model"))
        st.number_input("Temperature (-1: the sidebar's)", -1.0, 2.0, step=0.1, key=key("temperature"))
        st.number_input("Max reply tokens (0: the sidebar's)", 0, 100_000, key=key("max_tokens"))
        st.button("Remove", key=f"remove_{slot}", on_click=_remove_slot, args=(slot,), icon=":material/close:")


# --- planning --------------------------------------------------------------------------------


def _target(variant: Variant, settings: Settings) -> Target:
    if not variant.model or settings.provider.kind == "embedded":
        return Target(settings.model, settings.counter(), settings.provider.model)
    info = models.info_for(variant.model, settings.model.context_window)
    return Target(info, resources.tiktoken_counter(info.name), variant.model)


def _requests(variants: list[Variant], question: str, settings: Settings) -> list[Request]:
    """Each variant's request from the one builder, with the summaries made in this session."""
    system, history = state.system_prompt(), state.history()
    return [
        plan_variant(
            v, system, history, question, _target(v, settings), settings.sampling,
            lambda older: summary_for(older, settings),
        )
        for v in variants
    ]  # fmt: skip


def _missing_summaries(requests: list[Request], variants: list[Variant], settings: Settings) -> None:
    """A summarising variant needs its summary made before it can run: say what that call costs."""
    wanted = {r.to_summarise: v.name for r, v in zip(requests, variants, strict=True) if r.needs_summary}
    if not wanted:
        return
    plans = [summary_plan(older, settings) for older in wanted]
    tokens = sum(p.prompt_tokens for p in plans)
    st.warning(
        f"{', '.join(wanted.values())}: the older messages must be summarised first — {len(plans)} call(s), "
        f"{tokens:,} prompt tokens, input {money(sum(p.input_cost or 0 for p in plans))}. Until then that variant "
        "is not run."
    )
    if st.button("Make the summaries", key="compare_make_summaries", icon=":material/summarize:"):
        with st.spinner("Summarising the older messages…"):
            errors = [e for older in wanted if (e := make_summary(older, settings, variant="summary (compare)"))]
        for error in errors:
            st.error(inert_markdown(error))
        if not errors:
            st.rerun()


def _request_preview(variants: list[Variant], plans: list) -> None:
    """Each variant's body exactly as it is sent (the first run's; repeat i sends seed + i)."""
    seeds = seeds_for(int(state.get(state.COMPARE_REPEATS)), int(state.get(state.COMPARE_SEED)))
    with st.expander("What each variant sends (the exact request bodies)"):
        if seeds[0] is not None:
            st.caption(f"The first run of each variant is shown; run i sends seed {seeds[0]} + i.")
        tabs = st.tabs([f"{i + 1}. {inert_inline(v.name)}" for i, v in enumerate(variants)])
        for tab, plan in zip(tabs, plans, strict=True):
            body, left_out = shortened_body(seeded(plan, seeds[0]).body)
            if left_out:
                tab.caption(f"{left_out:,} characters of very long messages are not shown here; the call sends them.")
            tab.code(json.dumps(body, ensure_ascii=False, indent=2), language="json", wrap_lines=True)


# --- running ---------------------------------------------------------------------------------


def _run(variants: list[Variant], requests: list[Request], question: str, settings: Settings) -> Comparison:
    repeats = int(state.get(state.COMPARE_REPEATS))
    seeds = seeds_for(repeats, int(state.get(state.COMPARE_SEED)))
    client = resources.client(settings.provider)
    results = [VariantResult(v, r.plan, seeds=list(seeds)) for v, r in zip(variants, requests, strict=True)]
    jobs, blocked = [], {}
    for index, request in enumerate(requests):
        reason = send_blocker(request)
        if reason:
            blocked[index] = reason
            continue
        for repeat, seed in enumerate(seeds):
            jobs.append(Job((index, repeat), client, seeded(request.plan, seed).body, settings.provider.secrets))
    if settings.provider.kind == "embedded":
        st.info("The embedded llama.cpp server answers one request at a time: all variants are sent at once and "
                "stream here as the server serves them.")  # fmt: skip
    columns = st.columns(len(variants))
    boxes = []
    for column, variant in zip(columns, variants, strict=True):
        column.markdown(f"**{inert_inline(variant.name)}**")
        boxes.append(column.empty())
    progress = st.progress(0.0, text=f"0 of {len(jobs)} runs done")
    texts: dict[int, str] = {}
    outcomes: dict[tuple[int, int], CallOutcome] = {}
    for event in run_concurrently(jobs):
        index, repeat = event.key
        if event.kind == "delta" and repeat == 0:
            texts[index] = texts.get(index, "") + event.text
            boxes[index].markdown(inert_markdown(texts[index]))
        elif event.kind == "done":
            outcomes[event.key] = event.outcome
            progress.progress(len(outcomes) / len(jobs), text=f"{len(outcomes)} of {len(jobs)} runs done")
    for index, result in enumerate(results):
        if index in blocked:
            result.outcomes = [CallOutcome(error=f"Not sent: {blocked[index]}")]
            continue
        result.outcomes = [outcomes[(index, repeat)] for repeat in range(len(seeds))]
        for seed, outcome in zip(seeds, result.outcomes, strict=True):
            sessions.log_call(settings, seeded(result.plan, seed), outcome, variant=result.variant.name)
    note = f"{settings.provider.kind} · {settings.provider.model} · {repeats} run(s) per variant"
    return Comparison(
        question, results, time.strftime("%Y-%m-%d %H:%M:%S"), int(state.get(state.COMPARE_BASELINE)), note
    )


# --- results ---------------------------------------------------------------------------------


def _answer_column(result: VariantResult, baseline: VariantResult, is_baseline: bool) -> None:
    st.markdown(f"**{inert_inline(result.variant.name)}**" + (" · baseline" if is_baseline else ""))
    for error in result.errors:
        st.error(inert_markdown(error))
    first = result.outcomes[0] if result.outcomes else CallOutcome()
    reported = "none reported" if first.prompt_tokens is None else f"{first.prompt_tokens:,}"
    st.caption(
        f"predicted {result.plan.prompt_tokens:,} · reported {reported} prompt tokens · "
        f"{first.completion_tokens or 0:,} completion · "
        f"{first.latency_s or 0:.2f} s (first token {first.ttft_s or 0:.2f} s)"
    )
    if is_baseline:
        st.markdown(inert_markdown(result.answer))
    else:
        st.html(f"<div style='white-space:pre-wrap'>{diff_html(baseline.answer, result.answer)}</div>")


def _results(comparison: Comparison) -> None:
    st.subheader(f"Answers to “{inert_inline(comparison.question, limit=200)}”")
    st.caption(
        f"{comparison.created} · {inert_inline(comparison.model_note)}. Other answers are shown as a word diff "
        "against the baseline: green was added, red was dropped."
    )
    baseline = comparison.results[comparison.baseline]
    for column, result in zip(st.columns(len(comparison.results)), comparison.results, strict=True):
        with column:
            _answer_column(result, baseline, result is baseline)
    stats = answer_stats(comparison.results, comparison.baseline)
    st.markdown("**Every run** — similarity is the cosine of the answers' word counts (1 = the same words, 0 = none "
                "shared): word choice, not meaning.")  # fmt: skip
    st.dataframe(pd.DataFrame(stats), hide_index=True, width="stretch")
    figures = result_figures(stats)
    for column, figure in zip(st.columns(max(1, len(figures))), figures, strict=False):
        column.plotly_chart(figure, width="stretch")
    cols = st.columns(2)
    cols[0].download_button(
        "Download the report (HTML, works offline)", report_html(comparison), "context-lab-comparison.html",
        "text/html", icon=":material/download:",
    )  # fmt: skip
    cols[1].download_button(
        "Download as Markdown", report_markdown(comparison), "context-lab-comparison.md", "text/markdown",
        icon=":material/description:",
    )  # fmt: skip


def _kept_comparisons() -> None:
    kept: list[Comparison] = state.get(state.COMPARISONS)
    if not kept:
        return
    labels = [f"{c.created} — {c.question[:60]}" for c in kept]
    shown = st.selectbox("Kept comparisons (this session)", range(len(kept)), format_func=labels.__getitem__,
                         index=len(kept) - 1, key=state.COMPARE_SHOWN)  # fmt: skip
    _results(kept[shown])


def render(settings: Settings) -> None:
    st.title("Compare contexts")
    st.caption(
        "One question, several contexts: which history is sent, which system prompt, which model. "
        "See what each would cost before sending, then how the answers differ."
    )
    state.default(state.COMPARISONS, [])
    state.default(state.COMPARE_REPEATS, 1)
    state.default(state.COMPARE_SEED, 1)
    state.default(state.COMPARE_BASELINE, 0)
    state.default(state.COMPARE_QUESTION, state.get(state.DRAFT) or "What is my name?")
    if state.get(state.COMPARE_SLOTS) is None:
        state.put(state.COMPARE_SLOTS, [])
        _reset_slots()
    st.caption(f"The conversation has {len(state.history())} messages (edit it on the Chat page).")
    question = st.text_area("The next user message", key=state.COMPARE_QUESTION, height=70)
    slots = state.get(state.COMPARE_SLOTS)
    for column, slot in zip(st.columns(max(1, len(slots))), slots, strict=False):
        with column:
            _slot_editor(slot, settings)
    cols = st.columns([2, 1, 1, 1, 1], vertical_alignment="bottom")
    preset = cols[0].selectbox("Add a variant", range(len(PRESETS)), format_func=lambda i: PRESETS[i].name)
    cols[1].button("Add", on_click=_add_slot, args=(PRESETS[preset],), disabled=len(slots) >= MAX_VARIANTS)
    cols[2].button("Reset to defaults", on_click=_reset_slots)
    cols[3].number_input(
        "Runs per variant", 1, 10, key=state.COMPARE_REPEATS,
        help="Repeat each variant (temperature > 0) to tell the context's effect from sampling noise.",
    )  # fmt: skip
    cols[4].number_input("First seed", 0, 2**31, key=state.COMPARE_SEED,
                         help="Repeat i uses seed + i, sent in the request's `seed` field.")  # fmt: skip
    if len(slots) < 2:
        st.warning("Add at least two variants to compare.")
        return
    variants = [_variant_of(slot) for slot in slots]
    requests = _requests(variants, question, settings)
    plans = [r.plan for r in requests]
    _missing_summaries(requests, variants, settings)
    rows = plan_rows(variants, plans)
    st.subheader("Before running: what each variant sends")
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch",
                 column_config={"input cost $": st.column_config.NumberColumn(format="%.6f")})  # fmt: skip
    st.plotly_chart(plan_figure(rows), width="stretch")
    _request_preview(variants, plans)
    state.put(state.COMPARE_BASELINE, min(int(state.get(state.COMPARE_BASELINE)), len(variants) - 1))
    st.selectbox("Baseline for the diff", range(len(variants)), format_func=lambda i: variants[i].name,
                 key=state.COMPARE_BASELINE)  # fmt: skip
    total = sum(p.input_cost or 0 for p in plans) * int(state.get(state.COMPARE_REPEATS))
    if st.button(
        f"Run {len(variants)} variants (input ≈ {money(total)})",
        type="primary",
        disabled=not question.strip(),
        help=f"Prices: {settings.model.prices.source}",
    ):
        live = st.empty()  # the streaming columns, replaced by the results once every run is done
        with live.container():
            comparison = _run(variants, requests, question, settings)
        live.empty()
        state.put(state.COMPARISONS, [*state.get(state.COMPARISONS), comparison])
        state.pop(state.COMPARE_SHOWN)
    _kept_comparisons()


render(page_setup())
