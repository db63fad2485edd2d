"""Tools on the chat page: the session's tool definitions, tool calls and results written by hand, and
how a message that calls tools or answers a call is shown. The playground runs no tools: the user
writes each result. Every string a user, file or model wrote is shown inert.
"""

from __future__ import annotations

import json
from dataclasses import replace

import streamlit as st

from lib.context import conversation as conv
from lib.context import tool_pairs
from lib.context.display import inert_code, inert_inline, inert_markdown
from lib.context.payload import RequestPlan
from lib.context.tools import CHOICES, ToolDefinition, ToolDefinitionError
from ui import state

NAMED_ROLES = ("user", "system", "developer", "assistant")
_NEW_TOOL = json.dumps(
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Current weather for a city.",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string", "description": "The city"}},
                "required": ["city"],
            },
        },
    },
    indent=2,
)
_CHOICE_LABELS = {None: "not sent (the API's auto)", "auto": "auto", "none": "none (no calls)", "required": "required"}
_PARALLEL_LABELS = {None: "not sent", True: "true", False: "false (one call at a time)"}


def _problem(where: str, text: str) -> None:
    state.put(state.TOOL_PROBLEM, (where, text))


def _show_problem(where: str) -> None:
    problem = state.listing(state.TOOL_PROBLEM)
    if len(problem) == 2 and problem[0] == where:
        st.error(inert_markdown(problem[1]))


# --- tool definitions ---------------------------------------------------------------------------


def _definitions(text: str, keep: ToolDefinition | None = None) -> list[ToolDefinition]:
    """Definitions typed as JSON: one `tools` item, or a list of them (a request body's `tools`)."""
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ToolDefinitionError(
            f"The definition is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})."
        ) from None
    items = raw if isinstance(raw, list) else [raw]
    if keep is not None:
        if len(items) != 1:
            raise ToolDefinitionError("Write one definition here; add others with Add a tool.")
        return [ToolDefinition.from_api(items[0], "The definition", included=keep.included, id=keep.id)]
    return [ToolDefinition.from_api(item, f"tools[{i}]") for i, item in enumerate(items)]


def _add_tools() -> None:
    try:
        added = _definitions(state.text(state.TOOL_NEW))
    except ToolDefinitionError as exc:
        _problem("new", str(exc))
        return
    state.pop(state.TOOL_PROBLEM)
    state.set_tools((*state.tools(), *added))
    state.put(state.TOOL_NEW, _NEW_TOOL)


def _save_tool(tool_id: str) -> None:
    tools = state.tools()
    old = next(t for t in tools if t.id == tool_id)
    try:
        (new,) = _definitions(state.text(state.tool_edit_key(tool_id)), keep=old)
    except ToolDefinitionError as exc:
        _problem(tool_id, str(exc))  # the text stays in its box: nothing typed is lost
        return
    state.pop(state.TOOL_PROBLEM)
    state.set_tools(tuple(new if t.id == tool_id else t for t in tools))


def _include_tool(tool_id: str) -> None:
    included = bool(state.get(state.tool_include_key(tool_id)))
    state.set_tools(tuple(replace(t, included=included) if t.id == tool_id else t for t in state.tools()))


def _delete_tool(tool_id: str) -> None:
    state.set_tools(tuple(t for t in state.tools() if t.id != tool_id))
    state.pop(state.tool_edit_key(tool_id))


