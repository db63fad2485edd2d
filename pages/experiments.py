"""Experiments: a test set run across context variants, scored — which context keeps the answers
right, at what cost. lib/analysis/experiments decides; this page reads state, calls it, and draws."""

from __future__ import annotations

import json
import os
from dataclasses import replace

import pandas as pd
import streamlit as st
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from lib.analysis.compare import Variant
from lib.analysis.experiments import batch, builtin, formats, planner, results, runner, store
from lib.analysis.experiments.cases import (
    SOURCES,
    Case,
    Conversation,
    InvalidTestSet,
    TestSet,
    checks_to_text,
    next_case_id,
    with_case,
    without_case,
)
from lib.analysis.experiments.judge import JudgeSpec
from lib.analysis.experiments.planner import CellKey, PlannedCell, RunSpec
from lib.backends.kinds import BACKENDS
from lib.backends.providers import ProviderConfig
from lib.context.display import inert_markdown, shortened_body
from lib.context.request import Target
from lib.context.strategies import STRATEGY_LABELS, Strategy
from lib.core import models
from lib.core.prices import BATCH_LABEL
from lib.store import db, storage
from ui import experiments_state, owner, resources, sessions, state
from ui.keys import known_secrets
from ui.meter import money
from ui.planning import summary_for
from ui.settings import Settings, page_setup
from ui.summary import make_summary, summary_plan

# This page's state: named in ui/state.py (which keeps the choices across pages), read and written
# through its accessors and ui/experiments_state.py.
SECTION, SET_ID, CASE_PICK, UPLOADS, NOTE = (state.EXP_SECTION, state.EXP_SET_ID, state.EXP_CASE_PICK,
                                             state.EXP_UPLOADS, state.EXP_NOTE)  # fmt: skip
VARIANT_ROWS = state.EXP_VARIANT_ROWS
REPEATS, SEED, MAX_TOKENS, TEMPERATURE = state.EXP_REPEATS, state.EXP_SEED, state.EXP_MAX_TOKENS, state.EXP_TEMPERATURE
CONCURRENCY, COST_LIMIT, COST_OK = state.EXP_CONCURRENCY, state.EXP_COST_LIMIT, state.EXP_COST_OK
JUDGE_KIND, JUDGE_MODEL = state.EXP_JUDGE_KIND, state.EXP_JUDGE_MODEL
RUN_ID, RUN_PICK = state.EXP_RUN_ID, state.EXP_RUN_PICK
GRID = state.EXP_GRID
CELL_REPEAT = state.EXP_CELL_REPEAT
FRONTIER_BY = state.EXP_FRONTIER_BY
BASELINE = state.EXP_BASELINE
COMPARE_A, COMPARE_B = state.EXP_COMPARE_A, state.EXP_COMPARE_B
BATCH_UPLOADS = state.EXP_BATCH_UPLOADS
CLAIMED = state.EXP_CLAIMED

SECTIONS = ("Test set", "Run", "Results", "Compare runs")
URL_RUN = "run"
SYSTEM_CHOICES = ("the conversation's", "none", "custom")
JUDGE_CHOICES = {"embedded": "The embedded model (offline)", "sidebar": "The sidebar's backend and a model"}
LABEL_TO_KIND = {label: kind for kind, label in STRATEGY_LABELS.items()}


def _note(kind: str, text: str) -> None:
    state.put(NOTE, (kind, text))


def _show_note() -> None:
    note = state.pop(NOTE)
    if note:
        getattr(st, note[0])(inert_markdown(note[1]))


# --- test sets in the database -------------------------------------------------------------------


def _db(action, *args):
    """A store call; a failing database is said (not a traceback), and the page goes on."""
    try:
        with storage.opened() as conn:
            return action(conn, *args)
    except store.NotYours as refused:
        _note("error", str(refused))
        return None
    except (SQLAlchemyError, OSError, ValueError, KeyError) as exc:
        _note("error", f"The experiment store ({_store_shown()}) failed: {_db_problem(exc)}")
        return None


def _mine(action, *args):
    """`_db` for a store call that takes the owner: it acts on this browser's (or signed-in user's) test
    sets and runs only (ui/owner.py)."""
    return _db(lambda conn: action(conn, *args, owner=owner.owner()))


def _claim_unowned() -> None:
    """Single-user install: the test sets and runs made before experiments had owners go to the first
    browser that opens this page (once per browser session; under sign-in they stay nobody's), as the
    sessions from before owners go to the first browser (ui/sessions.py)."""
    if state.get(CLAIMED) or owner.auth_configured() or owner.signed_in():
        return
    state.put(CLAIMED, True)
    _db(store.claim_unowned, owner.owner())


def _store_shown() -> str:
    """Where the store is, for a message: a SQLite path, or a PostgreSQL URL with its password masked."""
    try:
        return db.store_url(os.environ.get(storage.ENV_VAR) or str(storage.DEFAULT_PATH)).shown
    except db.BadStoreUrl:
        return storage.ENV_VAR


def _db_problem(exc: Exception) -> str:
    """The database's own words, first line: SQLAlchemy's text adds the statement and its parameters."""
    cause = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    words = str(cause).strip().splitlines()
    return f"{type(cause).__name__}: {words[0] if words else 'no detail'}"


def _current_set() -> store.StoredSet:
    """The set being edited; the built-in set is stored as a copy on the first visit."""
    set_id = state.get(SET_ID)
    stored = _mine(store.load_set, set_id) if set_id else None
    if stored is None:
        listed = _mine(store.list_sets) or []
        stored = _mine(store.load_set, listed[0][0]) if listed else None
    if stored is None:
        stored = _mine(store.save_set, builtin.test_set()) or store.StoredSet("memory", builtin.test_set(), "")
    state.put(SET_ID, stored.id)
    return stored


