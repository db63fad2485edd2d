"""Contexts people already have, read into one shape: a Chat Completions request body, a bare
`messages` array, a curl command, a JSONL log (of requests, request/response pairs, Batch API input
lines, fine-tuning or evals lines), the Responses API's input, ChatGPT's `conversations.json`, and
OpenTelemetry GenAI spans exported to JSON.

`read_source(text)` detects the format and lists what there is to choose (a log's lines, an export's
conversations, a trace's spans); `Source.context(i)` reads one into an `ImportedContext`: the system
prompt, the messages as Chat Completions wire dicts, the tool definitions, the model and the sampling
settings, and `report`: one `Note` per field or message that was dropped or changed, and why. Nothing
is left out without a note.

Everything is read through `lib/store/documents.py` (bounded in size, depth and digits), so a huge or
deep file is refused fast, by name; every refusal is an `ImportRefused` naming the line where there
is one. A key (`api_key`, an `Authorization` header, …) is never taken from a file: it is named as
ignored, and its value is never kept. A curl command is split into words as a POSIX shell splits
them (what `shlex.split` gives, in linear time), never run.

This module lives on the store floor (not lib/context) because it reads outside text through the one
bounded loader, which is the store's. It does no I/O itself.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from lib.context.conversation import Message, MessageShapeError, SystemPrompt
from lib.context.tools import CHOICES, ToolDefinition, ToolDefinitionError
from lib.core.errors import ImportRefused
from lib.store.documents import MAX_CHARS, DocumentError, NotWellFormed, TooDeep, TooLong, load_json
from lib.store.session import Session, new_session_id

MAX_OPTIONS = 500  # lines, conversations or spans offered to pick from (a list past that helps nobody)
MAX_CURL_CHARS = 1024 * 1024
ROLES = ("system", "developer", "user", "assistant", "tool")
# Fields that can carry a key or a credential: never read, always named as ignored.
SECRET_FIELDS = frozenset(
    {"api_key", "apikey", "api-key", "x-api-key", "authorization", "openai_api_key", "openai-api-key", "bearer"}
)
_KEY_IN_TEXT = re.compile(r"\bsk-[A-Za-z0-9_\-]{20,}")

# --- formats, as the report and the page name them ---------------------------------------------

CHAT_BODY = "Chat Completions request body"
MESSAGES = "messages array"
CURL = "curl command"
JSONL = "JSONL log"
RESPONSES = "Responses API input"
CHATGPT = "ChatGPT conversations.json"
OTEL = "OpenTelemetry GenAI spans"
PAIR = "request/response pair"
BATCH = "Batch API input line"
FINE_TUNING = "fine-tuning line"
EVALS = "evals sample"


@dataclass(frozen=True)
class Note:
    """One line of the import report: where (a message, a field) and what happened to it."""

    where: str
    what: str

    def __str__(self) -> str:
        return f"{self.where}: {self.what}"


@dataclass(frozen=True)
class ImportedContext:
    """A context as the next Chat Completions call would carry it."""

    format: str
    system: str | None  # the leading system (or developer) message's text; None: there was none
    messages: tuple[dict, ...]  # Chat Completions wire dicts, oldest first (the system prompt not among them)
    tools: tuple[dict, ...] = ()  # {"type": "function", "function": {...}}
    model: str | None = None
    # temperature, max_tokens, stream, tool_choice, parallel_tool_calls: only those the source gave
    settings: dict[str, Any] = field(default_factory=dict)
    report: tuple[Note, ...] = ()


@dataclass(frozen=True)
class Source:
    """A readable text: its format, and the contexts in it to choose from (one label each)."""

    format: str
    options: tuple[str, ...]
    _readers: tuple[Callable[[], ImportedContext], ...] = field(repr=False, compare=False)
    left_out: int = 0  # options past MAX_OPTIONS, not offered

    def context(self, index: int = 0) -> ImportedContext:
        if not 0 <= index < len(self._readers):
            raise ImportRefused(f"There is no item {index + 1}: the text holds {len(self._readers)}.")
        return self._readers[index]()


# --- the report, kept while reading ---------------------------------------------------------------


class _Report:
    def __init__(self) -> None:
        self.notes: list[Note] = []

    def add(self, where: str, what: str) -> None:
        self.notes.append(Note(where, what))


def _dict(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def _shown(value: Any, limit: int = 60) -> str:
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _secrets(document: Any, report: _Report, path: str = "") -> None:
    """Name every field that could hold a key, without reading its value."""
    stack: list[tuple[Any, str]] = [(document, path)]
    while stack:
        node, where = stack.pop()
        if isinstance(node, dict):
            for key, value in node.items():
                inner = f"{where}.{key}" if where else str(key)
                if str(key).lower() in SECRET_FIELDS:
                    report.add(inner, "ignored: a key or credential is never taken from a file")
                else:
                    stack.append((value, inner))
        elif isinstance(node, list):
            stack.extend((item, f"{where}[{i}]") for i, item in enumerate(node))


def _masked(text: str, where: str, report: _Report) -> str:
    """`text` with anything shaped like an OpenAI key masked (a log line can carry one in a message)."""
    if "sk-" not in text or not _KEY_IN_TEXT.search(text):
        return text
    report.add(where, "a key-shaped string (sk-…) in the text was masked: a key is never taken from a file")
    return _KEY_IN_TEXT.sub("sk-***", text)


# --- messages ------------------------------------------------------------------------------------

_CHAT_PART_TEXT = {"text": "text", "input_text": "text", "output_text": "text", "refusal": "refusal"}


def _text_of_parts(parts: list, where: str, report: _Report) -> str | None:
    """The text of a content-parts list (Chat Completions' or the Responses API's), joined with a line
    break when there are several; every other part named as dropped. None: no text part at all."""
    texts: list[str] = []
    for i, part in enumerate(parts):
        if isinstance(part, str):  # ChatGPT's export and some logs write parts as bare strings
            texts.append(part)
            continue
        # ChatGPT's export names a part's kind `content_type` (an image: "image_asset_pointer").
        kind = (part.get("type") or part.get("content_type")) if isinstance(part, dict) else None
        key = _CHAT_PART_TEXT.get(kind) if isinstance(kind, str) else None
        if key is not None and isinstance(part.get(key), str):
            texts.append(part[key])
            if kind == "refusal":
                report.add(f"{where}.content[{i}]", "a refusal part: kept as the message's text")
        else:
            report.add(f"{where}.content[{i}]", f"dropped: a {_shown(kind)} part (only text is kept)")
    if not texts:
        return None
    if len(texts) > 1:  # joined as Message.from_api joins them: the model reads the parts as one text
        report.add(f"{where}.content", f"{len(texts)} text parts joined into one text")
    return "".join(texts)


def _arguments(value: Any, where: str, report: _Report) -> str:
    if isinstance(value, str):
        return value
    report.add(where, "the arguments were a JSON value, not text: written out as JSON text")
    return json.dumps(value, ensure_ascii=False)


def _tool_calls(raw: Any, where: str, report: _Report) -> list[dict]:
    if not isinstance(raw, list):
        report.add(where, f"dropped: tool_calls must be a list, not {_shown(raw)}")
        return []
    calls = []
    for i, call in enumerate(raw):
        at = f"{where}[{i}]"
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            report.add(at, f"dropped: not a function call with a name ({_shown(call)})")
            continue
        if call.get("type", "function") != "function":
            report.add(at, f"dropped: a {_shown(call.get('type'))} tool call (only function calls are kept)")
            continue
        call_id = call.get("id")
        if not isinstance(call_id, str) or not call_id:
            call_id = f"call_{i}"
            report.add(at, f"had no id: given {call_id!r}")
        arguments = _arguments(function.get("arguments", "{}"), f"{at}.function.arguments", report)
        calls.append(
            {"id": call_id, "type": "function", "function": {"name": function["name"], "arguments": arguments}}
        )
    return calls


_KEPT_MESSAGE_FIELDS = {"role", "content", "name", "tool_calls", "tool_call_id"}


def chat_message(raw: Any, where: str, report: _Report) -> dict | None:
    """A Chat Completions message as the wire dict the app keeps, or None (dropped, and noted)."""
    if not isinstance(raw, dict):
        report.add(where, f"dropped: not a message (an object with a role), but {_shown(raw)}")
        return None
    role = raw.get("role")
    if role == "function":
        report.add(where, "dropped: a legacy `function` message (the API's old form of a tool result)")
        return None
    if role not in ROLES:
        report.add(where, f"dropped: the role {_shown(role)} is none of {', '.join(ROLES)}")
        return None
    for key in raw:
        if key not in _KEPT_MESSAGE_FIELDS and str(key).lower() not in SECRET_FIELDS:
            report.add(f"{where}.{key}", "dropped: not a field a message keeps here")
    content = raw.get("content")
    if isinstance(content, list):
        content = _text_of_parts(content, where, report)
    elif content is not None and not isinstance(content, str):
        report.add(f"{where}.content", f"was {_shown(content)}: written out as JSON text")
        content = json.dumps(content, ensure_ascii=False)
    message: dict[str, Any] = {"role": role, "content": content}
    if role == "assistant" and "tool_calls" in raw:
        calls = _tool_calls(raw["tool_calls"], f"{where}.tool_calls", report)
        if calls:
            message["tool_calls"] = calls
    elif "tool_calls" in raw:
        report.add(f"{where}.tool_calls", f"dropped: only an assistant message calls tools, not a {role} message")
    if role == "tool":
        call_id = raw.get("tool_call_id")
        if not isinstance(call_id, str) or not call_id:
            report.add(where, "dropped: a tool result without the tool_call_id of the call it answers")
            return None
        message["tool_call_id"] = call_id
    elif "tool_call_id" in raw:
        report.add(f"{where}.tool_call_id", f"dropped: only a tool message answers a call, not a {role} message")
    name = raw.get("name")
    if isinstance(name, str) and name and role != "tool":
        message["name"] = name
    elif "name" in raw:
        report.add(f"{where}.name", f"dropped: {_shown(name)} is not a name this message can carry")
    if message["content"] is None and not message.get("tool_calls"):
        report.add(f"{where}.content", "was empty: kept as an empty text")
        message["content"] = ""
    if isinstance(message["content"], str):
        message["content"] = _masked(message["content"], f"{where}.content", report)
    return message


def _messages(raw: Any, where: str, report: _Report) -> list[dict]:
    if not isinstance(raw, list):
        raise ImportRefused(f"`{where}` must be a list of messages, not {_shown(raw)}.")
    return [m for i, item in enumerate(raw) if (m := chat_message(item, f"{where}[{i}]", report)) is not None]


# --- tools ---------------------------------------------------------------------------------------

_TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")


def _function_tool(function: Any, where: str, report: _Report) -> dict | None:
    """{"type": "function", "function": {...}} from a function's name, description, parameters, strict."""
    if not isinstance(function, dict) or not isinstance(function.get("name"), str):
        report.add(where, f"dropped: not a function definition with a name ({_shown(function)})")
        return None
    name = function["name"]
    if not _TOOL_NAME.match(name):
        report.add(
            where, f"dropped: {_shown(name)} is not a function name the API accepts (a-z, 0-9, _ and -, 1 to 64)"
        )
        return None
    kept: dict[str, Any] = {"name": name}
    description = function.get("description")
    if isinstance(description, str):
        kept["description"] = description
    parameters = function.get("parameters")
    if isinstance(parameters, str):  # OpenLLMetry writes the schema as JSON text
        try:
            parameters = json.loads(parameters)
        except ValueError:
            report.add(f"{where}.parameters", "dropped: not JSON")
            parameters = None
    if isinstance(parameters, dict):
        kept["parameters"] = parameters
    elif parameters is not None:
        report.add(f"{where}.parameters", f"dropped: {_shown(parameters)} is not a JSON Schema object")
    if isinstance(function.get("strict"), bool):
        kept["strict"] = function["strict"]
    return {"type": "function", "function": kept}


