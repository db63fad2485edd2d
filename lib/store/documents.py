"""The one reader of JSON and YAML text that came from outside: an uploaded test set or session file,
a pasted cell, a line of a Batch API output. Every importer parses through here, so every limit holds
everywhere. YAML is read as YAML 1.2 (js-yaml's reading, which promptfoo's files are written for).

Parsing is bounded before the parser gets to anything slow or recursive:

- size: at most `MAX_CHARS` characters;
- depth: at most `MAX_DEPTH` lists and mappings inside each other. JSON is scanned for brackets in one
  linear pass before `json.loads` (which recurses, and raises RecursionError deep down); YAML is
  streamed as parser events (libyaml's parser keeps its own stack) and stopped at the first event
  too deep, before PyYAML's composer (which recurses, and slows quadratically on deep flow nesting)
  builds anything;
- values: a YAML document holds at most `MAX_NODES` events (building Python objects from YAML is the
  slow part: a 5 MB file of tiny values took 12 s), and no alias (`*name`: a few aliases can stand for
  a document of billions of values);
- numbers: at most `MAX_DIGITS` characters (Python reads no integer of more than 4,300 digits, and
  YAML's base-60 integers `1:2:3…` cost quadratic time to add up).

Every problem is a `DocumentError` naming the line where one is known. It is a ValueError, so a
caller that does not know it still refuses rather than crashing, but every importer catches it.
"""

from __future__ import annotations

import datetime
import json
import re
from typing import Any, ClassVar

import yaml

from lib.core.errors import DocumentError, NotWellFormed, TooDeep, TooLong

MAX_CHARS = 5 * 1024 * 1024
MAX_DEPTH = 64
MAX_NODES = 200_000
MAX_DIGITS = 4_300  # Python's own limit for int("…") (sys.get_int_max_str_digits' default)
LINE = "__line__"  # the key under which `load_yaml(..., note_lines=True)` notes a mapping's line


def _line_at(text: str, position: int) -> int:
    return text.count("\n", 0, position) + 1


def _too_deep(line: int, max_depth: int) -> TooDeep:
    return TooDeep(f"lists and mappings nest more than {max_depth} levels deep", line)


def _too_many_digits(line: int | None) -> TooLong:
    return TooLong(f"a number of more than {MAX_DIGITS:,} digits", line)


def _check_size(text: str, max_chars: int) -> None:
    if len(text) > max_chars:
        raise TooLong(f"{len(text):,} characters: at most {max_chars:,}")


# --- JSON ---------------------------------------------------------------------------------------

# One token at a time, strings skipped whole (possessive, so a long string costs one pass): an
# unclosed string ends the scan, as json.loads will stop there too.
_JSON_TOKEN = re.compile(
    r'(?P<string>"(?:[^"\\\n]++|\\.)*+")|(?P<open>[\[{])|(?P<close>[\]}])|(?P<number>-?[0-9][-+0-9.eE]*)|(?P<quote>")'
)


def _scan_json(text: str, max_depth: int) -> None:
    """Refuse nesting deeper than `max_depth` and over-long numbers, in one linear pass."""
    depth = 0
    for token in _JSON_TOKEN.finditer(text):
        kind = token.lastgroup
        if kind == "open":
            depth += 1
            if depth > max_depth:
                raise _too_deep(_line_at(text, token.start()), max_depth)
        elif kind == "close":
            depth -= 1
        elif kind == "number" and len(token.group()) > MAX_DIGITS:
            raise _too_many_digits(_line_at(text, token.start()))
        elif kind == "quote":
            return


def load_json(text: str | bytes, *, max_depth: int = MAX_DEPTH, max_chars: int = MAX_CHARS) -> Any:
    """The JSON value in `text`, or DocumentError (NotWellFormed, TooDeep, TooLong) with its line."""
    if isinstance(text, bytes):
        data = text
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise NotWellFormed(f"not UTF-8 text (byte {exc.start})", data[: exc.start].count(b"\n") + 1) from None
    _check_size(text, max_chars)
    _scan_json(text, max_depth)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise NotWellFormed(exc.msg, exc.lineno, exc.colno) from None
    except RecursionError:  # not reached past the scan; kept so no input can raise it out of here
        raise _too_deep(1, max_depth) from None
    except ValueError:  # ditto: int() of more than sys.get_int_max_str_digits() digits
        raise _too_many_digits(None) from None


