"""The built-in agent conversation, measured: with the tool result the answer is right, cleared it is not.

`python -m bench.agent_trace` — the weather agent's trace (lib/analysis/agent_trace.py) for each of
its 10 cities, asked "What is the wind speed in <city>?" on the embedded model (SmolLM2-135M,
temperature 0), with the request each strategy makes through the one request builder (the trace's
two tool definitions included, as the chat page loads them):

- every tool result sent (Full history);
- *Clear old tool results*, the last 1 kept: the older two are placeholders, the weather result
  the question needs is sent;
- *Clear old tool results*, none kept: the weather result is a placeholder too.

An answer is right when it names the wind speed the tool reported. Prints the answers and the counts.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from bench.common import result, table
from lib.analysis.agent_trace import SYSTEM, TOOLS, AgentCase, cases
from lib.backends.embedded import EmbeddedServer, EmbeddedTokenizer
from lib.backends.providers import ProviderConfig, make_client, stream_chat
from lib.context.conversation import Message, SystemPrompt
from lib.context.payload import Sampling
from lib.context.request import Target, build_request, send_blocker
from lib.context.strategies import Strategy
from lib.context.tools import ToolDefinition, ToolSettings
from lib.core.models import EMBEDDED_MODEL, info_for
from lib.core.outcome import CallOutcome

SAMPLING = Sampling(temperature=0.0, max_tokens=24, stream=False)
TOOL_SETTINGS = ToolSettings(tuple(ToolDefinition.from_api(t) for t in TOOLS))


@dataclass(frozen=True)
class Arm:
    name: str
    strategy: Strategy
    should_answer: bool  # the result the question needs is sent


ARMS = (
    Arm("every tool result sent", Strategy("full"), True),
    Arm("clear old tool results, last 1 kept", Strategy("clear_tool_results", last_turns=1), True),
    Arm("clear old tool results, none kept", Strategy("clear_tool_results", last_turns=0), False),
)


def ask(client, target: Target, case: AgentCase, arm: Arm) -> tuple[str, int]:
    history = [Message.from_api(m) for m in case.messages]
    question = Message("user", case.question)
    request = build_request(
        SystemPrompt(SYSTEM), history, question, arm.strategy, target, SAMPLING, tools=TOOL_SETTINGS
    )
    blocked = send_blocker(request)
    if blocked:
        raise RuntimeError(f"{case.city}, {arm.name}: not sent: {blocked}")
    outcome = CallOutcome()
    for _ in stream_chat(client, request.plan.body, outcome):
        pass
    if outcome.error:
        raise RuntimeError(f"{case.city}, {arm.name}: {outcome.error}")
    if outcome.usage.prompt_tokens != request.plan.prompt_tokens:
        raise RuntimeError(
            f"{case.city}, {arm.name}: the meter said {request.plan.prompt_tokens:,}, "
            f"the server {outcome.usage.prompt_tokens}"
        )
    return outcome.text, request.plan.prompt_tokens


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.parse_args(argv)
    server = EmbeddedServer().ensure_running()
    try:
        target = Target(info_for(EMBEDDED_MODEL), EmbeddedTokenizer(), EMBEDDED_MODEL)
        client = make_client(ProviderConfig("embedded", EMBEDDED_MODEL, base_url=server.base_url, timeout_s=300))
        counts = {arm.name: 0 for arm in ARMS}
        rows = []
        for case in cases():
            row: list[object] = [case.city, case.expected]
            for arm in ARMS:
                text, tokens = ask(client, target, case, arm)
                right = case.answered(text)
                counts[arm.name] += right
                row.append(f"{'right' if right else 'wrong'}: “{' '.join(text.split())[:60]}” ({tokens} tokens)")
            rows.append(row)
            print(f"  {case.city} measured", flush=True)
    finally:
        server.stop()
    print("\nThe built-in agent conversation on SmolLM2-135M, temperature 0: is the wind speed in the answer?")
    print(table(["city", "wind (km/h)", *(arm.name for arm in ARMS)], rows))
    print()
    for arm in ARMS:
        print(f"{arm.name}: right in {counts[arm.name]} of {len(rows)}")
    kept, cleared = counts[ARMS[0].name], counts[ARMS[2].name]
    result("agent_trace_right_with_result", kept)
    result("agent_trace_right_with_result_cleared", cleared)
    return 0 if kept >= 8 and len(rows) - cleared >= 8 else 1


if __name__ == "__main__":
    raise SystemExit(main())