def _chat_tools(raw: Any, where: str, report: _Report) -> list[dict]:
    if not isinstance(raw, list):
        report.add(where, f"dropped: tools must be a list, not {_shown(raw)}")
        return []
    tools = []
    for i, tool in enumerate(raw):
        at = f"{where}[{i}]"
        if isinstance(tool, dict) and tool.get("type", "function") != "function":
            report.add(at, f"dropped: a {_shown(tool.get('type'))} tool (only function tools are kept)")
            continue
        made = _function_tool(tool.get("function") if isinstance(tool, dict) else None, at, report)
        if made is not None:
            tools.append(made)
    return tools


def _flat_tools(raw: Any, where: str, report: _Report) -> list[dict]:
    """Tools written flat ({"type": "function", "name", "description", "parameters"}): the Responses
    API's form and OpenTelemetry's `gen_ai.tool.definitions`."""
    if not isinstance(raw, list):
        report.add(where, f"dropped: tools must be a list, not {_shown(raw)}")
        return []
    tools = []
    for i, tool in enumerate(raw):
        at = f"{where}[{i}]"
        if isinstance(tool, dict) and tool.get("type", "function") != "function":
            report.add(at, f"dropped: a {_shown(tool.get('type'))} tool (only function tools are kept)")
            continue
        made = _function_tool(tool, at, report)
        if made is not None:
            tools.append(made)
    return tools


# --- settings ------------------------------------------------------------------------------------

# Body fields the session has no setting for: named, with why, so nothing is dropped unseen.
_NOT_KEPT = {
    "top_p": "the session has no top_p setting",
    "frequency_penalty": "the session has no penalty settings",
    "presence_penalty": "the session has no penalty settings",
    "seed": "the chat sends no seed (Compare's repeated runs do)",
    "stop": "the session has no stop sequences",
    "n": "the chat asks for one answer",
    "logprobs": "the session does not ask for log probabilities",
    "top_logprobs": "the session does not ask for log probabilities",
    "logit_bias": "the session has no logit bias",
    "response_format": "the chat asks for free text",
    "user": "the app sends its own hashed session id, when asked to",
    "safety_identifier": "the app sends its own hashed session id, when asked to",
    "stream_options": "the app sets it itself (include_usage, when streaming)",
    "metadata": "not part of the context",
    "store": "the app never asks OpenAI to store a call",
    "service_tier": "the session has no service tier",
    "reasoning_effort": "the session has no reasoning setting",
    "reasoning": "the session has no reasoning setting",
    "modalities": "the chat asks for text",
    "audio": "the chat asks for text",
    "prediction": "the session has no predicted output",
    "web_search_options": "the session has no built-in tools",
    "verbosity": "the session has no verbosity setting",
    "prompt_cache_key": "the session has no cache key",
    "text": "the chat asks for free text",
    "truncation": "the app decides what the context holds (its strategies)",
    "include": "not part of the context",
    "background": "the chat waits for its answer",
    "max_tool_calls": "the session has no such limit",
    "top_k": "the session has no top_k setting",
}


def _sampling(body: dict, report: _Report, *, limit_fields: tuple[str, ...]) -> dict[str, Any]:
    settings: dict[str, Any] = {}
    temperature = body.get("temperature")
    if "temperature" in body:
        if isinstance(temperature, (int, float)) and not isinstance(temperature, bool) and 0 <= temperature <= 2:
            settings["temperature"] = float(temperature)
        else:
            report.add("temperature", f"dropped: {_shown(temperature)} is not a temperature from 0 to 2")
    for limit_field in limit_fields:
        if limit_field not in body:
            continue
        value = body[limit_field]
        if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 100_000:
            settings["max_tokens"] = value
            if limit_field != "max_tokens":
                report.add(
                    limit_field,
                    "kept as the reply limit (sent as max_tokens or max_completion_tokens, as the model takes it)",
                )
        else:
            report.add(limit_field, f"dropped: {_shown(value)} is not a reply limit from 1 to 100,000")
    if "stream" in body:
        if isinstance(body["stream"], bool):
            settings["stream"] = body["stream"]
        else:
            report.add("stream", f"dropped: {_shown(body['stream'])} is not true or false")
    if "parallel_tool_calls" in body:
        if isinstance(body["parallel_tool_calls"], bool):
            settings["parallel_tool_calls"] = body["parallel_tool_calls"]
        else:
            report.add("parallel_tool_calls", f"dropped: {_shown(body['parallel_tool_calls'])} is not true or false")
    return settings


def _tool_choice(raw: Any, report: _Report) -> str | None:
    """'auto', 'none', 'required' or a function's name."""
    if raw in ("auto", "none", "required"):
        return str(raw)
    if isinstance(raw, dict):
        function: dict = raw["function"] if isinstance(raw.get("function"), dict) else raw
        if raw.get("type") == "function" and isinstance(function.get("name"), str):
            return str(function["name"])
    report.add("tool_choice", f"dropped: {_shown(raw)} is not auto, none, required or a function")
    return None


