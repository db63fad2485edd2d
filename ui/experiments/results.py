"""The Experiments page's Results section: a run's grid, summaries, frontier, regressions, forgetting curve
and judge agreement; live while it runs (here or on another replica); its controls (resume, retry the
errors, delete) and exports, and the Batch API round trip."""

from __future__ import annotations

import json
from collections.abc import Callable

import pandas as pd
import streamlit as st

from lib.analysis.experiments import batch, planner, results, runner, setup, store
from lib.analysis.experiments.planner import CellKey, RunSpec
from lib.backends.replay import REPLAY_BASE_URL
from lib.context.display import inert_markdown, shortened_body
from ui import experiments_state, owner, sessions, state
from ui.demos import REPLAYED_CAPTION
from ui.experiments.common import STORE_FAILURES, mine, note, store_failure, stored_targets
from ui.experiments.run import launch
from ui.glossary import columns, explain
from ui.keys import known_secrets
from ui.meter import money
from ui.settings import Settings

URL_RUN = "run"
GRID, BASELINE, FRONTIER_BY = state.EXP_GRID, state.EXP_BASELINE, state.EXP_FRONTIER_BY
RUN_ID, RUN_PICK = state.EXP_RUN_ID, state.EXP_RUN_PICK


def run_labels(runs: list[store.RunInfo]) -> dict[str, str]:
    """The run pickers' labels (lib/analysis/experiments/setup.run_label), told apart."""
    return experiments_state.distinct_labels({r.id: setup.run_label(r) for r in runs})


def _cell_detail(spec: RunSpec, cells: list[store.CellResult], case_id: str, variant: int) -> None:
    repeat = st.number_input("Repeat", 1, spec.repeats, key=state.EXP_CELL_REPEAT) - 1 if spec.repeats > 1 else 0
    case = spec.test_set.case(case_id)
    label = results.variant_labels(spec)[variant]
    cell = results.cell_of(cells, CellKey(variant, case_id, repeat))
    with st.container(border=True):
        st.markdown(f"**{inert_markdown(case_id)} under {inert_markdown(label)}**, repeat {repeat + 1}")
        if case is not None:
            st.markdown("Question: " + inert_markdown(case.question))
        if cell is None:
            st.caption("Not finished yet.")
            return
        st.markdown(f"Status: **{cell.status}**")
        if spec.provider_base_url == REPLAY_BASE_URL:  # run while a recorded demo answered
            st.caption(f"{REPLAYED_CAPTION}: this answer came from the recording; no call was made.")
        if cell.error:
            st.error(inert_markdown(cell.error))
        for notice in cell.notices:
            if notice == results.cell_note(cell):
                st.warning(inert_markdown(notice), icon="⚠️")  # flagged in the grid (⚑): not an ordinary answer
            else:
                st.caption(inert_markdown(notice))
        st.markdown("**Answer**")
        st.markdown(inert_markdown(cell.answer) if cell.answer else "_(no text)_")
        if cell.verdicts:
            st.dataframe(
                pd.DataFrame(
                    [
                        {
                            "check": v.check,
                            "verdict": {True: "pass", False: "fail", None: "undecided"}[v.passed],
                            "why": v.detail,
                            "by": "judge" if v.judge else "rule",
                        }
                        for v in cell.verdicts
                    ]
                ),
                hide_index=True,
                width="stretch",
            )
        usage = cell.usage
        reported = "none reported" if usage.prompt_tokens is None else f"{usage.prompt_tokens:,}"
        st.caption(
            f"Prompt tokens: predicted {cell.predicted_prompt_tokens:,}, reported {reported}"
            + (f" ({usage.cached_tokens:,} from the server's prefix cache)" if usage.cached_tokens else "")
            + f" · completion {usage.completion_tokens or 0:,} · {cell.latency_s or 0:.2f} s · cost {money(cell.cost)}"
        )
        body, _ = shortened_body(cell.body)
        with st.expander("The exact request body"):
            st.code(json.dumps(body, ensure_ascii=False, indent=2), language="json", wrap_lines=True)


