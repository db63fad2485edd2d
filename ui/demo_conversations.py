"""Start from a demo conversation: the built-in demos (lib/analysis/demo_conversations.py, measured on the
embedded model) loaded into a session, with the question in the chat's box and on Compare, the expected
answer filled there, and Compare's variants those the demo was measured under — so Compare's *correct?*
column shows the full context right and the others wrong."""

from __future__ import annotations

import streamlit as st

from lib.analysis import compare_store
from lib.analysis.compare import CompareSetup
from lib.analysis.demo_conversations import DEMOS, DemoConversation, demo
from lib.context.conversation import Message
from lib.context.display import inert_markdown
from lib.core.errors import STORE_FAILED
from lib.store import storage
from ui import sessions, state

MENU_LABEL = "Start from a demo conversation"


def loaded_note(conversation: DemoConversation) -> str:
    right = ", ".join(f"**{name}**" for name in conversation.right_under)
    wrong = ", ".join(f"**{name}**" for name in conversation.wrong_under)
    return (
        f"Loaded the demo *{conversation.title}*. Open **Compare** first: the question and the expected answer "
        f"are filled in, and *Run* shows the answer right with {right} and wrong with {wrong} "
        "(measured on the embedded model at temperature 0, which the sidebar is now set to). Then send the "
        f"question in the box below: the answer should name “{conversation.expected}”."
    )


def _compare_setup(conversation: DemoConversation) -> None:
    """Compare opens this session with the demo's variants and question; its expected answer is set too."""
    setup = CompareSetup(conversation.variants, question=conversation.question, expected=conversation.expected)
    try:
        with storage.opened() as conn:
            compare_store.save_compare_setup(conn, sessions.current_id(), setup)
    except STORE_FAILED as exc:
        reason = storage.problem(exc).rstrip(".")
        state.flash("warning", f"The session store ({storage.shown()}) failed: {reason}. Compare keeps its own set-up.")
    state.pop(state.COMPARE_LOADED_FOR)  # Compare reads the set-up again for this session
    state.put(state.COMPARE_QUESTION, conversation.question)
    state.put(state.COMPARE_EXPECTED, conversation.expected)


def load(key: str) -> None:
    """Into this session when it is empty; else into a new one (nothing of this one is overwritten)."""
    conversation = demo(key)
    messages = [Message.from_api(m) for m in conversation.messages]
    if not sessions.load_example(messages, conversation.system, (), conversation.question, loaded_note(conversation)):
        return
    # Measured at temperature 0: at the chat's default 0.7 the tiny model samples and the demo can miss.
    state.put(state.TEMPERATURE, 0.0)
    _compare_setup(conversation)


def offer() -> None:
    """One button on an empty chat; the demos inside, each with what it shows."""
    with st.popover(
        MENU_LABEL,
        icon=":material/slideshow:",
        help="Short conversations measured on the embedded model: right with the context, wrong without it.",
    ):
        for conversation in DEMOS:
            st.markdown(f"**{inert_markdown(conversation.title)}**  \n{inert_markdown(conversation.shows)}")
            st.button("Load", key=f"load_demo_{conversation.key}", on_click=load, args=(conversation.key,))