def _model(body: dict, report: _Report) -> str | None:
    model = body.get("model")
    if model is None or (isinstance(model, str) and model.strip()):
        return model
    report.add("model", f"dropped: {_shown(model)} is not a model name")
    return None


def _others(body: dict, known: set[str], report: _Report) -> None:
    for key in body:
        if key in known or str(key).lower() in SECRET_FIELDS:
            continue
        reason = _NOT_KEPT.get(key, "not a field this app reads")
        report.add(str(key), f"not kept: {reason}")


def _split_system(messages: list[dict], report: _Report, where: str = "messages[0]") -> tuple[str | None, list[dict]]:
    """A leading system message becomes the system prompt; a developer message, and any later system
    message, stay messages (with their role: the next call is the one imported)."""
    if not messages or messages[0]["role"] != "system" or not isinstance(messages[0]["content"], str):
        return None, messages
    first = messages[0]
    if "name" in first:
        report.add(f"{where}.name", "dropped: the system prompt carries no name")
    return first["content"], messages[1:]


def _context(
    fmt: str,
    messages: list[dict],
    report: _Report,
    *,
    system: str | None = None,
    tools: list[dict] | None = None,
    model: str | None = None,
    settings: dict[str, Any] | None = None,
) -> ImportedContext:
    if system is None:
        system, messages = _split_system(messages, report)
    if not messages and system is None:
        raise ImportRefused("It holds no message to import.")
    return ImportedContext(
        fmt, system, tuple(messages), tuple(tools or ()), model, dict(settings or {}), tuple(report.notes)
    )


# --- Chat Completions ----------------------------------------------------------------------------

_CHAT_FIELDS = {
    "messages",
    "model",
    "tools",
    "functions",
    "tool_choice",
    "function_call",
    "temperature",
    "max_tokens",
    "max_completion_tokens",
    "stream",
    "parallel_tool_calls",
}


def _chat_body(body: dict, fmt: str = CHAT_BODY, report: _Report | None = None) -> ImportedContext:
    report = report or _Report()
    _secrets(body, report)
    messages = _messages(body.get("messages"), "messages", report)
    tools = _chat_tools(body["tools"], "tools", report) if "tools" in body else []
    if "functions" in body:  # the API's old form of tools
        if isinstance(body["functions"], list):
            report.add("functions", "the legacy `functions` list: kept as tools")
            tools += [t for i, f in enumerate(body["functions"]) if (t := _function_tool(f, f"functions[{i}]", report))]
        else:
            report.add("functions", "dropped: not a list")
    settings = _sampling(body, report, limit_fields=("max_tokens", "max_completion_tokens"))
    if "tool_choice" in body and (choice := _tool_choice(body["tool_choice"], report)) is not None:
        settings["tool_choice"] = choice
    if "function_call" in body:
        report.add("function_call", "dropped: the legacy form of tool_choice")
    _others(body, _CHAT_FIELDS, report)
    return _context(fmt, messages, report, tools=tools, model=_model(body, report), settings=settings)


def _bare_messages(items: list, fmt: str = MESSAGES) -> ImportedContext:
    report = _Report()
    _secrets(items, report)
    return _context(fmt, _messages(items, "messages", report), report)


# --- the Responses API ---------------------------------------------------------------------------

_RESPONSES_FIELDS = {
    "input",
    "instructions",
    "model",
    "tools",
    "tool_choice",
    "temperature",
    "max_output_tokens",
    "stream",
    "parallel_tool_calls",
    "previous_response_id",
    "conversation",
}


def _responses_items(items: list, report: _Report, where: str = "input") -> list[dict]:
    """Input (or output) items as chat messages: messages, function calls joined to the assistant
    message they follow, function call outputs as tool messages; every other item named."""
    messages: list[dict] = []
    for i, item in enumerate(items):
        at = f"{where}[{i}]"
        if not isinstance(item, dict):
            report.add(at, f"dropped: not an item (an object), but {_shown(item)}")
            continue
        kind = item.get("type", "message")
        if kind == "message":
            # An output item's id and status are the server's bookkeeping, not the context.
            raw = {k: v for k, v in item.items() if k not in ("type", "id", "status")}
            message = chat_message(raw, at, report)
            if message is not None:
                messages.append(message)
        elif kind == "function_call":
            name, call_id = item.get("name"), item.get("call_id")
            if not isinstance(name, str) or not isinstance(call_id, str):
                report.add(at, "dropped: a function call without a name and a call_id")
                continue
            call = {
                "id": call_id,
                "type": "function",
                "function": {"name": name, "arguments": _arguments(item.get("arguments", "{}"), at, report)},
            }
            last = messages[-1] if messages else None
            # Calls that follow an assistant message (or each other) are that message's calls, as the
            # Responses API lists one assistant turn: its text, then its calls.
            follows = (
                i > 0
                and isinstance(items[i - 1], dict)
                and (_is_message(items[i - 1]) or items[i - 1].get("type") == "function_call")
            )
            if last is not None and last["role"] == "assistant" and follows:
                last.setdefault("tool_calls", []).append(call)
            else:
                messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
        elif kind == "function_call_output":
            call_id, output = item.get("call_id"), item.get("output")
            if not isinstance(call_id, str):
                report.add(at, "dropped: a function call output without the call_id it answers")
                continue
            if isinstance(output, list):
                output = _text_of_parts(output, at, report) or ""
            elif not isinstance(output, str):
                report.add(f"{at}.output", "was not text: written out as JSON text")
                output = json.dumps(output, ensure_ascii=False)
            messages.append({"role": "tool", "tool_call_id": call_id, "content": _masked(output, at, report)})
        elif kind == "reasoning":
            report.add(at, "dropped: a reasoning item (the model's own; a Chat Completions call has no place for it)")
        elif kind == "item_reference":
            report.add(at, "dropped: a reference to an item kept on OpenAI's server (its text is not in the file)")
        else:
            report.add(at, f"dropped: a {_shown(kind)} item (only messages and function calls are kept)")
    return messages


def _is_message(item: Any) -> bool:
    return isinstance(item, dict) and item.get("type", "message") == "message" and item.get("role") == "assistant"


def _responses_body(body: dict, fmt: str = RESPONSES, report: _Report | None = None) -> ImportedContext:
    report = report or _Report()
    _secrets(body, report)
    raw_input = body.get("input")
    if isinstance(raw_input, str):
        messages = [{"role": "user", "content": _masked(raw_input, "input", report)}]
    elif isinstance(raw_input, list):
        messages = _responses_items(raw_input, report)
    elif raw_input is None:
        messages = []
    else:
        raise ImportRefused(f"`input` must be a text or a list of items, not {_shown(raw_input)}.")
    for key in ("previous_response_id", "conversation"):
        if body.get(key) is not None:
            report.add(
                key,
                "not kept: the earlier turns it names are on OpenAI's server, not in this file; only "
                "the input here is imported",
            )
    tools = _flat_tools(body["tools"], "tools", report) if "tools" in body else []
    settings = _sampling(body, report, limit_fields=("max_output_tokens",))
    if "tool_choice" in body and (choice := _tool_choice(body["tool_choice"], report)) is not None:
        settings["tool_choice"] = choice
    _others(body, _RESPONSES_FIELDS, report)
    instructions = body.get("instructions")
    system = None
    if isinstance(instructions, str):
        system = instructions
        if messages and messages[0]["role"] in ("system", "developer"):
            report.add("input[0]", "a system message after the instructions: kept as a message")
    elif instructions is not None:
        report.add("instructions", f"dropped: {_shown(instructions)} is not text")
    return _context(fmt, messages, report, system=system, tools=tools, model=_model(body, report), settings=settings)


# --- JSONL lines: pairs, Batch API input, evals ---------------------------------------------------


def _reply_messages(response: Any, report: _Report) -> list[dict]:
    """The reply of a logged response: a chat.completion's first choice, or a Responses output."""
    if isinstance(response, dict) and isinstance(response.get("body"), dict):  # a Batch API output line's
        response = response["body"]
    if isinstance(response, dict) and isinstance(response.get("choices"), list) and response["choices"]:
        if len(response["choices"]) > 1:
            report.add("response.choices", f"{len(response['choices'])} choices: the first is kept as the reply")
        choice = response["choices"][0]
        message = chat_message(
            choice.get("message") if isinstance(choice, dict) else None, "response.choices[0].message", report
        )
        return [message] if message is not None else []
    if isinstance(response, dict) and isinstance(response.get("output"), list):
        return _responses_items(response["output"], report, "response.output")
    report.add("response", "dropped: neither a chat.completion with choices nor a Responses output")
    return []


