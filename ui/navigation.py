"""The app's pages, titled: one list, for app.py's navigation and for a page run before app.py was."""

from __future__ import annotations

import streamlit as st


def pages() -> list:
    return [
        st.Page("pages/chat.py", title="Chat", icon=":material/chat:", default=True),
        st.Page("pages/compare.py", title="Compare", icon=":material/compare:"),
        st.Page("pages/experiments.py", title="Experiments", icon=":material/science:"),
        st.Page("pages/timeline.py", title="Cost timeline", icon=":material/timeline:"),
        st.Page("pages/inspector.py", title="Token inspector", icon=":material/token:"),
        st.Page("pages/walkthrough.py", title="Why the API has no memory", icon=":material/school:"),
        st.Page("pages/run_log.py", title="Run log", icon=":material/receipt_long:"),
        st.Page("pages/present.py", title="Presenter view", icon=":material/present_to_all:"),
    ]


def titled_if_listed_by_file_name() -> None:
    """Until a script calls st.navigation, a server (just started or restarted) runs a requested page
    in Streamlit's old "pages/ folder" mode and lists pages/*.py by file name ("app", "chat", "run log"):
    a tab reconnecting after a restart showed that list until something ran app.py. Such a run names
    the pages by their titles at once (and leaves that mode), then goes on drawing its page."""
    from streamlit.runtime.pages_manager import PagesManager

    from ui import state

    # A browser session's first run only (a tab reconnecting to a restarted server is a new session):
    # registering the pages again on a later run would move the running page's widgets to another key.
    if state.get(state.NAVIGATION_CHECKED):
        return
    state.put(state.NAVIGATION_CHECKED, True)
    if PagesManager.uses_pages_directory:
        st.navigation(pages())  # sends the titled list; the page already running is the one asked for
