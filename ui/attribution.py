"""What did this answer use? The attribution panel on an assistant answer (Chat) or a variant's (Compare).

The panel reads the answer and the request that carried its question, calls `lib.analysis.attribution`, and
draws: what a run will take before it runs; then a bar per message of the context (its influence on
this answer), the most influential messages with a sentence each, and the smallest context that
keeps the answer, which the chat can apply as its include toggles, Compare can add as a variant of
its own (exactly those messages, then the question), and either can send to check.

Runs go on a thread of their own (`lib.analysis.attribution.Job`): the panel is a fragment that redraws
itself every second while one runs, so the rest of the page stays usable and a click elsewhere does
not stop it. On the embedded backend the scoring model is a second llama.cpp instance of the same
GGUF, in this process (`scoring_model`, made once).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace

import streamlit as st

from lib.analysis.attribution import (
    AnswerContext,
    Attribution,
    AttributionError,
    HoldRule,
    Job,
    LogprobScorer,
    RegenerationScorer,
    Scorer,
    ScoringModel,
    SmallestContext,
    as_variant,
    attribute,
    measure_label,
    plan_ablations,
    plan_cost,
    sampling_of,
    smallest_context,
)
from lib.analysis.attribution.chat import as_toggles, calls_estimate, not_applicable, question_before
from lib.analysis.attribution.explain import answer_check, percent
from lib.analysis.compare import MAX_VARIANTS, Comparison, Variant, similarity
from lib.analysis.targets import plan_target
from lib.backends.reply import Reply
from lib.context import conversation as conv
from lib.context.display import inert_markdown
from lib.context.payload import RequestPlan, serialise
from lib.context.request import Request, split_for_retry
from lib.core.outcome import CallOutcome
from ui import call_details, compare_state, resources, state
from ui.glossary import explain
from ui.meter import money
from ui.planning import request_for
from ui.settings import Settings

KEY = "attribution_"
APPLIED = KEY + "applied"
POLL_S = 1.0
TOP = 3
FALLS = (0.1, 0.25, 0.5, 0.75, 0.9)  # how much less likely the answer may become and still "hold"


@st.cache_resource(show_spinner="Loading the embedded model in process for scoring (SmolLM2-135M)…")
def scoring_model() -> ScoringModel:
    return ScoringModel()


@dataclass
class Check:
    """The smallest context, sent as a real call at temperature 0."""

    plan: RequestPlan
    job: Job[CallOutcome]
    logged: bool = False


@dataclass
class Panel:
    """One answer's attribution state: the run in progress, and what the last runs found."""

    job: Job | None = None
    scorer: Scorer | None = None
    logged_calls: int = 0
    attribution: Attribution | None = None
    attributed_for: str = ""  # the context's fingerprint when it was attributed
    smallest: SmallestContext | None = None
    check: Check | None = None
    error: str | None = None
    added: str = ""  # the Compare variant the smallest context was added as (its name)

    @property
    def running(self) -> bool:
        return (self.job is not None and not self.job.done) or (self.check is not None and not self.check.job.done)


def _panel(key: str) -> Panel:
    panel = state.get(KEY + key)
    if not isinstance(panel, Panel):
        panel = Panel()
        state.put(KEY + key, panel)
    return panel


# --- the hooks ---------------------------------------------------------------------------------


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


# --- the panel ---------------------------------------------------------------------------------


def answer_context(settings: Settings, plan: RequestPlan, answer: str) -> AnswerContext:
    """The answer's context; every ablated request is the original at temperature 0 (a reasoning
    model takes none: its regenerations are sampled)."""
    sampling = sampling_of(plan.body)
    if not plan.model.reasoning:
        sampling = replace(sampling, temperature=0.0)
    return AnswerContext(plan, answer, plan_target(plan.model, plan.body["model"], settings.targets()), sampling)


def _fingerprint(context: AnswerContext, settings: Settings) -> str:
    digest = hashlib.sha256(serialise(context.plan.body))
    digest.update(context.answer.encode("utf-8", "replace"))
    digest.update(f"{settings.provider.kind}|{settings.provider.base_url}".encode())
    return digest.hexdigest()