def _new_set(test_set: TestSet) -> None:
    stored = _mine(store.save_set, test_set)
    if stored is not None:
        state.put(SET_ID, stored.id)
        state.pop(CASE_PICK)


def _delete_set(set_id: str, test_set: TestSet) -> None:
    _mine(store.delete_set, set_id)
    for case in test_set.cases:
        experiments_state.forget_editor(set_id, case.id)
    state.pop(SET_ID)
    state.pop(CASE_PICK)


def _pick_set() -> None:
    state.pop(CASE_PICK)


def _import_set(uploader_key: str) -> None:
    uploaded = state.get(uploader_key)
    if uploaded is None:
        return
    try:
        test_set = formats.read_file(uploaded.name, uploaded.getvalue())
    except InvalidTestSet as problem:
        _note("error", f"Import refused, nothing was saved: {problem}")
        return
    finally:
        state.put(UPLOADS, (state.get(UPLOADS) or 0) + 1)  # a fresh, empty uploader
    _new_set(test_set)
    _note("success", f"Imported {test_set.name}: {len(test_set.cases)} cases.")


# --- the case editor ------------------------------------------------------------------------------


def _fresh(set_id: str, drawn: TestSet) -> TestSet:
    """The set as stored now (another tab may have changed its other cases since the page drew it)."""
    stored = _mine(store.load_set, set_id)
    return stored.test_set if stored is not None else drawn


def _save_case(set_id: str, test_set: TestSet, case: Case) -> None:
    try:
        edited = experiments_state.edited_case(set_id, case)
    except InvalidTestSet as problem:
        _note("error", f"Not saved (your text is kept in the editor): {problem}")
        return
    fresh = _fresh(set_id, test_set)
    replacing = case.id if fresh.case(case.id) is not None else None  # deleted meanwhile: saved back, not lost
    if _mine(store.save_set, with_case(fresh, edited, replacing=replacing), set_id) is not None:
        _note("success", f"Saved {case.id}.")


def _add_case(set_id: str, test_set: TestSet, copy_of: Case | None = None) -> None:
    test_set = _fresh(set_id, test_set)
    case_id = next_case_id(test_set)
    case = replace(copy_of, id=case_id) if copy_of else Case(case_id, "What is my name?")
    if _mine(store.save_set, with_case(test_set, case), set_id) is not None:
        state.put(CASE_PICK, case_id)


def _delete_case(set_id: str, test_set: TestSet, case_id: str) -> None:
    _mine(store.save_set, without_case(_fresh(set_id, test_set), case_id), set_id)
    experiments_state.forget_editor(set_id, case_id)
    state.pop(CASE_PICK)


def _case_editor(set_id: str, test_set: TestSet) -> None:
    """The picked case's editor: its widgets belong to this set's case as stored (ui/experiments_state.py),
    and every button acts on the set it was drawn for."""
    if not test_set.cases:
        st.button("Add a case", on_click=_add_case, args=(set_id, test_set), icon=":material/add:")
        return
    ids = [c.id for c in test_set.cases]
    if state.get(CASE_PICK) not in ids:
        state.put(CASE_PICK, ids[0])
    labels = {c.id: f"{c.id} — {c.question[:60]}" for c in test_set.cases}
    picked = st.selectbox("Edit case", ids, format_func=labels.__getitem__, key=CASE_PICK)
    case = test_set.case(picked)
    assert case is not None
    experiments_state.seed_editor(set_id, case)
    key = lambda name: experiments_state.case_key(set_id, case, name)  # noqa: E731 - a local shorthand
    with st.container(border=True):
        st.text_area("Question", key=key("question"), height=68)
        st.radio(
            "Asked in", SOURCES, key=key("source"), horizontal=True,
            format_func={"inline": "a history written here", "current": "the current session",
                         "session": "a saved session"}.__getitem__,
        )  # fmt: skip
        source = state.get(key("source"))
        if source == "inline":
            columns = st.columns([3, 1], vertical_alignment="bottom")
            columns[0].text_input("System prompt", key=key("system"), disabled=bool(state.get(key("default_system"))))
            columns[1].checkbox("The app's default", key=key("default_system"))
            st.text_area(
                "History (one message a line: `user: …` or `assistant: …`)", key=key("history"), height=150,
            )  # fmt: skip
        elif source == "session":
            saved = sessions.session_labels()
            options = list(saved) or [""]
            if state.get(key("session")) not in options:
                options.insert(0, state.get(key("session")) or "")
            st.selectbox("Saved session", options, key=key("session"),
                         format_func=lambda i: saved.get(i, i or "(none saved yet)"))  # fmt: skip
        else:
            st.caption(f"The chat's session as it is when the run starts: {len(state.history())} messages now.")
        st.text_area(
            "Checks (one a line)", key=key("checks"), height=110,
            help="contains: Ada · icontains: ada · contains-all: Ada | Porto · contains-any: a | b · "
            "not-contains: sorry · regex: \\d{4} · equals: 42 · starts-with: Yes · is-json · "
            "json-field: user.name = \"Ada\" · max-words: 20 · llm-rubric: The answer names the city. "
            "An i- prefix ignores case (icontains, iequals, istarts-with…).",
        )  # fmt: skip
        st.text_input("Turns ago the fact was told (for the forgetting curve; blank: none)", key=key("turns_ago"))
        columns = st.columns(4)
        columns[0].button("Save case", on_click=_save_case, args=(set_id, test_set, case), type="primary")
        columns[1].button("Add a case", on_click=_add_case, args=(set_id, test_set), icon=":material/add:")
        columns[2].button("Duplicate", on_click=_add_case, args=(set_id, test_set, case),
                          icon=":material/content_copy:")  # fmt: skip
        columns[3].button("Delete", on_click=_delete_case, args=(set_id, test_set, case.id), icon=":material/delete:")


