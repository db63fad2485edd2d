"""Compare: the same question under different contexts, side by side, with what each one cost."""

from __future__ import annotations

import html
import json
import time

import pandas as pd
import streamlit as st

from lib.analysis.compare import (
    MAX_VARIANTS,
    PRESETS,
    Comparison,
    ComparisonRun,
    Job,
    Variant,
    VariantResult,
    answer_stats,
    plan_rows,
    seeded,
    seeds_for,
)
from lib.analysis.report import (
    TIMING_NOTE,
    diff_html,
    plan_figure,
    report_html,
    report_markdown,
    result_figures,
    variant_colours,
)
from lib.context.display import inert_inline, inert_markdown, shortened_body
from lib.context.request import Request, send_blocker
from lib.context.strategies import STRATEGY_LABELS, spec_of
from lib.core import models
from lib.core.outcome import CallOutcome
from ui import attribution, compare_state, composition, resources, sessions, state, tools_panel
from ui.meter import money
from ui.settings import Settings, page_setup
from ui.summary import make_summary, summary_plan

SYSTEM_MODES = {"conversation": "The conversation's", "none": "None", "custom": "Custom"}
OWN_PRICES = ""
POLL_S = 0.1


def _price_label(name: str) -> str:
    return "Each model's own prices" if name == OWN_PRICES else f"As if {name}"


def _priced_note(price_as: str) -> str:
    return f"priced as {price_as}" if price_as else ""


# --- the variant cards ----------------------------------------------------------------------------


def _slot_editor(slot: str, settings: Settings, pinned: int) -> None:
    key = lambda name: state.slot_key(slot, name)  # noqa: E731 - a local shorthand
    with st.container(border=True):
        st.text_input("Name", key=key("name"))
        fixed = compare_state.fixed_context(slot)
        if fixed is not None:
            _fixed_context(fixed)
        else:
            _context_choice(key)
        if not settings.provider.backend.one_model:
            st.text_input("Model (blank: the sidebar's)", key=key("model"))
        # An explicit "inherit": the sidebar's value, named, or a value of the variant's own.
        st.checkbox(f"Sidebar's temperature ({settings.sampling.temperature:g})", key=key("temperature_inherit"))
        if not state.get(key("temperature_inherit")):
            st.number_input("Temperature", 0.0, 2.0, step=0.1, key=key("temperature"))
        st.checkbox(f"Sidebar's reply limit ({settings.sampling.max_tokens:,} tokens)", key=key("max_tokens_inherit"))
        if not state.get(key("max_tokens_inherit")):
            st.number_input("Max reply tokens", 1, 100_000, key=key("max_tokens"))
        tools_panel.variant_tools(key)
        st.caption("Sends " + inert_markdown(compare_state.variant_of(slot).sends(pinned)))
        st.button(
            "Remove", key=f"remove_{slot}", on_click=compare_state.remove_slot, args=(slot,), icon=":material/close:"
        )


def _context_choice(key) -> None:
    st.selectbox("Context", list(STRATEGY_LABELS), format_func=STRATEGY_LABELS.__getitem__, key=key("strategy"))
    kind = state.get(key("strategy"))
    for parameter in spec_of(kind).parameters:
        st.number_input(
            parameter.label, parameter.minimum, parameter.maximum, step=parameter.step, key=key(parameter.key)
        )
    st.radio(
        "System prompt",
        list(SYSTEM_MODES),
        format_func=SYSTEM_MODES.__getitem__,
        key=key("system_mode"),
        horizontal=True,
    )
    if state.get(key("system_mode")) == "custom":
        st.text_area("Custom system prompt", key=key("system_text"), height=68)


def _fixed_context(fixed: tuple[tuple[str, ...], ...]) -> None:
    """A variant added from an answer's smallest context: its messages are fixed, listed, not edited."""
    with st.expander(f"Fixed context: {len(fixed)} message{'s' if len(fixed) != 1 else ''}"):
        lines = [f"- **{role}** {inert_inline(text, limit=120)}" for role, text, *_ in fixed]
        st.markdown("\n".join(lines) or "- (only the question)")


