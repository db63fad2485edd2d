"""The Compare page's results: a kept comparison's answers side by side (each against the baseline,
with its figures and attribution's controls), every run's table and charts, the downloads, and the
picker of the comparisons kept with the session."""

from __future__ import annotations

import html

import pandas as pd
import streamlit as st

from lib.analysis.compare import Comparison, VariantResult, answer_stats
from lib.analysis.report import TIMING_NOTE, diff_html, report_html, report_markdown, result_figures, variant_colours
from lib.context.display import inert_inline, inert_markdown
from lib.core.outcome import CallOutcome
from lib.store import recordings
from ui import state
from ui.attribution import hooks as attribution
from ui.compare import setup
from ui.compare.before import priced_note
from ui.demos import REPLAYED_CAPTION
from ui.glossary import columns, explain
from ui.settings import Settings


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
    replayed: bool = False,
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
        + (f" · {REPLAYED_CAPTION}" if replayed else "")
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
    if not any(r.plan.model.free for r in comparison.results):  # hosted models' costs are their own
        price_as = ""
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
        help=explain("baseline"),
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
            replayed = recordings.is_replayed(comparison.model_note)
            _answer_column(settings, result, baseline, result is baseline, colour, diff, key, shown.expected, replayed)
    stats = answer_stats(shown.results, shown.baseline, price_as, shown.expected)
    st.markdown(
        "**Every run** — similarity is the cosine of the answers' word counts (1 = the same words, 0 = none "
        "shared): word choice, not meaning.",
        help=explain("similarity"),
    )
    cost = f"cost $ ({priced_note(price_as)})" if price_as else "cost $"
    runs = pd.DataFrame(stats).rename(columns={"cost $": cost})
    if runs["seed"].isna().all():  # one run each: no seed was sent
        runs = runs.drop(columns="seed")
    st.dataframe(
        runs,
        hide_index=True,
        width="stretch",
        column_config=columns(runs.columns, {cost: st.column_config.NumberColumn(format="%.6f")}),
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


def kept_comparisons(settings: Settings, price_as: str) -> None:
    kept = setup.comparisons()
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
