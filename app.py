"""Context Lab: make the statelessness of the Chat Completions API visible and steerable.

Every feature is one hop from here: each page in `pages/` renders one view, and starts with
`ui.settings.page_setup()` (session state and the sidebar that picks the backend); all logic
lives in `lib/`.
"""

import streamlit as st

from ui.navigation import pages as navigation_pages

st.set_page_config(page_title="Context Lab", page_icon="🧪", layout="wide")
navigation = st.navigation(navigation_pages())
navigation.run()
