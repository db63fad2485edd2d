"""Agent context: the chat page's rerun after one include toggle, with the composition bar, on an agent
trace against a plain chat of the same tokens.

`python -m bench.agent_context [--reruns N] [--rounds R] [--result-bytes B]` — the agent trace is R
rounds (a question, an assistant's tool call, the tool's result of B bytes, the answer): 50 rounds
are 200 messages with 50 tool results of 2 KB. The plain chat carries the same texts as user and
assistant messages (a call's arguments and a result as assistant text), so the prompt is about the
same size and only the messages' shapes differ: what tool calls and results cost the page (pairing
them, counting them, splitting the bar by part). Both pages are the real app, on the embedded model,
with the same toggle clicked in each; the pages are interleaved so load from elsewhere hits them alike.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

from bench.common import APP, app_test, median, patch_apptest_polling, result, seconds, table
from lib.context.conversation import Message

RERUNS = 7
ROUNDS = 50
RESULT_BYTES = 2048
TARGET_RATIO = 1.2


def _result_text(index: int, size: int) -> str:
    """A JSON tool result of exactly `size` bytes (a search result's rows)."""
    head = {"query": f"station {index}", "rows": []}
    rows = []
    while len(json.dumps({**head, "rows": rows})) < size:
        n = len(rows)
        rows.append({"time": f"{n:02d}:00", "temp_c": (index + n) % 30, "wind_kmh": (index * 7 + n) % 60})
    text = json.dumps({**head, "rows": rows[:-1]})
    return text + " " * (size - len(text))


def agent_trace(rounds: int = ROUNDS, result_bytes: int = RESULT_BYTES) -> list[Message]:
    history = []
    for i in range(rounds):
        call = {
            "id": f"call_{i}",
            "type": "function",
            "function": {"name": "get_readings", "arguments": json.dumps({"station": i})},
        }
        history += [
            Message.from_api({"role": "user", "content": f"Question {i}: what did station {i} read today?"}),
            Message.from_api({"role": "assistant", "content": "", "tool_calls": [call]}),
            Message.from_api({"role": "tool", "tool_call_id": f"call_{i}", "content": _result_text(i, result_bytes)}),
            Message.from_api({"role": "assistant", "content": f"Station {i} read mild weather all day."}),
        ]
    return history


def plain_chat(trace: list[Message]) -> list[Message]:
    """The same texts as user and assistant messages: a call's arguments and a result become assistant text."""
    plain = []
    for message in trace:
        text = message.content or ", ".join(f"{c.name}({c.arguments})" for c in message.tool_calls)
        plain.append(Message("user" if message.role == "user" else "assistant", text, id=message.id))
    return plain


def _one_browser() -> None:
    """AppTest has no browser: the owner cookie a browser would send (ui/owner.py), the same for both pages."""
    from streamlit.runtime.context import ContextProxy, StreamlitCookies

    jar = {"context_lab_owner": "bench-agent-context-browser-0123"}
    ContextProxy.cookies = property(lambda self: StreamlitCookies(dict(jar)))  # type: ignore[method-assign,assignment]


def _toggle(at, message_id: str) -> None:
    widget = at.toggle(key=f"include_{message_id}")
    widget.set_value(not widget.value).run()
    if at.exception:
        raise RuntimeError(f"the rerun failed: {at.exception}")


def _prompt_tokens(at) -> int:
    return int(next(m.value for m in at.metric if m.label.startswith("Prompt tokens")).replace(",", ""))


def main(argv: list[str] | None = None) -> float:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reruns", type=int, default=RERUNS)
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    parser.add_argument("--result-bytes", type=int, default=RESULT_BYTES)
    args = parser.parse_args(argv)
    patch_apptest_polling()
    _one_browser()
    os.environ["CONTEXT_LAB_DB"] = str(Path(tempfile.mkdtemp()) / "bench.db")  # not the user's sessions
    trace = agent_trace(args.rounds, args.result_bytes)
    histories = {"plain chat": plain_chat(trace), "agent trace": trace}
    # A question four messages from the end: on the newest page, its own round untouched by the pairing.
    toggled = trace[-4].id
    pages = {name: app_test(APP, history) for name, history in histories.items()}
    for at in pages.values():
        _toggle(at, toggled)  # warm: the counts of every message are cached after the first draw
    times: dict[str, list[float]] = {name: [] for name in pages}
    for _ in range(args.reruns):
        for name, at in pages.items():
            times[name].append(seconds(lambda at=at: _toggle(at, toggled)))
    rows, medians = [], {}
    for name, at in pages.items():
        medians[name] = median(times[name])
        bars = [c for c in at.get("plotly_chart") if '"barmode":"stack"' in c.proto.spec.replace(" ", "")]
        rows.append((name, f"{len(histories[name]):,}", f"{_prompt_tokens(at):,}", f"{medians[name]:.3f}", len(bars)))
    ratio = medians["agent trace"] / medians["plain chat"]
    print(
        f"\nChat page rerun after one include toggle, composition bar drawn, AppTest, median of {args.reruns} "
        f"(agent trace: {args.rounds} rounds, {args.rounds} tool results of {args.result_bytes:,} B; "
        f"target <= {TARGET_RATIO}x the plain chat)"
    )
    print(table(["history", "messages", "prompt tokens", "rerun (s)", "composition bars"], rows))
    print(f"ratio agent / plain: {ratio:.2f}x")
    result("agent_context_ratio", ratio)
    return ratio


if __name__ == "__main__":
    main()
