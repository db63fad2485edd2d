"""The baseline chat page: a bare Streamlit chatbot rendering the same history, nothing else."""

import streamlit as st

for message in st.session_state.get("history", []):
    with st.chat_message(message.role):
        st.markdown(message.content)
st.chat_input("Your message")
