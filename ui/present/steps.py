"""Stepping through a saved comparison or experiment run, one variant at a time: what it sent, its answer,
right or wrong, its tokens and cost. The Previous and Next buttons answer the arrow keys (Streamlit's own
button shortcuts), so a presenter pages through without the mouse.

What the steps are is decided in lib/analysis/presenting.py; this module reads the stores, keeps the step
in session state and draws it."""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from lib.analysis import presenting
from lib.analysis.compare import Comparison
from lib.analysis.experiments import store
from lib.analysis.presenting import Step
from lib.context.display import inert_inline, inert_markdown, one_line
from lib.core import models
from lib.core.errors import STORE_FAILED
from lib.store import recordings, storage
from ui import demos, owner, state
from ui import price_as as price  # the shared *price as* (the chat meter's and Compare's)
from ui.compare import setup as compare_state
from ui.present.conversation import big_numbers, prompt_bar

NEXT_KEY, PREVIOUS_KEY = "Right", "Left"  # the arrow keys (a clicker's Page Down / Up: `_KEYS_JS`)
COMPARISON, RUN = "comparison:", "run:"
# What a failing store call raises (its own errors; a stored row that does not read back).
STORE_FAILURES: tuple[type[Exception], ...] = (*STORE_FAILED, ValueError, KeyError)


@dataclass(frozen=True)
class Source:
    """Something saved to step through: a comparison of this session, or an experiment run of this owner's."""

    value: str  # COMPARISON + its index, or RUN + its id
    label: str


def _store_failed(exc: Exception) -> None:
    st.warning(
        f"The store ({storage.shown()}) failed: {storage.problem(exc).rstrip('.')}. "
        "Nothing saved can be stepped through."
    )


def _runs() -> list[store.RunInfo]:
    try:
        with storage.opened() as conn:
            return store.list_runs(conn, owner.owner())
    except STORE_FAILURES as exc:
        _store_failed(exc)
        return []


def sources() -> list[Source]:
    """This session's comparisons (the newest first), then this owner's experiment runs (the newest first)."""
    compare_state.load_for_session()
    found = []
    comparisons = compare_state.comparisons()
    for index in reversed(range(len(comparisons))):
        kept = comparisons[index]
        question = one_line(kept.question, 60) or "(no question)"
        found.append(Source(f"{COMPARISON}{index}", f"Comparison · “{question}” · {len(kept.results)} variants"))
    for run in _runs():
        found.append(Source(f"{RUN}{run.id}", f"Experiment · {one_line(run.name, 40)} · {one_line(run.set_name, 40)}"))
    return found


def _restart() -> None:
    state.put(state.PRESENT_STEP, 0)


def picker(found: list[Source]) -> None:
    """Which saved comparison or run the steps show (a new pick starts at its first step)."""
    labels = {s.value: s.label for s in found}
    if state.text(state.PRESENT_SOURCE) not in labels:
        state.pop(state.PRESENT_SOURCE)  # gone (another session opened, a run deleted): the newest instead
    if not found:
        return
    st.selectbox(
        "Step through",
        list(labels),
        format_func=labels.__getitem__,
        key=state.PRESENT_SOURCE,
        on_change=_restart,
    )


def chosen(found: list[Source]) -> Source | None:
    value = state.text(state.PRESENT_SOURCE)
    return next((s for s in found if s.value == value), found[0] if found else None)


def _comparison_steps(index: int) -> list[Step]:
    comparisons = compare_state.comparisons()
    kept: Comparison | None = comparisons[index] if 0 <= index < len(comparisons) else None
    return [] if kept is None else presenting.comparison_steps(kept, price.chosen())


def _run_steps(run_id: str) -> list[Step]:
    who = owner.owner()
    try:
        with storage.opened() as conn:
            spec = store.load_spec(conn, run_id, who)
            cells = store.cells(conn, run_id, who) if spec is not None else []
    except STORE_FAILURES as exc:
        _store_failed(exc)
        return []
    if spec is None or not spec.test_set.cases:
        return []
    cases = {case.id: one_line(case.question, 60) or case.id for case in spec.test_set.cases}
    if state.text(state.PRESENT_CASE) not in cases:
        state.pop(state.PRESENT_CASE)
    if not state.flag(state.PRESENTING):  # a setting: hidden with the rest while presenting
        st.selectbox("Case", list(cases), format_func=cases.__getitem__, key=state.PRESENT_CASE)
    case_id = state.text(state.PRESENT_CASE) or next(iter(cases))
    model = models.info_for(spec.provider_model or models.EMBEDDED_MODEL)
    return presenting.run_steps(spec, cells, case_id, price.chosen(), model)


def steps_of(source: Source) -> list[Step]:
    if source.value.startswith(COMPARISON):
        return _comparison_steps(int(source.value.removeprefix(COMPARISON)))
    return _run_steps(source.value.removeprefix(RUN))


