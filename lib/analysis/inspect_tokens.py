"""The prompt as the model reads it: every token, with the chat format's own tokens made visible.

OpenAI encodings: tiktoken splits the text; the chat format around it is shown as pseudo-tokens
(OpenAI does not publish their ids): `<|start|>role<|message|>content<|end|>` per message (3 plus
the role's tokens) and `<|start|>assistant<|message|>` priming the reply (3) — what `lib.context.tokens`
counts. The embedded model: the real tokens of its rendered chat template, with what the template
adds on its own (a default system prompt, the cue that starts the reply) attributed to no message.
"""

from __future__ import annotations

import html
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from itertools import groupby
from typing import TYPE_CHECKING, Literal, NamedTuple

from lib.context.tokens import get_encoding
from lib.core.errors import TemplateLayoutError

if TYPE_CHECKING:
    from lib.backends.embedded import EmbeddedTokenizer

SpanKind = Literal["content", "overhead"]
EMBEDDED = "embedded"  # the encoding choice meaning the embedded model's own tokenizer and template
MAX_RENDERED = 5000  # tokens drawn; beyond that the browser slows down and nobody reads them

START, MESSAGE, END, NAME = "<|start|>", "<|message|>", "<|end|>", "<|name|>"
REPLY_PRIMING = (START, "assistant", MESSAGE)


class TokenSpan(NamedTuple):  # a tuple: long prompts make a hundred thousand of them
    text: str
    token_id: int | None  # None: a pseudo-token for a chat-format token whose id is not published
    kind: SpanKind
    message_index: int | None  # None: the prompt's own framing (reply priming, template additions)


@lru_cache(maxsize=100_000)
def piece_text(piece: bytes) -> str:
    """A token's text; bytes that are only part of a character (a split emoji) show as escapes."""
    return piece.decode("utf-8", errors="backslashreplace")


# --- OpenAI encodings ----------------------------------------------------------------------------


def openai_spans(encoding_name: str, messages: list[dict]) -> list[TokenSpan]:
    """tiktoken's tokens of each message inside the documented chat format, then the reply priming."""
    encoding = get_encoding(encoding_name)

    def encoded(text: str, kind: SpanKind, index: int) -> list[TokenSpan]:
        ids = encoding.encode(text, disallowed_special=())
        pieces = encoding.decode_tokens_bytes(ids)
        return [TokenSpan(piece_text(p), t, kind, index) for t, p in zip(ids, pieces, strict=True)]

    spans: list[TokenSpan] = []
    for index, message in enumerate(messages):
        pseudo = lambda text, index=index: TokenSpan(text, None, "overhead", index)  # noqa: E731
        spans += [pseudo(START), *encoded(message["role"], "overhead", index)]
        if message.get("name"):
            spans += [pseudo(NAME), *encoded(message["name"], "overhead", index)]
        spans += [pseudo(MESSAGE), *encoded(message.get("content") or "", "content", index), pseudo(END)]
    spans += [TokenSpan(text, None, "overhead", None) for text in REPLY_PRIMING]
    return spans


# --- the embedded model --------------------------------------------------------------------------


@dataclass(frozen=True)
class _Region:
    """Where one message sits in the rendered prompt, in UTF-8 byte offsets."""

    start: int
    content_start: int
    content_end: int
    end: int


@lru_cache(maxsize=16)
def _frame(tokenizer: EmbeddedTokenizer, role: str) -> tuple[bytes, bytes]:
    """The header and footer the template puts around a `role` message's content."""
    first, second = "⟦first⟧", "⟦second⟧"
    text, _ = tokenizer.render([{"role": role, "content": first}, {"role": role, "content": second}], False)
    between = text[text.index(first) + len(first) : text.index(second)]  # footer, then header
    footer = text[text.index(second) + len(second) :]
    if not between.startswith(footer):
        raise TemplateLayoutError(f"no fixed footer around {role} messages")
    return between[len(footer) :].encode(), footer.encode()


def _regions(tokenizer: EmbeddedTokenizer, messages: list[dict], prompt: bytes, end: int) -> list[_Region]:
    """Each message's place, found from the end of the messages backwards (the template may add
    text before the first one), and checked against the rendered prompt byte for byte."""
    regions = []
    for message in reversed(messages):
        header, footer = _frame(tokenizer, message["role"])
        content = (message.get("content") or "").encode()
        content_end = end - len(footer)
        content_start = content_end - len(content)
        start = content_start - len(header)
        if start < 0 or prompt[start:end] != header + content + footer:
            raise TemplateLayoutError("the rendered prompt does not hold the messages verbatim")
        regions.append(_Region(start, content_start, content_end, end))
        end = start
    return regions[::-1]