def _cases_table(test_set: TestSet) -> None:
    rows = [
        {"id": c.id, "question": c.question, "asked in": c.conversation.describe(),
         "checks": checks_to_text(c.checks), "turns ago": c.turns_ago}
        for c in test_set.cases
    ]  # fmt: skip
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch", height=min(400, 38 + 35 * len(rows)))


def _test_set_section() -> None:
    stored = _current_set()
    test_set = stored.test_set
    sets = _mine(store.list_sets) or [(stored.id, test_set.name, "")]
    names = experiments_state.distinct_labels(
        {set_id: f"{name} · {updated[:16].replace('T', ' ')}" for set_id, name, updated in sets}
    )
    columns = st.columns([2, 1.5, 1, 1.4], vertical_alignment="bottom")  # labels whole at 1280 px
    columns[0].selectbox("Test set", list(names), format_func=names.__getitem__, key=SET_ID, on_change=_pick_set)
    columns[1].button("New: the built-in set", on_click=_new_set, args=(builtin.test_set(),))
    columns[2].button("New: empty", on_click=_new_set, args=(TestSet("New set"),))
    with columns[3].popover("Delete this set", icon=":material/delete:"):
        st.write("Delete the set? Runs made with it keep their own copy.")
        st.button("Delete the set", type="primary", on_click=_delete_set, args=(stored.id, test_set))
    st.caption(inert_markdown(test_set.description or f"{len(test_set.cases)} cases."))
    _cases_table(test_set)
    _case_editor(stored.id, test_set)
    st.markdown("**Import and export**")
    columns = st.columns(4)
    stem = "".join(ch if ch.isalnum() else "-" for ch in test_set.name.lower()).strip("-") or "test-set"
    for column, (extension, (write, mime)) in zip(columns, formats.EXPORTERS.items(), strict=False):
        column.download_button(
            extension.upper(), lambda write=write: write(test_set), f"{stem}.{extension}", mime,
            icon=":material/download:", on_click="ignore", width="stretch",
        )  # fmt: skip
    uploader = f"exp_import_{state.get(UPLOADS) or 0}"
    st.file_uploader(
        "Import a test set (CSV, JSONL, YAML, or a promptfoo test file)", type=["csv", "jsonl", "yaml", "yml", "json"],
        key=uploader, on_change=_import_set, args=(uploader,), max_upload_size=5,
    )  # fmt: skip


# --- variants and the run's settings -------------------------------------------------------------

DEFAULT_VARIANTS = planner.DEFAULT_VARIANTS  # the bench measures the built-in set under these


def _variant_row(variant: Variant) -> dict:
    mode = "the conversation's" if variant.system_override is None else ("none" if not variant.system_override
                                                                          else "custom")  # fmt: skip
    return {
        "name": variant.name, "context": STRATEGY_LABELS[variant.strategy.kind], "turns": variant.strategy.last_turns,
        "token budget": variant.strategy.token_budget, "system prompt": mode,
        "custom system prompt": variant.system_override or "", "model": variant.model,
        "temperature": variant.temperature, "max reply tokens": variant.max_tokens,
    }  # fmt: skip


def _reset_variants() -> None:
    experiments_state.set_variant_rows([_variant_row(v) for v in DEFAULT_VARIANTS])


def _number(value, kind=float):
    return None if value is None or pd.isna(value) else kind(value)


def _variants_from(frame: pd.DataFrame) -> list[Variant]:
    variants = []
    for index, row in enumerate(frame.to_dict("records")):
        kind = LABEL_TO_KIND.get(row.get("context"), "full")
        strategy = Strategy(kind, last_turns=_number(row.get("turns"), int) or 0,
                            token_budget=_number(row.get("token budget"), int) or 0)  # fmt: skip
        mode = row.get("system prompt") or SYSTEM_CHOICES[0]
        if mode == SYSTEM_CHOICES[0]:
            override = None  # the conversation's own
        elif mode == "none":
            override = ""
        else:
            override = str(row.get("custom system prompt") or "")
        name = str(row.get("name") or "").strip() or f"Variant {index + 1}"
        model = str(row.get("model") or "").strip()
        temperature, max_tokens = _number(row.get("temperature")), _number(row.get("max reply tokens"), int)
        variants.append(Variant(name, strategy, override, model, temperature, max_tokens))
    return variants


def _variant_editor() -> list[Variant]:
    if state.get(VARIANT_ROWS) is None:
        _reset_variants()
    frame = pd.DataFrame(state.get(VARIANT_ROWS), columns=list(_variant_row(DEFAULT_VARIANTS[0])))
    edited = st.data_editor(
        frame, key=experiments_state.variant_editor_key(), num_rows="dynamic", hide_index=True, width="stretch",
        on_change=experiments_state.fold_variant_edits, args=(list(frame.columns),),
        column_config={
            "context": st.column_config.SelectboxColumn(options=list(STRATEGY_LABELS.values()), required=True),
            "turns": st.column_config.NumberColumn(min_value=0, step=1, help="Last N turns / summarise: turns kept"),
            "token budget": st.column_config.NumberColumn(min_value=0, step=64),
            "system prompt": st.column_config.SelectboxColumn(options=list(SYSTEM_CHOICES), required=True),
            "model": st.column_config.TextColumn(help="Blank: the sidebar's model (the embedded backend has one)"),
            "temperature": st.column_config.NumberColumn(min_value=0.0, max_value=2.0, help="Blank: the run's"),
            "max reply tokens": st.column_config.NumberColumn(min_value=1, step=1, help="Blank: the run's"),
        },
    )  # fmt: skip
    st.button("Reset the variants", on_click=_reset_variants, icon=":material/restart_alt:")
    return _variants_from(edited)