def _variant_cards(settings: Settings) -> None:
    slots = compare_state.slots()
    pinned = sum(m.pinned for m in state.history())
    st.subheader(f"Variants ({len(slots)})")
    for column, slot in zip(st.columns(max(1, len(slots))), slots, strict=False):
        with column:
            _slot_editor(slot, settings, pinned)
    cols = st.columns([3, 1, 1], vertical_alignment="bottom")
    preset = cols[0].selectbox("Add a variant", range(len(PRESETS)), format_func=lambda i: PRESETS[i].name)
    cols[1].button(
        "Add",
        on_click=compare_state.add_slot,
        args=(PRESETS[preset],),
        disabled=len(slots) >= MAX_VARIANTS,
        icon=":material/add:",
    )
    cols[2].button("Reset to the presets", on_click=compare_state.reset_slots)


# --- before running ----------------------------------------------------------------------------------


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


def _before_running(variants: list[Variant], requests: list[Request], price_as: str) -> None:
    plans = [r.plan for r in requests]
    rows = plan_rows(variants, plans, price_as)
    st.subheader("Before running: what each variant sends")
    cost = f"input cost $ ({_priced_note(price_as)})" if price_as else "input cost $"
    frame = pd.DataFrame(rows).rename(columns={"input cost $": cost})
    st.dataframe(
        frame, hide_index=True, width="stretch", column_config={cost: st.column_config.NumberColumn(format="%.6f")}
    )
    st.plotly_chart(plan_figure(rows, priced_note=_priced_note(price_as)), width="stretch")
    _request_preview(variants, plans)


def _request_preview(variants: list[Variant], plans: list) -> None:
    """Each variant's body exactly as it is sent (the first run's; repeat i sends seed + i)."""
    seeds = seeds_for(state.whole(state.COMPARE_REPEATS), state.whole(state.COMPARE_SEED))
    with st.expander("What each variant sends (the exact request bodies)"):
        if seeds[0] is not None:
            st.caption(f"The first run of each variant is shown; run i sends seed {seeds[0]} + i.")
        tabs = st.tabs([f"{i + 1}. {inert_inline(v.name)}" for i, v in enumerate(variants)])
        for tab, plan in zip(tabs, plans, strict=True):
            body, left_out = shortened_body(seeded(plan, seeds[0]).body)
            if left_out:
                tab.caption(f"{left_out:,} characters of very long messages are not shown here; the call sends them.")
            tab.code(json.dumps(body, ensure_ascii=False, indent=2), language="json", wrap_lines=True)


# --- running ---------------------------------------------------------------------------------------


def _one_at_a_time(settings: Settings) -> bool:
    return settings.provider.backend.answers_one_at_a_time or bool(state.get(state.COMPARE_ONE_AT_A_TIME))


def _start_run(variants: list[Variant], requests: list[Request], question: str, settings: Settings) -> None:
    """The Run button's callback: send the requests the page showed, on a thread of their own."""
    session_id = sessions.current_id()
    if compare_state.run_in_flight(session_id) is not None:
        return
    repeats = state.whole(state.COMPARE_REPEATS)
    seeds = seeds_for(repeats, state.whole(state.COMPARE_SEED))
    client = resources.client(settings.provider)
    results = [VariantResult(v, r.plan, seeds=list(seeds)) for v, r in zip(variants, requests, strict=True)]
    jobs = []
    for index, request in enumerate(requests):
        reason = send_blocker(request)
        if reason:
            results[index].outcomes = [CallOutcome(error=f"Not sent: {reason}")]
            continue
        for repeat, seed in enumerate(seeds):
            jobs.append(
                Job(
                    (index, repeat),
                    client,
                    seeded(request.plan, seed).body,
                    settings.provider.secrets,
                    settings.provider.limits,
                )
            )
    one_at_a_time = _one_at_a_time(settings)
    note = f"{settings.provider.kind} · {settings.provider.model} · {repeats} run(s) per variant"
    comparison = Comparison(
        question,
        results,
        time.strftime("%Y-%m-%d %H:%M:%S"),
        0,
        note,
        one_at_a_time,
        str(state.get(state.COMPARE_EXPECTED) or ""),
    )
    run = ComparisonRun(
        comparison,
        jobs,
        one_at_a_time,
        compare_state.wait_turn_for(settings),
        compare_state.keeper(settings, session_id),
    )
    compare_state.keep_run(session_id, run)


