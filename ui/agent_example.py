"""The built-in agent conversation, loaded from the chat page: a weather agent's tool rounds, its two
tool definitions, and the question whose answer only the last tool result holds
(lib/analysis/agent_trace.py says what was measured)."""

from __future__ import annotations

import streamlit as st

from lib.analysis.agent_trace import BUILT_IN, SYSTEM, TOOLS
from lib.context.conversation import Message
from lib.context.tools import ToolDefinition
from ui import sessions

LOADED_NOTE = (
    "Loaded the weather agent: three tool rounds, and the question in the box below. The wind speed is only in "
    "the last *get_weather* result. Send it as it is, then pick **Clear old tool results** with 0 kept and ask "
    "again: each result's caption says what the model sees instead, and the model no longer knows the wind."
)


def _load() -> None:
    tools = tuple(ToolDefinition.from_api(t, where=f"tools[{i}]") for i, t in enumerate(TOOLS))
    messages = [Message.from_api(m) for m in BUILT_IN.messages]
    sessions.load_example(messages, SYSTEM, tools, BUILT_IN.question, LOADED_NOTE)


def offer() -> None:
    """The button that loads it."""
    st.button(
        "Load the weather agent example",
        key="load_agent_example",
        icon=":material/partly_cloudy_day:",
        on_click=_load,
        help="A small agent conversation with tool calls and results, to see what fills each "
        "call and what clearing old tool results changes. Opens in a new session if this one has messages.",
    )