def embedded_spans(tokenizer: EmbeddedTokenizer, messages: list[dict]) -> list[TokenSpan]:
    """The real tokens of the rendered chat template (generation prompt included), each attributed
    to the message it renders, or to none when the template adds it on its own."""
    if not messages:
        return []
    prompt, added_special = tokenizer.render(messages, True)
    rendered = prompt.encode()
    regions = _regions(tokenizer, messages, rendered, len(tokenizer.render(messages, False)[0].encode()))
    stretches: list[tuple[int, int, int | None, _Region | None]] = [(0, regions[0].start, None, None)]
    stretches += [(region.start, region.end, index, region) for index, region in enumerate(regions)]
    stretches.append((regions[-1].end, len(rendered), None, None))
    spans: list[TokenSpan] = []
    for start, end, index, region in stretches:
        if start == end:
            continue
        # Special tokens open and close every message, so each stretch tokenizes alone as it does in
        # the whole prompt; a message's tokens are then its own even where llama.cpp's pieces do not
        # spell its text byte for byte (a few unassigned code points), which only blurs its
        # content/format split. Only the first stretch may get the tokenizer's BOS.
        pieces = tokenizer.pieces(rendered[start:end].decode(), added_special or bool(spans))
        offset = end - sum(len(piece) for _, piece in pieces)
        for token, piece in pieces:
            at, offset = offset, offset + len(piece)
            content = region is not None and at < region.content_end and offset > region.content_start
            spans.append(TokenSpan(piece_text(piece), token, "content" if content else "overhead", index))
    return spans


def spans_for(encoding: str, messages: list[dict], tokenizer: EmbeddedTokenizer | None = None) -> list[TokenSpan]:
    """`encoding` is a tiktoken encoding name, or EMBEDDED (then `tokenizer` is required)."""
    if encoding == EMBEDDED:
        if tokenizer is None:
            raise ValueError("the embedded model's spans need its tokenizer")
        return embedded_spans(tokenizer, messages)
    return openai_spans(encoding, messages)


def text_spans(encoding: str, text: str, tokenizer: EmbeddedTokenizer | None = None) -> list[TokenSpan]:
    """Free text as the tokenizer splits it, with no chat format around it (as tiktokenizer shows it):
    every span is content of "message" 0."""
    if not text:
        return []
    if encoding == EMBEDDED:
        if tokenizer is None:
            raise ValueError("the embedded model's spans need its tokenizer")
        # As part of a prompt: no BOS of its own (`added_special`), special-token text read as such.
        return [TokenSpan(piece_text(p), t, "content", 0) for t, p in tokenizer.pieces(text, True)]
    tiktoken = get_encoding(encoding)
    ids = tiktoken.encode(text, disallowed_special=())
    return [
        TokenSpan(piece_text(p), t, "content", 0) for t, p in zip(ids, tiktoken.decode_tokens_bytes(ids), strict=True)
    ]


# --- tallies and words ---------------------------------------------------------------------------


def per_message(spans: list[TokenSpan], count: int) -> tuple[int, ...]:
    """Tokens of each of `count` messages, its chat-format wrapping included (as PromptCount has them)."""
    tally = Counter(s.message_index for s in spans)
    return tuple(tally[i] for i in range(count))


def summary_rows(spans: list[TokenSpan], messages: list[dict]) -> list[dict]:
    """One row per message (content and chat-format tokens), then the tokens of no message."""
    tally = Counter((s.message_index, s.kind) for s in spans)
    rows = []
    for index, message in enumerate(messages):
        content, overhead = tally[(index, "content")], tally[(index, "overhead")]
        preview = (message.get("content") or "").replace("\n", " ")
        rows.append(
            {
                "#": str(index + 1),
                "role": message["role"],
                "message": preview[:60] + ("…" if len(preview) > 60 else ""),
                "content tokens": content,
                "chat-format tokens": overhead,
                "tokens": content + overhead,
            }
        )
    framing = tally[(None, "overhead")] + tally[(None, "content")]
    rows.append(
        {
            "#": "—",
            "role": "",
            "message": "(no message: reply priming, template additions)",
            "content tokens": 0,
            "chat-format tokens": framing,
            "tokens": framing,
        }
    )
    return rows