def _target_for(settings: Settings):
    def target(variant: Variant) -> Target:
        if not variant.model or settings.provider.backend.one_model:
            return Target(settings.model, settings.counter(), settings.provider.model)
        info = models.info_for(variant.model, settings.model.context_window)
        return Target(info, resources.tiktoken_counter(info.name), variant.model)

    return target


def _judge_setup(settings: Settings, spec: JudgeSpec | None) -> runner.JudgeSetup | None:
    if spec is None:
        return None
    if BACKENDS[spec.kind].started_by_the_app:
        server = resources.embedded_server()
        info = models.info_for(models.EMBEDDED_MODEL)
        config = ProviderConfig("embedded", models.EMBEDDED_MODEL, base_url=server.base_url)
        return runner.JudgeSetup(spec, Target(info, resources.embedded_tokenizer(), models.EMBEDDED_MODEL), config)
    info = models.info_for(spec.model, settings.model.context_window)
    config = replace(settings.provider, model=spec.model)
    return runner.JudgeSetup(spec, Target(info, resources.tiktoken_counter(info.name), spec.model), config)


def _judge_spec(settings: Settings, test_set: TestSet) -> JudgeSpec | None:
    if not test_set.judged:
        return None
    # On the embedded backend the sidebar's backend is the embedded model: one choice.
    choices = ["embedded"] if settings.provider.backend.one_model else list(JUDGE_CHOICES)
    state.default(JUDGE_KIND, "embedded")
    if state.get(JUDGE_KIND) not in choices:
        state.put(JUDGE_KIND, "embedded")
    columns = st.columns(2)
    choice = columns[0].selectbox("Judge (grades the rubric checks)", choices, format_func=JUDGE_CHOICES.__getitem__,
                                  key=JUDGE_KIND)  # fmt: skip
    if choice == "embedded":
        columns[1].caption("SmolLM2-135M grades with its output forced into the verdict's JSON shape.")
        return JudgeSpec("embedded", models.EMBEDDED_MODEL)
    state.default(JUDGE_MODEL, settings.provider.model)
    model = columns[1].text_input("Judge model", key=JUDGE_MODEL) or settings.provider.model
    return JudgeSpec(settings.provider.kind, model.strip(), settings.provider.base_url)


def _resolved(test_set: TestSet) -> TestSet:
    """The set with every conversation written out (the current session, the saved ones), so the run
    holds what it asked in, and a resume asks in the same."""
    current = Conversation(
        "inline", tuple(state.history()), state.system_prompt().content if state.system_prompt().included else ""
    )
    cases = []
    for case in test_set.cases:
        conversation = case.conversation
        if conversation.source == "current":
            conversation = current
        elif conversation.source == "session":
            session = sessions.load_mine(conversation.session_id)  # the user's own sessions only
            if session is None:
                raise InvalidTestSet(f"{case.id}: the saved session {conversation.session_id!r} is not there")
            system = session.system.content if session.system.included else ""
            conversation = Conversation("inline", session.messages, system)
        cases.append(replace(case, conversation=conversation))
    return replace(test_set, cases=tuple(cases))


def _spec(settings: Settings, test_set: TestSet, variants: list[Variant], judge: JudgeSpec | None) -> RunSpec:
    sampling = replace(
        settings.sampling, temperature=float(state.get(TEMPERATURE)), max_tokens=int(state.get(MAX_TOKENS)), seed=None
    )
    provider = settings.provider
    return RunSpec(
        test_set, tuple(variants), int(state.get(REPEATS)), int(state.get(SEED)), sampling, provider.kind,
        provider.model, "" if provider.backend.started_by_the_app else provider.base_url, judge,
        int(state.get(CONCURRENCY)), 0,
    )  # fmt: skip


def _with_summaries(spec: RunSpec, settings: Settings) -> RunSpec:
    wanted = planner.summaries_needed(spec, _target_for(settings))
    made = [(planner.summary_id(older), summary_for(older, settings)) for older in wanted]
    return replace(spec, summaries=tuple((k, v) for k, v in made if v))


def _missing_summaries(spec: RunSpec, settings: Settings) -> None:
    wanted = [o for o in planner.summaries_needed(spec, _target_for(settings)) if summary_for(o, settings) is None]
    if not wanted:
        return
    plans = [summary_plan(older, settings) for older in wanted]
    st.warning(
        f"A summarising variant needs {len(wanted)} summaries of older messages first: {len(wanted)} call(s), "
        f"{sum(p.prompt_tokens for p in plans):,} prompt tokens, input {money(sum(p.input_cost or 0 for p in plans))}."
        " Until they are made, its cells are not sent."
    )
    if st.button("Make the summaries", key="exp_make_summaries", icon=":material/summarize:"):
        with st.spinner("Summarising the older messages…"):
            errors = [e for older in wanted if (e := make_summary(older, settings, variant="summary (experiment)"))]
        for error in errors:
            st.error(inert_markdown(error))
        if not errors:
            st.rerun()


def _estimate_table(estimate: planner.Estimate) -> None:
    st.dataframe(
        pd.DataFrame(estimate.rows()), hide_index=True, width="stretch",
        column_config={name: st.column_config.NumberColumn(format="%.6f") for name in ("input cost $",
                                                                                       "cost at most $")},
    )  # fmt: skip
    st.markdown(
        f"**{estimate.calls:,} calls, {estimate.prompt_tokens:,} prompt tokens, at most "
        f"{money(estimate.max_cost)}** (every reply at its token limit)."
    )


