"""The baseline for a click in the chat: a bare Streamlit chatbot whose messages each carry an
include toggle, and nothing else (no meter, no counting, no strategy). `?n=` sets the history size
(bench.common.synthetic_history); the caption at the end says the run is done and what it counted."""

import streamlit as st

from bench.common import synthetic_history

size = int(st.query_params.get("n", "100"))
if "history" not in st.session_state:
    st.session_state["history"] = synthetic_history(size)
history = st.session_state["history"]
for message in history:
    with st.chat_message(message.role):
        st.toggle("In context", value=message.included, key=f"include_{message.id}")
        st.markdown(message.content)
included = sum(bool(st.session_state.get(f"include_{m.id}", m.included)) for m in history)
st.container(key="bench_done").caption(f"{included:,} of {len(history):,} messages included")
st.chat_input("Your message")
