"""Why the API has no memory: a six-step tour, each point shown live on the embedded model."""

from __future__ import annotations

import json
from collections.abc import Callable

import streamlit as st

from lib.analysis.walkthrough import (
    DEMO_SAMPLING,
    SIDEBAR_NOTE_START,
    STEPS,
    DemoCall,
    Step,
    carries,
    growth_figure,
    growth_rows,
    private_history,
    run_demo,
    shown_answer,
    verdict,
)
from lib.backends.providers import ProviderConfig, stream_chat
from lib.context.display import inert_markdown
from lib.context.payload import serialise
from lib.core.models import EMBEDDED_MODEL
from lib.core.outcome import CallOutcome
from ui import resources, sessions, state
from ui.settings import Settings, page_setup

STEP_NUMBERS = [step.number for step in STEPS]


def _embedded(settings: Settings) -> ProviderConfig:
    """The embedded model whatever the sidebar's backend; only its timeout is taken from the sidebar."""
    base_url = resources.embedded_server().base_url
    return ProviderConfig("embedded", EMBEDDED_MODEL, base_url=base_url, timeout_s=settings.provider.timeout_s)


def _sender(settings: Settings) -> Callable[[dict], CallOutcome]:
    client = resources.client(_embedded(settings))

    def send(body: dict) -> CallOutcome:
        outcome = CallOutcome()
        for _ in stream_chat(client, body, outcome):
            pass
        return outcome

    return send


def _move(delta: int) -> None:
    step = state.whole(state.WALKTHROUGH_STEP) + delta
    state.put(state.WALKTHROUGH_STEP, min(max(step, STEP_NUMBERS[0]), STEP_NUMBERS[-1]))


# --- per-step extras ---------------------------------------------------------------------------


def _session_note(calls: list[DemoCall] | None) -> None:
    session_id = sessions.current_id()
    sent = calls and any(carries(call.body, session_id) for call in calls)
    where = "" if not calls else (" It is in a payload!" if sent else " Neither payload below contains it.")
    st.info(
        f"This app's session id: `{session_id}` (the `?session=` in the URL). It is the client's: it names the "
        f"history this app keeps, and so ties turn 1 and turn 2 together. The API keeps no session of its own.{where}"
    )


def _private_history_table() -> None:
    rows = [
        {"role": m.role, "message": m.content, "sent in call 2": "yes" if m.included else "no: left out"}
        for m in private_history(left_out=True)
    ]
    st.caption("The client's history (the account number's message is switched off for call 2):")
    st.dataframe(rows, hide_index=True, width="stretch")


def _growth(calls: list[DemoCall]) -> None:
    rows = growth_rows(calls, resources.embedded_tokenizer())
    st.plotly_chart(growth_figure(rows), width="stretch")
    st.dataframe(rows, hide_index=True, width="stretch")
    first, last = rows[0], rows[-1]
    st.caption(
        f"Turn {last['turn']} sends {last['payload bytes'] / first['payload bytes']:.1f}× the bytes of turn 1 "
        f"({first['payload bytes']:,} → {last['payload bytes']:,} B, {first['prompt tokens']:,} → "
        f"{last['prompt tokens']:,} tokens), and the next turn will send more."
    )


# --- the demo's calls ------------------------------------------------------------------------------


def _call(call: DemoCall, needle: str | None, endpoint: str) -> None:
    st.markdown(f"**{call.label}**")
    messages = len(call.body["messages"])
    size = f"{len(serialise(call.body)):,} B · {messages} message{'s' if messages != 1 else ''}"
    st.caption(f"POST {endpoint} · {size}")
    st.code(json.dumps(call.body, ensure_ascii=False, indent=2), language="json", wrap_lines=True)
    outcome = call.outcome
    if outcome.error:
        st.error(inert_markdown(outcome.error))
        return
    text, cut = shown_answer(outcome)
    with st.chat_message("assistant"):
        st.markdown(inert_markdown(text) or "*(an empty reply)*")
    notes = [note for note in (cut, needle and verdict(needle, call.body, outcome.text)) if note]
    if notes:
        st.caption(" ".join(notes))


def _results(step: Step, calls: list[DemoCall], endpoint: str) -> None:
    if step.needle is None:
        _growth(calls)
    shown = [calls[0], calls[-1]]
    for column, call in zip(st.columns(2, gap="large"), shown, strict=True):
        with column:
            _call(call, step.needle, endpoint)


def _step(step: Step, runs: dict[int, list[DemoCall]], settings: Settings) -> None:
    st.subheader(f"{step.number}. {step.title}")
    st.markdown(step.point)
    st.caption(f"The demo: {step.demo}")
    if step.number == 5:
        _private_history_table()
    label, key = f"Send the {step.calls} requests", f"walkthrough_send_{step.number}"
    if st.button(label, key=key, type="primary", icon=":material/send:"):
        with st.spinner(f"Sending {step.calls} requests to the embedded model…"):
            runs[step.number] = run_demo(step, _sender(settings), resources.embedded_tokenizer())
    if step.number == 3:
        _session_note(runs.get(step.number))
    if step.number in runs:
        _results(step, runs[step.number], _embedded(settings).endpoint)


def _tour_end() -> None:
    """The last step closes the tour with a way into the app, where the user holds the context."""
    with st.container(border=True):
        st.markdown(
            "**That's the tour.** The API remembers nothing; the client decides what each call carries. "
            "Now decide it yourself: switch messages in and out, pick a strategy, and watch the payload and its "
            "cost before you send."
        )
        st.page_link("pages/chat.py", label="Open the chat", icon=":material/chat:")
        st.page_link("pages/compare.py", label="Compare contexts side by side", icon=":material/compare:")


SIDEBAR_NOTE = (
    f"{SIDEBAR_NOTE_START} every demo runs on the embedded model at temperature {DEMO_SAMPLING.temperature:g} "
    "(only the timeout applies). They apply again on the other pages."
)


def render(settings: Settings) -> None:
    st.title("Why the API has no memory")
    st.caption(
        "The six points of “Understanding ChatCompletion Statelessness”, each shown with real calls to the "
        f"embedded model: offline, temperature {DEMO_SAMPLING.temperature:g}, replies of up to "
        f"{DEMO_SAMPLING.max_tokens} tokens. SmolLM2-135M is tiny: where it misses, the line under its answer "
        "says what its payload held — which is the point."
    )
    st.info(SIDEBAR_NOTE, icon=":material/tune:")
    st.sidebar.caption(SIDEBAR_NOTE)
    state.default(state.WALKTHROUGH_STEP, STEP_NUMBERS[0])
    state.default(state.WALKTHROUGH_RUNS, {})
    by_number = {step.number: step for step in STEPS}
    st.segmented_control(
        "Step",
        STEP_NUMBERS,
        key=state.WALKTHROUGH_STEP,
        required=True,
        format_func=lambda n: f"{n} · {by_number[n].short}",
        label_visibility="collapsed",
    )
    number = state.whole(state.WALKTHROUGH_STEP)
    _step(by_number[number], state.mapping(state.WALKTHROUGH_RUNS), settings)
    back, _, forward = st.columns([1, 4, 1])
    back.button("Back", icon=":material/arrow_back:", on_click=_move, args=(-1,), disabled=number == STEP_NUMBERS[0])
    forward.button(
        "Next", icon=":material/arrow_forward:", on_click=_move, args=(1,), disabled=number == STEP_NUMBERS[-1]
    )
    if number == STEP_NUMBERS[-1]:
        _tour_end()


render(page_setup())
