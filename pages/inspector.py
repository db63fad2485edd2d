"""Token inspector: any text, the chat's next request or a Compare variant's, as the model reads it."""

from __future__ import annotations

import streamlit as st

from lib.analysis.inspect_tokens import (
    EMBEDDED,
    MAX_RENDERED,
    TokenSpan,
    spans_for,
    spans_html,
    summary_rows,
    text_spans,
    why_hi,
)
from lib.context.display import inert_markdown
from lib.context.strategies import spec_of
from lib.context.tokens import FALLBACK_ENCODING, OFFLINE_ENCODINGS
from lib.core.models import EMBEDDED_MODEL
from ui import resources, state
from ui.compare import setup as compare_setup
from ui.glossary import columns, explain
from ui.planning import next_request
from ui.settings import Settings, page_setup

ENCODINGS = {
    "o200k_base": "o200k_base (gpt-4o, gpt-4.1, gpt-5, o-series)",
    "cl100k_base": "cl100k_base (gpt-4, gpt-3.5-turbo)",
    EMBEDDED: f"{EMBEDDED_MODEL} (embedded: its tokenizer and chat template)",
}
SOURCES = {"chat": "The chat's next request", "text": "Any text", "variant": "A Compare variant's request"}


def _default_encoding(settings: Settings) -> str:
    if settings.provider.backend.counts_in_process or settings.model.encoding == EMBEDDED:
        return EMBEDDED
    return settings.model.encoding if settings.model.encoding in OFFLINE_ENCODINGS else FALLBACK_ENCODING


def _tokenizer(encoding: str):
    return resources.embedded_tokenizer() if encoding == EMBEDDED else None


def _spans(encoding: str, messages: list[dict]) -> list[TokenSpan]:
    return spans_for(encoding, messages, _tokenizer(encoding))


def _draw_limit_note(spans: list[TokenSpan]) -> None:
    if len(spans) > MAX_RENDERED:
        st.caption(f"Showing the first {MAX_RENDERED:,} of {len(spans):,} tokens; the counts cover them all.")


def _request(encoding: str, messages: list[dict], show_spaces: bool, note: str) -> None:
    """A request's messages, token by token, chat format included."""
    spans = _spans(encoding, messages)
    content = sum(s.kind == "content" for s in spans)
    metrics = st.columns(4)
    metrics[0].metric("Prompt tokens", f"{len(spans):,}", help=explain("prompt_tokens"))
    metrics[1].metric("Content", f"{content:,}", help=explain("content_tokens"))
    metrics[2].metric("Chat format", f"{len(spans) - content:,}", help=explain("chat_format"))
    metrics[3].metric("Messages", f"{len(messages):,}", help=explain("messages_sent"))
    st.caption(note)
    if not messages:
        st.info("Nothing would be sent: no system prompt, no history kept and no question.")
        return
    st.html(spans_html(spans, [m["role"] for m in messages], show_spaces=show_spaces))
    _draw_limit_note(spans)
    summary = summary_rows(spans, messages)
    st.dataframe(summary, hide_index=True, width="stretch", column_config=columns(summary[0] if summary else []))


def _chat(settings: Settings, encoding: str, show_spaces: bool) -> None:
    draft = state.draft()
    plan = next_request(settings, draft).plan
    strategy = spec_of(state.strategy_kind()).label
    note = " · the unsent draft is the last message" if draft.strip() else ""
    _request(
        encoding,
        [m.as_api() for m in plan.messages],
        show_spaces,
        f"Strategy: {strategy}{note} · the chat page counts with {plan.count.method}",
    )


def _text(encoding: str, show_spaces: bool) -> None:
    text = st.text_area("Text", key=state.INSPECTOR_TEXT, height=140, placeholder="Type or paste anything…")
    as_message = st.toggle(
        "As a user message (inside the chat format)",
        key=state.INSPECTOR_AS_MESSAGE,
        help="What the text costs when sent as one message: its tokens plus the chat format around it.",
    )
    if as_message:
        _request(encoding, [{"role": "user", "content": text}], show_spaces, "The text as the one message sent.")
        return
    spans = text_spans(encoding, text, _tokenizer(encoding))
    metrics = st.columns(3)
    metrics[0].metric("Tokens", f"{len(spans):,}")
    metrics[1].metric("Characters", f"{len(text):,}")
    metrics[2].metric("Characters per token", f"{len(text) / len(spans):.2f}" if spans else "—")
    if spans:
        st.html(spans_html(spans, ["text"], show_spaces=show_spaces))
        _draw_limit_note(spans)


def _variant(settings: Settings, encoding: str, show_spaces: bool) -> None:
    compare_setup.load_for_session()
    variants = compare_setup.variants()
    if not variants:
        st.info("The Compare page has no variants: add some there.")
        return
    if state.whole(state.INSPECTOR_VARIANT) >= len(variants):
        state.put(state.INSPECTOR_VARIANT, 0)
    pick = st.selectbox(
        "Variant", range(len(variants)), format_func=lambda i: variants[i].name, key=state.INSPECTOR_VARIANT
    )
    variant = variants[int(pick)]
    question = state.text(state.COMPARE_QUESTION)
    request = compare_setup.requests([variant], question, settings)[0]
    _request(
        encoding,
        [m.as_api() for m in request.plan.messages],
        show_spaces,
        f"As the Compare page plans it: {inert_markdown(variant.sends())}; the question is the Compare page's "
        f"(“{inert_markdown(question[:80])}”) · Compare counts with {request.plan.count.method}",
    )


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
        "Any text, the chat page's next request or a Compare variant's, split into the tokens the model reads — "
        "with the chat format's own tokens shown."
    )
    state.default(state.INSPECTOR_ENCODING, _default_encoding(settings))
    state.default(state.INSPECTOR_SOURCE, "chat")
    source = st.segmented_control(
        "Inspect", list(SOURCES), format_func=SOURCES.__getitem__, key=state.INSPECTOR_SOURCE, required=True
    )
    cols = st.columns([3, 1], vertical_alignment="bottom")
    encoding = cols[0].selectbox(
        "Tokenizer", list(ENCODINGS), format_func=ENCODINGS.__getitem__, key=state.INSPECTOR_ENCODING
    )
    show_spaces = cols[1].toggle("Show spaces as ·", key=state.INSPECTOR_SPACES)
    if source == "text":
        _text(encoding, show_spaces)
    elif source == "variant":
        _variant(settings, encoding, show_spaces)
    else:
        _chat(settings, encoding, show_spaces)
    _hi_example(encoding, show_spaces)


render(page_setup())