def tools_editor(plan: RequestPlan | None = None) -> None:
    """The session's tool definitions (JSON, checked as the API checks them), each includable, and
    tool_choice and parallel_tool_calls: what `build_body` adds to every call while a tool is included."""
    tools = state.tools()
    sent = sum(t.included for t in tools)
    label = f"Tools · {sent} of {len(tools)} sent with every call" if tools else "Tools (none defined)"
    with st.expander(label):
        st.caption(
            "Every call resends every included definition: the model remembers none of them. The playground "
            "runs no tools; write each result yourself (below the message box)."
        )
        if plan is not None and plan.tools.included:
            share = plan.count.tool_tokens
            st.caption(f"The included definitions cost {share:,} prompt tokens in the next call ({plan.count.method}).")
        for tool in tools:
            state.default(state.tool_include_key(tool.id), tool.included)
            state.default(state.tool_edit_key(tool.id), json.dumps(tool.as_api(), ensure_ascii=False, indent=2))
            row = st.container(horizontal=True, vertical_alignment="center", gap="small", key=f"toolrow_{tool.id}")
            row.toggle(
                f"Send {inert_inline(tool.name)}",
                key=state.tool_include_key(tool.id),
                on_change=_include_tool,
                args=(tool.id,),
            )
            row.caption(inert_inline(tool.description, 80), width="stretch")
            row.button(
                "Delete", icon=":material/delete:", key=f"tooldel_{tool.id}", on_click=_delete_tool, args=(tool.id,)
            )
            st.text_area(
                "Definition (JSON)", key=state.tool_edit_key(tool.id), height=160, label_visibility="collapsed"
            )
            st.button("Save definition", key=f"toolsave_{tool.id}", on_click=_save_tool, args=(tool.id,))
            _show_problem(tool.id)
        state.default(state.TOOL_NEW, _NEW_TOOL)
        st.text_area(
            "Add a tool: one definition, or a request body's whole `tools` list", key=state.TOOL_NEW, height=160
        )
        st.button("Add a tool", icon=":material/add:", key="tool_add", on_click=_add_tools)
        _show_problem("new")
        names = [t.name for t in tools if t.included]
        choice = state.get(state.TOOL_CHOICE)
        options = [None, *CHOICES, *names, *([choice] if choice and choice not in (*CHOICES, *names) else [])]
        st.selectbox(
            "tool_choice",
            options,
            key=state.TOOL_CHOICE,
            format_func=lambda o: _CHOICE_LABELS.get(o) or f"force {o}",
            help="auto: the model decides; none: no calls; required: at least one; a name: that function.",
        )
        st.selectbox(
            "parallel_tool_calls",
            [None, True, False],
            key=state.PARALLEL_TOOL_CALLS,
            format_func=lambda o: _PARALLEL_LABELS[o],
        )
        problem = plan.tools.problem() if plan is not None else None
        if problem:
            st.warning(inert_markdown(problem))


# --- messages written by hand ----------------------------------------------------------------------


def _add_call() -> None:
    try:
        history = tool_pairs.with_call(
            state.history(),
            state.text(state.CALL_NAME),
            state.text(state.CALL_ARGS),
            state.text(state.CALL_TEXT),
            state.flag(state.CALL_JOIN),
        )
    except (conv.MessageShapeError, ToolDefinitionError) as exc:
        _problem("call", str(exc))  # what was typed stays in its boxes
        return
    state.pop(state.TOOL_PROBLEM)
    state.set_history(history)
    state.put(state.CALL_ARGS, "{}")
    state.put(state.CALL_TEXT, "")


def _add_result() -> None:
    call_id = state.text(state.RESULT_FOR)
    if not call_id:
        _problem("result", "Choose the call this result answers (add a tool call first).")
        return
    try:
        history = tool_pairs.with_result(state.history(), call_id, state.text(state.RESULT_TEXT))
    except conv.MessageShapeError as exc:
        _problem("result", str(exc))
        return
    state.pop(state.TOOL_PROBLEM)
    state.set_history(history)
    state.put(state.RESULT_TEXT, "")


def _add_named() -> None:
    text = state.text(state.NAMED_TEXT)
    if not text.strip():
        _problem("named", "Type the message's text first.")
        return
    name = state.text(state.NAMED_NAME).strip() or None
    picked = state.optional_text(state.NAMED_ROLE)
    role: conv.Role = next((r for r in conv.ROLES if r == picked), "user")
    state.pop(state.TOOL_PROBLEM)
    state.set_history([*state.history(), conv.Message(role, text, name=name)])
    state.put(state.NAMED_TEXT, "")


def _call_label(known: tool_pairs.KnownCall) -> str:
    return f"{known.call.name} ({known.call.id})" + (" · answered" if known.answered else "")


