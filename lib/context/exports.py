"""A session's context in the forms other tools read: the next call's request body, its messages
array, and one JSONL line each for OpenAI's fine-tuning format and the evals format.

Every export is made from the body the one request builder planned (`lib/context/request.py`: the
body the meter counts and the preview shows), so what is exported is what would be sent: the
request body export is exactly the bytes POSTed (`payload.serialise`). A key never goes out: every
string is masked of the keys this session holds (`lib/core/secrets.mask_secrets`), and a body never
carries one (the key travels in a header the app sets, which no export holds). No I/O.
"""

from __future__ import annotations

import json
from typing import Any

from lib.context.payload import serialise
from lib.core.secrets import mask_secrets

# Body fields that describe the context (the rest are how to sample it) kept in a fine-tuning line.
_FINE_TUNING_FIELDS = ("tools", "parallel_tool_calls")


def _masked(value: Any, secrets: tuple[str, ...]) -> Any:
    """`value` with every string masked of `secrets` (the JSON stays valid: masking is per string)."""
    if not secrets:
        return value
    if isinstance(value, str):
        return mask_secrets(value, secrets)
    if isinstance(value, list):
        return [_masked(v, secrets) for v in value]
    if isinstance(value, dict):
        return {k: _masked(v, secrets) for k, v in value.items()}
    return value


def request_body(body: dict, secrets: tuple[str, ...] = ()) -> bytes:
    """The next call's body, exactly the bytes the SDK POSTs (the preview shows them indented)."""
    return serialise(_masked(body, secrets))


def messages_array(body: dict, secrets: tuple[str, ...] = ()) -> bytes:
    """The body's `messages`, as a JSON array (indented: it is read by people too)."""
    return json.dumps(_masked(body["messages"], secrets), ensure_ascii=False, indent=2).encode()


def _line(value: dict) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"


def fine_tuning_line(body: dict, secrets: tuple[str, ...] = ()) -> bytes:
    """One line of OpenAI's chat fine-tuning format: {"messages": [...], "tools": [...]} (tools only
    when the body has them)."""
    line: dict[str, Any] = {"messages": body["messages"]}
    line.update({key: body[key] for key in _FINE_TUNING_FIELDS if key in body})
    return _line(_masked(line, secrets))


def split_for_evals(messages: list[dict]) -> tuple[list[dict], str]:
    """The evals sample's `input` (the messages up to and including the last user message) and its
    `ideal` (the text of the assistant's reply right after it; "" when there is none yet)."""
    last_user = max((i for i, m in enumerate(messages) if m.get("role") == "user"), default=len(messages) - 1)
    after = messages[last_user + 1 : last_user + 2]
    reply = after[0] if after and after[0].get("role") == "assistant" else None
    ideal = reply.get("content") if reply is not None else None
    return messages[: last_user + 1], ideal if isinstance(ideal, str) else ""


def evals_line(body: dict, secrets: tuple[str, ...] = ()) -> bytes:
    """One line of the evals format: {"input": [...messages], "ideal": "..."}."""
    given, ideal = split_for_evals(body["messages"])
    return _line(_masked({"input": given, "ideal": ideal}, secrets))


# What the page offers, in order: label, file name's ending, MIME type, maker.
EXPORTS = (
    ("Request body", "request.json", "application/json", request_body),
    ("Messages", "messages.json", "application/json", messages_array),
    ("Fine-tuning JSONL", "fine-tuning.jsonl", "application/jsonl", fine_tuning_line),
    ("Evals JSONL", "evals.jsonl", "application/jsonl", evals_line),
)
