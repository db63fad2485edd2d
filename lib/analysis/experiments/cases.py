"""What a test set is: cases, the conversation each question is asked in, and the checks on its answer.

A case is a question, the conversation it is asked in (the chat's current session, a saved session,
or a short history written in the case itself) and checks. One vocabulary of check types serves the
editor, every file format and promptfoo's assertions (`contains`, `icontains`, `not-contains`, …):
`Check.kind` is the type without its case-insensitive `i`, which is `ignore_case`.

`from_dict` is the one reader: every importer turns its rows into dicts and passes them here, so a
case is checked the same way whatever file it came from, and the first problem is named.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Literal, cast

from lib.analysis.experiments.kinds import (
    CHECK_KINDS,
    CHECK_LABELS,
    FOLDABLE,
    MAX_COUNT,
    MAX_TEXT,
    Check,
    InvalidTestSet,
    check_from_dict,
    check_from_line,
    check_to_dict,
    kind_of,
    to_line,
    whole_number,
)
from lib.analysis.experiments.kinds import shown as _shown
from lib.analysis.experiments.kinds import text_value as _text
from lib.context.conversation import Message, Role, SystemPrompt
from lib.context.tools import NO_TOOLS, ToolDefinition, ToolSettings, checked_choice
from lib.core.errors import MessageShapeError, ToolDefinitionError

# Re-exported: a test set's readers and writers name checks through this module (kinds.py holds them).
__all__ = [
    "CHECK_KINDS",
    "CHECK_LABELS",
    "FOLDABLE",
    "MAX_COUNT",
    "MAX_TEXT",
    "Check",
    "InvalidTestSet",
    "check_from_dict",
    "check_from_line",
    "check_to_dict",
    "kind_of",
    "to_line",
    "whole_number",
]
Source = Literal["inline", "current", "session"]
SOURCES: tuple[str, ...] = ("inline", "current", "session")
ROLES = ("user", "assistant", "system")  # the history box's `role:` lines
# A conversation written as Chat Completions messages takes every role the API does: tool calls and
# results keep their shape (a tool result needs the assistant's call it answers).
MESSAGE_ROLES = ("system", "developer", "user", "assistant", "tool")
# Tool definitions as a request body carries them: a set's (and a written conversation's) own.
TOOL_KEYS = ("tools", "tool_choice", "parallel_tool_calls")
MAX_CASES = 2_000


@dataclass(frozen=True)
class Conversation:
    """Where a question is asked. Inline: the messages (and system prompt) written in the case;
    current: the chat's session when the run starts; session: a saved session, by id."""

    source: Source = "inline"
    messages: tuple[Message, ...] = ()
    system: str | None = None  # inline only; None: the app's default system prompt
    session_id: str = ""
    # The conversation's own tool definitions (a saved session's, the chat's, or written in the case):
    # when it has any they are the ones sent, else the set's (`TestSet.tools_for`).
    tools: ToolSettings = NO_TOOLS

    def system_prompt(self) -> SystemPrompt:
        if self.system is None:
            return SystemPrompt()
        return SystemPrompt(self.system, included=bool(self.system.strip()))

    def describe(self) -> str:
        if self.source == "current":
            return "the current session"
        if self.source == "session":
            return f"saved session {self.session_id}"
        turns = sum(m.role == "user" for m in self.messages)
        said = f"{turns} turn{'s' * (turns != 1)} written in the case" if self.messages else "no history"
        calls = sum(len(m.tool_calls) for m in self.messages)
        results = sum(m.role == "tool" for m in self.messages)
        if calls or results:
            said += f" ({calls} tool call{'s' * (calls != 1)}, {results} result{'s' * (results != 1)})"
        if self.tools.tools:
            said += f" · its own tools: {tools_label(self.tools)}"
        return said


def tools_label(settings: ToolSettings) -> str:
    """Tool definitions in a few words: their names (those left out said so), tool_choice, parallel calls."""
    names = ", ".join(t.name if t.included else f"{t.name} (left out)" for t in settings.tools)
    extra = [f"tool_choice {settings.tool_choice}"] if settings.tool_choice is not None else []
    if settings.parallel_tool_calls is not None:
        extra.append(f"parallel_tool_calls {str(settings.parallel_tool_calls).lower()}")
    return names + (f" ({', '.join(extra)})" if extra else "")