def dump_json(value: Any) -> str:
    """`value` as JSON text, or DocumentError: YAML can hold what JSON cannot (a date, bytes, a set)."""
    try:
        return json.dumps(value, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise DocumentError(f"not a JSON value ({exc})") from None


# --- YAML ---------------------------------------------------------------------------------------

# libyaml's parser when PyYAML was built with it (its wheels are): ~50x faster than the pure-Python one.
_BaseLoader: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader) if yaml.__with_libyaml__ else yaml.SafeLoader


class _Refused(yaml.constructor.ConstructorError):
    """A scalar this loader refuses to build (a YAMLError, so PyYAML passes it through with its mark)."""


class _Loader(_BaseLoader):
    """A safe loader whose integers are bounded and whose bad scalars are YAML errors (with a line),
    not the ValueError Python raises (`0x_`, a 5,000-digit number, `2001-02-30`)."""

    def construct_yaml_int(self, node: yaml.ScalarNode) -> int:
        if len(str(node.value)) > MAX_DIGITS:
            raise _Refused(None, None, f"a number of more than {MAX_DIGITS:,} digits", node.start_mark)
        try:
            return super().construct_yaml_int(node)
        except ValueError:
            raise _Refused(None, None, f"{str(node.value)[:40]!r} is not a number", node.start_mark) from None

    def construct_yaml_timestamp(self, node: yaml.ScalarNode) -> datetime.date:
        try:
            return super().construct_yaml_timestamp(node)
        except (ValueError, OverflowError):
            raise _Refused(None, None, f"{str(node.value)[:40]!r} is not a date", node.start_mark) from None


_Loader.add_constructor("tag:yaml.org,2002:int", _Loader.construct_yaml_int)
_Loader.add_constructor("tag:yaml.org,2002:timestamp", _Loader.construct_yaml_timestamp)

# YAML 1.2 as js-yaml (promptfoo's reader) resolves plain scalars: PyYAML's are YAML 1.1's, where `Yes`,
# `No`, `on`, `off`, `y` are booleans, `017` is octal 15 and `1:30` is 90. Here, as in js-yaml 4: only
# true/false (in three spellings) are booleans; `0o17` is octal, `017` is 17, `0b1`/`0x1F` as written;
# `1e3` is a float; base 60 is gone (`1:30` is text). Dates (js-yaml's default schema has them) stay.
_YAML12_RESOLVERS = (
    ("tag:yaml.org,2002:bool", r"^(?:true|True|TRUE|false|False|FALSE)$", "tTfF"),
    ("tag:yaml.org,2002:null", r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""]),
    (
        "tag:yaml.org,2002:int",
        r"^[-+]?(?:0b[01_]+|0o[0-7_]+|0x[0-9a-fA-F_]+|[0-9](?:[0-9_]*[0-9])?)$",
        "-+0123456789",
    ),
    (
        "tag:yaml.org,2002:float",
        r"^(?:[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?(?:[eE][-+]?[0-9]+)?|\.[0-9_]+(?:[eE][-+]?[0-9]+)?"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
        "-+0123456789.",
    ),
    (
        "tag:yaml.org,2002:timestamp",
        r"^(?:[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]|[0-9][0-9][0-9][0-9]-[0-9][0-9]?-[0-9][0-9]?"
        r"(?:[Tt]|[ \t]+)[0-9][0-9]?:[0-9][0-9]:[0-9][0-9](?:\.[0-9]*)?"
        r"(?:[ \t]*(?:Z|[-+][0-9][0-9]?(?::[0-9][0-9])?))?)$",
        "0123456789",
    ),
    ("tag:yaml.org,2002:merge", r"^(?:<<)$", "<"),
)


