"""Context Lab: make the statelessness of the Chat Completions API visible and steerable.

Every feature is one hop from here: the sidebar (`ui/settings.py`) picks the backend; each page
in `pages/` renders one view; all logic lives in `lib/`.
"""

import streamlit as st

from ui import settings, state

st.set_page_config(page_title="Context Lab", page_icon="🧪", layout="wide")
state.init()
state.put(state.SETTINGS, settings.sidebar())
navigation = st.navigation(
    [
        st.Page("pages/chat.py", title="Chat", icon="💬", default=True),
    ]
)
navigation.run()