def replayed(source: Source) -> bool:
    """Whether a recorded demo answered it: a comparison run under or opened with one, a run named so."""
    if source.value.startswith(COMPARISON):
        index, comparisons = int(source.value.removeprefix(COMPARISON)), compare_state.comparisons()
        return 0 <= index < len(comparisons) and recordings.is_replayed(comparisons[index].model_note)
    run_id = source.value.removeprefix(RUN)
    return any(run.id == run_id and run.name.endswith(f" · {recordings.REPLAYED}") for run in _runs())


def _go(total: int, by: int) -> None:
    state.put(state.PRESENT_STEP, presenting.clamp(state.whole(state.PRESENT_STEP) + by, total))


def _verdict(step: Step) -> str:
    """Right or wrong in words and colour (static markup; the expected answer is escaped inside it)."""
    import html

    if step.correct is None:
        why = "no expected answer to check" if not step.expected else "no answer to check"
        return f'<div class="present-verdict present-unknown">Not checked: {why}</div>'
    expected = html.escape(step.expected)
    if step.correct:
        return f'<div class="present-verdict present-right">✓ Right: it says “{expected}”</div>'
    return f'<div class="present-verdict present-wrong">✗ Wrong: it does not say “{expected}”</div>'


def _numbers(step: Step) -> None:
    note = step.note or "the prompt this variant's call carried"
    big_numbers(
        step.prompt_tokens,
        "",
        note,
        "Cost of the call (prompt and reply)",
        presenting.cost_text(step.cost, step.priced_as),
        "cost",
    )
    if step.plan is not None:
        prompt_bar(presenting.composition_of_plan(step.plan), "present_step_chart")


def show(step: Step) -> None:
    """One step: the variant, what it sent, the question, its answer and verdict; tokens and cost beside."""
    words, figures = st.columns([3, 2], gap="large")
    with words, st.container(key="present_step"):
        st.header(inert_inline(step.name), anchor=False)
        st.markdown(f"**Sent:** {inert_inline(step.sends)}")
        if step.question:
            st.markdown(f"**Asked:** {inert_inline(step.question)}")
        with st.container(key="present_step_answer", border=True):
            if step.error and not step.answer:
                st.warning(inert_markdown(step.error))
            else:
                st.markdown(inert_markdown(step.answer) or "*(an empty answer)*")
        st.html(_verdict(step))
    with figures:
        _numbers(step)


# Static, ours: when the steps appear, the focus leaves the view switch above them (a segmented control
# keeps the arrow keys for itself, so → did nothing right after clicking "Step through"), and a clicker's
# Page Down / Page Up press Next / Previous as → and ← do (a button takes one shortcut only).
_KEYS_JS = """
export default function (component) {
  const active = document.activeElement;
  if (active && active.closest && active.closest(".st-key-present_top")) { active.blur(); }
  const onKey = (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey) { return; }
    const target = event.target;
    if (target && (target.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName))) { return; }
    const which = event.key === "PageDown" ? "next" : event.key === "PageUp" ? "previous" : null;
    const button = which && document.querySelector(`.st-key-present_${which} button:not([disabled])`);
    if (button) { event.preventDefault(); button.click(); }
  };
  document.addEventListener("keydown", onKey);
  return () => document.removeEventListener("keydown", onKey);
}
"""

_keys = st.components.v2.component("context_lab_present_keys", js=_KEYS_JS, isolate_styles=False)


def navigation(total: int) -> None:
    """Previous, where the steps are, and Next; the buttons answer the left and right arrow keys."""
    index = state.whole(state.PRESENT_STEP)
    row = st.container(horizontal=True, vertical_alignment="center", gap="medium", key="present_nav")
    row.button(
        "Previous",
        icon=":material/arrow_back:",
        key="present_previous",
        on_click=_go,
        args=(total, -1),
        disabled=index <= 0,
        shortcut=PREVIOUS_KEY,
        help="The previous variant (← key)",
    )
    with row.container(key="present_counter", width="content"):
        st.markdown(f"Variant {index + 1} of {total}")
    row.button(
        "Next",
        icon=":material/arrow_forward:",
        key="present_next",
        on_click=_go,
        args=(total, 1),
        disabled=index >= total - 1,
        shortcut=NEXT_KEY,
        help="The next variant (→ key)",
        type="primary",
    )


def stepping() -> None:
    """The saved comparison or run picked, at its current step."""
    found = sources()
    if not state.flag(state.PRESENTING):
        picker(found)
    source = chosen(found)
    if source is None:
        st.info(
            "Nothing saved to step through yet: run a comparison on the Compare page (or an experiment), "
            "then come back. Each variant is one step."
        )
        return
    steps = steps_of(source)
    if not steps:
        st.info("This one has no variants to show.")
        return
    index = presenting.clamp(state.whole(state.PRESENT_STEP), len(steps))
    state.put(state.PRESENT_STEP, index)
    navigation(len(steps))
    _keys(key="present_keys", data={}, width="content")
    if replayed(source):
        st.caption(f"{demos.REPLAYED_CAPTION}: these answers came from a recorded demo; no call was made.")
    show(steps[index])
