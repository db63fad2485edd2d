"""A Compare run on the page: started by the Run button, held per session id for the whole process,
drawn while it goes, kept and logged when it ends.

A run goes on on its own thread (`lib.analysis.compare.ComparisonRun`): a click or a refresh interrupts
the page, not the run, and the page that comes back shows it. What the run sends and how its calls are
logged is lib/analysis/compare.py's (`start_run`, `sent_calls`); this module holds it and draws it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import streamlit as st

from lib.analysis import compare_store
from lib.analysis.compare import Comparison, ComparisonRun, Variant, seeds_for, sent_calls, start_run, wait_until_idle
from lib.backends import embedded
from lib.context.display import inert_inline, inert_markdown
from lib.context.request import Request
from lib.store import storage
from lib.store.call_details import log_call
from ui import owner, resources, sessions, state
from ui.compare import setup
from ui.keys import known_secrets
from ui.settings import Settings

POLL_S = 0.1


# --- runs in flight, per session, for the whole process ---------------------------------------------


@st.cache_resource(show_spinner=False)
def _runs() -> tuple[dict[str, ComparisonRun], threading.Lock]:
    return {}, threading.Lock()


def run_in_flight(session_id: str | None = None) -> ComparisonRun | None:
    runs, lock = _runs()
    with lock:
        return runs.get(session_id or sessions.current_id())


def keep_run(session_id: str, run: ComparisonRun) -> None:
    runs, lock = _runs()
    with lock:
        runs[session_id] = run


def forget_run(session_id: str, run: ComparisonRun) -> bool:
    """Drop a finished run; True for the one caller that dropped it (it records the result)."""
    runs, lock = _runs()
    with lock:
        if runs.get(session_id) is run:
            del runs[session_id]
            return True
        return False


def wait_turn_for(settings: Settings) -> Callable[[], float] | None:
    """On the embedded model: wait while it serves another tab's call (its queue is lock-free to read)."""
    if not settings.provider.backend.started_by_the_app:
        return None
    base_url = settings.provider.base_url
    return lambda: wait_until_idle(lambda: embedded.queue_state(base_url), timeout_s=settings.provider.timeout_s)


def keeper(settings: Settings, session_id: str) -> Callable[[Comparison], None]:
    """What a finished run does on its own thread (no Streamlit there): keep the comparison with the
    session and log every call with its details. Errors go up to `ComparisonRun.failure`."""
    secrets = (*settings.provider.secrets, *known_secrets())
    kind = settings.provider.backend.logged_as()  # "… (replayed)" for a recorded demo's answers
    who = owner.owner()  # read here: the thread has no Streamlit context

    def keep(comparison: Comparison) -> None:
        with storage.opened() as conn:
            for call in sent_calls(comparison):
                variant = call.result.variant
                log_call(
                    conn,
                    session_id,
                    variant.name,
                    kind,
                    call.plan,
                    call.outcome,
                    secrets,
                    who,
                    variant.context_label,
                    call.queued_s,
                    call.notices,
                )
            compare_store.save_comparison(conn, session_id, comparison, secrets)

    return keep


def one_at_a_time(settings: Settings) -> bool:
    return settings.provider.backend.answers_one_at_a_time or state.flag(state.COMPARE_ONE_AT_A_TIME)


def start(variants: list[Variant], requests: list[Request], question: str, settings: Settings) -> None:
    """The Run button's callback: send the requests the page showed, on a thread of their own."""
    session_id = sessions.current_id()
    if run_in_flight(session_id) is not None:
        return
    repeats = state.whole(state.COMPARE_REPEATS)
    run = start_run(
        variants,
        requests,
        question,
        resources.client(settings.provider),
        seeds_for(repeats, state.whole(state.COMPARE_SEED)),
        created=time.strftime("%Y-%m-%d %H:%M:%S"),
        note=f"{settings.provider.backend.logged_as()} · {settings.provider.model} · {repeats} run(s) per variant",
        expected=state.text(state.COMPARE_EXPECTED),
        one_at_a_time=one_at_a_time(settings),
        secrets=settings.provider.secrets,
        limits=settings.provider.limits,
        wait_turn=wait_turn_for(settings),
        on_done=keeper(settings, session_id),
    )
    keep_run(session_id, run)


# --- drawn while it goes ------------------------------------------------------------------------------


def _stop(run: ComparisonRun) -> None:
    run.stop()


def show(run: ComparisonRun) -> None:
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
            caption.caption(run.live_state(index))
            if text != shown.get(index):
                box.markdown(inert_markdown(text))
                shown[index] = text
        done, total = run.progress
        elapsed = time.monotonic() - run.started_at
        status.progress(done / max(total, 1), text=f"{done} of {total} runs done · {elapsed:.0f} s")
        if finished:
            break
    session_id = sessions.current_id()
    if forget_run(session_id, run):
        if run.failure:
            st.warning(f"The comparison could not be kept with the session ({run.failure}): it stays in this tab.")
        setup.reload_comparisons(run.comparison if run.failure else None)
    st.rerun()
