"""Answers read as JSON within bounds: a ```json fence taken off, at most MAX_JSON_CHARS characters,
MAX_JSON_DEPTH levels and MAX_INT_DIGITS digits, so that no answer makes a check raise or take long.
"""

from __future__ import annotations

import json
import sys
from typing import Any

MISSING = object()
# JSON answers are read within bounds, so that no answer makes a check raise (Python's parser recurses
# once per level, and refuses integers longer than sys.get_int_max_str_digits()) or take long.
MAX_JSON_CHARS = 2_000_000
MAX_JSON_DEPTH = 100
MAX_INT_DIGITS = min(sys.get_int_max_str_digits() or 4300, 4300)


def field_at(data: Any, path: str) -> Any:
    """The value at a dotted path ("user.name", "items.0"); `MISSING` when there is none."""
    current = data
    for part in [p for p in path.split(".") if p]:
        if isinstance(current, dict) and part in current:
            current = current[part]
        elif isinstance(current, list) and part.lstrip("-").isdigit() and -len(current) <= int(part) < len(current):
            current = current[int(part)]
        else:
            return MISSING
    return current


class _NotRead(ValueError):
    """JSON beyond the bounds: the message completes "not valid JSON here: …"."""


def unfenced(text: str) -> str:
    """The text inside a ```json (or ```) fence that wraps all of `text` (stripped), else `text`.
    Plain string operations: the regex this replaces backtracked in cubic time on an answer that opens
    a fence and goes on with spaces (85 s at 4,004 characters)."""
    if len(text) < 6 or not text.startswith("```") or not text.endswith("```"):
        return text
    inner = text[3:-3]
    if inner[:4].lower() == "json":
        inner = inner[4:]
    return inner.strip()


def _depth_over(text: str, limit: int) -> bool:
    """Whether brackets outside strings nest deeper than `limit` (one pass; brackets in strings don't count)."""
    if text.count("[") + text.count("{") <= limit:
        return False
    depth, in_string, escaped = 0, False, False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > limit:
                return True
        elif char in "]}":
            depth -= 1
    return False


def _integer(digits: str) -> int:
    if len(digits.lstrip("-")) > MAX_INT_DIGITS:
        raise _NotRead(f"a number of {len(digits.lstrip('-')):,} digits (at most {MAX_INT_DIGITS:,} are read)")
    return int(digits)


def json_in(answer: str) -> tuple[Any, str | None]:
    """The answer parsed as JSON (a ```json fence around it is allowed), or why not."""
    text = unfenced(answer.strip())
    if len(text) > MAX_JSON_CHARS:
        return None, f"not valid JSON here: {len(text):,} characters (at most {MAX_JSON_CHARS:,} are read)"
    if _depth_over(text, MAX_JSON_DEPTH):
        return None, f"not valid JSON here: nested deeper than {MAX_JSON_DEPTH} levels"
    try:
        return json.loads(text, parse_int=_integer), None
    except json.JSONDecodeError as exc:
        return None, f"not valid JSON ({exc.msg} at character {exc.pos})"
    except _NotRead as exc:
        return None, f"not valid JSON here: {exc}"
    except (ValueError, RecursionError) as exc:  # whatever else the parser refuses: a verdict, not a crash
        return None, f"not valid JSON here: {type(exc).__name__}: {str(exc)[:200]}"