def add_tool_messages() -> None:
    """Add, without calling the model: an assistant's tool call, a tool result answering a chosen call,
    a message with a participant name or the developer role."""
    with st.expander("Add a tool call, a tool result or a named message (no model is called)"):
        call_tab, result_tab, named_tab = st.tabs(["Tool call", "Tool result", "Named / developer message"])
        with call_tab:
            names = [t.name for t in state.tools()]
            hint = f"Defined tools: {', '.join(names)}" if names else "No tool is defined yet (Tools, above)."
            st.text_input("Function name", key=state.CALL_NAME, placeholder="get_weather", help=hint)
            state.default(state.CALL_ARGS, "{}")
            st.text_area("Arguments (a JSON object)", key=state.CALL_ARGS, height=80)
            st.text_input("Text said with the call (optional)", key=state.CALL_TEXT)
            last = state.history()[-1] if state.history() else None
            if last is not None and last.tool_calls and not tool_pairs.results_of(state.history(), last):
                st.checkbox("Add it to the last assistant message (parallel calls)", key=state.CALL_JOIN)
            st.button("Add tool call", icon=":material/build:", key="add_call", on_click=_add_call)
            _show_problem("call")
        with result_tab:
            calls = tool_pairs.known_calls(state.history())
            unanswered_first = sorted(calls, key=lambda k: k.answered)
            by_id = {k.call.id: k for k in calls}
            st.selectbox(
                "Answers the call",
                [k.call.id for k in unanswered_first],
                key=state.RESULT_FOR,
                format_func=lambda cid: _call_label(by_id[cid]) if cid in by_id else cid,
                placeholder="No tool call in the history yet",
            )
            st.text_area("Result (what the tool returned)", key=state.RESULT_TEXT, height=100)
            st.button("Add tool result", icon=":material/output:", key="add_result", on_click=_add_result)
            _show_problem("result")
        with named_tab:
            st.selectbox("Role", NAMED_ROLES, key=state.NAMED_ROLE, format_func=str.capitalize)
            st.text_input("Name (optional)", key=state.NAMED_NAME, placeholder="example_user")
            st.text_area("Text", key=state.NAMED_TEXT, height=80)
            st.button("Add message", icon=":material/playlist_add:", key="add_named", on_click=_add_named)
            _show_problem("named")


# --- a message's tool fields in its editor -------------------------------------------------------------


def message_fields_editor(message: conv.Message) -> None:
    """The fields beside the text that the role being edited has: a name, the calls, the call answered."""
    role = state.get(state.role_key(message.id)) or message.role
    if role in conv.NAMED_ROLES and role != "assistant":
        state.default(state.name_key(message.id), message.name or "")
        st.text_input("Name (optional)", key=state.name_key(message.id))
    if role == "assistant":
        state.default(
            state.calls_key(message.id), tool_pairs.calls_text(message.tool_calls) if message.tool_calls else ""
        )
        st.text_area(
            "Tool calls (JSON list of id, name, arguments; empty: none)", key=state.calls_key(message.id), height=120
        )
    if role == "tool":
        calls = tool_pairs.known_calls(state.history())
        ids = [k.call.id for k in calls]
        current = message.tool_call_id or ""
        state.default(state.answers_key(message.id), current)
        names = {k.call.id: k.call.name for k in calls}
        st.selectbox(
            "Answers the call",
            [*ids, *([current] if current and current not in ids else [])],
            key=state.answers_key(message.id),
            format_func=lambda cid: f"{names[cid]} ({cid})" if cid in names else f"{cid} (no such call)",
        )


def saved_fields(history: list[conv.Message], message_id: str) -> tuple[list[conv.Message], str | None]:
    """`history` with the editor's tool fields applied to `message_id` (after its text and role), or the
    history unchanged and the sentence saying what to fix."""
    message = next((m for m in history if m.id == message_id), None)
    if message is None:
        return history, None
    fields: dict = {"name": None, "tool_calls": (), "tool_call_id": None}
    if message.role in conv.NAMED_ROLES and message.role != "assistant":
        fields["name"] = state.text(state.name_key(message_id)).strip() or None
    if message.role == "assistant":
        text = state.optional_text(state.calls_key(message_id))
        try:
            fields["tool_calls"] = (
                tool_pairs.edited_calls(text, message.tool_calls) if text is not None else message.tool_calls
            )
        except (conv.MessageShapeError, ToolDefinitionError) as exc:
            return history, str(exc)
        fields["name"] = message.name
    if message.role == "tool":
        call_id = state.get(state.answers_key(message_id)) or message.tool_call_id
        if not call_id:
            return history, "A tool result must answer a call: choose it under Answers the call (add the call first)."
        fields["tool_call_id"] = call_id
    changed = {k: v for k, v in fields.items() if getattr(message, k) != v}
    if not changed:
        return history, None
    return [replace(m, **changed, edited=True) if m.id == message_id else m for m in history], None