def _pair(line: dict) -> ImportedContext:
    report = _Report()
    request = line.get("request")
    if isinstance(request, dict) and isinstance(request.get("body"), dict):  # a logged HTTP request
        _secrets({k: v for k, v in request.items() if k != "body"}, report, "request")
        request = request["body"]
    if not isinstance(request, dict):
        raise ImportRefused(f"`request` must be a request body (an object), not {_shown(request)}.")
    for key in line:
        if key not in ("request", "response") and str(key).lower() not in SECRET_FIELDS:
            report.add(key, "not kept: not part of the context")
    _secrets({k: v for k, v in line.items() if k != "request"}, report)
    reader = _responses_body if _kind(request) == RESPONSES else _chat_body
    sent = reader(request, PAIR, report)
    reply = _reply_messages(line.get("response"), report) if line.get("response") is not None else []
    if reply:
        report.add(
            "response", "the logged reply is the last message (not sent again: the next call carries it as history)"
        )
    messages = [*sent.messages, *reply]
    return ImportedContext(
        PAIR, sent.system, tuple(messages), sent.tools, sent.model, sent.settings, tuple(report.notes)
    )


def _batch(line: dict) -> ImportedContext:
    report = _Report()
    url = line.get("url")
    body = line.get("body")
    if not isinstance(body, dict):
        raise ImportRefused(f"The Batch line's `body` must be a request body, not {_shown(body)}.")
    if isinstance(url, str) and url.rstrip("/").endswith("/responses"):
        return _responses_body(body, BATCH, report)
    return _chat_body(body, BATCH, report)


def _evals(line: dict) -> ImportedContext:
    report = _Report()
    _secrets(line, report)
    raw = line.get("input")
    messages = [{"role": "user", "content": raw}] if isinstance(raw, str) else _messages(raw, "input", report)
    ideal = line.get("ideal")
    if isinstance(ideal, list) and ideal and all(isinstance(i, str) for i in ideal):
        if len(ideal) > 1:
            report.add("ideal", f"{len(ideal)} ideal answers: the first is the reply")
        ideal = ideal[0]
    if ideal == "":
        report.add("ideal", "empty: no reply is added")
    elif isinstance(ideal, str):
        report.add("ideal", "the ideal answer is the last message, as the assistant's reply")
        messages.append({"role": "assistant", "content": ideal})
    else:
        report.add("ideal", f"dropped: {_shown(ideal)} is not a text answer")
    for key in line:
        if key not in ("input", "ideal") and str(key).lower() not in SECRET_FIELDS:
            report.add(str(key), "not kept: not part of the context")
    return _context(EVALS, messages, report)


# --- ChatGPT's conversations.json ----------------------------------------------------------------

_CHATGPT_TEXT = ("text", "multimodal_text")


def _date(stamp: Any) -> str:
    if isinstance(stamp, (int, float)) and not isinstance(stamp, bool) and 0 < stamp < 1e11:
        return datetime.fromtimestamp(stamp, UTC).strftime("%Y-%m-%d")
    return "undated"


def _branch(conversation: dict, where: str) -> list[tuple[str, dict]]:
    """The nodes of the conversation's current branch, oldest first: from `current_node` up through
    each node's parent (the other branches are edits and regenerations the user moved away from)."""
    mapping = conversation.get("mapping")
    if not isinstance(mapping, dict):
        raise ImportRefused(f"{where}.mapping must be an object of nodes.")
    node_id = conversation.get("current_node")
    if node_id is None:  # an older export without it: the last leaf written
        leaves = [k for k, n in mapping.items() if isinstance(n, dict) and not n.get("children")]
        node_id = leaves[-1] if leaves else None
    path: list[tuple[str, dict]] = []
    seen: set[str] = set()
    while node_id is not None:
        if not isinstance(node_id, str) or node_id not in mapping or not isinstance(mapping[node_id], dict):
            raise ImportRefused(f"{where}: the node {_shown(node_id)} on the current branch is not in its mapping.")
        if node_id in seen:
            raise ImportRefused(f"{where}: the nodes' parents form a loop at {_shown(node_id)}.")
        seen.add(node_id)
        node = mapping[node_id]
        path.append((node_id, node))
        node_id = node.get("parent")
    return path[::-1]


def _chatgpt_message(node_id: str, node: dict, where: str, report: _Report) -> dict | None:
    message = node.get("message")
    if not isinstance(message, dict):
        return None  # the root: no message
    at = f"{where} node {node_id[:12]}"
    author, content, metadata = (_dict(message.get(key)) for key in ("author", "content", "metadata"))
    role = author.get("role")
    kind = content.get("content_type")
    if metadata.get("is_visually_hidden_from_conversation"):
        report.add(at, f"dropped: a hidden {role or 'unknown'} message (ChatGPT does not show it in the conversation)")
        return None
    if role == "tool":
        tool = _shown(author.get("name"))
        report.add(at, f"dropped: the output of ChatGPT's tool {tool} (no call in the API's form answers it)")
        return None
    if message.get("recipient", "all") != "all":
        report.add(at, f"dropped: a call to ChatGPT's tool {_shown(message.get('recipient'))}")
        return None
    if role not in ("system", "user", "assistant"):
        report.add(at, f"dropped: the author {_shown(role)} is none of system, user, assistant")
        return None
    if kind not in _CHATGPT_TEXT:
        report.add(at, f"dropped: a {_shown(kind)} message (only text is kept)")
        return None
    parts = content.get("parts")
    text = _text_of_parts(parts, at, report) if isinstance(parts, list) else None
    if text is None or not text.strip():
        report.add(at, f"dropped: a {role} message with no text")
        return None
    return {"role": role, "content": _masked(text, at, report)}


def _chatgpt(conversation: dict, where: str) -> ImportedContext:
    report = _Report()
    _secrets(conversation, report)
    path = _branch(conversation, where)
    messages = [m for node_id, node in path if (m := _chatgpt_message(node_id, node, where, report)) is not None]
    mapping = conversation["mapping"]
    others = sum(1 for n in mapping.values() if isinstance(n, dict) and isinstance(n.get("message"), dict)) - sum(
        1 for _, n in path if isinstance(n.get("message"), dict)
    )
    if others:
        report.add(
            where,
            f"{others:,} messages on other branches (edits, regenerations) are not imported: "
            "only the current branch is",
        )
    model = None
    for _, node in reversed(path):
        message = node.get("message")
        slug = message.get("metadata", {}).get("model_slug") if isinstance(message, dict) else None
        if isinstance(slug, str) and slug:
            model = slug
            break
    model = model or (
        conversation.get("default_model_slug") if isinstance(conversation.get("default_model_slug"), str) else None
    )
    return _context(CHATGPT, messages, report, model=model)


def _chatgpt_label(conversation: Any, index: int) -> str:
    if not isinstance(conversation, dict):
        return f"{index + 1}. (not a conversation)"
    title = conversation.get("title") if isinstance(conversation.get("title"), str) else "Untitled"
    nodes = conversation.get("mapping")
    count = sum(1 for n in nodes.values() if isinstance(n, dict) and n.get("message")) if isinstance(nodes, dict) else 0
    return f"{index + 1}. {title} · {_date(conversation.get('create_time'))} · {count:,} messages in all branches"


def _chatgpt_reader(conversation: Any, index: int) -> Callable[[], ImportedContext]:
    def read() -> ImportedContext:
        if not isinstance(conversation, dict):
            raise ImportRefused(f"Conversation {index + 1} is not an object.")
        return _chatgpt(conversation, f"conversation {index + 1}")

    return read


# --- OpenTelemetry GenAI spans -------------------------------------------------------------------


def _any_value(value: Any) -> Any:
    """An OTLP JSON AnyValue ({"stringValue": …}, {"intValue": "5"}, …) as a plain value."""
    if not isinstance(value, dict):
        return value
    if "stringValue" in value:
        return value["stringValue"]
    if "intValue" in value:
        try:
            return int(value["intValue"])
        except (TypeError, ValueError):
            return value["intValue"]
    if "doubleValue" in value:
        return value["doubleValue"]
    if "boolValue" in value:
        return value["boolValue"]
    if "arrayValue" in value:
        values = value["arrayValue"].get("values", []) if isinstance(value["arrayValue"], dict) else []
        return [_any_value(v) for v in values] if isinstance(values, list) else []
    if "kvlistValue" in value:
        values = value["kvlistValue"].get("values", []) if isinstance(value["kvlistValue"], dict) else []
        return _attributes(values)
    return value


