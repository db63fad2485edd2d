"""Tool definitions: the functions a model may call, as the session keeps them and the body sends them.

Every call resends every included definition (the API remembers none of them), so they are part of
the request body, the meter and the preview like any message. The playground does not run tools: a
call's result is written (or imported) by the user as a `tool` message.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from lib.context.conversation import clean_text, new_id
from lib.core.errors import ToolDefinitionError

NAME_PATTERN = r"^[a-zA-Z0-9_-]{1,64}$"
_NAME = re.compile(NAME_PATTERN)
# `tool_choice` as the session stores it: one of these, or the name of one function to force.
CHOICES = ("auto", "none", "required")
# A function's parameters are always one object of named arguments.
_SCHEMA_TYPES = ("object",)


def checked_name(name: Any, where: str = "The tool's name") -> str:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        shown = json.dumps(name)[:70] if isinstance(name, str) else type(name).__name__
        raise ToolDefinitionError(
            f"{where} is {shown}: use 1 to 64 letters, digits, underscores or hyphens (for example get_weather)."
        )
    return name


def checked_parameters(parameters: Any, where: str = "The parameters") -> dict:
    """A function's parameters: a JSON Schema object (`{"type": "object", "properties": {…}}`)."""
    if not isinstance(parameters, dict):
        raise ToolDefinitionError(
            f'{where} must be a JSON Schema object such as {{"type": "object", "properties": {{}}}}, '
            f"not {type(parameters).__name__}."
        )
    kind = parameters.get("type", "object")
    if kind not in _SCHEMA_TYPES:
        raise ToolDefinitionError(f'{where}: "type" is {json.dumps(kind)}; a function\'s parameters are an "object".')
    properties = parameters.get("properties", {})
    if not isinstance(properties, dict):
        raise ToolDefinitionError(f'{where}: "properties" must be an object mapping each argument to its schema.')
    for key, schema in properties.items():
        if not isinstance(schema, dict):
            raise ToolDefinitionError(
                f'{where}: the property "{key}" must have a schema object, such as {{"type": "string"}}.'
            )
    required = parameters.get("required", [])
    if not isinstance(required, list) or not all(isinstance(r, str) for r in required):
        raise ToolDefinitionError(f'{where}: "required" must be a list of property names.')
    missing = [r for r in required if r not in properties]
    if missing:
        raise ToolDefinitionError(
            f'{where}: "required" names {", ".join(missing)}, which "properties" does not define.'
        )
    try:
        json.dumps(parameters, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ToolDefinitionError(f"{where} cannot be sent as JSON ({exc}).") from None
    return parameters


def parse_parameters(text: str) -> dict:
    """Parameters typed by hand (JSON text), checked; ToolDefinitionError says where the JSON breaks."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ToolDefinitionError(
            f"The parameters are not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})."
        ) from None
    return checked_parameters(value)


def _cleaned(value: Any) -> Any:
    """Every string of a schema cleaned as typed text is (a lone surrogate fails every encoder)."""
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, dict):
        return {clean_text(k): _cleaned(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_cleaned(v) for v in value]
    return value


@dataclass(frozen=True)
class ToolDefinition:
    name: str
    description: str = ""
    parameters: dict = field(default_factory=lambda: {"type": "object", "properties": {}})
    included: bool = True
    id: str = field(default_factory=new_id)
    strict: bool | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "name", checked_name(clean_text(self.name)))
        object.__setattr__(self, "description", clean_text(self.description))
        object.__setattr__(self, "parameters", checked_parameters(_cleaned(self.parameters)))
        if self.strict is not None and not isinstance(self.strict, bool):
            raise ToolDefinitionError("`strict` must be true, false or absent.")

    def __hash__(self) -> int:  # `parameters` is a dict: hash what identifies the definition's text
        return hash((self.id, self.name, self.description, json.dumps(self.parameters, sort_keys=True)))

    def as_api(self) -> dict[str, Any]:
        function: dict[str, Any] = {"name": self.name}
        if self.description:
            function["description"] = self.description
        function["parameters"] = self.parameters
        if self.strict is not None:
            function["strict"] = self.strict
        return {"type": "function", "function": function}

    @classmethod
    def from_api(cls, raw: Any, where: str = "tools[0]", **fields: Any) -> ToolDefinition:
        """A definition from the body's `tools` item; ToolDefinitionError names what is wrong."""
        if not isinstance(raw, dict):
            raise ToolDefinitionError(f"{where} must be an object with `type` and `function`.")
        if raw.get("type", "function") != "function":
            raise ToolDefinitionError(f"{where}.type is {raw.get('type')!r}: only function tools are supported.")
        function = raw.get("function")
        if not isinstance(function, dict):
            raise ToolDefinitionError(f"{where} has no `function` object (with `name` and `parameters`).")
        description = function.get("description", "")
        if not isinstance(description, str):
            raise ToolDefinitionError(f"{where}.function.description must be text.")
        strict = function.get("strict")
        if strict is not None and not isinstance(strict, bool):
            raise ToolDefinitionError(f"{where}.function.strict must be true or false.")
        parameters = function.get("parameters", {"type": "object", "properties": {}})
        return cls(
            checked_name(function.get("name"), f"{where}.function.name"),
            description,
            checked_parameters(parameters, f"{where}.function.parameters"),
            strict=strict,
            **fields,
        )


def checked_choice(choice: Any) -> str | None:
    """`tool_choice` as stored: None (not sent: the server's default, auto), auto, none, required or
    a function name."""
    if choice is None or choice in CHOICES:
        return choice
    return checked_name(choice, "tool_choice")


@dataclass(frozen=True)
class ToolSettings:
    """The session's tools and how the model may use them: what `build_body` adds to a request."""

    tools: tuple[ToolDefinition, ...] = ()
    tool_choice: str | None = None  # None: not sent (the API's default, "auto")
    parallel_tool_calls: bool | None = None  # None: not sent

    @property
    def included(self) -> tuple[ToolDefinition, ...]:
        return tuple(t for t in self.tools if t.included)

    def api_tools(self) -> list[dict[str, Any]]:
        return [t.as_api() for t in self.included]

    def body_fields(self) -> dict[str, Any]:
        """`tools`, `tool_choice`, `parallel_tool_calls` for the body: nothing without an included
        tool (the API refuses a tool_choice without tools)."""
        tools = self.api_tools()
        if not tools:
            return {}
        fields: dict[str, Any] = {"tools": tools}
        if self.tool_choice in CHOICES:
            fields["tool_choice"] = self.tool_choice
        elif self.tool_choice is not None:
            fields["tool_choice"] = {"type": "function", "function": {"name": self.tool_choice}}
        if self.parallel_tool_calls is not None:
            fields["parallel_tool_calls"] = self.parallel_tool_calls
        return fields

    def problem(self) -> str | None:
        """Why a body with these tools would be refused, or None."""
        names = [t.name for t in self.included]
        if not names:  # nothing about tools is sent
            return None
        duplicate = next((n for i, n in enumerate(names) if n in names[:i]), None)
        if duplicate:
            return (
                f"Two included tools are both named {duplicate}: the API refuses duplicate function names. "
                "Rename one or leave it out."
            )
        if self.tool_choice not in (None, *CHOICES) and self.tool_choice not in names:
            return (
                f"tool_choice forces the function {self.tool_choice}, which is not an included tool: "
                "include it or choose auto."
            )
        return None


NO_TOOLS = ToolSettings()