def _exact(settings: Settings) -> bool:
    return settings.provider.backend.counts_in_process


def _scorer(settings: Settings) -> Scorer:
    if _exact(settings):
        return LogprobScorer(scoring_model(), resources.embedded_tokenizer())
    return RegenerationScorer(resources.client(settings.provider), settings.provider.secrets)


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
        context = answer_context(settings, plan, answer)
    except AttributionError as exc:
        st.info(str(exc))
        return
    level, said = answer_check(answer, expected)
    if level == "warning":
        st.warning(inert_markdown(said))
    else:
        st.caption(inert_markdown(said))
    running = _panel(key).running
    body = st.fragment(_panel_body, run_every=POLL_S if running else None)
    body(settings, context, key, chat, running, variant)


def _panel_body(
    settings: Settings, context: AnswerContext, key: str, chat: bool, was_running: bool, variant: Variant | None
) -> None:
    if state.pop(APPLIED):
        st.rerun()  # the toggles changed in a callback: the whole page, not only this fragment, redraws
    panel = _panel(key)
    fingerprint = _fingerprint(context, settings)
    _collect(panel, settings)
    if was_running and not panel.running:
        st.rerun()  # done: the whole page again, so the fragment stops polling and the results show
    units = context.units
    st.caption(
        inert_markdown(
            f"The context: {len(units)} messages sent before the question "
            f"({context.plan.prompt_tokens:,} prompt tokens with the question). Measured: "
            f"{measure_label('logprob' if _exact(settings) else 'similarity')}."
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
        _results(panel.attribution)
        if panel.attributed_for == fingerprint and not (panel.job is not None and not panel.job.done):
            _smallest(panel, settings, context, key, chat, variant)


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


def _start(panel: Panel, job: Job, scorer: Scorer) -> None:
    panel.job, panel.scorer, panel.logged_calls, panel.error = job, scorer, 0, None
    st.rerun()  # the whole page: the panel redraws itself while the run goes on


def _before_running(panel: Panel, settings: Settings, context: AnswerContext, key: str, fingerprint: str) -> None:
    plan = plan_ablations(len(context.units))
    answer_tokens = context.target.counter.count([{"role": "assistant", "content": context.answer}]).per_message[0]
    cost = plan_cost(context, plan, "logprob" if _exact(settings) else "similarity", answer_tokens)
    method = plan.describe()
    if _exact(settings):
        saved = (
            f"; about {cost.evaluated_tokens:,} to evaluate once passes share their prefixes"
            if cost.reused_tokens
            else ""
        )
        st.info(
            f"**Before running:** {plan.passes} scoring passes ({method}), in this process on the embedded model — "
            f"no call to the server. {cost.prompt_tokens:,} prompt tokens in all{saved}, each pass scoring the "
            f"answer's ~{answer_tokens:,} tokens. Cost: $0."
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
    label = f"Run the attribution ({plan.passes} {'passes' if _exact(settings) else 'calls'})"
    if st.button(
        label, key=f"{KEY}run_{key}", icon=":material/play_arrow:", type="primary", help=explain("attribution")
    ):
        scorer = _scorer(settings)
        _start(panel, Job(lambda progress: attribute(context, scorer, plan, progress), fingerprint), scorer)


def _progress(panel: Panel) -> None:
    job = panel.job
    assert job is not None
    progress = job.progress
    share = progress.done / progress.total if progress.total else 0.0
    st.progress(share, text=f"{progress.phase.capitalize() or 'Starting'}: pass {progress.done} of {progress.total}…")
    st.button("Stop", key=f"{KEY}stop_{id(job)}", icon=":material/stop_circle:", on_click=job.stop)


def _results(result: Attribution) -> None:
    st.markdown("**Influence of each message on this answer**", help=explain("attribution"))
    for index, unit in enumerate(result.units):
        st.progress(
            result.bar(index),
            text=inert_markdown(f"**{unit.label}** · {unit.snippet or '(empty)'} — {result.change(index)}"),
        )
    top = result.top(TOP)
    if top:
        # Ranks in words, positions in words: "#3" read as a rank where it was the message's position.
        lines = [
            f"- **Rank {rank}:** {result.units[i].label} “{result.units[i].snippet}” — {result.sentence(i)}"
            for rank, i in enumerate(top, start=1)
        ]
        st.markdown("**Most influential**\n\n" + inert_markdown("\n".join(lines)))
    else:
        st.markdown("**No message supports this answer**: leaving out any one of them does not make it less likely.")
    notes = [f"{len(result.passes)} passes in {result.seconds:.1f} s"]
    if result.measure == "logprob":
        full = result.full
        notes.append(f"with every message the answer's log-probability is {full.value:.2f}")
        if full.greedy is not None:
            notes.append(
                "temperature 0 gives exactly this answer"
                if full.greedy
                else "temperature 0 would give a different answer (this one was sampled, or near a tie)"
            )
        total = result.reused_tokens + result.evaluated_tokens
        if total:
            notes.append(
                f"{result.reused_tokens:,} of {total:,} tokens came from the prefix cache "
                f"({percent(result.reused_tokens / total)} not evaluated again)"
            )
        notes.append("exact and deterministic: a second run gives the same numbers")
    else:
        notes.append("regenerated at temperature 0; a provider may still vary from call to call")
    st.caption(" · ".join(notes) + ".")
    if result.fit is not None:
        fit = result.fit
        quality = f"Fit: a sparse linear model (Lasso, α = {fit.alpha:.3g}) over {fit.samples} scored contexts; " + (
            f"on ablations it was not fitted on it explains {percent(max(fit.heldout_r2, 0.0))} of the variation "
            f"(held-out R² = {fit.heldout_r2:.2f})."
        )
        (st.warning if fit.heldout_r2 < 0.5 else st.caption)(
            quality + (" Read the bars as rough." if fit.heldout_r2 < 0.5 else "")
        )


# --- the smallest context ----------------------------------------------------------------------


def _rule(settings: Settings, key: str) -> HoldRule:
    if _exact(settings):
        fall = st.select_slider(
            "The answer holds while it becomes at most this much less likely",
            options=FALLS,
            value=0.5,
            format_func=percent,
            key=f"{KEY}fall_{key}",
        )
        return HoldRule(max_fall=float(fall))
    loss = st.slider(
        "The answer holds while its regenerated word similarity falls by at most",
        0.0,
        0.5,
        0.1,
        0.05,
        key=f"{KEY}loss_{key}",
    )
    return HoldRule(max_similarity_loss=float(loss))


def _smallest(
    panel: Panel, settings: Settings, context: AnswerContext, key: str, chat: bool, variant: Variant | None
) -> None:
    attribution = panel.attribution
    assert attribution is not None
    st.markdown("**Smallest context that keeps the answer**")
    rule = _rule(settings, key)
    tries = len(context.units)
    what = "passes in process" if _exact(settings) else "calls at temperature 0"
    st.caption(
        f"Drops the least influential message, keeps the drop if the answer still holds ("
        f"{rule.describe(attribution.measure, attribution.full)}), then the next: at most {tries + 1} {what} "
        f"(one per message, and the full context again as the reference), about "
        f"{(tries + 1) * context.plan.prompt_tokens:,} prompt tokens at most."
    )
    if st.button("Find the smallest context", key=f"{KEY}min_{key}", icon=":material/compress:"):
        scorer = _scorer(settings)
        job = Job(lambda progress: smallest_context(context, scorer, attribution, rule, progress))
        _start(panel, job, scorer)
    found = panel.smallest
    if found is None:
        return
    kept = [u for u, k in zip(found.units, found.kept, strict=True) if k]
    st.success(
        inert_markdown(
            f"**{found.headline()}** ({found.full_tokens:,} → {found.kept_tokens:,}; "
            f"{len(found.passes) + 1} passes, {found.seconds:.1f} s)."
        )
    )
    if found.kept_score.text is None:
        change = found.full.value - found.kept_score.value
        st.caption(
            f"With these messages the answer's log-probability is {found.kept_score.value:.2f} "
            f"({-change:+.2f} against every message)"
            + (
                "; greedy decoding still gives exactly this answer (scored in one batch: the server, writing "
                "token by token, can still differ where two tokens nearly tie — Send it to check)."
                if found.kept_score.greedy
                else "."
            )
        )
    st.markdown(inert_markdown("\n".join(f"- **{u.label}** {u.snippet}" for u in kept) or "- (only the question)"))
    # Side by side where they fit, one under the other where they do not (a Compare card is narrow):
    # in two fixed columns the labels were cut off.
    actions = st.container(horizontal=True, gap="small")
    if chat:
        reason = not_applicable(found)
        actions.button(
            "Apply as the include toggles",
            key=f"{KEY}apply_{key}",
            icon=":material/toggle_on:",
            on_click=_apply,
            args=(found, context.question.id),
            disabled=reason is not None,
            help=reason
            or "Switches the strategy to Manual and sets each toggle before the question: the chat then "
            "sends exactly these messages for it.",
        )
    if variant is not None:
        full = len(compare_state.slots()) >= MAX_VARIANTS
        actions.button(
            "Add as a Compare variant",
            key=f"{KEY}variant_{key}",
            icon=":material/add:",
            on_click=_add_variant,
            args=(panel, found, variant),
            disabled=full,
            help=f"Compare holds at most {MAX_VARIANTS} variants: remove one first."
            if full
            else inert_markdown(
                f"A variant like “{variant.name}” that sends exactly these messages, then the question: run the "
                "comparison to see whether the answer holds."
            ),
        )
    if actions.button(
        "Send it to check",
        key=f"{KEY}check_{key}",
        icon=":material/send:",
        disabled=panel.check is not None and not panel.check.job.done,
        help="One call with this context at temperature 0, to see whether the answer comes back.",
    ):
        plan = context.request_for(found.kept).plan
        client, secrets = resources.client(settings.provider), settings.provider.secrets
        panel.check = Check(plan, Job(lambda progress: _send(client, plan.body, secrets)))
        st.rerun()
    if variant is not None and panel.added:
        st.caption(inert_markdown(f"Added as the variant “{panel.added}”: run the comparison to check it."))
    _check_result(panel, settings, context)


def _send(client, body: dict, secrets: tuple[str, ...]) -> CallOutcome:
    reply = Reply(client, body, secrets)
    reply.text()
    return reply.outcome


def _check_result(panel: Panel, settings: Settings, context: AnswerContext) -> None:
    check = panel.check
    if check is None:
        return
    if not check.job.done:
        st.caption("Sending the smallest context…")
        return
    outcome = check.job.result
    if outcome is None:
        st.error(inert_markdown(check.job.error or "The call failed."))
        return
    if not check.logged:
        call_details.log_call(settings, check.plan, outcome, variant="attribution check")
        check.logged = True
    if not outcome.ok:
        st.error(inert_markdown(outcome.error or "The call failed."))
        return
    if outcome.text.strip() == context.answer.strip():
        st.success(f"Sent at temperature 0 with {check.plan.prompt_tokens:,} prompt tokens: the same answer came back.")
        return
    st.warning(
        inert_markdown(
            f"Sent at temperature 0: a different answer (word similarity "
            f"{similarity(context.answer, outcome.text):.2f}):\n\n{outcome.text}"
        )
    )


def _add_variant(panel: Panel, found: SmallestContext, variant: Variant) -> None:
    """The smallest context as a Compare variant of its own (a callback): the variant's own settings,
    exactly the messages kept, then the question."""
    added = as_variant(found, variant)
    compare_state.add_slot(added)
    panel.added = added.name
    state.put(APPLIED, True)  # the cards and the pre-run table are outside this fragment: redraw the page


def _apply(found: SmallestContext, question_id: str) -> None:
    """The smallest context as the chat's include toggles (a callback): every message before the
    question is sent if and only if it is kept; a dropped pinned message is unpinned (every strategy
    keeps pinned ones); the strategy becomes Manual, which follows the toggles."""
    toggles = as_toggles(state.history(), found, question_id)
    if toggles is None:
        state.flash("error", "The question of this answer is no longer in the history: nothing was changed.")
        return
    state.set_history(toggles.history)
    if toggles.system_included is not None:
        state.put(state.SYSTEM_INCLUDED, toggles.system_included)
    state.put(state.STRATEGY_KIND, "manual")
    state.put(APPLIED, True)
    state.flash("success", toggles.sentence(found))
