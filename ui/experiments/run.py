"""The Experiments page's Run section: the variants' table, the run's settings and judge, the summaries a
summarising variant needs, the estimate before running, one cell's exact body, and the start."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace

import pandas as pd
import streamlit as st

from lib.analysis.compare import Variant
from lib.analysis.experiments import planner, results, runner, setup, store
from lib.analysis.experiments.cases import Conversation, InvalidTestSet, TestSet
from lib.analysis.experiments.judge import JudgeSpec
from lib.analysis.experiments.planner import CellKey, PlannedCell, RunSpec
from lib.analysis.targets import target_for
from lib.context.display import inert_markdown, shortened_body
from lib.context.request import Target
from lib.context.strategies import STRATEGY_LABELS
from lib.core import models
from lib.core.prices import BATCH_LABEL
from ui import experiments_state, owner, resources, sessions, state
from ui.experiments.common import mine, note
from ui.experiments.test_sets import current_set
from ui.glossary import columns
from ui.keys import known_secrets
from ui.meter import money
from ui.planning import summary_for
from ui.settings import Settings
from ui.summary import summaries_button, summaries_cost

JUDGE_CHOICES = {"embedded": "The embedded model (offline)", "sidebar": "The sidebar's backend and a model"}
DEFAULT_VARIANTS = planner.DEFAULT_VARIANTS  # the bench measures the built-in set under these
COLUMNS = list(setup.variant_row(DEFAULT_VARIANTS[0]))


def _reset_variants() -> None:
    experiments_state.set_variant_rows([setup.variant_row(v) for v in DEFAULT_VARIANTS])


def _variant_editor() -> list[Variant]:
    if experiments_state.variant_rows() is None:
        _reset_variants()
    # A row without a tools cell (kept from before the column, or cleared) sends the case's tools; a
    # column of blanks would be numbers to pandas, which a text column refuses.
    rows = [
        {**row, "tools": row.get("tools") if isinstance(row.get("tools"), str) else setup.TOOLS_ALL}
        for row in experiments_state.variant_rows() or []
    ]
    frame = pd.DataFrame(rows, columns=COLUMNS)
    edited = st.data_editor(
        frame,
        key=experiments_state.variant_editor_key(),
        num_rows="dynamic",
        hide_index=True,
        width="stretch",
        on_change=experiments_state.fold_variant_edits,
        args=(list(frame.columns),),
        column_config={
            "context": st.column_config.SelectboxColumn(options=list(STRATEGY_LABELS.values()), required=True),
            "turns": st.column_config.NumberColumn(min_value=0, step=1, help="Last N turns / summarise: turns kept"),
            "token budget": st.column_config.NumberColumn(min_value=0, step=64),
            "system prompt": st.column_config.SelectboxColumn(options=list(setup.SYSTEM_CHOICES), required=True),
            "model": st.column_config.TextColumn(help="Blank: the sidebar's model (the embedded backend has one)"),
            "temperature": st.column_config.NumberColumn(min_value=0.0, max_value=2.0, help="Blank: the run's"),
            "max reply tokens": st.column_config.NumberColumn(min_value=1, step=1, help="Blank: the run's"),
            "tools": st.column_config.TextColumn(
                help="The tool definitions sent: the case's (its set's, or its session's), none, or only the "
                "tools named (get_weather, get_time)"
            ),
        },
    )
    st.button("Reset the variants", on_click=_reset_variants, icon=":material/restart_alt:")
    return setup.variants_from(edited.to_dict("records"))


def _targets(settings: Settings) -> Callable[[Variant], Target]:
    targets = settings.targets()
    return lambda variant: target_for(variant, targets)


def judge_setup(settings: Settings, spec: JudgeSpec | None) -> runner.JudgeSetup | None:
    return setup.judge_setup(spec, settings.provider, settings.targets(), lambda: resources.embedded_server().base_url)


def _judge_spec(settings: Settings, test_set: TestSet) -> JudgeSpec | None:
    if not test_set.judged:
        return None
    # On the embedded backend the sidebar's backend is the embedded model: one choice.
    choices = ["embedded"] if settings.provider.backend.one_model else list(JUDGE_CHOICES)
    state.default(state.EXP_JUDGE_KIND, "embedded")
    if experiments_state.judge_kind() not in choices:
        state.put(state.EXP_JUDGE_KIND, "embedded")
    columns = st.columns(2)
    choice = columns[0].selectbox(
        "Judge (grades the rubric checks)", choices, format_func=JUDGE_CHOICES.__getitem__, key=state.EXP_JUDGE_KIND
    )
    if choice == "embedded":
        columns[1].caption("SmolLM2-135M grades with its output forced into the verdict's JSON shape.")
        return JudgeSpec("embedded", models.EMBEDDED_MODEL)
    state.default(state.EXP_JUDGE_MODEL, settings.provider.model)
    model = columns[1].text_input("Judge model", key=state.EXP_JUDGE_MODEL) or settings.provider.model
    return JudgeSpec(settings.provider.kind, model.strip(), settings.provider.base_url)


def _spec(settings: Settings, test_set: TestSet, variants: list[Variant], judge: JudgeSpec | None) -> RunSpec:
    """The run as the page holds it, every conversation written out (InvalidTestSet: one cannot be)."""
    system = state.system_prompt()
    current = Conversation(
        "inline", tuple(state.history()), system.content if system.included else "", tools=state.tool_settings()
    )
    resolved = setup.resolved(test_set, current, sessions.load_mine)  # the user's own sessions only
    choices = experiments_state.run_choices()
    return setup.run_spec(
        resolved,
        variants,
        settings.provider,
        settings.sampling,
        judge,
        temperature=choices.temperature,
        max_tokens=choices.max_tokens,
        repeats=choices.repeats,
        seed=choices.seed,
        concurrency=choices.concurrency,
    )


def _with_summaries(spec: RunSpec, settings: Settings) -> RunSpec:
    wanted = planner.summaries_needed(spec, _targets(settings))
    made = [(planner.summary_id(older), summary_for(older, settings)) for older in wanted]
    return replace(spec, summaries=tuple((k, v) for k, v in made if v))


def _missing_summaries(spec: RunSpec, settings: Settings) -> None:
    wanted = [o for o in planner.summaries_needed(spec, _targets(settings)) if summary_for(o, settings) is None]
    if not wanted:
        return
    tokens, input_cost = summaries_cost(wanted, settings)
    st.warning(
        f"A summarising variant needs {len(wanted)} summaries of older messages first: {len(wanted)} call(s), "
        f"{tokens:,} prompt tokens, input {money(input_cost)}. Until they are made, its cells are not sent."
    )
    summaries_button(wanted, settings, "exp_make_summaries", "summary (experiment)")


def _estimate_table(estimate: planner.Estimate) -> None:
    frame = pd.DataFrame(estimate.rows())
    st.dataframe(
        frame,
        hide_index=True,
        width="stretch",
        column_config=columns(
            frame.columns,
            {name: st.column_config.NumberColumn(format="%.6f") for name in ("input cost $", "cost at most $")},
        ),
    )
    st.markdown(
        f"**{estimate.calls:,} calls, {estimate.prompt_tokens:,} prompt tokens, at most "
        f"{money(estimate.max_cost)}** (every reply at its token limit)."
    )


def _body_preview(cells: list[PlannedCell], spec: RunSpec) -> None:
    with st.expander("The exact request body of a cell"):
        labels = results.variant_labels(spec)
        columns = st.columns(2)
        variant = columns[0].selectbox(
            "Variant", range(len(labels)), format_func=labels.__getitem__, key=state.EXP_PREVIEW_VARIANT
        )
        case_ids = [c.id for c in spec.test_set.cases]
        case_id = columns[1].selectbox("Case", case_ids, key=state.EXP_PREVIEW_CASE)
        cell = next((c for c in cells if c.key == CellKey(variant, case_id, 0)), None)
        if cell is not None:
            if cell.blocker:
                st.error(inert_markdown(f"Not sendable: {cell.blocker}"))
            body, left_out = shortened_body(cell.plan.body)
            if left_out:
                st.caption(f"{left_out:,} characters of very long messages are not shown here; the call sends them.")
            st.code(json.dumps(body, ensure_ascii=False, indent=2), language="json", wrap_lines=True)


def _start(spec: RunSpec, cells: list[PlannedCell], settings: Settings, name: str) -> None:
    if settings.provider.backend.replays:  # its answers come from a recorded demo: the run says so
        name = f"{name} · replayed"
    run_id = mine(store.create_run, spec, name, sessions.current_id())
    if run_id is None:
        return
    launch(run_id, spec, cells, settings)
    show_run(run_id)


def launch(run_id: str, spec: RunSpec, cells: list[PlannedCell], settings: Settings) -> None:
    """The run's cells sent in the background (lib/analysis/experiments/runner), in the order that
    shares the history prefix; a run already going is said."""
    executor = runner.RunExecutor(
        run_id,
        spec,
        planner.prefix_order(cells),
        settings.provider,
        sessions.current_id(),
        judge_setup(settings, spec.judge),
        secrets=known_secrets(),
        client=resources.client(settings.provider),
        owner=owner.owner(),
    )
    try:
        executor.start()
    except RuntimeError as problem:
        note("warning", str(problem))


def show_run(run_id: str) -> None:
    state.put(state.EXP_RUN_ID, run_id)
    state.put(state.EXP_SECTION, "Results")
    state.pop(state.EXP_GRID)


def _start_batch(spec: RunSpec, name: str) -> None:
    run_id = mine(store.create_run, planner.for_batch(spec), f"{name} (batch)", sessions.current_id(), "batch")
    if run_id:
        show_run(run_id)


def section(settings: Settings) -> None:
    """The Run section."""
    stored = current_set()
    test_set = stored.test_set
    st.markdown(f"**Test set:** {inert_markdown(test_set.name)} · {len(test_set.cases)} cases")
    st.markdown("**Variants** (the Compare page's: a context strategy, a system prompt, a model, a temperature)")
    variants = _variant_editor()
    numbers = st.columns(5)
    numbers[0].number_input(
        "Repeats", 1, 20, key=state.EXP_REPEATS, help="Each cell sent this many times (seed, seed+1, …)"
    )
    numbers[1].number_input("First seed", 0, 2**31, key=state.EXP_SEED)
    numbers[2].number_input("Max reply tokens", 1, 100_000, key=state.EXP_MAX_TOKENS)
    numbers[3].number_input("Temperature", 0.0, 2.0, step=0.1, key=state.EXP_TEMPERATURE)
    numbers[4].number_input(
        "Calls at once",
        1,
        64,
        key=state.EXP_CONCURRENCY,
        disabled=settings.provider.backend.answers_one_at_a_time,
        help="The embedded model answers one call at a time: 1, in the order that shares the history prefix.",
    )
    if not variants or not test_set.cases:
        st.warning("A run needs at least one variant and one case.")
        return
    judge = _judge_spec(settings, test_set)
    try:
        spec = _spec(settings, test_set, variants, judge)
    except InvalidTestSet as problem:
        st.error(inert_markdown(f"The set cannot run: {problem}"))
        return
    if settings.provider.missing():
        st.warning(f"Set {settings.provider.missing()} in the sidebar first.")
        return
    _missing_summaries(spec, settings)
    spec = _with_summaries(spec, settings)
    try:
        cells = planner.plan_cells(spec, _targets(settings))
    except ValueError as problem:
        st.error(str(problem))
        return
    judge_setup_ = judge_setup(settings, judge)
    estimate = planner.estimate(spec, cells, judge_setup_.target if judge_setup_ else None)
    # The Batch API bills half the list price: its own estimate and threshold, never the interactive one.
    batched = planner.estimate(spec, cells, judge_setup_.target if judge_setup_ else None, batch=True)
    st.subheader("Before running")
    st.caption(
        f"{len(test_set.cases)} cases × {len(variants)} variants × {spec.repeats} repeat(s) = {spec.total_cells:,} "
        "cells. Calls are sent so that consecutive ones share their history (all cases of a conversation under one "
        "variant together): the embedded model then evaluates each history once per variant. "
        + settings.provider.limits.describe()
    )
    _estimate_table(estimate)
    st.caption(
        f"As a Batch API run: at most {money(batched.max_cost)} ({BATCH_LABEL}"
        + ("; the judge's calls are sent interactively, at the list price" if batched.judge_calls else "")
        + ")."
    )
    _body_preview(cells, spec)
    columns = st.columns([1, 2], vertical_alignment="bottom")
    limit = columns[0].number_input(
        "Ask before runs that may cost more than $", 0.0, 10_000.0, step=0.5, key=state.EXP_COST_LIMIT
    )
    over = estimate.max_cost is not None and estimate.max_cost > limit
    batch_over = batched.max_cost is not None and batched.max_cost > limit
    confirmed = True
    if over:
        confirmed = columns[1].checkbox(
            f"Run it anyway: it may cost up to {money(estimate.max_cost)} ({money(batched.max_cost)} as a Batch API "
            "run)",
            key=state.EXP_COST_OK,
        )
    elif estimate.max_cost is None:
        columns[1].caption("A model here has no price: the cost cannot be bounded.")
    name = st.text_input("Name of the run", value=f"{test_set.name} · {len(variants)} variants", key=state.EXP_RUN_NAME)
    buttons = st.columns(2)
    buttons[0].button(
        f"Run {spec.total_cells:,} cells",
        type="primary",
        disabled=not confirmed,
        icon=":material/play_arrow:",
        on_click=_start,
        args=(spec, cells, settings, name),
    )
    buttons[1].button(
        "Make it a Batch API run instead",
        icon=":material/cloud_upload:",
        on_click=_start_batch,
        args=(spec, name),
        disabled=batch_over and not confirmed,
        help="Nothing is sent: the run's requests download as a JSONL file for OpenAI's Batch API; upload its "
        "output file in the Results section to score it.",
    )