@dataclass(frozen=True)
class Case:
    id: str
    question: str
    conversation: Conversation = field(default_factory=Conversation)
    checks: tuple[Check, ...] = ()
    # How many turns before the question the fact it asks about was told: the forgetting curve's x.
    turns_ago: int | None = None
    description: str = ""

    @property
    def judged(self) -> bool:
        return any(c.is_judge for c in self.checks)

    @property
    def deterministic(self) -> tuple[Check, ...]:
        return tuple(c for c in self.checks if not c.is_judge)


@dataclass(frozen=True)
class TestSet:
    __test__ = False  # not a pytest class, whatever imports it

    name: str
    cases: tuple[Case, ...] = ()
    description: str = ""
    # The tool definitions (with tool_choice, parallel_tool_calls) every case is asked with, unless
    # its conversation carries its own: what a promptfoo provider's `config.tools` sends.
    tools: ToolSettings = NO_TOOLS

    def case(self, case_id: str) -> Case | None:
        return next((c for c in self.cases if c.id == case_id), None)

    def tools_for(self, case: Case) -> ToolSettings:
        """The tools `case` is asked with (before a variant leaves some out): its conversation's, when
        it has any definition, else the set's."""
        return case.conversation.tools if case.conversation.tools.tools else self.tools

    @property
    def judged(self) -> bool:
        return any(c.judged for c in self.cases)


# --- checks as one line of text: the editor's and the CSV's form (each kind's: kinds.py) --------


def checks_from_text(text: str) -> tuple[Check, ...]:
    """One check per non-empty line; the problem names the line."""
    checks = []
    for number, line in enumerate(text.splitlines(), 1):
        if line.strip():
            try:
                checks.append(check_from_line(line))
            except InvalidTestSet as problem:
                raise InvalidTestSet(f"check line {number}: {problem}") from None
    return tuple(checks)


def checks_to_text(checks: tuple[Check, ...]) -> str:
    return "\n".join(to_line(c) for c in checks)


# --- dicts: the one reader every format goes through ---------------------------------------------


def _message(data: Any, index: int) -> Message:
    where = f"message {index + 1}"
    if not isinstance(data, dict):
        raise InvalidTestSet(f"{where} must be an object with `role` and `content`")
    role = data.get("role")
    if role not in MESSAGE_ROLES:
        raise InvalidTestSet(f"{where} has role {_shown(role)}: use user, assistant, system, developer or tool")
    flags = {name: data[name] for name in ("included", "pinned") if name in data}
    for name, value in flags.items():
        if not isinstance(value, bool):
            raise InvalidTestSet(f"{where}'s `{name}` must be true or false")
    content = data.get("content")
    content = "" if content is None else _text(content, f"{where}'s content", allow_empty=True)
    wire = {k: v for k, v in data.items() if k not in ("included", "pinned")} | {"content": content}
    try:
        # Ids by position: the same history read twice is the same history (the planner groups by it).
        return Message.from_api(wire, where, id=f"h{index:04d}", **flags)
    except MessageShapeError as problem:
        raise InvalidTestSet(str(problem).rstrip(".")) from None


def conversation_from_dict(data: Any) -> Conversation:
    if data is None:
        return Conversation()
    if isinstance(data, list):  # a bare list of messages
        data = {"source": "inline", "messages": data}
    if not isinstance(data, dict):
        raise InvalidTestSet("`conversation` must be an object (source, messages, system) or a list of messages")
    source = data.get("source", "inline")
    if source not in SOURCES:
        raise InvalidTestSet(f"conversation source {_shown(source)}: use inline, current or session")
    if source == "session":
        session_id = _text(data.get("session_id", ""), "a session conversation's `session_id`")
        return Conversation("session", session_id=session_id.strip())
    if source == "current":
        return Conversation("current")
    raw = data.get("messages") or []
    if not isinstance(raw, list):
        raise InvalidTestSet("`messages` must be a list")
    messages = tuple(_message(item, index) for index, item in enumerate(raw))
    system = data.get("system")
    if system is not None:
        system = _text(system, "the conversation's system prompt", allow_empty=True)
    return Conversation("inline", messages, system, tools=tools_from_dict(data, "the conversation's"))


def conversation_to_dict(conversation: Conversation) -> dict[str, Any]:
    if conversation.source == "current":
        return {"source": "current"}
    if conversation.source == "session":
        return {"source": "session", "session_id": conversation.session_id}
    data: dict[str, Any] = {"source": "inline"}
    if conversation.system is not None:
        data["system"] = conversation.system
    data["messages"] = [_message_dict(m) for m in conversation.messages]
    data.update(tools_to_dict(conversation.tools))
    return data