def _grid(spec: RunSpec, cells: list[store.CellResult]) -> None:
    shown, status = results.grid(spec, cells)
    styled = shown.style.apply(lambda _: results.grid_colours(status), axis=None)
    event = st.dataframe(
        styled,
        key=GRID,
        on_select="rerun",
        selection_mode="single-cell",
        width="stretch",
        height=min(600, 38 + 35 * len(shown)),
    )
    st.caption(
        f"Green: pass · red: fail · amber: error · yellow: mixed repeats · grey: not yet · {results.FLAG}: a "
        "reply cut short (max_tokens, content filter) or with no text (a tool call). Click a cell."
    )
    picked = event.selection.cells if event is not None else []
    if picked:
        row, column = picked[0]
        labels = results.variant_labels(spec)
        if 0 <= row < len(shown.index) and column in labels:
            _cell_detail(spec, cells, str(shown.index[row]), labels.index(column))


def _summary(spec: RunSpec, cells: list[store.CellResult]) -> list[results.VariantSummary]:
    summaries = results.summaries(spec, cells)
    st.markdown(
        "**Per variant**" + (" (95 % Wilson interval of the pass rate)" if spec.repeats > 1 else ""),
        help=explain("interval") if spec.repeats > 1 else None,
    )
    frame = pd.DataFrame(results.summary_rows(spec, summaries))
    st.dataframe(
        frame,
        hide_index=True,
        width="stretch",
        column_config=columns(frame.columns, {"cost $": st.column_config.NumberColumn(format="%.6f")}),
    )
    return summaries


def _frontier(spec: RunSpec, summaries: list[results.VariantSummary]) -> None:
    state.default(FRONTIER_BY, "tokens")
    by = st.radio(
        "Frontier against",
        ["tokens", "cost"],
        key=FRONTIER_BY,
        horizontal=True,
        format_func={"tokens": "prompt tokens per call", "cost": "cost"}.__getitem__,
        help=explain("frontier"),
    )
    if by == "cost" and not any(s.cost for s in summaries):
        st.caption("Every call here cost $0 (or is unpriced): the frontier is drawn against prompt tokens.")
        by = "tokens"
    st.plotly_chart(results.frontier_figure(spec, summaries, by), width="stretch", key="exp_frontier")


def _regressions(spec: RunSpec, cells: list[store.CellResult]) -> None:
    labels = results.variant_labels(spec)
    chosen = experiments_state.baseline()
    if chosen is None or chosen >= len(labels):
        state.put(BASELINE, spec.baseline)
    baseline = st.selectbox("Baseline variant", range(len(labels)), format_func=labels.__getitem__, key=BASELINE)
    rows = results.regressions(spec, cells, baseline)
    if rows:
        st.markdown(
            f"**Regressions:** {len(rows)} case(s) pass under {inert_markdown(labels[baseline])} and fail "
            "under another variant"
        )
        st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
    else:
        st.caption(f"No case that passes under {inert_markdown(labels[baseline])} fails under another variant.")


def _forgetting(spec: RunSpec, cells: list[store.CellResult]) -> None:
    curve = results.forgetting_curve(spec, cells)
    if curve.empty:
        return
    st.plotly_chart(results.forgetting_figure(curve), width="stretch", key="exp_forgetting")


def _judge(spec: RunSpec, cells: list[store.CellResult]) -> None:
    if not spec.test_set.judged:
        return
    agreement = results.judge_agreement(spec, cells)
    judge = spec.judge.model if spec.judge else "no judge"
    st.markdown(f"**Judge** ({inert_markdown(judge)}): {agreement.sentence()}")


