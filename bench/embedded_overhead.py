"""Embedded path overhead: the app's provider layer against llama-cpp-python called in process.

`python -m bench.embedded_overhead [--free-core]` — the same prompts, greedy (temperature 0), the
same max_tokens, interleaved: through `lib.backends.providers.stream_chat` (the `openai` SDK over loopback
HTTP to the `lib.backends.embedded.EmbeddedServer` process) and through `llama_cpp.Llama.create_chat_completion
(stream=True)` in this process, with the same model file, context size, thread count and sampling
(the server's repeat penalty). Each prompt differs near its start, so no side reuses a cached
prefix; the replies are checked to be identical. A third side is the same server streaming the way
llama-cpp-python's server does out of the box (a thread-pool round trip and a write per token),
which is what the app did before `lib.backends.llama_server` streamed in batches from a thread of its own.
"""

from __future__ import annotations

import argparse
import os
import time
from contextlib import ExitStack
from dataclasses import dataclass

from bench.common import median, result, table
from lib.backends.embedded import CONTEXT_WINDOW, EmbeddedServer, gguf_path
from lib.backends.providers import ProviderConfig, make_client, stream_chat
from lib.context.payload import Sampling, build_body
from lib.core.models import EMBEDDED_MODEL
from lib.core.outcome import CallOutcome

REPEATS = 15
MAX_TOKENS = 128
TARGET_SLOWER = 0.10
QUESTION = "Write a numbered list of twelve practical tips for keeping a long chat history cheap to send."
# llama-cpp-python's server samples with repeat_penalty 1.1 unless told otherwise; Llama's own default is 1.0.
SERVER_REPEAT_PENALTY = 1.1


@dataclass
class Run:
    ttft_s: float
    total_s: float
    text: str

    def decode_rate(self, tokens: int) -> float:
        """Tokens per second after the first one (the first is prompt processing's)."""
        return (tokens - 1) / (self.total_s - self.ttft_s)


def prompt(index: int) -> list[dict]:
    return [
        {"role": "system", "content": f"Request {index}. You are a concise assistant."},
        {"role": "user", "content": QUESTION},
    ]


def via_provider(client, messages: list[dict], max_tokens: int) -> tuple[Run, int]:
    outcome = CallOutcome()
    body = build_body(EMBEDDED_MODEL, messages, Sampling(0.0, max_tokens))
    text = "".join(stream_chat(client, body, outcome))
    if not outcome.ok or outcome.ttft_s is None or outcome.usage.completion_tokens is None:
        raise RuntimeError(f"the embedded server failed: {outcome.error}")
    return Run(outcome.ttft_s, outcome.latency_s, text), outcome.usage.completion_tokens


def direct(llama, messages: list[dict], max_tokens: int) -> Run:
    started = time.perf_counter()
    ttft, parts = None, []
    chunks = llama.create_chat_completion(
        messages, temperature=0.0, max_tokens=max_tokens, repeat_penalty=SERVER_REPEAT_PENALTY, stream=True
    )
    for chunk in chunks:
        delta = chunk["choices"][0]["delta"].get("content") if chunk["choices"] else None
        if delta:
            ttft = ttft if ttft is not None else time.perf_counter() - started
            parts.append(delta)
    return Run(ttft or 0.0, time.perf_counter() - started, "".join(parts))


SIDES = ("provider layer + server", "same, stock streaming", "llama-cpp-python in process")


def _server(threads: int, stack: ExitStack, stock: bool):
    """A started embedded server and an SDK client for it; `stock` streams llama-cpp-python's way."""
    previous = os.environ.pop("CONTEXT_LAB_STOCK_STREAMING", None)
    if stock:
        os.environ["CONTEXT_LAB_STOCK_STREAMING"] = "1"  # read by lib.backends.llama_server in the child
    try:
        server = EmbeddedServer(threads=threads).ensure_running()
    finally:
        os.environ.pop("CONTEXT_LAB_STOCK_STREAMING", None)
        if previous is not None:
            os.environ["CONTEXT_LAB_STOCK_STREAMING"] = previous
    stack.callback(server.stop)
    client = make_client(ProviderConfig("embedded", EMBEDDED_MODEL, base_url=server.base_url))
    return lambda messages, max_tokens: via_provider(client, messages, max_tokens)


