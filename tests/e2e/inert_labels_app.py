"""A page that draws one hostile string through each of lib.context.display's inert forms, in each kind of
spot Streamlit reads Markdown in (tests/e2e/test_hostile_browser.py watches for image requests).
A control image, drawn raw, shows that the watch sees a fetch when there is one."""

import os

import streamlit as st

from lib.context.display import inert_code, inert_inline, inert_markdown

TRACKER = os.environ["TRACKER"]
HOSTILE = (
    f"x` ![a]({TRACKER}/in-code.png) `y ![c]({TRACKER}/plain.png) <img src={TRACKER}/tag.png> ![b][r] **bold**\n\n"
    f"# heading\n[r]: {TRACKER}/reference.png\n`"
)

st.markdown(f"![control]({TRACKER}/control.png)")
st.markdown(inert_markdown(HOSTILE))
st.markdown(f"**{inert_inline(HOSTILE)}** · id {inert_code(HOSTILE)}")
st.caption(f"{inert_inline(HOSTILE)} · {inert_code(HOSTILE)}")
st.progress(0.5, text=f"50% of {inert_inline(HOSTILE)}'s window")
st.metric(inert_inline(HOSTILE), "1")
st.info(f"{inert_inline(HOSTILE)}: a note")
with st.expander(inert_inline(HOSTILE)):
    st.write("inside")
st.button(inert_inline(HOSTILE))
st.subheader(f"Answers to “{inert_inline(HOSTILE)}”")
st.markdown("DONE-DRAWING")