def _body_preview(cells: list[PlannedCell], spec: RunSpec) -> None:
    with st.expander("The exact request body of a cell"):
        labels = results.variant_labels(spec)
        columns = st.columns(2)
        variant = columns[0].selectbox("Variant", range(len(labels)), format_func=labels.__getitem__,
                                       key="exp_preview_variant")  # fmt: skip
        case_ids = [c.id for c in spec.test_set.cases]
        case_id = columns[1].selectbox("Case", case_ids, key="exp_preview_case")
        cell = next((c for c in cells if c.key == CellKey(variant, case_id, 0)), None)
        if cell is not None:
            if cell.blocker:
                st.error(inert_markdown(f"Not sendable: {cell.blocker}"))
            body, left_out = shortened_body(cell.plan.body)
            if left_out:
                st.caption(f"{left_out:,} characters of very long messages are not shown here; the call sends them.")
            st.code(json.dumps(body, ensure_ascii=False, indent=2), language="json", wrap_lines=True)


def _start(spec: RunSpec, cells: list[PlannedCell], settings: Settings, name: str) -> None:
    run_id = _mine(store.create_run, spec, name, sessions.current_id())
    if run_id is None:
        return
    _launch(run_id, spec, cells, settings)
    _show_run(run_id)


def _launch(run_id: str, spec: RunSpec, cells: list[PlannedCell], settings: Settings) -> None:
    executor = runner.RunExecutor(
        run_id, spec, planner.prefix_order(cells), settings.provider, sessions.current_id(),
        _judge_setup(settings, spec.judge), secrets=known_secrets(), client=resources.client(settings.provider),
        owner=owner.owner(),
    )  # fmt: skip
    try:
        executor.start()
    except RuntimeError as problem:
        _note("warning", str(problem))


def _show_run(run_id: str) -> None:
    state.put(RUN_ID, run_id)
    state.put(SECTION, "Results")
    state.pop(GRID)


def _run_section(settings: Settings) -> None:
    stored = _current_set()
    test_set = stored.test_set
    st.markdown(f"**Test set:** {inert_markdown(test_set.name)} · {len(test_set.cases)} cases")
    st.markdown("**Variants** (the Compare page's: a context strategy, a system prompt, a model, a temperature)")
    variants = _variant_editor()
    columns = st.columns(5)
    columns[0].number_input("Repeats", 1, 20, key=REPEATS, help="Each cell sent this many times (seed, seed+1, …)")
    columns[1].number_input("First seed", 0, 2**31, key=SEED)
    columns[2].number_input("Max reply tokens", 1, 100_000, key=MAX_TOKENS)
    columns[3].number_input("Temperature", 0.0, 2.0, step=0.1, key=TEMPERATURE)
    columns[4].number_input(
        "Calls at once", 1, 64, key=CONCURRENCY, disabled=settings.provider.backend.answers_one_at_a_time,
        help="The embedded model answers one call at a time: 1, in the order that shares the history prefix.",
    )  # fmt: skip
    if not variants or not test_set.cases:
        st.warning("A run needs at least one variant and one case.")
        return
    judge = _judge_spec(settings, test_set)
    try:
        spec = _spec(settings, _resolved(test_set), variants, judge)
    except InvalidTestSet as problem:
        st.error(inert_markdown(f"The set cannot run: {problem}"))
        return
    if settings.provider.missing():
        st.warning(f"Set {settings.provider.missing()} in the sidebar first.")
        return
    _missing_summaries(spec, settings)
    spec = _with_summaries(spec, settings)
    try:
        cells = planner.plan_cells(spec, _target_for(settings))
    except ValueError as problem:
        st.error(str(problem))
        return
    judge_setup = _judge_setup(settings, judge)
    estimate = planner.estimate(spec, cells, judge_setup.target if judge_setup else None)
    # The Batch API bills half the list price: its own estimate and threshold, never the interactive one.
    batched = planner.estimate(spec, cells, judge_setup.target if judge_setup else None, batch=True)
    st.subheader("Before running")
    st.caption(
        f"{len(test_set.cases)} cases × {len(variants)} variants × {spec.repeats} repeat(s) = {spec.total_cells:,} "
        "cells. Calls are sent so that consecutive ones share their history (all cases of a conversation under one "
        "variant together): the embedded model then evaluates each history once per variant. "
        + settings.provider.limits.describe()
    )
    _estimate_table(estimate)
    st.caption(f"As a Batch API run: at most {money(batched.max_cost)} ({BATCH_LABEL}"
               + ("; the judge's calls are sent interactively, at the list price" if batched.judge_calls else "")
               + ").")  # fmt: skip
    _body_preview(cells, spec)
    columns = st.columns([1, 2], vertical_alignment="bottom")
    limit = columns[0].number_input("Ask before runs that may cost more than $", 0.0, 10_000.0, step=0.5,
                                    key=COST_LIMIT)  # fmt: skip
    over = estimate.max_cost is not None and estimate.max_cost > limit
    batch_over = batched.max_cost is not None and batched.max_cost > limit
    confirmed = True
    if over:
        confirmed = columns[1].checkbox(f"Run it anyway: it may cost up to {money(estimate.max_cost)} "
                                        f"({money(batched.max_cost)} as a Batch API run)", key=COST_OK)  # fmt: skip
    elif estimate.max_cost is None:
        columns[1].caption("A model here has no price: the cost cannot be bounded.")
    name = st.text_input("Name of the run", value=f"{test_set.name} · {len(variants)} variants", key="exp_run_name")
    columns = st.columns(2)
    columns[0].button(
        f"Run {spec.total_cells:,} cells", type="primary", disabled=not confirmed, icon=":material/play_arrow:",
        on_click=_start, args=(spec, cells, settings, name),
    )  # fmt: skip
    columns[1].button(
        "Make it a Batch API run instead", icon=":material/cloud_upload:", on_click=_start_batch, args=(spec, name),
        disabled=batch_over and not confirmed,
        help="Nothing is sent: the run's requests download as a JSONL file for OpenAI's Batch API; upload its "
        "output file in the Results section to score it.",
    )  # fmt: skip