def _exports(info: store.RunInfo, spec: RunSpec, cells: list[store.CellResult], settings: Settings) -> None:
    stem = f"context-lab-experiment-{info.id}"
    note_ = f"{spec.provider_kind} · {spec.provider_model}"
    columns = st.columns(3)
    columns[0].download_button(
        "Results (CSV)",
        lambda: results.run_csv(spec, cells),
        f"{stem}.csv",
        "text/csv",
        icon=":material/download:",
        on_click="ignore",
        width="stretch",
    )
    columns[1].download_button(
        "Report (HTML, works offline)",
        lambda: results.report_html(info.name, spec, cells, info.created_at, note_),
        f"{stem}.html",
        "text/html",
        icon=":material/download:",
        on_click="ignore",
        width="stretch",
    )
    left = spec.total_cells - info.finished
    if left:
        several = len(batch.models_of(spec.variants, spec.provider_model)) > 1
        for model in batch.models_of(spec.variants, spec.provider_model):  # the Batch API: one model per file
            suffix = f"-{batch.file_stem(model)}" if several else ""
            columns[2].download_button(
                f"Batch API requests for {model} (JSONL)" if several else f"Batch API requests ({left:,} cells, JSONL)",
                _batch_file(info.id, spec, settings, model),
                f"{stem}-batch{suffix}.jsonl",
                "application/jsonl",
                icon=":material/cloud_upload:",
                on_click="ignore",
                width="stretch",
            )
        uploader = experiments_state.uploader_key(state.EXP_BATCH_PREFIX, state.EXP_BATCH_UPLOADS)
        st.file_uploader(
            "Score a Batch API output file for this run",
            type=["jsonl"],
            key=uploader,
            on_change=_import_batch,
            args=(uploader, info.id, settings),
        )


def _batch_file(run_id: str, spec: RunSpec, settings: Settings, model: str) -> Callable[[], str]:
    """One model's Batch API input file, made on the download's click (planning a run takes a while)."""
    return lambda: batch.requests_left(run_id, spec, stored_targets(spec, settings))[model]


def _import_batch(uploader_key: str, run_id: str, settings: Settings) -> None:
    uploaded = experiments_state.uploaded(uploader_key)
    if uploaded is None:
        return
    experiments_state.count_upload(state.EXP_BATCH_UPLOADS)
    spec = mine(store.load_spec, run_id)
    if spec is None:
        return
    secrets = (*settings.provider.secrets, *known_secrets())
    try:
        applied = batch.score_output(
            run_id,
            spec,
            stored_targets(spec, settings),
            uploaded.getvalue(),
            sessions.current_id(),
            secrets,
            owner.owner(),
        )
    except batch.InvalidBatchFile as problem:  # the file's fault, not the store's: said as such
        note("error", f"The batch output was refused, nothing was scored: {problem}")
        return
    except STORE_FAILURES as exc:
        note("error", store_failure(exc))
        return
    note("success" if applied.applied else "info", applied.sentence())


def _resume(run_id: str, settings: Settings) -> None:
    spec = mine(store.load_spec, run_id)
    if spec is None:
        return
    launch(run_id, spec, planner.plan_cells(spec, stored_targets(spec, settings)), settings)


def _retry_errors(run_id: str, settings: Settings) -> None:
    dropped = mine(store.forget_errors, run_id)
    if dropped:
        _resume(run_id, settings)


def _controls(info: store.RunInfo, spec: RunSpec, cells: list[store.CellResult], settings: Settings) -> None:
    left = spec.total_cells - info.finished
    errors = sum(c.status == "error" for c in cells)
    judging = sum(c.status == "judging" for c in cells)
    mismatch = setup.backend_mismatch(spec, settings.provider)
    columns = st.columns(3)
    if left:
        word = "Send the run's" if info.status == "batch" else "Resume:"
        columns[0].button(
            f"{word} {left:,} cells left" + (f" ({judging} to judge)" if judging else ""),
            type="primary",
            on_click=_resume,
            args=(info.id, settings),
            disabled=mismatch is not None,
            icon=":material/play_arrow:",
        )
    if errors:
        columns[1].button(
            f"Send the {errors} errored cells again",
            on_click=_retry_errors,
            args=(info.id, settings),
            disabled=mismatch is not None,
            icon=":material/replay:",
        )
    if mismatch and (left or errors):
        st.caption(inert_markdown(mismatch))
    with columns[2].popover("Delete this run", icon=":material/delete:"):
        st.write("Delete the run and its cells? Its calls stay in the run log.")
        st.button("Delete for good", type="primary", on_click=_delete_run, args=(info.id,))


def _delete_run(run_id: str) -> None:
    mine(store.delete_run, run_id)
    state.pop(RUN_ID)
    state.pop(RUN_PICK)