def _attributes(raw: Any) -> dict[str, Any]:
    """Span attributes as a flat dict: OTLP JSON's [{"key", "value": {…}}] list or an exporter's dict."""
    if isinstance(raw, dict):
        return {str(k): _any_value(v) for k, v in raw.items()}
    if isinstance(raw, list):
        return {str(a["key"]): _any_value(a.get("value")) for a in raw if isinstance(a, dict) and "key" in a}
    return {}


def _spans(document: Any) -> Iterator[dict]:
    """Every span of an OTLP JSON export (resourceSpans → scopeSpans → spans), a list of spans, or one."""
    if isinstance(document, list):
        for item in document:
            yield from _spans(item)
        return
    if not isinstance(document, dict):
        return
    if "resourceSpans" in document:
        for resource in document["resourceSpans"] if isinstance(document["resourceSpans"], list) else []:
            if not isinstance(resource, dict):
                continue
            scopes = resource.get("scopeSpans", resource.get("instrumentationLibrarySpans", []))
            for scope in scopes if isinstance(scopes, list) else []:
                spans = scope.get("spans", []) if isinstance(scope, dict) else []
                yield from (s for s in spans if isinstance(s, dict)) if isinstance(spans, list) else ()
    elif "attributes" in document:
        yield document


_INDEXED = re.compile(r"^gen_ai\.(prompt|completion)\.(\d+)\.(.+)$")
_FUNCTIONS = re.compile(r"^llm\.request\.functions\.(\d+)\.(name|description|parameters)$")


def _is_genai(attributes: dict[str, Any]) -> bool:
    prefixes = (
        "gen_ai.input.messages",
        "gen_ai.output.messages",
        "gen_ai.prompt.",
        "llm.input_messages.",
        "langfuse.observation.input",
    )
    return any(k.startswith(prefixes) for k in attributes)


def _json_attribute(attributes: dict, key: str, report: _Report) -> Any:
    value = attributes.get(key)
    if not isinstance(value, str):
        return value
    try:
        return load_json(value)
    except DocumentError as exc:
        raise ImportRefused(f"The span attribute {key} is not JSON ({exc}).") from None


def _parts_message(raw: Any, where: str, report: _Report) -> list[dict]:
    """A message of the current conventions ({"role", "parts": [...]}) as chat messages: text parts
    joined, tool_call parts as the assistant's calls, each tool_call_response as a tool message."""
    if not isinstance(raw, dict) or not isinstance(raw.get("parts"), list):
        report.add(where, f"dropped: not a message with parts ({_shown(raw)})")
        return []
    role = raw.get("role")
    if role not in ROLES:
        report.add(where, f"dropped: the role {_shown(role)} is none of {', '.join(ROLES)}")
        return []
    texts, calls, results = [], [], []
    for i, part in enumerate(raw["parts"]):
        at = f"{where}.parts[{i}]"
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text" and isinstance(part.get("content"), str):
            texts.append(part["content"])
        elif kind == "tool_call" and isinstance(part.get("name"), str):
            call_id = part.get("id") if isinstance(part.get("id"), str) else f"call_{i}"
            arguments = part.get("arguments")
            arguments = "{}" if arguments is None else _arguments(arguments, at, report)
            calls.append(
                {"id": call_id, "type": "function", "function": {"name": part["name"], "arguments": arguments}}
            )
        elif kind == "tool_call_response":
            response = part.get("response")
            text = response if isinstance(response, str) else json.dumps(response, ensure_ascii=False)
            if not isinstance(part.get("id"), str):
                report.add(at, "dropped: a tool result without the id of the call it answers")
                continue
            results.append({"role": "tool", "tool_call_id": part["id"], "content": _masked(text, at, report)})
        else:
            report.add(at, f"dropped: a {_shown(kind)} part (only text and tool calls are kept)")
    if len(texts) > 1:
        report.add(where, f"{len(texts)} text parts joined into one text")
    joined = "".join(texts) if texts else None
    if role == "tool" or results:
        if texts:
            report.add(where, "dropped: text beside tool results")
        return results
    if role == "assistant" and calls:
        return [{"role": "assistant", "content": joined, "tool_calls": calls}]
    if calls:
        report.add(where, f"dropped: tool calls in a {role} message")
    if joined is None:
        report.add(where, f"dropped: a {role} message with no text")
        return []
    return [{"role": role, "content": _masked(joined, where, report)}]


def _current_messages(attributes: dict, report: _Report) -> tuple[str | None, list[dict]]:
    system = None
    instructions = _json_attribute(attributes, "gen_ai.system_instructions", report)
    if isinstance(instructions, list):
        texts = [p["content"] for p in instructions if isinstance(p, dict) and isinstance(p.get("content"), str)]
        if len(texts) < len(instructions):
            report.add("gen_ai.system_instructions", "dropped: parts other than text")
        system = "".join(texts) if texts else None
    elif instructions is not None:
        report.add("gen_ai.system_instructions", "dropped: not a list of parts")
    messages: list[dict] = []
    for key in ("gen_ai.input.messages", "gen_ai.output.messages"):
        raw = _json_attribute(attributes, key, report)
        if raw is None:
            continue
        if not isinstance(raw, list):
            raise ImportRefused(f"The span attribute {key} must be a list of messages, not {_shown(raw)}.")
        if key == "gen_ai.output.messages":
            if len(raw) > 1:
                report.add(key, f"{len(raw)} output messages (choices): the first is kept as the reply")
                raw = raw[:1]
            if raw:
                report.add(key, "the reply is the last message (not sent again: the next call carries it as history)")
        for i, item in enumerate(raw):
            messages += _parts_message(item, f"{key}[{i}]", report)
    return system, messages


def _indexed_messages(attributes: dict, report: _Report) -> list[dict]:
    """OpenLLMetry's flattened form: gen_ai.prompt.{i}.role/content/tool_calls.{j}.…, then gen_ai.completion.{i}…"""
    found: dict[tuple[str, int], dict[str, Any]] = {}
    for key, value in attributes.items():
        match = _INDEXED.match(key)
        if match:
            found.setdefault((match.group(1), int(match.group(2))), {})[match.group(3)] = value
    messages: list[dict] = []
    completions = sorted(i for kind, i in found if kind == "completion")
    if len(completions) > 1:
        report.add("gen_ai.completion", f"{len(completions)} completions (choices): the first is kept as the reply")
    order = sorted(i for kind, i in found if kind == "prompt")
    for kind, index in [*(("prompt", i) for i in order), *(("completion", i) for i in completions[:1])]:
        fields = found[(kind, index)]
        where = f"gen_ai.{kind}.{index}"
        raw: dict[str, Any] = {"role": fields.get("role", "assistant" if kind == "completion" else None)}
        content = fields.get("content")
        if isinstance(content, str) and content.startswith("[") and content.rstrip().endswith("]"):
            try:  # list content is written as its JSON text
                parsed = load_json(content)
                if isinstance(parsed, list) and all(isinstance(p, dict) and "type" in p for p in parsed):
                    content = parsed
            except DocumentError:
                pass
        raw["content"] = content
        calls: dict[int, dict[str, Any]] = {}
        for name, value in fields.items():
            call = re.match(r"^tool_calls\.(\d+)\.(id|name|arguments)$", name)
            if call:
                calls.setdefault(int(call.group(1)), {})[call.group(2)] = value
            elif name == "tool_call_id":
                raw["tool_call_id"] = value
            elif name not in ("role", "content", "finish_reason"):
                report.add(f"{where}.{name}", "not kept: not part of a message here")
        if calls:
            raw["tool_calls"] = [
                {
                    "id": c.get("id"),
                    "type": "function",
                    "function": {"name": c.get("name"), "arguments": c.get("arguments", "{}")},
                }
                for _, c in sorted(calls.items())
            ]
        if kind == "completion":
            report.add(where, "the reply is the last message (not sent again: the next call carries it as history)")
        message = chat_message(raw, where, report)
        if message is not None:
            messages.append(message)
    return messages


def _span_tools(attributes: dict, report: _Report) -> list[dict]:
    raw = _json_attribute(attributes, "gen_ai.tool.definitions", report)
    if raw is not None:
        return _flat_tools(raw, "gen_ai.tool.definitions", report)
    functions: dict[int, dict[str, Any]] = {}
    for key, value in attributes.items():
        match = _FUNCTIONS.match(key)
        if match:
            functions.setdefault(int(match.group(1)), {})[match.group(2)] = value
    return [t for i, f in sorted(functions.items()) if (t := _function_tool(f, f"llm.request.functions.{i}", report))]