def _start_batch(spec: RunSpec, name: str) -> None:
    run_id = _mine(store.create_run, planner.for_batch(spec), f"{name} (batch)", sessions.current_id(), "batch")
    if run_id:
        _show_run(run_id)


# --- a run's results ---------------------------------------------------------------------------


def _run_labels(runs: list[store.RunInfo]) -> dict[str, str]:
    """The run pickers' labels: what never changes about a run (its name, size and start). Its status and
    progress are drawn beside the picker, fresh on every run of the page: a browser keeps showing the text
    a picked option had when it was picked, so a label with a status in it went on saying "running · 0/N"
    for a finished run."""
    return experiments_state.distinct_labels(
        {r.id: f"{r.name} · {r.cells} cells · started {r.created_at[:19].replace('T', ' ')}" for r in runs}
    )


def _status_word(info: store.RunInfo) -> str:
    if runner.running_elsewhere(info):
        return "running on another replica"
    if info.status == "running" and runner.active(info.id) is None:
        return "interrupted"
    return info.status


def _cell_detail(spec: RunSpec, cells: list[store.CellResult], case_id: str, variant: int) -> None:
    repeat = st.number_input("Repeat", 1, spec.repeats, key=CELL_REPEAT) - 1 if spec.repeats > 1 else 0
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
                pd.DataFrame([{"check": v.check, "verdict": {True: "pass", False: "fail", None: "undecided"}[v.passed],
                               "why": v.detail, "by": "judge" if v.judge else "rule"} for v in cell.verdicts]),
                hide_index=True, width="stretch",
            )  # fmt: skip
        reported = "none reported" if cell.prompt_tokens is None else f"{cell.prompt_tokens:,}"
        st.caption(
            f"Prompt tokens: predicted {cell.predicted_prompt_tokens:,}, reported {reported}"
            + (f" ({cell.cached_tokens:,} from the server's prefix cache)" if cell.cached_tokens else "")
            + f" · completion {cell.completion_tokens or 0:,} · {cell.latency_s or 0:.2f} s · cost {money(cell.cost)}"
        )
        body, _ = shortened_body(cell.body)
        with st.expander("The exact request body"):
            st.code(json.dumps(body, ensure_ascii=False, indent=2), language="json", wrap_lines=True)


def _grid(spec: RunSpec, cells: list[store.CellResult]) -> None:
    shown, status = results.grid(spec, cells)
    styled = shown.style.apply(lambda _: results.grid_colours(status), axis=None)
    event = st.dataframe(
        styled, key=GRID, on_select="rerun", selection_mode="single-cell", width="stretch",
        height=min(600, 38 + 35 * len(shown)),
    )  # fmt: skip
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
    st.markdown("**Per variant**" + (" (95 % Wilson interval of the pass rate)" if spec.repeats > 1 else ""))
    st.dataframe(pd.DataFrame(results.summary_rows(spec, summaries)), hide_index=True, width="stretch",
                 column_config={"cost $": st.column_config.NumberColumn(format="%.6f")})  # fmt: skip
    return summaries


def _frontier(spec: RunSpec, summaries: list[results.VariantSummary]) -> None:
    state.default(FRONTIER_BY, "tokens")
    by = st.radio("Frontier against", ["tokens", "cost"], key=FRONTIER_BY, horizontal=True,
                  format_func={"tokens": "prompt tokens per call", "cost": "cost"}.__getitem__)  # fmt: skip
    if by == "cost" and not any(s.cost for s in summaries):
        st.caption("Every call here cost $0 (or is unpriced): the frontier is drawn against prompt tokens.")
        by = "tokens"
    st.plotly_chart(results.frontier_figure(spec, summaries, by), width="stretch", key="exp_frontier")


def _regressions(spec: RunSpec, cells: list[store.CellResult]) -> None:
    labels = results.variant_labels(spec)
    if state.get(BASELINE) is None or state.get(BASELINE) >= len(labels):
        state.put(BASELINE, spec.baseline)
    baseline = st.selectbox("Baseline variant", range(len(labels)), format_func=labels.__getitem__, key=BASELINE)
    rows = results.regressions(spec, cells, baseline)
    if rows:
        st.markdown(f"**Regressions:** {len(rows)} case(s) pass under {inert_markdown(labels[baseline])} and fail "
                    "under another variant")  # fmt: skip
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
    note = f"{spec.provider_kind} · {spec.provider_model}"
    columns = st.columns(3)
    columns[0].download_button(
        "Results (CSV)", lambda: results.run_csv(spec, cells), f"{stem}.csv", "text/csv",
        icon=":material/download:", on_click="ignore", width="stretch",
    )  # fmt: skip
    columns[1].download_button(
        "Report (HTML, works offline)", lambda: results.report_html(info.name, spec, cells, info.created_at, note),
        f"{stem}.html", "text/html", icon=":material/download:", on_click="ignore", width="stretch",
    )  # fmt: skip
    left = spec.total_cells - info.finished
    if left:
        several = len(batch.models_of(spec.variants, spec.provider_model)) > 1
        for model in batch.models_of(spec.variants, spec.provider_model):  # the Batch API: one model per file
            suffix = f"-{batch.file_stem(model)}" if several else ""
            columns[2].download_button(
                f"Batch API requests for {model} (JSONL)" if several else f"Batch API requests ({left:,} cells, JSONL)",
                lambda model=model: _batch_inputs(info.id, spec, settings)[model], f"{stem}-batch{suffix}.jsonl",
                "application/jsonl", icon=":material/cloud_upload:", on_click="ignore", width="stretch",
            )  # fmt: skip
        uploader = f"exp_batch_{state.get(BATCH_UPLOADS) or 0}"
        st.file_uploader("Score a Batch API output file for this run", type=["jsonl"], key=uploader,
                         on_change=_import_batch, args=(uploader, info.id, settings))  # fmt: skip