def why_hi(spans: list[TokenSpan]) -> str:
    """One sentence on why a one-word message costs several tokens, from its spans."""
    content = sum(s.kind == "content" for s in spans)
    wrapping = sum(s.kind == "overhead" and s.message_index is not None for s in spans)
    first = next((i for i, s in enumerate(spans) if s.message_index is not None), 0)
    outside = sum(s.message_index is None for s in spans)
    added = (
        "the template's default system prompt and the cue that starts the reply"
        if first > 0
        else "the cue that starts the reply"
    )
    return (
        f"“Hi” is one word and {content} token{'s' if content != 1 else ''}, yet sending it costs {len(spans)}: "
        f"{wrapping} wrap the message (its role and delimiters) and {outside} are {added}."
    )


# --- HTML ---------------------------------------------------------------------------------------

_PASTELS = ("#ffd6d6", "#d3ecff", "#d9f5d0", "#fff0bf", "#e9d8ff", "#ffe0c4")
_STYLE = (
    "<style>"
    # Tokens are inline spans with no space between them: a long unbroken run (a URL, a hash, a row of
    # "=") had no place to wrap and ran out of the column. `anywhere` lets a line break inside it.
    ".ti{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:0.85rem;line-height:1.9;"
    "max-width:100%;overflow-wrap:anywhere;word-break:break-word}"
    ".ti-group{margin:0 0 0.6rem 0}"
    ".ti-head{font-family:sans-serif;font-size:0.8rem;opacity:0.75;margin-bottom:0.1rem}"
    ".ti-t{white-space:pre-wrap;color:#1f2328;border-radius:3px;padding:1px 0;margin-right:1px}"
    ".ti-o{background:#e4e4e7;color:#52525b}"
    ".ti-p{outline:1px dashed #71717a;font-style:italic}"
    ".ti-ws{opacity:0.55}"
    + "".join(f".ti-c{i}{{background:{colour}}}" for i, colour in enumerate(_PASTELS))
    + "</style>"
)


def _visible(text: str, show_spaces: bool) -> str:
    """Whitespace made visible (a newline also breaks the line), then escaped: the text stays inert."""
    text = text.replace("\n", "↵\n").replace("\t", "→").replace("\r", "␍")
    if show_spaces:
        text = text.replace(" ", "·")
    return html.escape(text or "∅", quote=True)


def _span_html(span: TokenSpan, position: int, show_spaces: bool) -> str:
    if span.kind == "content":
        classes, what = f"ti-t ti-c{position % len(_PASTELS)}", "content"
    else:
        classes, what = "ti-t ti-o" + (" ti-p" if span.token_id is None else ""), "chat format"
    token = "no published id" if span.token_id is None else f"token {span.token_id}"
    title = html.escape(f"{token} · {what}", quote=True)
    return f'<span class="{classes}" title="{title}">{_visible(span.text, show_spaces)}</span>'


def _heading(index: int | None, spans: list[TokenSpan], roles: list[str], before_messages: bool) -> str:
    count = f"{len(spans):,} token{'s' if len(spans) != 1 else ''}"
    if index is None:
        where = "Added by the template before the messages" if before_messages else "The cue that starts the reply"
        return f"{where} (chat format, no message) · {count}"
    overhead = sum(s.kind == "overhead" for s in spans)
    return f"#{index + 1} {roles[index]} · {count} ({overhead:,} chat format)"


LEGEND = (
    '<div class="ti ti-head">'
    '<span class="ti-t ti-c0">content</span> <span class="ti-t ti-c1">tokens</span> alternate colours · '
    '<span class="ti-t ti-o">chat format</span> tokens are grey · '
    '<span class="ti-t ti-o ti-p">dashed</span>: pseudo-tokens whose ids are not published · '
    "↵ newline · → tab · hover a token for its id</div>"
)


def spans_html(
    spans: list[TokenSpan], roles: list[str], limit: int = MAX_RENDERED, show_spaces: bool = False, legend: bool = True
) -> str:
    """The spans grouped by message, each group headed by its count; at most `limit` tokens drawn.
    Every text is escaped: a message holding HTML shows as text and runs nothing."""
    parts, drawn, seen_message = [_STYLE, LEGEND if legend else "", '<div class="ti">'], 0, False
    for index, grouped in groupby(spans, key=lambda s: s.message_index):
        group = list(grouped)
        if drawn >= limit:
            break
        heading = html.escape(_heading(index, group, roles, before_messages=not seen_message))
        parts.append(f'<div class="ti-group"><div class="ti-head">{heading}</div>')
        shown = group[: limit - drawn]
        parts += [_span_html(span, drawn + i, show_spaces) for i, span in enumerate(shown)]
        drawn += len(shown)
        seen_message = seen_message or index is not None
        parts.append("</div>")
    if drawn < len(spans):
        parts.append(f'<div class="ti-head">… {len(spans) - drawn:,} more tokens not drawn</div>')
    parts.append("</div>")
    return "".join(parts)