_SPAN_SETTINGS = {"gen_ai.request.temperature": "temperature", "gen_ai.request.max_tokens": "max_tokens"}
_SPAN_READ = (
    "gen_ai.input.messages",
    "gen_ai.output.messages",
    "gen_ai.system_instructions",
    "gen_ai.tool.definitions",
    "gen_ai.request.model",
    "gen_ai.response.model",
    *_SPAN_SETTINGS,
)


_OPENINFERENCE = re.compile(r"^llm\.(input|output)_messages\.(\d+)\.message\.(.+)$")
_OI_CALL = re.compile(r"^tool_calls\.(\d+)\.tool_call\.(id|function\.name|function\.arguments)$")
_OI_PART = re.compile(r"^contents\.(\d+)\.message_content\.(type|text)$")
_OI_TOOL = re.compile(r"^llm\.tools\.(\d+)\.tool\.json_schema$")


def _openinference(attributes: dict, report: _Report) -> ImportedContext:
    """Arize Phoenix's OpenInference attributes: llm.input_messages.{i}.message.role/content/
    contents.{j}…/tool_calls.{j}.tool_call…, llm.output_messages…, llm.model_name,
    llm.invocation_parameters (JSON), llm.tools.{i}.tool.json_schema (JSON)."""
    found: dict[tuple[str, int], dict[str, Any]] = {}
    for key, value in attributes.items():
        match = _OPENINFERENCE.match(key)
        if match:
            found.setdefault((match.group(1), int(match.group(2))), {})[match.group(3)] = value
    outputs = sorted(i for kind, i in found if kind == "output")
    if len(outputs) > 1:
        report.add("llm.output_messages", f"{len(outputs)} output messages (choices): the first is kept as the reply")
    messages: list[dict] = []
    order = [("input", i) for i in sorted(i for kind, i in found if kind == "input")] + [
        ("output", i) for i in outputs[:1]
    ]
    for kind, index in order:
        fields, where = found[(kind, index)], f"llm.{kind}_messages.{index}"
        raw: dict[str, Any] = {"role": fields.get("role")}
        calls: dict[int, dict[str, Any]] = {}
        parts: dict[int, dict[str, Any]] = {}
        for name, value in fields.items():
            if call := _OI_CALL.match(name):
                calls.setdefault(int(call.group(1)), {})[call.group(2).removeprefix("function.")] = value
            elif part := _OI_PART.match(name):
                parts.setdefault(int(part.group(1)), {})[part.group(2)] = value
            elif name in ("content", "tool_call_id", "name"):
                raw[name] = value
            elif name != "role":
                report.add(f"{where}.{name}", "not kept: not part of a message here")
        if parts and "content" not in raw:
            raw["content"] = [{"type": p.get("type", "text"), "text": p.get("text")} for _, p in sorted(parts.items())]
        if calls:
            raw["tool_calls"] = [
                {
                    "id": c.get("id"),
                    "type": "function",
                    "function": {"name": c.get("name"), "arguments": c.get("arguments")},
                }
                for _, c in sorted(calls.items())
            ]
        if kind == "output":
            report.add(where, "the reply is the last message (not sent again: the next call carries it as history)")
        message = chat_message(raw, where, report)
        if message is not None:
            messages.append(message)
    tools: list[dict] = []
    for key in sorted((k for k in attributes if _OI_TOOL.match(k)), key=lambda k: int(k.split(".")[2])):
        schema = _json_attribute(attributes, key, report)
        wrapped = (
            schema if isinstance(schema, dict) and "function" in schema else {"type": "function", "function": schema}
        )
        tools += _chat_tools([wrapped], key, report)
    parameters = _json_attribute(attributes, "llm.invocation_parameters", report)
    settings: dict[str, Any] = {}
    if isinstance(parameters, dict):
        settings = _sampling(parameters, report, limit_fields=("max_tokens", "max_completion_tokens"))
        kept = {"temperature", "max_tokens", "max_completion_tokens", "stream", "parallel_tool_calls", "model"}
        _others({k: v for k, v in parameters.items() if k not in kept}, set(), report)
    model = attributes.get("llm.model_name")
    model = model if isinstance(model, str) else None
    return _context(OTEL, messages, report, tools=tools, model=model, settings=settings)


def _number(value: Any) -> Any:
    """A model parameter as Langfuse may keep it (text, "0.7"), as the number it names."""
    if isinstance(value, str):
        try:
            return int(value) if value.strip().lstrip("-").isdigit() else float(value)
        except ValueError:
            return value
    return value


def _langfuse(attributes: dict, report: _Report) -> ImportedContext:
    """Langfuse's own attributes on a generation: langfuse.observation.input (the messages, as JSON),
    .output (the reply), .model.name, .model.parameters (JSON; numbers may be written as text)."""
    raw = _json_attribute(attributes, "langfuse.observation.input", report)
    if isinstance(raw, dict) and "messages" in raw:
        raw = raw["messages"]
    if isinstance(raw, str):
        messages = [{"role": "user", "content": _masked(raw, "langfuse.observation.input", report)}]
    else:
        messages = _messages(raw, "langfuse.observation.input", report)
    output = _json_attribute(attributes, "langfuse.observation.output", report)
    if isinstance(output, str):
        output = {"role": "assistant", "content": output}
    if output is not None:
        reply = chat_message(output, "langfuse.observation.output", report)
        if reply is not None:
            report.add(
                "langfuse.observation.output",
                "the reply is the last message (not sent again: the next call carries it as history)",
            )
            messages.append(reply)
    parameters = _json_attribute(attributes, "langfuse.observation.model.parameters", report)
    settings: dict[str, Any] = {}
    if isinstance(parameters, dict):
        parameters = {key: _number(value) for key, value in parameters.items()}
        settings = _sampling(parameters, report, limit_fields=("max_tokens", "max_completion_tokens"))
        kept = {"temperature", "max_tokens", "max_completion_tokens", "stream", "parallel_tool_calls"}
        _others({k: v for k, v in parameters.items() if k not in kept}, set(), report)
    model = attributes.get("langfuse.observation.model.name") or attributes.get("gen_ai.request.model")
    return _context(OTEL, messages, report, model=model if isinstance(model, str) else None, settings=settings)


def _span(span: dict, where: str) -> ImportedContext:
    report = _Report()
    attributes = _attributes(span.get("attributes"))
    _secrets(attributes, report)
    if any(key.startswith("llm.input_messages.") for key in attributes):
        return _openinference(attributes, report)
    gen_ai = ("gen_ai.input.messages", "gen_ai.output.messages", "gen_ai.prompt.")
    if "langfuse.observation.input" in attributes and not any(k.startswith(gen_ai) for k in attributes):
        return _langfuse(attributes, report)
    if "gen_ai.input.messages" in attributes or "gen_ai.output.messages" in attributes:
        system, messages = _current_messages(attributes, report)
    else:
        system, messages = None, _indexed_messages(attributes, report)
    tools = _span_tools(attributes, report)
    settings = _sampling(
        {_SPAN_SETTINGS[k]: v for k, v in attributes.items() if k in _SPAN_SETTINGS},
        report,
        limit_fields=("max_tokens",),
    )
    for key in attributes:
        read = key in _SPAN_READ or _FUNCTIONS.match(key) or key == "llm.request.type"  # that one: the kind of call
        if key.startswith(("gen_ai.request.", "llm.request.")) and not read:
            report.add(key, "not kept: the session has no such setting")
    model = attributes.get("gen_ai.request.model") or attributes.get("gen_ai.response.model")
    model = model if isinstance(model, str) else None
    return _context(OTEL, messages, report, system=system, tools=tools, model=model, settings=settings)


def _span_label(span: dict, index: int) -> str:
    attributes = _attributes(span.get("attributes"))
    name = span.get("name") if isinstance(span.get("name"), str) else "span"
    model = (
        attributes.get("gen_ai.request.model")
        or attributes.get("gen_ai.response.model")
        or attributes.get("llm.model_name")
        or attributes.get("langfuse.observation.model.name")
        or "no model named"
    )
    span_id = span.get("spanId") or span.get("span_id") or ""
    return f"{index + 1}. {name} · {model} · span {str(span_id)[:16]}".rstrip()


