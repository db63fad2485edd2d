"""Prompt caching on the embedded model: time to first token of a call whose long prefix is cached,
against the same call with nothing cached, in the same run.

`python -m bench.prefix_cache [--repeats N]` — one long conversation (about 1,800 tokens of history)
and a new question. Cached: the call before it sent the same history (with another question), so
llama.cpp's KV cache holds the prefix and only the new question is evaluated. Uncached: the call
before it sent an unrelated prompt, so the whole prompt is evaluated. The two alternate, so load
on the machine falls on both; the prediction (lib/context/caching.py) is checked against the server's
reported cached tokens on every call.
"""

from __future__ import annotations

import argparse

from bench.common import median, result, table
from lib.backends.embedded import EmbeddedServer, EmbeddedTokenizer
from lib.backends.providers import ProviderConfig, make_client, stream_chat
from lib.context import caching
from lib.context.conversation import Message
from lib.context.payload import Sampling, build_body
from lib.core.models import EMBEDDED_MODEL
from lib.core.outcome import CallOutcome

REPEATS = 3
MAX_TOKENS = 8
PARAGRAPH = (
    "The client keeps the whole conversation and sends it again with every call; the server keeps nothing "
    "between calls but, on this machine, the key-value cache of the last prompt it evaluated. "
)


def history(turns: int = 8) -> list[Message]:
    messages = [Message("system", "You are a concise assistant.", id="system")]
    for turn in range(turns):
        messages.append(Message("user", f"Question {turn}: " + PARAGRAPH * 3))
        messages.append(Message("assistant", f"Answer {turn}: " + PARAGRAPH * 2))
    return messages


def call(client, messages: list[Message]) -> CallOutcome:
    outcome = CallOutcome()
    body = build_body(EMBEDDED_MODEL, [m.as_api() for m in messages], Sampling(0.0, MAX_TOKENS))
    for _ in stream_chat(client, body, outcome):
        pass
    if not outcome.ok or outcome.ttft_s is None:
        raise RuntimeError(f"the embedded server failed: {outcome.error}")
    return outcome


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=REPEATS)
    repeats = parser.parse_args().repeats
    server = EmbeddedServer().ensure_running()
    tokenizer = EmbeddedTokenizer()
    client = make_client(ProviderConfig("embedded", EMBEDDED_MODEL, server.base_url, timeout_s=600))
    backend = ("embedded", server.base_url, EMBEDDED_MODEL)
    long = history()
    unrelated = [Message("user", "Name three colours.")]
    timings: dict[str, list[float]] = {"cached": [], "uncached": []}
    cached_tokens: dict[str, list[int]] = {"cached": [], "uncached": []}
    checked = 0
    try:
        for repeat in range(repeats):
            for side in ("cached", "uncached") if repeat % 2 == 0 else ("uncached", "cached"):
                before = [*long, Message("user", f"Warm-up question {repeat}.")] if side == "cached" else unrelated
                first = call(client, before)
                previous = caching.CachedCall(backend, tuple(before), first.text, first.finish_reason == "stop")
                question = [*long, Message("user", f"Question {repeat}: in one sentence, why resend it all?")]
                prediction = caching.predict(previous, backend, question, tokenizer, caching.LLAMA_CPP)
                outcome = call(client, question)
                if outcome.usage.cached_tokens != prediction.cached:
                    raise RuntimeError(
                        f"predicted {prediction.cached} cached tokens, the server {outcome.usage.cached_tokens}"
                    )
                checked += 1
                timings[side].append(outcome.ttft_s)
                cached_tokens[side].append(outcome.usage.cached_tokens or 0)
                prompt_tokens = outcome.usage.prompt_tokens
    finally:
        server.stop()
    cached, uncached = median(timings["cached"]), median(timings["uncached"])
    print(
        f"Prompt: {prompt_tokens:,} tokens; {repeats} calls each side, alternating; predicted = reported "
        f"cached tokens on all {checked} calls."
    )
    print(
        table(
            ["call", "cached tokens (reported)", "time to first token, median (ms)", "min (ms)", "max (ms)"],
            [
                (
                    side,
                    f"{median(cached_tokens[side]):,.0f}",
                    f"{median(timings[side]) * 1000:,.0f}",
                    f"{min(timings[side]) * 1000:,.0f}",
                    f"{max(timings[side]) * 1000:,.0f}",
                )
                for side in ("uncached", "cached")
            ],
        )
    )
    print(f"The cached prefix makes the first token {uncached / cached:.1f}x sooner.")
    result("prefix_cache_ttft_speedup", uncached / cached)


if __name__ == "__main__":
    main()