def _run_row(variants: list[Variant], requests: list[Request], question: str, settings: Settings) -> None:
    """At the top, by the question: the Run button and the run's options."""
    price_as = state.text(state.COMPARE_PRICE_AS) or OWN_PRICES
    repeats = state.whole(state.COMPARE_REPEATS)
    total = (
        sum((models.priced_as(r.plan.model, price_as).input_cost(r.plan.prompt_tokens) or 0) for r in requests)
        * repeats
    )
    running = compare_state.run_in_flight() is not None
    cols = st.columns([2.2, 1, 1, 1.6], vertical_alignment="bottom")
    priced = f", {_priced_note(price_as)}" if price_as else ""
    cols[0].button(
        f"Run {len(variants)} variants (input ≈ {money(total)}{priced})",
        type="primary",
        icon=":material/play_arrow:",
        disabled=running or len(variants) < 2 or not question.strip(),
        on_click=_start_run,
        args=(variants, requests, question, settings),
        width="stretch",
    )
    cols[1].number_input(
        "Runs per variant",
        1,
        10,
        key=state.COMPARE_REPEATS,
        help="Repeat each variant (temperature > 0) to tell the context's effect from sampling noise.",
    )
    cols[2].number_input(
        "First seed",
        0,
        2**31,
        key=state.COMPARE_SEED,
        help="Repeat i uses seed + i, sent in the request's `seed` field.",
    )
    cols[3].selectbox(
        "Price the run",
        [OWN_PRICES, *models.priced_models()],
        format_func=_price_label,
        key=state.COMPARE_PRICE_AS,
        help="Offline, every call costs $0. Price the same tokens at a hosted model's list prices to see what "
        "this would cost in a real deployment (the tokens stay this model's own count).",
    )
    st.caption(settings.provider.limits.describe() + " Set both in the sidebar.")
    if settings.provider.backend.answers_one_at_a_time:
        st.caption(
            "The embedded model answers one request at a time: the variants are sent one after another, so each "
            "one's latency is its own; the wait for its turn is shown apart, as *queued*."
        )
    else:
        st.toggle(
            "Send one at a time",
            key=state.COMPARE_ONE_AT_A_TIME,
            help="For a server that answers one request at a time (a local llama.cpp or Ollama): sent at once, "
            "the variants would only queue there, and the last one served would look slowest.",
        )


def _stop(run: ComparisonRun) -> None:
    run.stop()


def _show_run(run: ComparisonRun) -> None:
    """The run as it goes: each variant's first answer streaming in its column. A click or a refresh
    interrupts this loop, not the run; the next run of the page picks it up here."""
    results = run.comparison.results
    st.subheader("Running…")
    status = st.empty()
    st.button(
        "Stop",
        icon=":material/stop_circle:",
        key="compare_stop",
        on_click=_stop,
        args=(run,),
        help="End every run here; what arrived is kept.",
    )
    boxes = []
    for column, result in zip(st.columns(len(results)), results, strict=True):
        column.markdown(f"**{inert_inline(result.variant.name)}**")
        boxes.append((column.empty(), column.empty()))
    shown: dict[int, str] = {}
    while True:
        finished = run.wait(POLL_S)
        for index, (caption, box) in enumerate(boxes):
            text = run.texts.get((index, 0), "")
            caption.caption(_live_state(run, index))
            if text != shown.get(index):
                box.markdown(inert_markdown(text))
                shown[index] = text
        done, total = run.progress
        elapsed = time.monotonic() - run.started_at
        status.progress(done / max(total, 1), text=f"{done} of {total} runs done · {elapsed:.0f} s")
        if finished:
            break
    session_id = sessions.current_id()
    if compare_state.forget_run(session_id, run):
        if run.failure:
            st.warning(f"The comparison could not be kept with the session ({run.failure}): it stays in this tab.")
        compare_state.reload_comparisons(run.comparison if run.failure else None)
    st.rerun()


