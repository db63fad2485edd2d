"""One answer's attribution panel: the answer checked against the expected one, what a run will take
before it runs, the run's progress, and a finished run collected (its regeneration calls into the run
log). A fragment that redraws itself every second while a run goes on."""

from __future__ import annotations

import streamlit as st

from lib.analysis.attribution import (
    AnswerContext,
    Attribution,
    AttributionError,
    Job,
    RegenerationScorer,
    SmallestContext,
    attribute,
    measure_label,
    plan_ablations,
    plan_cost,
)
from lib.analysis.attribution.answer import answer_context, answer_tokens, fingerprint
from lib.analysis.attribution.chat import calls_estimate
from lib.analysis.attribution.explain import answer_check
from lib.analysis.compare import Variant
from lib.analysis.targets import plan_target
from lib.context.display import inert_markdown
from lib.context.payload import RequestPlan
from ui import call_details, state
from ui.attribution import results, smallest
from ui.attribution.common import APPLIED, KEY, POLL_S, Panel, exact, panel_of, scorer_for, start
from ui.glossary import explain
from ui.meter import money
from ui.settings import Settings


def _answer_context(settings: Settings, plan: RequestPlan, answer: str) -> AnswerContext:
    return answer_context(plan, answer, plan_target(plan.model, plan.body["model"], settings.targets()))


def _fingerprint(context: AnswerContext, settings: Settings) -> str:
    return fingerprint(context, settings.provider.kind, settings.provider.base_url)


def attribution_panel(
    settings: Settings,
    plan: RequestPlan,
    answer: str,
    key: str,
    chat: bool = False,
    variant: Variant | None = None,
    expected: str = "",
) -> None:
    """Attribute `answer` to the context of `plan` (the request that carried its question, ending
    with it). `key` tells one answer's panel from another's; `chat`: offer to apply the smallest
    context as the chat's include toggles; `variant`: offer to add it to Compare as a variant;
    `expected`: the answer the question should get (a wrong answer is attributed with a warning)."""
    try:
        context = _answer_context(settings, plan, answer)
    except AttributionError as exc:
        st.info(str(exc))
        return
    level, said = answer_check(answer, expected)
    if level == "warning":
        st.warning(inert_markdown(said))
    else:
        st.caption(inert_markdown(said))
    running = panel_of(key).running
    body = st.fragment(_panel_body, run_every=POLL_S if running else None)
    body(settings, context, key, chat, running, variant)


def _panel_body(
    settings: Settings, context: AnswerContext, key: str, chat: bool, was_running: bool, variant: Variant | None
) -> None:
    if state.pop(APPLIED):
        st.rerun()  # the toggles changed in a callback: the whole page, not only this fragment, redraws
    panel = panel_of(key)
    fingerprint = _fingerprint(context, settings)
    _collect(panel, settings)
    if was_running and not panel.running:
        st.rerun()  # done: the whole page again, so the fragment stops polling and the results show
    units = context.units
    st.caption(
        inert_markdown(
            f"The context: {len(units)} messages sent before the question "
            f"({context.plan.prompt_tokens:,} prompt tokens with the question). Measured: "
            f"{measure_label('logprob' if exact(settings) else 'similarity')}."
        )
    )
    if panel.job is not None and not panel.job.done:
        _progress(panel)
    elif panel.attribution is None or panel.attributed_for != fingerprint:
        _before_running(panel, settings, context, key, fingerprint)
    if panel.error:
        st.error(inert_markdown(panel.error))
    if panel.attribution is not None:
        if panel.attributed_for != fingerprint:
            st.warning(
                "The results below are for an earlier context of this answer (a toggle, the strategy, a message "
                "or the backend changed since): run again to update them."
            )
        results.draw(panel.attribution)
        if panel.attributed_for == fingerprint and not (panel.job is not None and not panel.job.done):
            smallest.draw(panel, settings, context, key, chat, variant)


def _collect(panel: Panel, settings: Settings) -> None:
    """A finished run's result into the panel; its calls (regeneration) into the run log, once."""
    job = panel.job
    finished = job is not None and job.done  # read before the calls: a call that ends in between is logged too
    if isinstance(panel.scorer, RegenerationScorer):
        new = panel.scorer.calls[panel.logged_calls :]  # a copy: the job's thread goes on appending
        for plan, outcome in new:
            call_details.log_call(settings, plan, outcome, variant="attribution")
        panel.logged_calls += len(new)
    if job is None or not finished:
        return
    panel.job = None
    if job.error:
        panel.error = job.error
        return
    panel.error = None
    if isinstance(job.result, Attribution):
        panel.attribution, panel.smallest, panel.check = job.result, None, None
        panel.attributed_for = job.tag
    elif isinstance(job.result, SmallestContext):
        panel.smallest, panel.check, panel.added = job.result, None, ""


def _before_running(panel: Panel, settings: Settings, context: AnswerContext, key: str, fingerprint: str) -> None:
    plan = plan_ablations(len(context.units))
    tokens = answer_tokens(context)
    cost = plan_cost(context, plan, "logprob" if exact(settings) else "similarity", tokens)
    method = plan.describe()
    if exact(settings):
        saved = (
            f"; about {cost.evaluated_tokens:,} to evaluate once passes share their prefixes"
            if cost.reused_tokens
            else ""
        )
        st.info(
            f"**Before running:** {plan.passes} scoring passes ({method}), in this process on the embedded model — "
            f"no call to the server. {cost.prompt_tokens:,} prompt tokens in all{saved}, each pass scoring the "
            f"answer's ~{tokens:,} tokens. Cost: $0."
        )
    else:
        calls = calls_estimate(context, plan, cost)
        most = calls.most_completion_tokens
        st.info(
            inert_markdown(
                f"**Before running:** {plan.passes} calls to {context.plan.body['model']} at temperature 0 ({method}). "
                f"{cost.prompt_tokens:,} prompt tokens in all, about {calls.completion_tokens:,} completion tokens (at "
                f"most {most:,}): about {money(calls.expected)}, at most {money(calls.at_most)}."
            )
        )
    label = f"Run the attribution ({plan.passes} {'passes' if exact(settings) else 'calls'})"
    if st.button(
        label, key=f"{KEY}run_{key}", icon=":material/play_arrow:", type="primary", help=explain("attribution")
    ):
        scorer = scorer_for(settings)
        start(panel, Job(lambda progress: attribute(context, scorer, plan, progress), fingerprint), scorer)


def _progress(panel: Panel) -> None:
    job = panel.job
    assert job is not None
    progress = job.progress
    share = progress.done / progress.total if progress.total else 0.0
    st.progress(share, text=f"{progress.phase.capitalize() or 'Starting'}: pass {progress.done} of {progress.total}…")
    st.button("Stop", key=f"{KEY}stop_{id(job)}", icon=":material/stop_circle:", on_click=job.stop)
