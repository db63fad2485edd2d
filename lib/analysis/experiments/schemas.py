"""JSON Schema for `is-json` checks (promptfoo's `is-json` with a schema as its value), checked with
`jsonschema`, bounded like every other check.

A schema is anyone's (it comes with an imported test set), so nothing in it runs unbounded in the app's
process: a `pattern` is searched by the regex worker under its time limit (patterns.py), exactly as a
`regex` check is; `patternProperties`, which jsonschema matches with Python's `re` from places this
module cannot reach (`additionalProperties` reads it too), is refused by name when the check is read.
A `$ref` to another document is never fetched (jsonschema's registry is empty): such a schema gets an
undecided verdict saying so.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import jsonschema
from jsonschema import ValidationError

from lib.analysis.experiments import patterns

MAX_MESSAGE = 200


def _pattern(validator: Any, pattern: str, instance: Any, schema: Any) -> Iterator[ValidationError]:
    if validator.is_type(instance, "string") and patterns.search(pattern, instance) is None:
        yield ValidationError(f"{instance[:80]!r} does not match {pattern[:80]!r}")


def _keywords_in(schema: Any) -> Iterator[tuple[str, Any]]:
    """Every (keyword, value) pair anywhere in the schema."""
    stack = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            for key, value in node.items():
                yield key, value
                stack.append(value)
        elif isinstance(node, list):
            stack.extend(node)


def _validator_class(schema: Any) -> Any:
    base = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    return jsonschema.validators.extend(base, {"pattern": _pattern})


def schema_problem(schema: Any) -> str | None:
    """Why `schema` is not one this app checks (not a JSON Schema, a pattern that does not compile,
    patternProperties), or None."""
    for key, value in _keywords_in(schema):
        if key == "patternProperties":
            return "patternProperties is not checked here (its patterns would run without a time limit)"
        if key == "pattern" and isinstance(value, str) and (problem := patterns.compile_problem(value)):
            return f"the pattern {value[:60]!r} does not compile: {problem}"
    try:
        _validator_class(schema).check_schema(schema)
    except jsonschema.SchemaError as exc:
        return str(exc.message)[:MAX_MESSAGE]
    return None


def validate(data: Any, schema: Any) -> tuple[bool | None, str]:
    """Whether `data` matches `schema`, and why not (the first error, with where it is)."""
    try:
        error = jsonschema.exceptions.best_match(_validator_class(schema)(schema).iter_errors(data))
    except patterns.RegexProblem as undecided:
        return None, f"the schema's pattern could not be checked: {undecided}"
    except Exception as exc:  # an unresolvable $ref, a schema jsonschema cannot use: undecided, named
        return None, f"the schema could not be checked: {type(exc).__name__}: {str(exc)[:MAX_MESSAGE]}"
    if error is None:
        return True, "valid JSON, matching the schema"
    where = "/".join(str(part) for part in error.absolute_path) or "the top level"
    return False, f"does not match the schema at {where}: {error.message[:MAX_MESSAGE]}"
