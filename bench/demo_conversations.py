"""The built-in demo conversations, measured: right with the context they need, wrong without it.

`python -m bench.demo_conversations` — every demo of lib/analysis/demo_conversations.py, each in its 10
variants (ten words planted in the same conversation), asked on the embedded model (SmolLM2-135M,
temperature 0) under each of its Compare variants (the full context, and the contexts that leave the
fact out: no history, the last 2 turns, no system prompt), each request made by Compare's
`plan_variant` through the one request builder and sent with the real openai client. On every call
the meter's prompt tokens must equal the server's.

An answer is right when it contains the planted word, case folded (the experiments' `icontains`).
A demo passes when every context is as expected in at least 9 of 10 variants. Prints the answers
and the counts.
"""

from __future__ import annotations

import argparse

from bench.common import result, table
from lib.analysis.compare import plan_variant
from lib.analysis.demo_conversations import DEMOS, Arm, DemoCase
from lib.backends.embedded import EmbeddedServer, EmbeddedTokenizer
from lib.backends.providers import ProviderConfig, make_client, stream_chat
from lib.context.conversation import Message, SystemPrompt
from lib.context.payload import Sampling
from lib.context.request import Target, send_blocker
from lib.core.models import EMBEDDED_MODEL, info_for
from lib.core.outcome import CallOutcome

# The chat's reply limit would do as well: the word comes in the first few tokens.
SAMPLING = Sampling(temperature=0.0, max_tokens=32, stream=False)
NEEDED = 9  # of 10: right where it should be, wrong where it should be


def _short(arm: Arm) -> str:
    """The context in a word, for the result lines: full, none, last_turns, or bare (no system prompt)."""
    return "bare" if arm.variant.system_override == "" else arm.variant.strategy.kind


def ask(client, target: Target, case: DemoCase, arm: Arm) -> tuple[str, int]:
    """The answer under `arm`, and the prompt tokens the meter predicted (checked against the server's)."""
    history = [Message.from_api(m) for m in case.messages]
    system = SystemPrompt(case.system, included=bool(case.system))
    request = plan_variant(arm.variant, system, history, case.question, target, SAMPLING)
    blocked = send_blocker(request)
    if blocked:
        raise RuntimeError(f"{case.expected}, {arm.variant.name}: not sent: {blocked}")
    outcome = CallOutcome()
    for _ in stream_chat(client, request.plan.body, outcome):
        pass
    if outcome.error:
        raise RuntimeError(f"{case.expected}, {arm.variant.name}: {outcome.error}")
    if outcome.usage.prompt_tokens != request.plan.prompt_tokens:
        raise RuntimeError(
            f"{case.expected}, {arm.variant.name}: the meter said {request.plan.prompt_tokens:,}, "
            f"the server {outcome.usage.prompt_tokens}"
        )
    return outcome.text, request.plan.prompt_tokens


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--demo", action="append", help="only this demo (its key); repeatable")
    parser.add_argument(
        "--threads",
        type=int,
        default=0,
        help="the server's threads (default: the app's, one per usable core); on a machine other work keeps "
        "busy, 1 is many times faster (llama.cpp's threads wait for each other at every token)",
    )
    args = parser.parse_args(argv)
    demos = [d for d in DEMOS if not args.demo or d.key in args.demo]
    server = EmbeddedServer(threads=args.threads).ensure_running()
    summary: list[list[object]] = []
    passed = True
    calls = 0
    try:
        target = Target(info_for(EMBEDDED_MODEL), EmbeddedTokenizer(), EMBEDDED_MODEL)
        client = make_client(ProviderConfig("embedded", EMBEDDED_MODEL, base_url=server.base_url, timeout_s=300))
        for demo in demos:
            print(f"\n{demo.title} ({demo.key})", flush=True)
            rights = [0] * len(demo.arms)
            rows = []
            for case in demo.cases():
                row: list[object] = [case.expected]
                for i, arm in enumerate(demo.arms):
                    text, tokens = ask(client, target, case, arm)
                    calls += 1
                    right = case.answered(text)
                    rights[i] += right
                    shown = " ".join(text.split())[:50]
                    row.append(f"{'right' if right else 'wrong'}: “{shown}” ({tokens} t)")
                rows.append(row)
                print(f"  {case.expected} measured", flush=True)
            print(table(["planted", *(arm.variant.name for arm in demo.arms)], rows))
            for arm, right in zip(demo.arms, rights, strict=True):
                as_expected = right if arm.right else len(rows) - right
                ok = as_expected >= NEEDED
                passed = passed and ok
                should = "right" if arm.right else "wrong"
                summary.append([demo.title, arm.variant.name, f"{right} of {len(rows)}", should, "yes" if ok else "NO"])
                result(f"demo_{demo.key}_right_{_short(arm)}", right)
    finally:
        server.stop()
    print("\nThe demo conversations on SmolLM2-135M, temperature 0: is the planted word in the answer?")
    print(table(["demo", "context", "right", "should be", f"as it should in ≥ {NEEDED} of 10"], summary))
    print(f"\nThe meter equalled the server's prompt tokens on all {calls} calls.")
    result("demo_conversations_as_expected", int(passed))
    return 0 if passed else 1


if __name__ == "__main__":
    raise SystemExit(main())
