"""Token inspector: the chat's next request as the model reads it, token by token, chat format included."""

from __future__ import annotations

import streamlit as st

from lib.inspect_tokens import EMBEDDED, MAX_RENDERED, TokenSpan, spans_for, spans_html, summary_rows, why_hi
from lib.models import EMBEDDED_MODEL
from lib.strategies import STRATEGY_LABELS
from lib.tokens import FALLBACK_ENCODING, OFFLINE_ENCODINGS
from ui import resources, state
from ui.planning import next_request
from ui.settings import Settings, page_setup

ENCODINGS = {
    "o200k_base": "o200k_base (gpt-4o, gpt-4.1, gpt-5, o-series)",
    "cl100k_base": "cl100k_base (gpt-4, gpt-3.5-turbo)",
    EMBEDDED: f"{EMBEDDED_MODEL} (embedded: its tokenizer and chat template)",
}


def _default_encoding(settings: Settings) -> str:
    if settings.provider.kind == "embedded" or settings.model.encoding == EMBEDDED:
        return EMBEDDED
    return settings.model.encoding if settings.model.encoding in OFFLINE_ENCODINGS else FALLBACK_ENCODING


def _spans(encoding: str, messages: list[dict]) -> list[TokenSpan]:
    tokenizer = resources.embedded_tokenizer() if encoding == EMBEDDED else None
    return spans_for(encoding, messages, tokenizer)


def _hi_example(encoding: str, show_spaces: bool) -> None:
    spans = _spans(encoding, [{"role": "user", "content": "Hi"}])
    with st.container(border=True):
        example, explanation = st.columns([3, 2], vertical_alignment="center")
        with example:
            st.html(spans_html(spans, ["user"], show_spaces=show_spaces, legend=False))
        explanation.markdown(f"**Why “Hi” costs {len(spans)} tokens.** {why_hi(spans)}")


def render(settings: Settings) -> None:
    st.title("Token inspector")
    st.caption(
        "The chat page's next request — its system prompt, the history its strategy keeps and the draft — "
        "split into the tokens the model reads, with the chat format's own tokens shown."
    )
    state.default(state.INSPECTOR_ENCODING, _default_encoding(settings))
    cols = st.columns([3, 1], vertical_alignment="bottom")
    encoding = cols[0].selectbox(
        "Tokenizer", list(ENCODINGS), format_func=ENCODINGS.__getitem__, key=state.INSPECTOR_ENCODING
    )
    show_spaces = cols[1].toggle("Show spaces as ·", key=state.INSPECTOR_SPACES)
    draft = state.get(state.DRAFT) or ""
    plan = next_request(settings, draft).plan
    messages = [m.as_api() for m in plan.messages]
    spans = _spans(encoding, messages)
    content = sum(s.kind == "content" for s in spans)
    metrics = st.columns(4)
    metrics[0].metric("Prompt tokens", f"{len(spans):,}")
    metrics[1].metric("Content", f"{content:,}")
    metrics[2].metric("Chat format", f"{len(spans) - content:,}")
    metrics[3].metric("Messages", f"{len(messages):,}")
    strategy = STRATEGY_LABELS[state.get(state.STRATEGY_KIND)]
    note = " · the unsent draft is the last message" if draft.strip() else ""
    st.caption(f"Strategy: {strategy}{note} · the chat page counts with {plan.count.method}")
    if not messages:
        st.info("Nothing would be sent: no system prompt, no history kept and no draft.")
    else:
        st.html(spans_html(spans, [m["role"] for m in messages], show_spaces=show_spaces))
        if len(spans) > MAX_RENDERED:
            st.caption(f"Showing the first {MAX_RENDERED:,} of {len(spans):,} tokens; the counts cover them all.")
        st.dataframe(summary_rows(spans, messages), hide_index=True, width="stretch")
    _hi_example(encoding, show_spaces)


render(page_setup())
