"""Token spans: their counts are the counters' counts, the chat format is visible, the HTML is inert."""

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lib.analysis.inspect_tokens import (
    EMBEDDED,
    LEGEND,
    REPLY_PRIMING,
    TokenSpan,
    embedded_spans,
    openai_spans,
    per_message,
    spans_for,
    spans_html,
    summary_rows,
    text_spans,
    why_hi,
)
from lib.context.tokens import TiktokenCounter, get_encoding

ENCODINGS = ["o200k_base", "cl100k_base"]
CONVERSATIONS = {
    "hi": [{"role": "user", "content": "Hi"}],
    "with system": [
        {"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "content": "My name is Ada and I like 🦊 foxes."},
        {"role": "assistant", "content": "Nice to meet you, Ada!"},
    ],
    "unicode": [
        {"role": "user", "content": "naïve café — 日本語のテキスト, emoji 👩‍👩‍👧 and 🦊🦊"},
        {"role": "assistant", "content": "Ünïcödé\n\n\tindented\r\nline"},
    ],
    "empty and whitespace": [
        {"role": "user", "content": ""},
        {"role": "assistant", "content": "   "},
        {"role": "user", "content": "\n"},
    ],
    "template words inside": [
        {"role": "user", "content": "<|im_start|>system\nfake<|im_end|> <|endoftext|> end user"},
        {"role": "assistant", "content": "assistant\n"},
    ],
    "late system": [
        {"role": "assistant", "content": "I speak first."},
        {"role": "system", "content": "A system note later on."},
        {"role": "user", "content": "ok"},
    ],
    "html": [{"role": "user", "content": '<script>alert("x")</script><img src=x onerror=alert(1)>'}],
}


@pytest.mark.parametrize("encoding", ENCODINGS)
@pytest.mark.parametrize("name", list(CONVERSATIONS))
def test_openai_spans_count_what_lib_tokens_counts(name, encoding):
    messages = CONVERSATIONS[name]
    spans = openai_spans(encoding, messages)
    count = TiktokenCounter(encoding, True).count(messages)
    assert len(spans) == count.total
    assert per_message(spans, len(messages)) == count.per_message


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_a_named_message_costs_its_name_as_lib_tokens_says(encoding):
    messages = [{"role": "user", "name": "ada_lovelace", "content": "Hello"}]
    assert len(openai_spans(encoding, messages)) == TiktokenCounter(encoding, True).count(messages).total


def test_openai_chat_format_is_shown_as_pseudo_tokens():
    messages = CONVERSATIONS["with system"]
    spans = openai_spans("o200k_base", messages)
    for index, message in enumerate(messages):
        own = [s for s in spans if s.message_index == index]
        assert own[0] == TokenSpan("<|start|>", None, "overhead", index)
        assert own[-1] == TokenSpan("<|end|>", None, "overhead", index)
        assert "".join(s.text for s in own if s.kind == "overhead" and s.token_id is not None) == message["role"]
        if message["content"].isascii():
            assert "".join(s.text for s in own if s.kind == "content") == message["content"]
    assert [s.text for s in spans[-3:]] == list(REPLY_PRIMING)
    assert all(s.message_index is None and s.token_id is None for s in spans[-3:])


def test_a_split_character_shows_as_bytes_not_as_a_broken_glyph():
    spans = openai_spans("cl100k_base", [{"role": "user", "content": "🦊"}])
    content = [s.text for s in spans if s.kind == "content"]
    assert len(content) > 1 and "\ufffd" not in "".join(content)
    assert any("\\x" in text for text in content)


@pytest.mark.parametrize("name", list(CONVERSATIONS))
def test_embedded_spans_are_the_tokens_the_server_counts(name, embedded_tokenizer):
    messages = CONVERSATIONS[name]
    spans = embedded_spans(embedded_tokenizer, messages)
    count = embedded_tokenizer.count(messages)
    assert len(spans) == count.total
    assert per_message(spans, len(messages)) == count.per_message
    prompt, special = embedded_tokenizer.render(messages, True)
    assert [s.token_id for s in spans] == embedded_tokenizer.tokenize(prompt, special)


def test_embedded_spans_spell_the_rendered_template(embedded_tokenizer):
    messages = CONVERSATIONS["hi"]
    spans = embedded_spans(embedded_tokenizer, messages)
    assert "".join(s.text for s in spans) == embedded_tokenizer.render(messages, True)[0]
    assert [s.text for s in spans if s.kind == "content"] == ["Hi"]


def test_without_a_system_message_the_templates_default_is_overhead_of_no_message(embedded_tokenizer):
    spans = embedded_spans(embedded_tokenizer, CONVERSATIONS["hi"])
    first = next(i for i, s in enumerate(spans) if s.message_index == 0)
    preamble = "".join(s.text for s in spans[:first])
    assert "SmolLM" in preamble and all(s.kind == "overhead" and s.message_index is None for s in spans[:first])
    assert "".join(s.text for s in spans if s.message_index is None).endswith("<|im_start|>assistant\n")

    with_system = embedded_spans(embedded_tokenizer, CONVERSATIONS["with system"])
    assert with_system[0].message_index == 0  # a system message of one's own replaces the default


def test_the_pieces_spell_the_prompt_byte_for_byte(embedded_tokenizer):
    prompt, special = embedded_tokenizer.render(CONVERSATIONS["unicode"], True)
    pieces = embedded_tokenizer.pieces(prompt, special)
    assert b"".join(piece for _, piece in pieces) == prompt.encode()
    assert [token for token, _ in pieces] == embedded_tokenizer.tokenize(prompt, special)


PIECES = ["<|im_start|>", "<|im_end|>", "<|endoftext|>", "system", "assistant\n", "\n", " ", "\t", "🦊", "é", "Hi"]
contents = st.lists(st.sampled_from(PIECES) | st.text(max_size=5), max_size=5).map("".join)
conversations = st.lists(
    st.fixed_dictionaries({"role": st.sampled_from(["system", "user", "assistant"]), "content": contents}),
    min_size=1,
    max_size=5,
)


@given(messages=conversations)
def test_span_counts_hold_for_any_conversation(embedded_tokenizer, messages):
    embedded = embedded_spans(embedded_tokenizer, messages)
    count = embedded_tokenizer.count(messages)
    assert (len(embedded), per_message(embedded, len(messages))) == (count.total, count.per_message)
    prompt, special = embedded_tokenizer.render(messages, True)
    assert [s.token_id for s in embedded] == embedded_tokenizer.tokenize(prompt, special)
    for encoding in ENCODINGS:
        spans = openai_spans(encoding, messages)
        expected = TiktokenCounter(encoding, True).count(messages)
        assert (len(spans), per_message(spans, len(messages))) == (expected.total, expected.per_message)


def test_spans_for_dispatches_and_needs_the_tokenizer_for_the_embedded_model(embedded_tokenizer):
    messages = CONVERSATIONS["hi"]
    assert spans_for("cl100k_base", messages) == openai_spans("cl100k_base", messages)
    assert spans_for(EMBEDDED, messages, embedded_tokenizer) == embedded_spans(embedded_tokenizer, messages)
    with pytest.raises(ValueError):
        spans_for(EMBEDDED, messages)


def test_no_messages_no_tokens(embedded_tokenizer):
    assert embedded_spans(embedded_tokenizer, []) == []


def test_summary_rows_add_up(embedded_tokenizer):
    messages = CONVERSATIONS["with system"]
    spans = embedded_spans(embedded_tokenizer, messages)
    rows = summary_rows(spans, messages)
    assert [r["role"] for r in rows[:-1]] == [m["role"] for m in messages]
    assert sum(r["tokens"] for r in rows) == len(spans)
    assert all(r["tokens"] == r["content tokens"] + r["chat-format tokens"] for r in rows)
    assert rows[-1]["tokens"] == 4  # <|im_start|>assistant\n: the reply's priming


def test_why_hi_explains_the_extra_tokens(embedded_tokenizer):
    openai = why_hi(openai_spans("o200k_base", CONVERSATIONS["hi"]))
    assert "1 token, yet sending it costs 8" in openai and "3 are the cue that starts the reply" in openai
    embedded = why_hi(embedded_spans(embedded_tokenizer, CONVERSATIONS["hi"]))
    assert "default system prompt" in embedded


# --- HTML ------------------------------------------------------------------------------------------


def _drawn(markup: str) -> int:
    return markup.count(' title="')  # every drawn token has a tooltip; the legend's samples have none


def test_html_is_escaped_and_inert():
    messages = CONVERSATIONS["html"]
    markup = spans_html(openai_spans("o200k_base", messages), ["user"])
    assert "<script" not in markup and "<img" not in markup and "onerror=alert" not in markup.replace("&", "")
    assert "&lt;" in markup and "&quot;" in markup
    assert "&lt;|start|&gt;" in markup  # the pseudo-tokens are text too
    assert re.findall(r"<(\w+)", markup) and set(re.findall(r"<(\w+)", markup)) <= {"style", "div", "span"}


def test_html_makes_whitespace_visible():
    spans = openai_spans("o200k_base", [{"role": "user", "content": "a b\nc\td"}])
    plain, spaced = spans_html(spans, ["user"]), spans_html(spans, ["user"], show_spaces=True)
    assert ">↵\n</span>" in plain and ">→d</span>" in plain  # a newline also breaks the line
    assert "> b</span>" in plain and ">·b</span>" in spaced


def test_html_heads_each_message_with_its_count():
    messages = CONVERSATIONS["with system"]
    spans = openai_spans("o200k_base", messages)
    markup = spans_html(spans, [m["role"] for m in messages])
    counts = per_message(spans, len(messages))
    for index, message in enumerate(messages):
        assert f"#{index + 1} {message['role']} · {counts[index]} tokens" in markup
    assert "The cue that starts the reply (chat format, no message) · 3 tokens" in markup
    assert _drawn(markup) == len(spans) and LEGEND in markup
    assert LEGEND not in spans_html(spans, [m["role"] for m in messages], legend=False)


def test_html_draws_at_most_the_limit_and_says_so():
    messages = [{"role": "user", "content": "word " * 400}] * 3
    spans = openai_spans("o200k_base", messages)
    markup = spans_html(spans, ["user"] * 3, limit=500)
    assert _drawn(markup) == 500
    assert f"{len(spans) - 500:,} more tokens not drawn" in markup


def test_any_text_is_split_with_no_chat_format_around_it(embedded_tokenizer):
    text = "Hello, Ada! <|im_start|> is special here."
    openai = text_spans("o200k_base", text)
    assert "".join(s.text for s in openai) == text
    assert {(s.kind, s.message_index) for s in openai} == {("content", 0)}
    assert [s.token_id for s in openai] == get_encoding("o200k_base").encode(text, disallowed_special=())
    embedded = text_spans(EMBEDDED, text, embedded_tokenizer)
    assert [s.token_id for s in embedded] == embedded_tokenizer.tokenize(text, True)  # no BOS of its own
    assert "".join(s.text for s in embedded) == text
    assert text_spans("o200k_base", "") == []
    with pytest.raises(ValueError):
        text_spans(EMBEDDED, text)


def test_a_token_line_may_break_anywhere_rather_than_overflow():
    markup = spans_html(text_spans("o200k_base", "=" * 400), ["text"])
    assert "overflow-wrap:anywhere" in markup.split("</style>")[0]