def _stored_target_for(spec: RunSpec, settings: Settings):
    """The targets a stored run was planned for (its backend and models, whatever the sidebar shows
    now), so planning it again gives the bodies it sent; the sidebar only lends a model's own figures."""

    def target(variant: Variant) -> Target:
        if BACKENDS[spec.provider_kind].counts_in_process:
            info = models.info_for(models.EMBEDDED_MODEL)
            return Target(info, resources.embedded_tokenizer(), models.EMBEDDED_MODEL)
        name = variant.model or spec.provider_model
        same = name == settings.provider.model and spec.provider_kind == settings.provider.kind
        info = settings.model if same else models.info_for(name, settings.model.context_window)
        return Target(info, resources.tiktoken_counter(info.name), name)

    return target


def _planned(spec: RunSpec, settings: Settings) -> list[PlannedCell]:
    return planner.plan_cells(spec, _stored_target_for(spec, settings))


def _batch_inputs(run_id: str, spec: RunSpec, settings: Settings) -> dict[str, str]:
    done = runner.finished_cells(run_id)
    todo = [c for c in _planned(planner.for_batch(spec), settings) if c.key not in done]
    return batch.input_files(todo, spec.variants, spec.provider_model)


def _import_batch(uploader_key: str, run_id: str, settings: Settings) -> None:
    uploaded = state.get(uploader_key)
    if uploaded is None:
        return
    state.put(BATCH_UPLOADS, (state.get(BATCH_UPLOADS) or 0) + 1)
    spec = _mine(store.load_spec, run_id)
    if spec is None:
        return
    secrets = (*settings.provider.secrets, *known_secrets())
    planned = _planned(spec, settings)

    def apply(conn) -> batch.Applied | batch.InvalidBatchFile:
        try:
            return batch.apply_output(conn, run_id, spec, planned, uploaded.getvalue(), sessions.current_id(),
                                      secrets, owner.owner())  # fmt: skip
        except batch.InvalidBatchFile as problem:  # the file's fault, not the store's: said as such
            return problem

    applied = _db(apply)
    if isinstance(applied, batch.InvalidBatchFile):
        _note("error", f"The batch output was refused, nothing was scored: {applied}")
    elif applied is not None:
        _note("success" if applied.applied else "info", applied.sentence())


def _backend_matches(spec: RunSpec, settings: Settings) -> str | None:
    provider = settings.provider
    if spec.provider_kind != provider.kind:
        return f"This run was made on the {spec.provider_kind} backend: pick it in the sidebar to resume it."
    if not provider.backend.started_by_the_app and (spec.provider_base_url, spec.provider_model) != (provider.base_url,
                                                                                        provider.model):  # fmt: skip
        return f"This run was made with {spec.provider_model} at {spec.provider_base_url}: pick them to resume it."
    return None


def _resume(run_id: str, settings: Settings) -> None:
    spec = _mine(store.load_spec, run_id)
    if spec is None:
        return
    _launch(run_id, spec, _planned(spec, settings), settings)


def _retry_errors(run_id: str, settings: Settings) -> None:
    dropped = _mine(store.forget_errors, run_id)
    if dropped:
        _resume(run_id, settings)


def _controls(info: store.RunInfo, spec: RunSpec, cells: list[store.CellResult], settings: Settings) -> None:
    left = spec.total_cells - info.finished
    errors = sum(c.status == "error" for c in cells)
    judging = sum(c.status == "judging" for c in cells)
    mismatch = _backend_matches(spec, settings)
    columns = st.columns(3)
    if left:
        word = "Send the run's" if info.status == "batch" else "Resume:"
        columns[0].button(
            f"{word} {left:,} cells left" + (f" ({judging} to judge)" if judging else ""), type="primary",
            on_click=_resume, args=(info.id, settings), disabled=mismatch is not None, icon=":material/play_arrow:",
        )  # fmt: skip
    if errors:
        columns[1].button(f"Send the {errors} errored cells again", on_click=_retry_errors, args=(info.id, settings),
                          disabled=mismatch is not None, icon=":material/replay:")  # fmt: skip
    if mismatch and (left or errors):
        st.caption(inert_markdown(mismatch))
    with columns[2].popover("Delete this run", icon=":material/delete:"):
        st.write("Delete the run and its cells? Its calls stay in the run log.")
        st.button("Delete for good", type="primary", on_click=_delete_run, args=(info.id,))


def _delete_run(run_id: str) -> None:
    _mine(store.delete_run, run_id)
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
    info = _mine(store.run_info, run_id)
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
    st.button("Cancel", on_click=executor.cancel, disabled=executor.cancelled, icon=":material/stop:",
              key="exp_cancel")  # fmt: skip
    spec = executor.spec
    cells = _mine(store.cells, run_id) or []
    _results_body(info, spec, cells)