def _span_reader(span: dict, index: int) -> Callable[[], ImportedContext]:
    return lambda: _span(span, f"span {index + 1}")


# --- detection -----------------------------------------------------------------------------------

_EXPECTED = (
    "a Chat Completions request body, a messages array, a curl command, a JSONL log, a Responses API request, "
    "ChatGPT's conversations.json or OpenTelemetry GenAI spans"
)


def _kind(document: Any) -> str:
    """Which format one JSON document is; ImportRefused naming what it looks like otherwise."""
    if isinstance(document, dict):
        if "resourceSpans" in document or (
            "attributes" in document and ("spanId" in document or "span_id" in document or "traceId" in document)
        ):
            return OTEL
        if "mapping" in document:
            return CHATGPT
        if "request" in document:
            return PAIR
        if "custom_id" in document and "body" in document:
            return BATCH
        if "messages" in document:
            return FINE_TUNING if set(document) <= {"messages", "tools", "parallel_tool_calls"} else CHAT_BODY
        if "ideal" in document and "input" in document:
            return EVALS
        if "input" in document or "instructions" in document:
            return RESPONSES
        if document.get("format") == "context-lab-session":
            raise ImportRefused(
                "This is a Context Lab session export: import it with *Import a session* in the sidebar."
            )
        if "choices" in document or "output" in document:
            raise ImportRefused(
                "This is a response (the model's reply), not a request: import the request, or a "
                "log line holding both (`request` and `response`)."
            )
        if "custom_id" in document and "response" in document:
            raise ImportRefused("This is a Batch API output line: it holds the reply only. Import the input file.")
        raise ImportRefused(f"An object with {_fields(document)}: not {_EXPECTED}.")
    if isinstance(document, list):
        if not document:
            raise ImportRefused("An empty list: there is nothing to import.")
        if all(isinstance(d, dict) and "mapping" in d for d in document):
            return CHATGPT
        if all(isinstance(d, dict) and "attributes" in d for d in document):
            return OTEL
        if all(isinstance(d, dict) and ("role" in d or "type" in d) for d in document):
            if any(d.get("type") not in (None, "message") for d in document):
                return RESPONSES
            return MESSAGES
        raise ImportRefused(f"A list whose first item is {_shown(document[0])}: not {_EXPECTED}.")
    raise ImportRefused(f"{_shown(document)} is not {_EXPECTED}.")


def _fields(document: dict) -> str:
    names = [str(k) for k in list(document)[:6]]
    return "the fields " + ", ".join(names) + ("…" if len(document) > 6 else "") if names else "no fields"


def _one(document: Any, kind: str, line: int | None = None) -> Callable[[], ImportedContext]:
    """The reader of one document of a known kind (a JSONL line's refusal names its line)."""

    def read() -> ImportedContext:
        try:
            if kind in (CHAT_BODY, FINE_TUNING):
                return _chat_body(document, kind)
            if kind == MESSAGES:
                return _bare_messages(document)
            if kind == RESPONSES:
                if isinstance(document, list):
                    return _responses_body({"input": document})
                return _responses_body(document)
            if kind == PAIR:
                return _pair(document)
            if kind == BATCH:
                return _batch(document)
            if kind == EVALS:
                return _evals(document)
        except ImportRefused as refused:
            if line is not None and refused.line is None:
                raise ImportRefused(refused.problem, line) from None
            raise
        raise ImportRefused(f"A {kind} cannot be read on its own here.", line)

    return read


def _label(document: Any, kind: str, prefix: str) -> str:
    body = document
    if kind == PAIR and isinstance(document.get("request"), dict):
        body = document["request"].get("body", document["request"])
    elif kind == BATCH:
        body = document.get("body")
    body = body if isinstance(body, dict) else {}
    messages = document if isinstance(document, list) else body.get("messages", body.get("input"))
    count = len(messages) if isinstance(messages, list) else 1
    question = ""
    if isinstance(messages, list):
        users = [m.get("content") for m in messages if isinstance(m, dict) and m.get("role") == "user"]
        question = users[-1] if users and isinstance(users[-1], str) else ""
    elif isinstance(messages, str):
        question = messages
    model = body.get("model") if isinstance(body.get("model"), str) else ""
    words = " ".join(question.split())
    words = words if len(words) <= 60 else words[:59] + "…"
    return " · ".join(p for p in (prefix, kind, model, f"{count:,} messages", words) if p)


def _documents(document: Any, line: int | None = None) -> Source:
    kind = _kind(document)
    if kind == CHATGPT:
        conversations = document if isinstance(document, list) else [document]
        shown = conversations[:MAX_OPTIONS]
        return Source(
            CHATGPT,
            tuple(_chatgpt_label(c, i) for i, c in enumerate(shown)),
            tuple(_chatgpt_reader(c, i) for i, c in enumerate(shown)),
            len(conversations) - len(shown),
        )
    if kind == OTEL:
        spans = [s for s in _spans(document) if _is_genai(_attributes(s.get("attributes")))]
        if not spans:
            raise ImportRefused("No span carries GenAI messages (gen_ai.input.messages, or gen_ai.prompt.0.*).", line)
        shown = spans[:MAX_OPTIONS]
        return Source(
            OTEL,
            tuple(_span_label(s, i) for i, s in enumerate(shown)),
            tuple(_span_reader(s, i) for i, s in enumerate(shown)),
            len(spans) - len(shown),
        )
    return Source(kind, (_label(document, kind, ""),), (_one(document, kind, line),))


def _jsonl(text: str) -> Source:
    """Each non-blank line one JSON document, offered to pick from: the first MAX_OPTIONS are read
    (a malformed one refuses the file, with its line), the rest only counted."""
    options: list[str] = []
    readers: list[Callable[[], ImportedContext]] = []
    left_out = 0
    for number, raw in enumerate(text.split("\n"), 1):
        if not raw.strip():
            continue
        if len(readers) == MAX_OPTIONS:
            left_out += 1
            continue
        try:
            document = load_json(raw)
        except NotWellFormed as exc:
            raise ImportRefused(
                f"not JSON ({exc.problem}, column {exc.column}): every line of a JSONL log is one JSON value", number
            ) from None
        except DocumentError as exc:
            raise ImportRefused(exc.problem, number) from None
        try:
            kind = _kind(document)
        except ImportRefused as refused:
            raise ImportRefused(refused.problem, number) from None
        if kind in (CHATGPT, OTEL) or isinstance(document, list):
            raise ImportRefused(f"a {kind} on one line of a log: import it as a file of its own", number)
        options.append(_label(document, kind, f"line {number}"))
        readers.append(_one(document, kind, number))
    if not readers:
        raise ImportRefused("There is nothing to import: the text is empty.")
    return Source(JSONL, tuple(options), tuple(readers), left_out)


# --- curl ----------------------------------------------------------------------------------------

_DATA = {"-d", "--data", "--data-raw", "--data-binary", "--data-ascii", "--json"}
_HEADER = {"-H", "--header"}
_SECRET_HEADERS = ("authorization", "api-key", "x-api-key", "openai-organization", "openai-project")


# A POSIX shell's words, a run at a time: 'single-quoted' (literal), "double-quoted" (backslash
# escapes only $ ` " \ and a newline), a backslash and the character it escapes, plain characters,
# blanks between words. shlex.split reads one character per Python loop: 45 s for a 1 MB body.
_SHELL = re.compile(
    r"""'(?P<single>[^']*)'|"(?P<double>(?:[^"\\]++|\\.)*+)"|\\(?P<escaped>.)|(?P<plain>[^\s'"\\]+)|(?P<blank>\s+)|(?P<open>['"\\])""",
    re.DOTALL,
)
_DOUBLE_ESCAPE = re.compile(r'\\([$`"\\\n])')


def shell_words(text: str) -> list[str]:
    """`text` split into words as a POSIX shell does (quotes, backslashes, a backslash-newline joining
    lines); ImportRefused for a quote left open. Nothing is expanded: `$OPENAI_API_KEY` stays as it is."""
    words: list[str] = []
    word: list[str] | None = None
    for token in _SHELL.finditer(text.replace("\r\n", "\n")):
        kind = token.lastgroup
        if kind == "blank":
            if word is not None:
                words.append("".join(word))
            word = None
            continue
        if kind == "open":
            line = text.count("\n", 0, token.start()) + 1
            raise ImportRefused(
                f"The curl command has a {token.group()} that is never closed: is a quote left open?", line
            )
        value = token.group(kind or "plain")
        if kind == "double":
            value = _DOUBLE_ESCAPE.sub(lambda m: "" if m.group(1) == "\n" else m.group(1), value)
        elif kind == "escaped" and value == "\n":
            value = ""  # a line continued: no character, and no break between words
            if word is None:
                continue
        word = word if word is not None else []
        word.append(value)
    if word is not None:
        words.append("".join(word))
    return words