def _live_state(run: ComparisonRun, index: int) -> str:
    result = run.comparison.results[index]
    if result.outcomes and not any((index, r) in run.sent for r in range(len(result.seeds))):
        return result.outcomes[0].error or "not sent"
    if (index, 0) in run.finished:
        outcome = run.finished[(index, 0)].outcome
        return "done" if outcome is None or outcome.ok else f"failed: {outcome.error}"
    if (index, 0) in run.sent:
        return "streaming…" if run.texts.get((index, 0)) else "sent, waiting for the first token…"
    return "queued: waiting for its turn"


# --- results ---------------------------------------------------------------------------------------


def _seconds(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f} s"


def _answer_column(
    settings: Settings,
    result: VariantResult,
    baseline: VariantResult,
    is_baseline: bool,
    colour: str,
    diff: bool,
    key: str,
    expected: str = "",
) -> None:
    name = html.escape(result.variant.name)
    st.html(
        f'<div style="border-top:4px solid {colour};padding-top:4px;font-weight:600">{name}'
        + (' <span style="font-weight:400;opacity:.7">· baseline</span>' if is_baseline else "")
        + "</div>"
    )
    for error in result.errors:
        st.error(inert_markdown(error))
    first = result.outcomes[0] if result.outcomes else CallOutcome()
    reported = "none reported" if first.usage.prompt_tokens is None else f"{first.usage.prompt_tokens:,}"
    st.caption(
        f"predicted {result.plan.prompt_tokens:,} · reported {reported} prompt tokens · "
        f"{first.usage.completion_tokens or 0:,} completion · first token {_seconds(first.ttft_s)} · "
        f"latency {_seconds(first.latency_s)} · queued {_seconds(result.queued_s(0))}"
    )
    if diff and not is_baseline:
        st.html(f"<div style='white-space:pre-wrap'>{diff_html(baseline.answer, result.answer)}</div>")
    else:
        st.markdown(inert_markdown(result.answer) or "*(no answer)*")
    attribution.compare_answer(settings, result.plan, result.answer, key, result.variant, expected)


def _legend(colours: dict[str, str]) -> None:
    items = "".join(
        f'<span style="margin-right:1.2rem;white-space:nowrap"><span style="display:inline-block;width:.8em;'
        f'height:.8em;border-radius:2px;background:{c};margin-right:.35em"></span>{html.escape(n)}</span>'
        for n, c in colours.items()
    )
    st.html(f'<div style="font-size:.85rem;line-height:1.9">{items}</div>')


def _results(settings: Settings, comparison: Comparison, price_as: str) -> None:
    st.subheader(f"Answers to “{inert_inline(comparison.question, limit=200)}”")
    served = " · sent one at a time" if comparison.one_at_a_time else " · sent at once"
    st.caption(
        f"{comparison.created} · {inert_inline(comparison.model_note)}{served}. Latency and first token count "
        "from the moment each variant was sent; *queued* is the wait before."
    )
    names = [r.variant.name for r in comparison.results]
    cols = st.columns([2, 1], vertical_alignment="bottom")
    if state.whole(state.COMPARE_BASELINE) >= len(names):
        state.put(state.COMPARE_BASELINE, 0)
    baseline_index = cols[0].selectbox(
        "Baseline",
        range(len(names)),
        format_func=names.__getitem__,
        key=state.COMPARE_BASELINE,
        help="The answer the others are measured (similarity) and diffed against.",
    )
    diff = cols[1].toggle(
        "Show the word diff",
        key=state.COMPARE_DIFF,
        help="Each other answer marked against the baseline: green added, red dropped.",
    )
    shown = Comparison(
        comparison.question,
        comparison.results,
        comparison.created,
        int(baseline_index),
        comparison.model_note,
        comparison.one_at_a_time,
        comparison.expected,
    )
    if shown.expected.strip():
        st.caption(inert_markdown(f"Expected answer: “{shown.expected.strip()}” (correct: the answer contains it)."))
    if shown.baseline_warning():
        st.warning(inert_markdown(shown.baseline_warning() or ""))
    colours = variant_colours(names)
    baseline = shown.results[shown.baseline]
    for index, (column, result) in enumerate(zip(st.columns(len(shown.results)), shown.results, strict=True)):
        with column:
            colour, key = colours[result.variant.name], attribution.answer_key(comparison, index)
            _answer_column(settings, result, baseline, result is baseline, colour, diff, key, shown.expected)
    stats = answer_stats(shown.results, shown.baseline, price_as, shown.expected)
    st.markdown(
        "**Every run** — similarity is the cosine of the answers' word counts (1 = the same words, 0 = none "
        "shared): word choice, not meaning."
    )
    cost = f"cost $ ({_priced_note(price_as)})" if price_as else "cost $"
    runs = pd.DataFrame(stats).rename(columns={"cost $": cost})
    if runs["seed"].isna().all():  # one run each: no seed was sent
        runs = runs.drop(columns="seed")
    st.dataframe(
        runs,
        hide_index=True,
        width="stretch",
        column_config={cost: st.column_config.NumberColumn(format="%.6f")},
    )
    figures = result_figures(stats, names, legend=False)
    if figures:
        _legend(colours)
        for start in range(0, len(figures), 2):
            for column, figure in zip(st.columns(2), figures[start : start + 2], strict=False):
                column.plotly_chart(figure, width="stretch")
        st.caption(TIMING_NOTE)
    downloads = st.columns(2)
    # Deferred: the report (plotly.js inlined) is built on click, not on every rerun.
    downloads[0].download_button(
        "Download the report (HTML, works offline)",
        lambda: report_html(shown, price_as),
        "context-lab-comparison.html",
        "text/html",
        icon=":material/download:",
        on_click="ignore",
    )
    downloads[1].download_button(
        "Download as Markdown",
        lambda: report_markdown(shown, price_as),
        "context-lab-comparison.md",
        "text/markdown",
        icon=":material/description:",
        on_click="ignore",
    )