def tools_from_dict(data: dict[str, Any], whose: str = "the set's") -> ToolSettings:
    """`tools` (a request body's list, each item optionally with `"included": false`), `tool_choice`
    (auto, none, required, a function's name, or the body's `{"type": "function", …}`) and
    `parallel_tool_calls`, as a set or a written conversation holds them; InvalidTestSet names the first
    problem."""
    raw = data.get("tools")
    if raw is None:
        raw = []
    if not isinstance(raw, list):
        raise InvalidTestSet(f"{whose} `tools` must be a list of tool definitions (a request body's `tools`)")
    tools = []
    for index, item in enumerate(raw):
        where = f"{whose} tools[{index}]"
        included = item.get("included", True) if isinstance(item, dict) else True
        if not isinstance(included, bool):
            raise InvalidTestSet(f"{where}.included must be true or false")
        body = {k: v for k, v in item.items() if k != "included"} if isinstance(item, dict) else item
        try:
            # Ids by position, as messages': the same set read twice is the same set.
            tools.append(ToolDefinition.from_api(body, where, included=included, id=f"tool-{index}"))
        except ToolDefinitionError as problem:
            raise InvalidTestSet(str(problem).rstrip(".")) from None
    choice = data.get("tool_choice")
    if isinstance(choice, dict):  # the body's form: {"type": "function", "function": {"name": …}}
        function = choice.get("function")
        choice = function.get("name") if isinstance(function, dict) else None
        if choice is None:
            raise InvalidTestSet(f'{whose} tool_choice object must name a function: {{"function": {{"name": …}}}}')
    try:
        choice = checked_choice(choice)
    except ToolDefinitionError as problem:
        raise InvalidTestSet(f"{whose} {str(problem).rstrip('.')}") from None
    parallel = data.get("parallel_tool_calls")
    if parallel is not None and not isinstance(parallel, bool):
        raise InvalidTestSet(f"{whose} `parallel_tool_calls` must be true or false")
    if not tools and (choice is not None or parallel is not None):
        raise InvalidTestSet(f"{whose} tool_choice or parallel_tool_calls is set, but there are no `tools`")
    return ToolSettings(tuple(tools), choice, parallel)


def tools_to_dict(settings: ToolSettings) -> dict[str, Any]:
    """The keys `tools_from_dict` reads; nothing for no tools (a set without tools is written as before)."""
    if not settings.tools:
        return {}
    tools = [t.as_api() | ({} if t.included else {"included": False}) for t in settings.tools]
    data: dict[str, Any] = {"tools": tools}
    if settings.tool_choice is not None:
        data["tool_choice"] = settings.tool_choice
    if settings.parallel_tool_calls is not None:
        data["parallel_tool_calls"] = settings.parallel_tool_calls
    return data


def _message_dict(message: Message) -> dict[str, Any]:
    """The message as the body carries it (role and content; a tool call's or result's fields); the
    include flag and the pin only where they differ from the default (the manual strategy reads the
    one, every strategy keeps a pinned message)."""
    data: dict[str, Any] = message.as_api()
    if not message.included:
        data["included"] = False
    if message.pinned:
        data["pinned"] = True
    return data


_CASE_FIELDS = {"id", "question", "conversation", "checks", "turns_ago", "description"}


def case_from_dict(data: Any, default_id: str) -> Case:
    if not isinstance(data, dict):
        raise InvalidTestSet(f"a case must be an object, not {type(data).__name__}")
    unknown = sorted(set(data) - _CASE_FIELDS, key=str)
    if unknown:
        raise InvalidTestSet(f"unknown field {_shown(unknown[0])} (a case has: {', '.join(sorted(_CASE_FIELDS))})")
    case_id = _text(data.get("id") or default_id, "the case id").strip()
    question = _text(data.get("question", ""), "the question")
    raw_checks = data.get("checks") or []
    if not isinstance(raw_checks, list):
        raise InvalidTestSet("`checks` must be a list")
    checks = []
    for number, item in enumerate(raw_checks, 1):
        try:
            checks.append(check_from_line(item) if isinstance(item, str) else check_from_dict(item))
        except InvalidTestSet as problem:
            raise InvalidTestSet(f"check {number}: {problem}") from None
    turns_ago = data.get("turns_ago")
    if turns_ago is not None:
        if isinstance(turns_ago, bool) or not isinstance(turns_ago, int) or turns_ago < 0:
            raise InvalidTestSet(f"`turns_ago` must be a whole number of turns, not {_shown(turns_ago)}")
        turns_ago = whole_number(turns_ago, "`turns_ago`")
    description = _text(data.get("description", ""), "the description", allow_empty=True)
    return Case(
        case_id, question, conversation_from_dict(data.get("conversation")), tuple(checks), turns_ago, description
    )