def compare(threads: int, repeats: int, max_tokens: int) -> tuple[dict[str, list[Run]], list[int]]:
    """The same prompts every way, rotating which side goes first; all warmed up beforehand."""
    from llama_cpp import Llama

    with ExitStack() as stack:
        llama = Llama(str(gguf_path()), n_ctx=CONTEXT_WINDOW, n_threads=threads, verbose=False)
        calls = {
            SIDES[0]: _server(threads, stack, stock=False),
            SIDES[1]: _server(threads, stack, stock=True),
            SIDES[2]: lambda messages, max_tokens: (direct(llama, messages, max_tokens), None),
        }
        for call in calls.values():
            call(prompt(-1), 8)  # first-call costs are not the overhead
        runs: dict[str, list[Run]] = {side: [] for side in SIDES}
        tokens = []
        for index in range(repeats):
            order = SIDES[index % 3 :] + SIDES[: index % 3]
            for side in order:
                run, count = calls[side](prompt(index), max_tokens)
                runs[side].append(run)
                if side == SIDES[0]:
                    tokens.append(count)
    return runs, tokens


def report(threads: int, runs: dict[str, list[Run]], tokens: list[int], max_tokens: int) -> float:
    """Prints the table for one thread count; returns the whole-reply ratio (app path / in process)."""
    measures = {
        "time to first token (ms)": lambda side: median(r.ttft_s for r in runs[side]) * 1000,
        "decode (tokens/s)": lambda side: median(r.decode_rate(n) for r, n in zip(runs[side], tokens, strict=True)),
        "whole reply (ms)": lambda side: median(r.total_s for r in runs[side]) * 1000,
    }
    rows = []
    for name, measure in measures.items():
        app, stock, baseline = (measure(side) for side in SIDES)
        rate = "tokens/s" in name  # higher is better
        slower = [(baseline / x if rate else x / baseline) - 1 for x in (app, stock)]
        rows.append((name, f"{app:.1f}", f"{slower[0]:+.1%}", f"{stock:.1f}", f"{slower[1]:+.1%}", f"{baseline:.1f}"))
    texts = {side: [r.text for r in runs[side]] for side in SIDES}
    same = sum(len({texts[side][i] for side in SIDES}) == 1 for i in range(len(tokens)))
    print(
        f"\nEmbedded model, {threads} llama.cpp thread(s) on {os.cpu_count()} cores: {len(tokens)} prompts, "
        f"max_tokens {max_tokens}, temperature 0; median reply {median(tokens):.0f} tokens; "
        f"identical replies {same}/{len(tokens)}"
    )
    headers = ["measure", SIDES[0], "slower by", SIDES[1], "slower by", SIDES[2]]
    print(table(headers, rows))
    return measures["whole reply (ms)"](SIDES[0]) / measures["whole reply (ms)"](SIDES[2])


def main(argv: list[str] | None = None) -> float:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=REPEATS)
    parser.add_argument("--max-tokens", type=int, default=MAX_TOKENS)
    parser.add_argument(
        "--free-core",
        action="store_true",
        help="also run both sides with one core left free, where the server's HTTP and the client's "
        "parsing run beside the model instead of taking turns with it",
    )
    args = parser.parse_args(argv)
    cores = os.cpu_count() or 1
    configurations = (cores, max(1, cores - 1)) if args.free_core else (cores,)  # the app gives llama.cpp every core
    ratios = {}
    for threads in dict.fromkeys(configurations):
        ratios[threads] = report(threads, *compare(threads, args.repeats, args.max_tokens), args.max_tokens)
    print(f"target: at most {TARGET_SLOWER:.0%} slower (the app's set-up: {cores} threads)")
    result("embedded_overhead_ratio", ratios[cores])
    return ratios[cores]


if __name__ == "__main__":
    main()