@st.fragment(run_every=2.0)
def _live_elsewhere(run_id: str) -> None:
    """A run another replica is sending, redrawn from the shared store as its cells come in (no Resume,
    Retry or Delete here while it goes on)."""
    info = _mine(store.run_info, run_id)
    spec = _mine(store.load_spec, run_id)
    if info is None or spec is None or not runner.running_elsewhere(info):
        st.rerun()  # it finished (or its replica stopped) meanwhile: draw everything once more
        return
    st.info(runner.ELSEWHERE)
    cells = _mine(store.cells, run_id) or []
    st.markdown(_tally(info, cells))
    _results_body(info, spec, cells)


def _tally(info: store.RunInfo, cells: list[store.CellResult]) -> str:
    counts = {status: sum(c.status == status for c in cells) for status in ("pass", "fail", "error", "judging")}
    parts = [f"{counts['pass']} pass", f"{counts['fail']} fail", f"{counts['error']} error"]
    if counts["judging"]:
        parts.append(f"{counts['judging']} waiting for the judge")
    return f"**{_status_word(info)}** · **{info.finished:,} of {info.cells:,} cells finished** · " + " · ".join(parts)


def _pick_run() -> None:
    state.put(RUN_ID, state.get(RUN_PICK))
    state.pop(GRID)


def _results_section(settings: Settings) -> None:
    runs = _mine(store.list_runs) or []
    if not runs:
        st.info("No run yet: pick variants and run the set in the Run section.")
        return
    labels = _run_labels(runs)
    wanted = state.get(RUN_ID) or st.query_params.get(URL_RUN)
    if wanted not in labels:
        wanted = runs[0].id
    state.put(RUN_ID, wanted)
    if state.get(RUN_PICK) != wanted:
        state.put(RUN_PICK, wanted)
    picked = st.selectbox("Run", list(labels), format_func=labels.__getitem__, key=RUN_PICK, on_change=_pick_run)
    if st.query_params.get(URL_RUN) != picked:
        st.query_params[URL_RUN] = picked  # a reload shows this run again
    info = next(r for r in runs if r.id == picked)
    spec = _mine(store.load_spec, picked)
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
        st.warning("This run was interrupted (the app stopped while it ran): its finished cells are kept. Resume it "
                   "to send the rest.")  # fmt: skip
    elif info.status == "batch" and info.finished < info.cells:
        st.info("A Batch API run: download its requests, submit them to OpenAI's Batch API, then upload the output "
                "file below to score it (or send the cells from here).")  # fmt: skip
    cells = _mine(store.cells, picked) or []
    st.markdown(_tally(info, cells))
    _controls(info, spec, cells, settings)
    _results_body(info, spec, cells)
    _exports(info, spec, cells, settings)


def _compare_section() -> None:
    runs = _mine(store.list_runs) or []
    if runs:
        st.dataframe(
            pd.DataFrame([{"run": r.name, "status": _status_word(r), "test set": r.set_name, "cells": r.cells,
                           "finished": r.finished, "started": r.created_at[:19].replace("T", " ")} for r in runs]),
            hide_index=True, width="stretch",
        )  # fmt: skip
    if len(runs) < 2:
        st.info("Two runs are needed to compare (say, before and after a system-prompt edit).")
        return
    labels = _run_labels(runs)
    ids = list(labels)
    state.default(COMPARE_A, ids[1])
    state.default(COMPARE_B, ids[0])
    columns = st.columns(2)
    a = columns[0].selectbox("Run A", ids, format_func=labels.__getitem__, key=COMPARE_A)
    b = columns[1].selectbox("Run B", ids, format_func=labels.__getitem__, key=COMPARE_B)
    specs = [_mine(store.load_spec, a), _mine(store.load_spec, b)]
    if None in specs:
        return
    cells_a, cells_b = _mine(store.cells, a) or [], _mine(store.cells, b) or []
    rows, changed = results.compare_runs((specs[0], cells_a), (specs[1], cells_b))
    if specs[0].test_set.name != specs[1].test_set.name:
        st.caption("The two runs used different test sets: only the cases and variants both have are compared.")
    st.markdown("**Per variant** (matched by name)")
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
    st.markdown(f"**Cases whose verdict changed:** {len(changed)}")
    if changed:
        st.dataframe(pd.DataFrame(changed), hide_index=True, width="stretch")
    columns = st.columns(2)
    for column, spec, cells, name in ((columns[0], specs[0], cells_a, "A"), (columns[1], specs[1], cells_b, "B")):
        figure = results.frontier_figure(spec, results.summaries(spec, cells))
        figure.update_layout(title=f"Run {name}")
        column.plotly_chart(figure, width="stretch", key=f"exp_compare_frontier_{name}")


def render(settings: Settings) -> None:
    st.title("Experiments")
    st.caption(
        "A test set of questions, run across context variants and scored: which context keeps the answers right, "
        "at what cost. Every call is planned by the same builder as the chat's, and written down as it finishes."
    )
    defaults = {SECTION: "Results" if st.query_params.get(URL_RUN) else "Test set", REPEATS: 1, SEED: 1,
                MAX_TOKENS: 48, TEMPERATURE: 0.0, CONCURRENCY: 8, COST_LIMIT: 1.0}  # fmt: skip
    for key, value in defaults.items():
        state.default(key, value)
    _claim_unowned()
    _show_note()
    section = st.radio("Section", SECTIONS, key=SECTION, horizontal=True, label_visibility="collapsed")
    if section == "Test set":
        _test_set_section()
    elif section == "Run":
        _run_section(settings)
    elif section == "Results":
        _results_section(settings)
    else:
        _compare_section()


render(page_setup())
