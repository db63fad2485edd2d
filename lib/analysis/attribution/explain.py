"""Scores in words: what leaving a message out does to the answer, in a sentence a reader can check."""

from __future__ import annotations

import math
import re

from lib.analysis.compare import states

PERCENT_SIGN = " %"
_WORD = re.compile(r"[^\W_]+(?:[-'][^\W_]+)*", re.UNICODE)
# Words too common to say an answer "mentions" them.
_COMMON = frozenset(
    {
        "the",
        "and",
        "for",
        "are",
        "but",
        "not",
        "you",
        "your",
        "yours",
        "with",
        "that",
        "this",
        "from",
        "have",
        "has",
        "had",
        "was",
        "were",
        "will",
        "would",
        "can",
        "could",
        "should",
        "there",
        "their",
        "they",
        "them",
        "then",
        "than",
        "what",
        "when",
        "where",
        "which",
        "who",
        "whom",
        "why",
        "how",
        "all",
        "any",
        "each",
        "some",
        "such",
        "into",
        "onto",
        "about",
        "over",
        "under",
        "again",
        "also",
        "just",
        "only",
        "very",
        "more",
        "most",
        "much",
        "many",
        "other",
        "same",
        "one",
        "two",
        "its",
        "it's",
        "our",
        "ours",
        "out",
        "off",
        "own",
        "yes",
        "sure",
        "okay",
        "well",
        "here",
        "hello",
        "thanks",
        "thank",
        "please",
        "sorry",
        "like",
        "been",
        "being",
        "does",
        "did",
        "doing",
        "done",
        "make",
        "made",
        "may",
        "might",
        "must",
        "shall",
        "let",
        "lets",
        "get",
        "got",
        "give",
        "given",
        "take",
        "taken",
        "know",
        "think",
        "see",
        "say",
        "said",
        "she",
        "he",
        "her",
        "him",
        "his",
        "hers",
        "we",
        "us",
        "me",
        "my",
        "mine",
        "it",
        "i'm",
        "i've",
        "i'll",
        "don't",
        "can't",
        "isn't",
        "that's",
    }
)


def percent(fraction: float) -> str:
    return f"{fraction * 100:.0f}{PERCENT_SIGN}"


def probability_change(drop: float) -> str:
    """How the answer's probability moves when its log-probability falls by `drop` nats."""
    if drop >= 0:
        fall = -math.expm1(-drop)
        if fall >= 0.9995:
            return f"falls by more than 99.9{PERCENT_SIGN} (it becomes {math.exp(min(drop, 700)):,.0f}× less likely)"
        return f"falls by {percent(fall)}"
    rise = math.expm1(-drop)
    if rise >= 9.995:
        return f"rises {math.exp(min(-drop, 700)):,.0f}-fold"
    return f"rises by {percent(rise)}"


def salient_words(text: str) -> list[str]:
    """Words an answer can be said to mention, in order, once each: names, numbers, longer words."""
    seen: dict[str, str] = {}
    for match in _WORD.finditer(text):
        word, folded = match.group(), match.group().casefold()
        if folded in seen or folded in _COMMON:
            continue
        opens_sentence = not text[: match.start()].rstrip() or text[: match.start()].rstrip()[-1] in ".!?:\n"
        named = word[:1].isupper() and not opens_sentence
        if any(c.isdigit() for c in word) or named or len(word) >= 5:
            seen[folded] = word
    return list(seen.values())


def no_longer_mentioned(answer: str, with_all: str, without: str, limit: int = 3) -> list[str]:
    """Words of the answer that the answer regenerated with every message still has and the one
    regenerated without a message has lost. Names and numbers first."""
    kept_with_all = {w.casefold() for w in _WORD.findall(with_all)}
    kept_without = {w.casefold() for w in _WORD.findall(without)}
    lost = [w for w in salient_words(answer) if w.casefold() in kept_with_all and w.casefold() not in kept_without]
    lost.sort(key=lambda w: not (w[:1].isupper() or any(c.isdigit() for c in w)))
    return lost[:limit]


def quoted_list(words: list[str]) -> str:
    if len(words) == 1:
        return words[0]
    return ", ".join(words[:-1]) + " or " + words[-1]


def answer_check(answer: str, expected: str = "") -> tuple[str, str]:
    """(level, sentence) said before an attribution: an answer that does not state the expected one is
    attributed with a warning (the ranks then say which messages made a *wrong* answer likely); with
    nothing expected, that the answer was not checked. Level: "warning" or "note"."""
    verdict = states(answer, expected)
    if verdict is None:
        return "note", (
            "The answer was not checked against an expected answer: this explains the answer as given, right or wrong."
        )
    if verdict:
        return "note", f"The answer contains the expected “{expected.strip()}”."
    return "warning", (
        f"This answer does not contain the expected “{expected.strip()}”: the ranks below say which messages made "
        "this wrong answer likely, not where the fact is."
    )
