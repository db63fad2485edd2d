"""Context Lab: make the statelessness of the Chat Completions API visible and steerable.

Every feature is one hop from here: each page in `pages/` renders one view, and starts with
`ui.settings.page_setup()` (session state and the sidebar that picks the backend); all logic
lives in `lib/`.
"""

import streamlit as st

st.set_page_config(page_title="Context Lab", page_icon="🧪", layout="wide")
navigation = st.navigation(
    [
        st.Page("pages/chat.py", title="Chat", icon=":material/chat:", default=True),
        st.Page("pages/compare.py", title="Compare", icon=":material/compare:"),
        st.Page("pages/experiments.py", title="Experiments", icon=":material/science:"),
        st.Page("pages/timeline.py", title="Cost timeline", icon=":material/timeline:"),
        st.Page("pages/inspector.py", title="Token inspector", icon=":material/token:"),
        st.Page("pages/walkthrough.py", title="Why the API has no memory", icon=":material/school:"),
        st.Page("pages/run_log.py", title="Run log", icon=":material/receipt_long:"),
    ]
)
navigation.run()