def _curl(text: str) -> Source:
    if len(text) > MAX_CURL_CHARS:
        raise ImportRefused(f"The curl command is {len(text):,} characters: at most {MAX_CURL_CHARS:,} are read.")
    words = shell_words(text)
    report = _Report()
    body_text: str | None = None
    url = ""
    i = 1
    while i < len(words):
        word = words[i]
        option, attached = word, None
        for name in (*_DATA, *_HEADER):  # -d'{…}', --data={…}, -HAuthorization:…
            if (
                word.startswith(name)
                and word != name
                and ((name.startswith("--") and word[len(name)] == "=") or not name.startswith("--"))
            ):
                option, attached = name, word[len(name) + (1 if name.startswith("--") else 0) :]
                break
        value = attached if attached is not None else (words[i + 1] if i + 1 < len(words) else None)
        step = 1 if attached is not None else 2
        if option in _DATA:
            if value is None:
                raise ImportRefused(f"{option} has no body after it.", _line_of(text, option))
            if value.startswith("@"):
                raise ImportRefused(
                    f"The body is read from a file ({option} {value[:60]}): paste the file's JSON "
                    "itself, or the command with the body written out.",
                    _line_of(text, option),
                )
            body_text = value if body_text is None else body_text + "&" + value
            i += step
        elif option in _HEADER:
            header = (value or "").split(":", 1)[0].strip().lower()
            if header in _SECRET_HEADERS:
                report.add(f"header {header}", "ignored: a key or credential is never taken from a command")
            i += step
        elif word.startswith("http://") or word.startswith("https://"):
            url = word
            i += 1
        elif word in ("-X", "--request", "-u", "--user", "-o", "--output", "-m", "--max-time", "--url"):
            if word in ("-u", "--user"):
                report.add("--user", "ignored: a credential is never taken from a command")
            if word == "--url" and value:
                url = value
            i += 2
        else:
            i += 1
    if body_text is None:
        raise ImportRefused("The curl command sends no body (no -d, --data, --data-raw or --json): nothing to import.")
    body_line = _line_of(text, next((w for w in _DATA if w in text), "-d"))
    try:
        body = load_json(body_text)
    except NotWellFormed as exc:
        raise ImportRefused(
            f"The body is not JSON (its line {exc.line}, column {exc.column}: {exc.problem}).", body_line
        ) from None
    except DocumentError as exc:
        raise ImportRefused(f"The body: {exc}", body_line) from None
    if not isinstance(body, dict):
        raise ImportRefused("The body is not a JSON object (a request body).", body_line)
    is_responses = url.rstrip("/").endswith("/responses") or (_kind(body) == RESPONSES)
    reader = _responses_body if is_responses else _chat_body

    def read() -> ImportedContext:
        read_report = _Report()
        read_report.notes = list(report.notes)
        return reader(body, CURL, read_report)

    return Source(CURL, (_label(body, RESPONSES if is_responses else CHAT_BODY, url or "curl"),), (read,))


def _line_of(text: str, needle: str) -> int | None:
    at = text.find(needle)
    return text.count("\n", 0, at) + 1 if at >= 0 else None


# --- the entry point -----------------------------------------------------------------------------


def read_source(text: str | bytes) -> Source:
    """What `text` holds, and the contexts in it to choose from; ImportRefused (with its line) if it
    cannot be read. Bounded: at most MAX_CHARS characters, MAX_DEPTH levels (lib/store/documents)."""
    if isinstance(text, bytes):
        data = text
        if len(data) > MAX_CHARS:
            raise ImportRefused(
                f"The text is {len(data) / 1024 / 1024:.1f} MB: at most {MAX_CHARS // 1024 // 1024} MB is read."
            )
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ImportRefused(f"Not UTF-8 text (byte {exc.start}).", data[: exc.start].count(b"\n") + 1) from None
    if len(text) > MAX_CHARS:
        raise ImportRefused(f"The text is {len(text):,} characters: at most {MAX_CHARS:,} are read.")
    text = text.removeprefix("\ufeff").strip()
    if not text:
        raise ImportRefused("There is nothing to import: the text is empty.")
    if text.startswith("curl ") or text.startswith("curl\n") or text.startswith("curl\\"):
        return _curl(text)
    if text[0] not in "{[":
        raise ImportRefused(
            f"This is not JSON or a curl command (it starts {_shown(text[:20])}): paste {_EXPECTED}.", 1
        )
    try:
        document = load_json(text)
    except NotWellFormed as exc:
        if exc.problem == "Extra data" and "\n" in text:  # JSON values one per line: a JSONL log
            return _jsonl(text)
        raise ImportRefused(
            f"Not valid JSON (column {exc.column}: {exc.problem}); is it cut short?", exc.line
        ) from None
    except (TooDeep, TooLong) as exc:
        raise ImportRefused(exc.problem, exc.line) from None
    except DocumentError as exc:
        raise ImportRefused(str(exc)) from None
    return _documents(document)


def import_context(text: str | bytes, index: int = 0) -> ImportedContext:
    """The `index`th context in `text` (the first, if there is one only)."""
    return read_source(text).context(index)


# --- into a session ------------------------------------------------------------------------------

# Where each backend keeps the model's name (the embedded backend serves its one model: nothing).
MODEL_SETTING: dict[str, str] = {"openai": "openai_model", "compatible": "compatible_model"}
_SESSION_SETTINGS = ("temperature", "max_tokens", "stream")


def _history_message(message: dict, where: str, notes: list[Note]) -> Message | None:
    """One imported wire message as a message of the history, or None (noted) if the API would refuse it."""
    try:
        return Message.from_api(message, where)
    except MessageShapeError as problem:
        notes.append(Note(where, f"not kept: {problem}"))
        return None


def _tool_definition(tool: dict, where: str, notes: list[Note]) -> ToolDefinition | None:
    try:
        return ToolDefinition.from_api(tool, where)
    except ToolDefinitionError as problem:
        notes.append(Note(where, f"not kept: {problem}"))
        return None


def to_session(
    imported: ImportedContext, settings: dict[str, Any], provider_kind: str
) -> tuple[Session, tuple[Note, ...]]:
    """A new session holding `imported` (never saved here), on top of the sidebar's `settings`, and
    the notes on what of it the session could not hold. All its messages are included and the
    strategy is Manual, so the next call is the imported call."""
    notes: list[Note] = []
    history = [m for i, raw in enumerate(imported.messages) if (m := _history_message(raw, f"message {i + 1}", notes))]
    # The imported context brings its own tools and choices: none of the open session's carry over.
    kept = {key: value for key, value in settings.items() if key not in ("tool_choice", "parallel_tool_calls")}
    kept.update({key: imported.settings[key] for key in _SESSION_SETTINGS if key in imported.settings})
    if kept.get("strategy_kind", "manual") != "manual":
        notes.append(
            Note("strategy", "set to Manual (every imported message included), so the next call is the one imported")
        )
    kept["strategy_kind"] = "manual"
    if imported.model:
        setting = MODEL_SETTING.get(provider_kind)
        if setting is not None:
            kept[setting] = imported.model
        else:
            notes.append(
                Note(
                    "model",
                    f"{imported.model!r} is not applied: the {provider_kind} backend's model stays "
                    "(the sidebar's backend picks it)",
                )
            )
    tools = tuple(t for i, raw in enumerate(imported.tools) if (t := _tool_definition(raw, f"tools[{i}]", notes)))
    names = {t.name for t in tools}
    choice = imported.settings.get("tool_choice")
    if choice is not None and choice not in CHOICES and choice not in names:
        notes.append(Note("tool_choice", f"not kept: it forces {choice!r}, which no kept tool defines"))
    elif choice is not None:
        kept["tool_choice"] = choice
    if "parallel_tool_calls" in imported.settings:
        kept["parallel_tool_calls"] = imported.settings["parallel_tool_calls"]
    system = SystemPrompt(imported.system, True) if imported.system is not None else SystemPrompt("", included=False)
    session = Session(new_session_id(), system=system, messages=tuple(history), settings=kept, tools=tools)
    return session, tuple(notes)