class _Yaml12Loader(_Loader):
    """The bounded safe loader with YAML 1.2's scalars (js-yaml 4's): see _YAML12_RESOLVERS."""

    yaml_implicit_resolvers: ClassVar[dict] = {}  # its own: none of YAML 1.1's

    def construct_yaml_int(self, node: yaml.ScalarNode) -> int:
        text = str(node.value)
        if len(text) > MAX_DIGITS:
            raise _Refused(None, None, f"a number of more than {MAX_DIGITS:,} digits", node.start_mark)
        digits = text.replace("_", "")
        sign = -1 if digits.startswith("-") else 1
        digits = digits.lstrip("-+")
        bases = {"0b": 2, "0o": 8, "0x": 16}
        try:
            if digits[:2] in bases:
                return sign * int(digits[2:], bases[digits[:2]])
            return sign * int(digits, 10)  # `017` is seventeen: no YAML 1.1 octal
        except ValueError:
            raise _Refused(None, None, f"{text[:40]!r} is not a number", node.start_mark) from None


for _tag, _pattern, _first in _YAML12_RESOLVERS:
    _Yaml12Loader.add_implicit_resolver(_tag, re.compile(_pattern), list(_first))
_Yaml12Loader.add_constructor("tag:yaml.org,2002:int", _Yaml12Loader.construct_yaml_int)


class _LineLoader(_Yaml12Loader):
    """The same, noting each mapping's line under LINE, so a problem deep in the file can name it."""


def _mapping_with_line(loader: _LineLoader, node: yaml.MappingNode) -> dict:
    mapping = loader.construct_mapping(node, deep=True)
    mapping[LINE] = node.start_mark.line + 1
    return mapping


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping_with_line)


def _mark_line(mark: Any) -> int | None:
    return mark.line + 1 if mark is not None else None


def _scan_yaml(text: str, max_depth: int, max_nodes: int) -> None:
    """Walk the parser's events (no objects built): refuse an alias, and stop at the first event past
    `max_depth` levels or `max_nodes` events, so nothing deep or huge reaches the composer."""
    loader = _Loader(text)
    try:
        depth = events = 0
        while loader.check_event():
            event = loader.get_event()
            events += 1
            if isinstance(event, yaml.AliasEvent):
                line = _mark_line(event.start_mark)
                raise DocumentError("YAML aliases (*name) are not accepted: write the value out", line)
            if isinstance(event, (yaml.SequenceStartEvent, yaml.MappingStartEvent)):
                depth += 1
                if depth > max_depth:
                    raise _too_deep(_mark_line(event.start_mark) or 1, max_depth)
            elif isinstance(event, (yaml.SequenceEndEvent, yaml.MappingEndEvent)):
                depth -= 1
            if events > max_nodes:
                raise TooLong(f"more than {max_nodes:,} values", _mark_line(event.start_mark))
    finally:
        loader.dispose()


def load_yaml(
    text: str,
    *,
    note_lines: bool = False,
    max_depth: int = MAX_DEPTH,
    max_nodes: int = MAX_NODES,
    max_chars: int = MAX_CHARS,
) -> Any:
    """The YAML 1.2 document in `text` (JSON is YAML too; scalars resolve as js-yaml 4 resolves them:
    `Yes` is text), with each mapping's line under LINE if `note_lines`; DocumentError (NotWellFormed,
    TooDeep, TooLong) with its line otherwise."""
    _check_size(text, max_chars)
    try:
        _scan_yaml(text, max_depth, max_nodes)
        return yaml.load(text, Loader=_LineLoader if note_lines else _Yaml12Loader)
    except _Refused as exc:
        raise TooLong(str(exc.problem), _mark_line(exc.problem_mark)) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        reason = getattr(exc, "problem", None) or str(exc)
        if "maximum nesting depth" in reason:  # libyaml's own limit (1,000), met scanning ahead of our count
            raise _too_deep(_mark_line(mark) or 1, max_depth) from None
        raise NotWellFormed(reason, _mark_line(mark) or 1, mark.column + 1 if mark else None) from None
    except RecursionError:  # not reached past the scan; kept so no input can raise it out of here
        raise _too_deep(1, max_depth) from None
