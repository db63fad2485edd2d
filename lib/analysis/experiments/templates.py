"""promptfoo's nunjucks templates (`{{topic}}`, `{{ x | upper }}`, `{% if %}`…), rendered with Jinja2,
whose syntax nunjucks copies, in Jinja2's immutable sandbox: a template is anyone's (it comes with an
imported file), so it reaches no Python attribute, method or module that could change or read anything
but the test's own vars.

promptfoo's semantics where Jinja2's differ: an undefined var renders empty (nunjucks without
`throwOnUndefined`), and so does any attribute of it (`{{ a.b }}`); `true`/`false` print as
JavaScript prints them, a whole number as a whole number (`1000`, not `1000.0`), a list or mapping as
JSON; the `load` filter parses JSON and `dump` writes it (promptfoo adds both). A filter this app does
not have (promptfoo's `filters:` run JavaScript files) is not applied, and the template's environment
(`{{ env.X }}`, the process's environment in promptfoo) is never read. Each of these is said in
`Rendered.notes`; a template that cannot be parsed is kept as written, and said so.

Bounded: a render stops after MAX_RENDER_S seconds of work (a trace function, set for the render only)
and MAX_OUTPUT characters of output, and the sandbox caps `range` and refuses `*` and `**` past those
sizes, so no template makes the import hang or fill the memory.
"""

from __future__ import annotations

import json
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from jinja2 import ChainableUndefined, TemplateError, meta, nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment

from lib.store.documents import DocumentError, load_json

MAX_RENDER_S = 2.0
MAX_OUTPUT = 200_000
_MARKS = ("{{", "{%", "{#")


class _TooLong(TemplateError):
    """A render past MAX_RENDER_S or MAX_OUTPUT: the message completes "not rendered: …"."""


def _js_text(value: Any) -> Any:
    """A value as nunjucks prints it (finalize: applied to every `{{ … }}`)."""
    if value is None or isinstance(value, ChainableUndefined):
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return str(int(value))
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return value


def _load(text: Any) -> Any:
    """promptfoo's `load` filter: JSON.parse (bounded, as every document here is read)."""
    try:
        return load_json(str(text))
    except DocumentError as exc:
        raise TemplateError(f"the load filter's text is not JSON ({exc.problem})") from None


def _dump(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


class _Environment(ImmutableSandboxedEnvironment):
    intercepted_binops = frozenset(["*", "**"])

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        """`*` and `**` within bounds: `'a' * 10**9` would fill the memory before anything could stop it."""
        if operator == "**" and isinstance(right, (int, float)) and abs(right) > 1000:
            raise _TooLong(f"{left!r} ** {right!r} is past the bounds of a template")
        if operator == "*":
            sizes = [len(v) for v in (left, right) if isinstance(v, (str, list))]
            counts = [v for v in (left, right) if isinstance(v, int) and not isinstance(v, bool)]
            if sizes and counts and sizes[0] * max(counts[0], 0) > MAX_OUTPUT:
                raise _TooLong(f"a text or list repeated past {MAX_OUTPUT:,} characters")
        return super().call_binop(context, operator, left, right)


def _environment(filters: dict[str, Callable[..., Any]]) -> _Environment:
    env = _Environment(autoescape=False, undefined=ChainableUndefined, keep_trailing_newline=True, finalize=_js_text)
    env.filters.update(load=_load, dump=_dump, **filters)
    return env


@dataclass
class Rendered:
    text: str
    notes: list[str] = field(default_factory=list)  # what was not rendered as promptfoo would, said


def _deadline(limit_s: float) -> Callable[..., Any]:
    """A trace function that stops the render once `limit_s` has passed (it is set for the render only)."""
    deadline = time.monotonic() + limit_s

    def trace(frame: Any, event: str, arg: Any) -> Any:
        if time.monotonic() > deadline:
            raise _TooLong(f"it ran longer than {limit_s:g} s")
        return trace

    return trace


def _why(exc: BaseException) -> str:
    return (str(exc).splitlines() or [type(exc).__name__])[0][:200]


def render(template: str, variables: dict[str, Any], limit_s: float = MAX_RENDER_S) -> Rendered:
    """`template` with `variables`, as promptfoo would render it, in at most `limit_s` seconds; what could
    not be, said in `notes`."""
    if not any(mark in template for mark in _MARKS):
        return Rendered(template)
    notes: list[str] = []
    try:
        tree = _environment({}).parse(template)
    except TemplateError as exc:
        return Rendered(template, [f"the template could not be read ({_why(exc)}): kept as written"])
    missing = sorted({f.name for f in tree.find_all(nodes.Filter)} - set(_environment({}).filters))
    for name in missing:
        notes.append(f"the filter {name!r} is not applied (promptfoo runs it from your config's filters: JavaScript)")
    env = _environment({name: (lambda value, *args, **kwargs: value) for name in missing})
    try:
        tree = env.parse(template)
        undefined = sorted(meta.find_undeclared_variables(tree) - set(variables))
    except TemplateError as exc:  # an unknown test (`is foo`), a misplaced tag the parser let through
        return Rendered(template, [*notes, f"the template could not be read ({_why(exc)}): kept as written"])
    if "env" in undefined:
        undefined.remove("env")
        notes.append("{{ env.… }} renders empty: the server's environment is never read")
    notes.extend(f"{{{{{name}}}}} has no value: rendered empty, as promptfoo renders it" for name in undefined)
    previous = sys.gettrace()
    sys.settrace(_deadline(min(limit_s, MAX_RENDER_S)))
    try:
        parts: list[str] = []
        size = 0
        for part in env.from_string(tree).generate(**variables):
            size += len(part)
            if size > MAX_OUTPUT:
                raise _TooLong(f"it is longer than {MAX_OUTPUT:,} characters")
            parts.append(part)
        return Rendered("".join(parts), notes)
    except (TemplateError, ArithmeticError, TypeError, ValueError, LookupError, RecursionError) as exc:
        return Rendered(template, [*notes, f"the template could not be rendered ({_why(exc)}): kept as written"])
    finally:
        sys.settrace(previous)
