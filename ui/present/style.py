"""The presenter's view's look: projector-sized type, and the switch's hiding of every control a
stakeholder does not need. Static CSS written here (nothing a user typed is ever put into it); it lives
in the page's own elements, so leaving the page takes it away."""

from __future__ import annotations

import streamlit as st

# The type grows with the screen: Streamlit sizes nearly everything in rem, so the root's size scales
# the page (18.5 px at 1280 wide, 28 px at 1920). The conversation scrolls in its own box, so the big
# numbers and the bar stay in view; the steps' text is sized to read from the back of a room.
_PROJECTOR = """<style>
html { font-size: clamp(17px, 1.45vw, 30px); }
[data-testid="stMainBlockContainer"] { padding-top: 1.2rem; padding-bottom: 1rem; max-width: 100%; }
.st-key-present_conversation {
  max-height: calc(100vh - 12rem); overflow-y: auto; overflow-x: hidden; padding-right: .4rem;
}
.st-key-present_conversation [data-testid="stMarkdownContainer"] p { font-size: 1.15rem; line-height: 1.45; }
[class*="st-key-present_msg_out_"] [data-testid="stMarkdownContainer"] { opacity: .45; }
[class*="st-key-present_msg_"] [data-testid="stCheckbox"] label {
  transform: scale(1.5); transform-origin: left center;
}
[class*="st-key-present_msg_"] [data-testid="stCheckbox"] { width: auto; min-width: 3.5rem; }
.present-role { font-size: .9rem; text-transform: uppercase; letter-spacing: .06em; color: #555; }
.present-replayed { color: #1f3b73; font-weight: 600; }
.present-in { color: #0b6b2e; font-weight: 600; }
.present-out { color: #9b1c1c; font-weight: 600; }
.st-key-present_numbers [data-testid="stMetricValue"] { font-size: 3.4rem; line-height: 1.1; }
.st-key-present_numbers [data-testid="stMetricLabel"] p { font-size: 1rem; }
.st-key-present_numbers [data-testid="stCaptionContainer"] p { font-size: .9rem; margin-bottom: .6rem; }
[data-testid="stMain"] [data-testid="stCaptionContainer"], [data-testid="stMain"] [data-testid="stCaptionContainer"] p {
  color: #444 !important; opacity: 1 !important;  /* Streamlit's pale grey (60 % opacity) washes out on a projector */
}
.st-key-present_step [data-testid="stMarkdownContainer"] p { font-size: 1.15rem; line-height: 1.45; }
.st-key-present_step_answer [data-testid="stMarkdownContainer"] p { font-size: 1.5rem; line-height: 1.4; }
.present-verdict { font-size: 1.6rem; font-weight: 700; }
.present-right { color: #0b6b2e; }
.present-wrong { color: #9b1c1c; }
.present-unknown { color: #444; }
.st-key-present_counter p { font-size: 1.1rem; font-weight: 600; color: #333; }
.present-legend { font-size: .9rem; line-height: 1.8; }
.present-part { white-space: nowrap; margin-right: 1em; cursor: help; }
.present-swatch { display: inline-block; width: .8em; height: .8em; border: 1px solid #999; margin-right: .3em; }
.present-share { color: #555; }
.st-key-present_nav button { font-size: 1.1rem; min-height: 2.6rem; }
</style>"""

# The one switch: no sidebar (the settings and the page list), no app header or toolbar. Widgets in the
# hidden sidebar still hold the settings the calls use.
_CONTROLS_HIDDEN = """<style>
[data-testid="stSidebar"], [data-testid="stSidebarCollapsedControl"], [data-testid="stExpandSidebarButton"],
[data-testid="stHeader"], [data-testid="stToolbar"], [data-testid="stDecoration"] { display: none !important; }
</style>"""


def projector() -> None:
    st.html(_PROJECTOR)


def hide_controls() -> None:
    st.html(_CONTROLS_HIDDEN)
