"""The smallest context that keeps the answer: the rule it holds by, the search started, what it
found, and what can be done with it — applied as the chat's include toggles, added to Compare as a
variant of its own, or sent once to check that the answer comes back."""

from __future__ import annotations

import streamlit as st

from lib.analysis.attribution import (
    AnswerContext,
    HoldRule,
    Job,
    SmallestContext,
    as_variant,
    smallest_context,
)
from lib.analysis.attribution.answer import check_said, send_check
from lib.analysis.attribution.chat import as_toggles, not_applicable
from lib.analysis.attribution.explain import percent
from lib.analysis.compare import MAX_VARIANTS, Variant
from lib.context.display import inert_markdown
from ui import call_details, resources, state
from ui.attribution.common import APPLIED, FALLS, KEY, Check, Panel, exact, scorer_for, start
from ui.compare import setup as compare_setup
from ui.settings import Settings


def _rule(settings: Settings, key: str) -> HoldRule:
    if exact(settings):
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


def draw(
    panel: Panel, settings: Settings, context: AnswerContext, key: str, chat: bool, variant: Variant | None
) -> None:
    attribution = panel.attribution
    assert attribution is not None
    st.markdown("**Smallest context that keeps the answer**")
    rule = _rule(settings, key)
    tries = len(context.units)
    what = "passes in process" if exact(settings) else "calls at temperature 0"
    st.caption(
        f"Drops the least influential message, keeps the drop if the answer still holds ("
        f"{rule.describe(attribution.measure, attribution.full)}), then the next: at most {tries + 1} {what} "
        f"(one per message, and the full context again as the reference), about "
        f"{(tries + 1) * context.plan.prompt_tokens:,} prompt tokens at most."
    )
    if st.button("Find the smallest context", key=f"{KEY}min_{key}", icon=":material/compress:"):
        scorer = scorer_for(settings)
        job = Job(lambda progress: smallest_context(context, scorer, attribution, rule, progress))
        start(panel, job, scorer)
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
        full = len(compare_setup.slots()) >= MAX_VARIANTS
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
        panel.check = Check(plan, Job(lambda progress: send_check(client, plan, secrets)))
        st.rerun()
    if variant is not None and panel.added:
        st.caption(inert_markdown(f"Added as the variant “{panel.added}”: run the comparison to check it."))
    _check_result(panel, settings, context)


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
    level, said = check_said(context, check.plan, outcome)
    if level == "success":
        st.success(said)
    else:
        (st.error if level == "error" else st.warning)(inert_markdown(said))


def _add_variant(panel: Panel, found: SmallestContext, variant: Variant) -> None:
    """The smallest context as a Compare variant of its own (a callback): the variant's own settings,
    exactly the messages kept, then the question."""
    added = as_variant(found, variant)
    compare_setup.add_slot(added)
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