def case_to_dict(case: Case) -> dict[str, Any]:
    data: dict[str, Any] = {"id": case.id, "question": case.question}
    if case.description:
        data["description"] = case.description
    data["conversation"] = conversation_to_dict(case.conversation)
    data["checks"] = [check_to_dict(c) for c in case.checks]
    if case.turns_ago is not None:
        data["turns_ago"] = case.turns_ago
    return data


def case_revision(case: Case) -> str:
    """A short digest of everything the case holds: another text, conversation or check is another
    revision (the case editor keys its widgets by it, so it never shows a case's older or another's text)."""
    canonical = json.dumps(case_to_dict(case), ensure_ascii=False, sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def test_set(
    name: str, cases: list[Case] | tuple[Case, ...], description: str = "", tools: ToolSettings = NO_TOOLS
) -> TestSet:
    """A set whose case ids are unique (a repeated one is refused, naming it)."""
    if len(cases) > MAX_CASES:
        raise InvalidTestSet(f"{len(cases):,} cases: at most {MAX_CASES:,} in a set")
    seen: set[str] = set()
    for case in cases:
        if case.id in seen:
            raise InvalidTestSet(f"case id {case.id!r} is used twice: ids name the cells of a run")
        seen.add(case.id)
    return TestSet(name.strip() or "Untitled set", tuple(cases), description, tools)


def set_to_dict(test_set_: TestSet) -> dict[str, Any]:
    return {
        "name": test_set_.name,
        "description": test_set_.description,
        **tools_to_dict(test_set_.tools),
        "cases": [case_to_dict(c) for c in test_set_.cases],
    }


def set_from_dict(data: Any) -> TestSet:
    if not isinstance(data, dict) or not isinstance(data.get("cases"), list):
        raise InvalidTestSet("a test set is an object with a `cases` list")
    cases = []
    for index, item in enumerate(data["cases"]):
        try:
            cases.append(case_from_dict(item, f"case-{index + 1}"))
        except InvalidTestSet as problem:
            raise InvalidTestSet(f"case {index + 1}: {problem}") from None
    tools = tools_from_dict(data)
    return test_set(str(data.get("name") or "Untitled set"), cases, str(data.get("description") or ""), tools)


def with_case(test_set_: TestSet, case: Case, replacing: str | None = None) -> TestSet:
    """The set with `case` added, or put in place of the case `replacing`."""
    if replacing is None:
        return test_set(test_set_.name, [*test_set_.cases, case], test_set_.description, test_set_.tools)
    cases = [case if c.id == replacing else c for c in test_set_.cases]
    return test_set(test_set_.name, cases, test_set_.description, test_set_.tools)


def without_case(test_set_: TestSet, case_id: str) -> TestSet:
    kept = tuple(c for c in test_set_.cases if c.id != case_id)
    return TestSet(test_set_.name, kept, test_set_.description, test_set_.tools)


def next_case_id(test_set_: TestSet) -> str:
    taken = {c.id for c in test_set_.cases}
    number = len(taken) + 1
    while f"case-{number}" in taken:
        number += 1
    return f"case-{number}"


def history_from_text(text: str) -> tuple[Message, ...]:
    """The editor's history box: one message per line, `user: …` or `assistant: …` (a line without a
    role continues the message before it)."""
    messages: list[list[str]] = []
    for number, line in enumerate(text.splitlines(), 1):
        role, colon, content = line.partition(":")
        if colon and role.strip().lower() in ROLES:
            messages.append([role.strip().lower(), content.strip()])
        elif messages:
            messages[-1][1] += "\n" + line
        elif line.strip():
            raise InvalidTestSet(f"history line {number}: start it with `user:` or `assistant:`")
    return tuple(Message(cast(Role, role), content, id=f"h{i:04d}") for i, (role, content) in enumerate(messages))


def history_to_text(messages: tuple[Message, ...]) -> str:
    return "\n".join(f"{m.role}: {m.content}" for m in messages)