def _results_body(info: store.RunInfo, spec: RunSpec, cells: list[store.CellResult]) -> None:
    _grid(spec, cells)
    summaries = _summary(spec, cells)
    if any(s.pass_rate is not None for s in summaries):
        _frontier(spec, summaries)
    _regressions(spec, cells)
    _forgetting(spec, cells)
    _judge(spec, cells)


@st.fragment(run_every=1.0)
def _live(run_id: str) -> None:
    """The running run, redrawn every second from the database (the run goes on without the page)."""
    executor = runner.active(run_id)
    info = mine(store.run_info, run_id)
    if executor is None or info is None:
        st.rerun()  # it finished meanwhile: draw everything once more, with the controls
        return
    progress = executor.progress()
    left = progress.time_left_s
    st.progress(
        progress.done / max(progress.total, 1),
        text=f"{progress.done:,} of {progress.total:,} cells done"
        + (f" · about {left:,.0f} s left" if left is not None else "")
        + (" · cancelling…" if executor.cancelled else ""),
    )
    st.button("Cancel", on_click=executor.cancel, disabled=executor.cancelled, icon=":material/stop:", key="exp_cancel")
    spec = executor.spec
    cells = mine(store.cells, run_id) or []
    _results_body(info, spec, cells)


@st.fragment(run_every=2.0)
def _live_elsewhere(run_id: str) -> None:
    """A run another replica is sending, redrawn from the shared store as its cells come in (no Resume,
    Retry or Delete here while it goes on)."""
    info = mine(store.run_info, run_id)
    spec = mine(store.load_spec, run_id)
    if info is None or spec is None or not runner.running_elsewhere(info):
        st.rerun()  # it finished (or its replica stopped) meanwhile: draw everything once more
        return
    st.info(runner.ELSEWHERE)
    cells = mine(store.cells, run_id) or []
    st.markdown(setup.tally(info, cells))
    _results_body(info, spec, cells)


def _pick_run() -> None:
    state.put(RUN_ID, state.get(RUN_PICK))
    state.pop(GRID)


def section(settings: Settings) -> None:
    """The Results section: the run picked (or the `?run=` link's), live while it runs."""
    runs = mine(store.list_runs) or []
    if not runs:
        st.info("No run yet: pick variants and run the set in the Run section.")
        return
    labels = run_labels(runs)
    wanted = experiments_state.run_id() or st.query_params.get(URL_RUN)
    if wanted not in labels:
        wanted = runs[0].id
    state.put(RUN_ID, wanted)
    if experiments_state.run_pick() != wanted:
        state.put(RUN_PICK, wanted)
    picked = st.selectbox("Run", list(labels), format_func=labels.__getitem__, key=RUN_PICK, on_change=_pick_run)
    if st.query_params.get(URL_RUN) != picked:
        st.query_params[URL_RUN] = picked  # a reload shows this run again
    info = next(r for r in runs if r.id == picked)
    spec = mine(store.load_spec, picked)
    if spec is None:
        return
    st.caption(
        inert_markdown(
            f"{spec.test_set.name} · {len(spec.test_set.cases)} cases × {len(spec.variants)} variants × "
            f"{spec.repeats} repeat(s) · {spec.provider_kind} · {spec.provider_model} · temperature "
            f"{spec.sampling.temperature:g} · at most {spec.sampling.max_tokens} reply tokens · started "
            f"{info.created_at[:19].replace('T', ' ')} UTC"
        )
    )
    executor = runner.active(picked)
    if executor is not None:
        _live(picked)
        return
    if runner.running_elsewhere(info):
        _live_elsewhere(picked)
        return
    if info.status == "running":
        st.warning(
            "This run was interrupted (the app stopped while it ran): its finished cells are kept. Resume it "
            "to send the rest."
        )
    elif info.status == "batch" and info.finished < info.cells:
        st.info(
            "A Batch API run: download its requests, submit them to OpenAI's Batch API, then upload the output "
            "file below to score it (or send the cells from here)."
        )
    cells = mine(store.cells, picked) or []
    st.markdown(setup.tally(info, cells))
    _controls(info, spec, cells, settings)
    _results_body(info, spec, cells)
    _exports(info, spec, cells, settings)