# --- showing them -----------------------------------------------------------------------------------


def pair_flags(plan: RequestPlan, history: list[conv.Message]) -> dict[str, list[str]]:
    """What the API would refuse about the tool pairs of the call shown, by the message to look at."""
    flags: dict[str, list[str]] = {}
    for finding in tool_pairs.findings(plan.messages, history):
        flags.setdefault(finding.message_id, []).append(finding.text)
    return flags


def message_body(message: conv.Message, kept: bool, flags: dict[str, list[str]], history: list[conv.Message]) -> None:
    """A message's text, and its calls or the call it answers, inert; a broken pair flagged beside it."""
    show = st.markdown if kept else st.caption
    if message.role == "tool":
        calling = tool_pairs.call_of(history, message)
        name = next((c.name for c in calling.tool_calls if c.id == message.tool_call_id), "") if calling else ""
        answers = f"{inert_inline(name)} " if name else ""
        st.caption(f"Result of {answers}{inert_code(message.tool_call_id or '')}")
    elif message.name:
        st.caption(f"Name: {inert_code(message.name)}")
    if message.content:
        show(inert_markdown(message.content))
    for call in message.tool_calls:
        # One line each, inert: a model's arguments are its text, not Markdown (the preview has them whole).
        st.caption(
            f"Calls **{inert_inline(call.name)}** with {inert_code(call.arguments, 500)} · id {inert_code(call.id)}"
        )
    if message.tool_calls:
        answered = {r.tool_call_id for r in tool_pairs.results_of(history, message)}
        st.caption(
            f"{len(answered):,} of {len(message.tool_calls):,} calls answered. Its include toggle carries its results "
            "along: the API refuses a call without its results, or a result without its call."
        )
    for text in flags.get(message.id, []):
        st.warning(inert_markdown(text))


# --- a Compare variant's tools ------------------------------------------------------------------------

_VARIANT_TOOLS = {"session": "the session's tools", "none": "no tools", "only": "only some tools"}


def variant_tools(key) -> None:
    """A Compare slot's tools: the session's as the chat sends them, none, or only the ones picked
    (`key(name)` is the slot's widget key). Drawn only when the session defines tools."""
    names = [t.name for t in state.tools()]
    if not names:
        return
    state.default(key("tools_mode"), "session")
    st.radio(
        "Tools", list(_VARIANT_TOOLS), format_func=_VARIANT_TOOLS.__getitem__, key=key("tools_mode"), horizontal=True
    )
    if state.text(key("tools_mode")) == "only":
        picked = [n for n in state.listing(key("tool_names")) if n in names]
        state.put(key("tool_names"), picked)
        st.multiselect("Tools sent", names, key=key("tool_names"))


# --- the meter and the preview: what the model reads of the tools --------------------------------------


def _uses_tools(plan: RequestPlan) -> bool:
    return bool(plan.tools.included) or any(m.tool_calls or m.role == "tool" for m in plan.messages)


def meter_note(plan: RequestPlan) -> None:
    """The tool definitions' share of the prompt, and what the embedded model's template makes of tools."""
    if not _uses_tools(plan):
        return
    parts = []
    if plan.tools.included:
        parts.append(f"tool definitions: {plan.count.tool_tokens:,} tokens")
    if plan.model.encoding == "embedded":
        parts.append(
            "SmolLM2's chat template renders neither tool definitions nor an assistant's tool calls (its server "
            "shows the model each message's role and text only): they cost 0 tokens here and the model cannot "
            "see them. Tool results are read as `tool` turns (Payload preview → As the model reads it)"
        )
    st.caption(" · ".join(parts))


def model_view(plan: RequestPlan) -> None:
    """The prompt the embedded model's server makes of this body (its own chat template), as text."""
    if plan.model.encoding != "embedded" or not _uses_tools(plan):
        return
    from ui import resources  # the tokenizer loads the model's vocabulary: only when this is drawn

    prompt, _ = resources.embedded_tokenizer().render(plan.body["messages"], tools=plan.body.get("tools"))
    st.caption("As the model reads it: the body rendered by its chat template, as its server renders it.")
    st.code(prompt, language="text", wrap_lines=True)