def _kept_comparisons(settings: Settings, price_as: str) -> None:
    kept = compare_state.comparisons()
    if not kept:
        return
    st.divider()
    if len(kept) > 1:
        labels = [f"{c.created} — {c.question[:60]}" for c in kept]
        state.default(state.COMPARE_SHOWN, len(kept) - 1)
        if state.whole(state.COMPARE_SHOWN) >= len(kept):
            state.put(state.COMPARE_SHOWN, len(kept) - 1)
        shown = st.selectbox(
            f"Kept comparisons ({len(kept)}, saved with the session)",
            range(len(kept)),
            format_func=labels.__getitem__,
            key=state.COMPARE_SHOWN,
        )
    else:
        shown = 0
    _results(settings, kept[int(shown)], price_as)


def render(settings: Settings) -> None:
    st.title("Compare contexts")
    st.caption(
        "One question, several contexts: which history is sent, which system prompt, which model. "
        "See what each would cost before sending, then how the answers differ."
    )
    compare_state.load_for_session()
    state.default(state.COMPARE_BASELINE, 0)
    state.default(state.COMPARE_ONE_AT_A_TIME, False)
    state.default(state.COMPARE_DIFF, False)
    st.caption(f"The conversation has {len(state.history())} messages (edit it on the Chat page).")
    question = st.text_area("The next user message", key=state.COMPARE_QUESTION, height=70)
    st.text_input(
        "Expected answer (optional)",
        key=state.COMPARE_EXPECTED,
        placeholder="e.g. 4471",
        help="What a right answer contains (ignoring case). Each answer is then marked correct or not beside its "
        "similarity, so a wrong baseline shows as wrong.",
    )
    variants = compare_state.variants()
    requests = compare_state.requests(variants, question, settings)
    _run_row(variants, requests, question, settings)
    if len(variants) < 2:
        st.warning("Add at least two variants to compare.")
    _missing_summaries(requests, variants, settings)
    live = st.container()  # the run in flight, drawn last (its loop holds the script) but shown here
    price_as = state.text(state.COMPARE_PRICE_AS) or OWN_PRICES
    _kept_comparisons(settings, price_as)
    st.divider()
    _variant_cards(settings)
    if variants:
        _before_running(variants, requests, price_as)
        composition.variant_bars([v.name for v in variants], requests, settings)
    compare_state.save_if_changed()
    run = compare_state.run_in_flight()
    if run is not None:
        with live:
            _show_run(run)


render(page_setup())
