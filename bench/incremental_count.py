"""Incremental counting: a rerun after one new message against recounting a 1,000-message history.

`python -m bench.incremental_count [SIZE]` — the counting a chat rerun does (the strategy's
decisions, the plan, the counts of left-out messages) with cold caches and after one new message,
for the embedded tokenizer (the default) and tiktoken; then the same through the real chat page.
Encoder calls are counted, not inferred: every `EmbeddedTokenizer.tokenize` call, and every miss of
`lib.context.tokens.text_tokens` (each one a tiktoken encode).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from bench.common import APP, app_test, median, patch_apptest_polling, result, seconds, synthetic_history, table
from lib.backends.embedded import EmbeddedTokenizer
from lib.context.conversation import Message, SystemPrompt
from lib.context.payload import Sampling, plan_request
from lib.context.strategies import Strategy, assemble, decide
from lib.context.tokens import PromptCounter, TiktokenCounter, text_tokens
from lib.core import models

SIZE = 1_000
REPEATS = 5
NEW_MESSAGE = Message("user", "And one more question, typed just now: what does it cost?", id="new")


class EncodeCounter:
    """Counts the embedded tokenizer's encoder calls and the characters they encode."""

    def __init__(self, tokenizer: EmbeddedTokenizer):
        self.calls = self.chars = 0
        encode = tokenizer.tokenize

        def counting(prompt: str, added_special: bool) -> list[int]:
            self.calls += 1
            self.chars += len(prompt)
            return encode(prompt, added_special)

        tokenizer.tokenize = counting


@dataclass
class Sample:
    seconds: float
    encodes: int
    chars: int


def rerun_counting(history: list[Message], counter: PromptCounter, model: models.ModelInfo) -> None:
    """What a chat rerun counts: the plan, and the tokens shown beside each left-out message."""

    def tokens_of(message: Message) -> int:
        return counter.count([message.as_api()]).per_message[0]

    decisions = decide(Strategy("manual"), history, tokens_of)
    plan_request(assemble(SystemPrompt(), decisions), model, counter, Sampling())
    for decision in decisions:
        if not decision.kept:
            tokens_of(decision.message)


def _encodes(counter: PromptCounter, watch: EncodeCounter | None) -> tuple[int, int]:
    if watch is not None:
        return watch.calls, watch.chars
    return text_tokens.cache_info().misses, 0


def _clear(counter: PromptCounter) -> None:
    text_tokens.cache_clear()
    if isinstance(counter, EmbeddedTokenizer):
        counter._segment_tokens.cache_clear()
        counter._framing_tokens.cache_clear()


def measure(history, counter, model, watch, cold: bool) -> Sample:
    """One counting pass over `history`: after clearing every cache (cold) or as a rerun would."""
    if cold:
        _clear(counter)
    calls, chars = _encodes(counter, watch)
    elapsed = seconds(lambda: rerun_counting(history, counter, model))
    after_calls, after_chars = _encodes(counter, watch)
    return Sample(elapsed, after_calls - calls, after_chars - chars)


def counter_rows(size: int, repeats: int) -> tuple[list[tuple], float]:
    history = synthetic_history(size)
    grown = [*history, NEW_MESSAGE]
    embedded = EmbeddedTokenizer()
    backends = [
        ("embedded (SmolLM2 tokenizer)", embedded, models.info_for(models.EMBEDDED_MODEL), EncodeCounter(embedded)),
        ("tiktoken o200k_base (gpt-4o)", TiktokenCounter.for_model("gpt-4o"), models.info_for("gpt-4o"), None),
    ]
    rows, ratio = [], 0.0
    for name, counter, model, watch in backends:
        cold = [measure(grown, counter, model, watch, cold=True) for _ in range(repeats)]
        added = []
        for _ in range(repeats):
            measure(history, counter, model, watch, cold=True)
            measure(history, counter, model, watch, cold=False)  # the rerun before the new message
            added.append(measure(grown, counter, model, watch, cold=False))
        cold_s, added_s = median(s.seconds for s in cold), median(s.seconds for s in added)
        for label, samples, value in (("recount all (cold caches)", cold, cold_s), ("+1 message", added, added_s)):
            sample = samples[-1]
            chars = f"{sample.chars:,}" if watch else "—"
            rows.append((name, label, f"{value * 1000:.1f}", f"{sample.encodes:,}", chars))
        if watch is not None:
            ratio = added_s / cold_s
    return rows, ratio


def page_rows(size: int) -> list[tuple]:
    """The same through the real chat page (AppTest): encoder calls and rerun time."""
    from ui import resources

    patch_apptest_polling()
    history = synthetic_history(size)
    at = app_test(APP, history)
    tokenizer = resources.embedded_tokenizer()  # the very instance the page counts with
    watch = EncodeCounter(tokenizer)
    rows = []

    def rerun(label: str, messages: list[Message] | None = None, cold: bool = False) -> None:
        if messages is not None:
            at.session_state["history"] = messages
        if cold:
            _clear(tokenizer)
        calls, chars = watch.calls, watch.chars
        elapsed = seconds(at.run)
        if at.exception:
            raise RuntimeError(f"the chat page failed: {at.exception}")
        rows.append((label, f"{elapsed:.3f}", f"{watch.calls - calls:,}", f"{watch.chars - chars:,}"))

    rerun("rerun, nothing changed")
    rerun("rerun after one new message", [*history, NEW_MESSAGE])
    rerun("rerun with cold caches (recount all)", cold=True)
    return rows


def main(argv: list[str] | None = None) -> float:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("size", nargs="?", type=int, default=SIZE)
    parser.add_argument("--repeats", type=int, default=REPEATS)
    args = parser.parse_args(argv)
    rows, ratio = counter_rows(args.size, args.repeats)
    print(f"\nCounting for a rerun, {args.size:,} messages (+1), median of {args.repeats}")
    print(table(["counter", "pass", "time (ms)", "encoder calls", "chars encoded"], rows))
    print(f"\nThe chat page (AppTest), {args.size:,} messages, embedded backend")
    print(table(["rerun", "time (s)", "encoder calls", "chars encoded"], page_rows(args.size)))
    print("target: only the new message is encoded (1 encoder call)")
    result("incremental_count_ratio", ratio)
    return ratio


if __name__ == "__main__":
    main()
