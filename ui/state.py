"""The one place that touches `st.session_state`: named keys and typed accessors.

The history and the system prompt are the client's memory (the API keeps none); widget keys for
per-message controls are derived here so pages never spell them out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypeVar

import streamlit as st

from lib.context.caching import CachedCall, CachePrediction
from lib.context.conversation import Message, SystemPrompt
from lib.context.paging import DEFAULT_PAGE_SIZE
from lib.context.request import Request
from lib.context.strategies import BUDGET, TURNS, Parameter
from lib.context.tools import ToolDefinition, ToolSettings
from lib.core.outcome import CallOutcome

T = TypeVar("T")

HISTORY = "history"
SYSTEM_TEXT = "system_text"
SYSTEM_INCLUDED = "system_included"
DRAFT = "draft"
# A Send or a Retry, planned in its callback (lib/context/request.py) and sent as planned on the next run.
PENDING = "pending_call"
# The chat reply this page shows arriving (ui/chat/calls.ChatCall). The reply itself belongs to the process
# (lib/store/chat_replies.py): it survives the page's reruns, a refresh and a closed tab.
IN_FLIGHT = "reply_in_flight"
# The body the meter and preview showed on the last run: Send says whether it sent exactly that.
SHOWN_BODY = "shown_body"
# Summaries made in this session for the summarising strategy, by what they summarise (ui/summary.py).
SUMMARIES = "summaries"
SUMMARY_WANTED = "summary_wanted"
LAST_CALL = "last_call"
FLASH = "flash"
LAST_TURNS = "last_turns"
# The chat's hand edits (pages/chat.py): the last deleted message, for its Undo (lib.context.conversation.Removed
# and the session it was deleted from); a Regenerate on its way; the role of a message added by hand.
UNDO = "deleted_message"
REGENERATING = "regenerating"
KEEP_OLD_ANSWER = "keep_old_answer"
ADD_ROLE = "add_role"
PREVIEW_OPEN = "payload_preview_open"  # the chat's payload preview expander, drawn only while open
# The chat draws one page of the history (lib/context/paging.py): its size, and which page (0 = newest).
PAGE_SIZE = "page_size"
HISTORY_PAGE = "history_page"
# A message the composition bar was asked to show (ui/composition.py): scrolled to on the next run.
FOCUS_MESSAGE = "focus_message"

# Provider settings (sidebar widgets). The API key lives only here, in this browser session's memory.
KIND = "provider_kind"
OPENAI_MODEL = "openai_model"
AZURE_DEPLOYMENT = "azure_deployment"
COMPATIBLE_MODEL = "compatible_model"
BASE_URL = "base_url"
API_KEY = "api_key"
AZURE_ENDPOINT = "azure_endpoint"
AZURE_API_VERSION = "azure_api_version"
PRICED_AS = "priced_as"
TEMPERATURE = "temperature"
MAX_TOKENS = "max_tokens"
STREAM = "stream"
CUSTOM_WINDOW = "custom_window"
CUSTOM_INPUT_PRICE = "custom_input_price"
CUSTOM_OUTPUT_PRICE = "custom_output_price"
TIMEOUT = "timeout_s"  # seconds a call may take; a connection setting, so not saved with a session
# A call's own limits (lib.backends.providers.CallLimits): its whole wall time, its reply's size. As
# the timeout, settings of this browser session's connection, not saved with a session.
DEADLINE = "deadline_s"
MAX_REPLY_MB = "max_reply_mb"

# The chat's context strategy (lib/context/strategies.py).
STRATEGY_KIND = "strategy_kind"
STRATEGY_TURNS = f"strategy_{TURNS.key}"
STRATEGY_BUDGET = f"strategy_{BUDGET.key}"


def strategy_key(parameter: Parameter) -> str:
    """The Chat's widget key for a strategy parameter (kept with the session)."""
    return f"strategy_{parameter.key}"


# Sessions (ui/sessions.py): the open session's id (also in the URL as ?session=), its form as last
# saved (None: a blank session nothing has been saved for yet), the sidebar's session widgets.
SESSION_ID = "session_id"
# Recorded demos (ui/demos.py): the recording replayed (None: live), the replies it gave, the sidebar's block.
REPLAYING = "replaying"
REPLAYED_REPLIES = "replayed_replies"  # {reply message id}: answers a recording gave, captioned *replayed*
DEMOS_OPEN = "demos_open"
DEMO_TITLE = "demo_title"
DEMO_PICK = "demo_pick"
DEMO_UPLOADS = "demo_uploads"  # counts imports: a new uploader key empties the uploader
SAVED_SESSION = "saved_session"
SESSION_PICK = "session_pick"
SESSION_TITLE = "session_title"
SESSION_UPLOADS = "session_uploads"  # counts imports: a new uploader key empties the uploader
SESSION_NOTE = "session_note"
SESSION_LIST_OPEN = "session_list_open"  # the sidebar's popovers; their widgets are drawn only while open
SESSION_RENAME_OPEN = "session_rename_open"
SEND_SESSION_ID = "send_session_id"
# The session's tool definitions (a tuple of lib/context/tools.ToolDefinition) and how the model may
# use them (widgets; persisted as settings).
TOOLS = "tools"
TOOL_CHOICE = "tool_choice"
PARALLEL_TOOL_CALLS = "parallel_tool_calls"
# The tools panel and the adders of tool calls, results and named messages (ui/tools_panel.py).
TOOL_NEW = "tool_new"  # the "Add a tool" definition text
TOOL_PROBLEM = "tool_problem"  # (where, sentence): the last refused edit, shown beside its inputs
CALL_NAME, CALL_ARGS, CALL_TEXT, CALL_JOIN = "call_name", "call_args", "call_text", "call_join"
RESULT_FOR, RESULT_TEXT = "result_for", "result_text"
NAMED_ROLE, NAMED_NAME, NAMED_TEXT = "named_role", "named_name", "named_text"
# A stale tab (lib.core.errors.StaleSession): another tab saved or deleted the open session since this
# one read it. Nothing is saved until the user reloads or keeps this tab's work as a new session.
SESSION_CONFLICT = "session_conflict"
# Whose sessions these are (ui/owner.py): the browser's cookie token, and whether this browser
# session has claimed the sessions nobody owns yet (a single-user install's older sessions).
OWNER_TOKEN = "owner_token"
OWNER_CLAIMED = "owner_claimed"
SHARE_OPEN = "share_open"  # the sidebar's Share popover

# The chat's *Bring your own context* (ui/import_context.py): the expander, the pasted text, the text
# read (a lib.store.imports.Source) or why not, the item picked in it, and a counter whose change
# gives a fresh, empty uploader after an import.
IMPORT_OPEN = "import_context_open"
IMPORT_TEXT = "import_context_text"
IMPORT_SOURCE = "import_context_source"
IMPORT_ORIGIN = "import_context_origin"  # which was read: the uploaded file (named) or the pasted text
IMPORT_PREVIEW = "import_context_preview"  # the picked item read and made a session, with what it was read for
IMPORT_PROBLEM = "import_context_problem"
IMPORT_PICK = "import_context_pick"
IMPORT_UPLOADS = "import_context_uploads"

DEFAULTS = {
    SYSTEM_TEXT: SystemPrompt().content,
    SYSTEM_INCLUDED: True,
    DRAFT: "",
    LAST_TURNS: 2,
    PAGE_SIZE: DEFAULT_PAGE_SIZE,
    HISTORY_PAGE: 0,
    ADD_ROLE: "user",
    KEEP_OLD_ANSWER: False,
    STRATEGY_KIND: "manual",
    STRATEGY_TURNS: TURNS.default,
    STRATEGY_BUDGET: BUDGET.default,
    TEMPERATURE: 0.7,
    MAX_TOKENS: 256,
    STREAM: True,
    TIMEOUT: 60,
    DEADLINE: 300,
    MAX_REPLY_MB: 1.0,
    SEND_SESSION_ID: False,
    CUSTOM_WINDOW: 8192,
    CUSTOM_INPUT_PRICE: 0.0,
    CUSTOM_OUTPUT_PRICE: 0.0,
}


@dataclass(frozen=True)
class PendingCall:
    """A call planned by Send or Retry: `request` is sent as it is, never planned again."""

    question_id: str
    request: Request
    shown: bool  # whether the meter showed exactly this body before the click


@dataclass
class LastCall:
    """The last call's prediction (made before it was sent) beside what the server reported."""

    predicted_prompt_tokens: int
    predicted_exact: bool
    body_bytes: int
    model: str
    outcome: CallOutcome = field(default_factory=CallOutcome)
    shown: bool = True  # the meter showed this very request before Send
    cache: CachePrediction | None = None  # the cached tokens predicted for it (from the call before it)
    cache_after: CachedCall | None = None  # what it left in the provider's cache, for the next prediction
    cost: float | None = None  # USD, the cache applied as reported (lib.core.prices.billed)
    price_source: str = ""  # where the prices come from (and their date)


# The compare page: variant slots (each slot's widgets are keyed by its id) and kept comparisons.
COMPARE_QUESTION = "compare_question"
COMPARE_SLOTS = "compare_slots"
COMPARE_REPEATS = "compare_repeats"
COMPARE_SEED = "compare_seed"
COMPARE_BASELINE = "compare_baseline"
COMPARISONS = "comparisons"
COMPARE_SHOWN = "compare_shown"
# The session whose Compare set-up and comparisons the page holds (they are kept with the session,
# lib/store/storage.py), and the set-up as last saved (saved again only when it changed).
COMPARE_LOADED_FOR = "compare_loaded_for"
COMPARE_SAVED_SETUP = "compare_saved_setup"
# *Price as* (ui/price_as.py): the hosted model whose list prices every page shows a free run's cost at ("":
# each model's own). One key for the chat meter, Compare and the presenter's view: the choice follows the user.
PRICE_AS = "price_as"
COMPARE_ONE_AT_A_TIME = "compare_one_at_a_time"
COMPARE_DIFF = "compare_diff"  # the answers as a word diff against the baseline (else as plain text)
COMPARE_EXPECTED = "compare_expected"  # the answer the question should get ("": not checked)
# The presenter's view (pages/present.py, ui/present/): the one switch that hides the controls, what it
# shows (the conversation, or a saved comparison or experiment run step by step), which one, the step
# shown (0-based), the run's case the steps show. The price is PRICE_AS, the chat meter's (ui/price_as.py).
PRESENTING = "present_presenting"
PRESENT_SHOW = "present_show"
PRESENT_SOURCE = "present_source"
PRESENT_STEP = "present_step"
PRESENT_CASE = "present_case"
PRESENT_SEEN = "present_seen"  # how many messages the conversation box last held (it scrolls to new ones)
# Set on a browser session's first run: ui/navigation.py names the pages by title on that run only.
NAVIGATION_CHECKED = "navigation_checked"

TIMELINE_SAMPLE = "timeline_sample"

# The token inspector's choices (its tokenizer starts from the backend's each time the page opens).
INSPECTOR_ENCODING = "inspector_encoding"
INSPECTOR_SPACES = "inspector_spaces"
INSPECTOR_SOURCE = "inspector_source"  # what is inspected: the chat's next request, free text, a Compare variant
INSPECTOR_TEXT = "inspector_text"
INSPECTOR_AS_MESSAGE = "inspector_as_message"  # free text inside the chat format, as one user message
INSPECTOR_VARIANT = "inspector_variant"

# The walkthrough: the step shown, and each demo's finished calls (by step number).
WALKTHROUGH_STEP = "walkthrough_step"
WALKTHROUGH_RUNS = "walkthrough_runs"

# The Experiments page (pages/experiments.py; its typed views: ui/experiments_state.py). Its choices are
# widgets, kept across pages here (`init`) as the other pages' are: the section, the test set and case
# picked, the run's settings, the judge, the run and the comparisons picked, the results' views.
EXP_SECTION = "exp_section"
EXP_SET_ID = "exp_set_id"
EXP_CASE_PICK = "exp_case_pick"
EXP_UPLOADS = "exp_uploads"  # counts imports: a new uploader key empties the uploader
EXP_NOTE = "exp_note"
EXP_VARIANT_ROWS = "exp_variant_rows"  # the variants as edited (the editor's edits folded in as they are made)
EXP_VARIANT_EDITOR = "exp_variant_editor"  # the editor's widget key, with the rows' revision after it
EXP_VARIANT_REVISION = "exp_variant_revision"
EXP_REPEATS, EXP_SEED = "exp_repeats", "exp_seed"
EXP_MAX_TOKENS, EXP_TEMPERATURE = "exp_max_tokens", "exp_temperature"
EXP_CONCURRENCY, EXP_COST_LIMIT, EXP_COST_OK = "exp_concurrency", "exp_cost_limit", "exp_cost_ok"
EXP_RUN_NAME = "exp_run_name"
EXP_JUDGE_KIND, EXP_JUDGE_MODEL = "exp_judge_kind", "exp_judge_model"
EXP_PREVIEW_VARIANT, EXP_PREVIEW_CASE = "exp_preview_variant", "exp_preview_case"
EXP_RUN_ID, EXP_RUN_PICK = "exp_run_id", "exp_run_pick"
EXP_GRID = "exp_grid"
EXP_CELL_REPEAT = "exp_cell_repeat"
EXP_FRONTIER_BY = "exp_frontier_by"
EXP_BASELINE = "exp_baseline"
EXP_COMPARE_A, EXP_COMPARE_B = "exp_compare_a", "exp_compare_b"
EXP_BATCH_UPLOADS = "exp_batch_uploads"
# The uploaders' keys start so, the count of files taken after (a new key is an empty uploader).
EXP_IMPORT_PREFIX, EXP_BATCH_PREFIX = "exp_import_", "exp_batch_"
EXP_CLAIMED = "exp_owner_claimed"
# The case editor's widgets, one set per test set, case and revision of the case (ui/experiments_state.py):
# text typed but not saved is kept across pages too.
EXP_EDITOR_PREFIX = "exp_edit_"
EXP_KEPT = (
    EXP_SECTION,
    EXP_SET_ID,
    EXP_CASE_PICK,
    EXP_REPEATS,
    EXP_SEED,
    EXP_MAX_TOKENS,
    EXP_TEMPERATURE,
    EXP_CONCURRENCY,
    EXP_COST_LIMIT,
    EXP_COST_OK,
    EXP_JUDGE_KIND,
    EXP_JUDGE_MODEL,
    EXP_PREVIEW_VARIANT,
    EXP_PREVIEW_CASE,
    EXP_RUN_PICK,
    EXP_CELL_REPEAT,
    EXP_FRONTIER_BY,
    EXP_BASELINE,
    EXP_COMPARE_A,
    EXP_COMPARE_B,
)

SETTING_KEYS = (
    KIND,
    OPENAI_MODEL,
    AZURE_DEPLOYMENT,
    COMPATIBLE_MODEL,
    BASE_URL,
    API_KEY,
    AZURE_ENDPOINT,
    AZURE_API_VERSION,
    PRICED_AS,
    TEMPERATURE,
    MAX_TOKENS,
    STREAM,
    CUSTOM_WINDOW,
    CUSTOM_INPUT_PRICE,
    CUSTOM_OUTPUT_PRICE,
)
KEPT_WIDGET_KEYS = frozenset(SETTING_KEYS) | {
    SYSTEM_TEXT,
    SYSTEM_INCLUDED,
    DRAFT,
    LAST_TURNS,
    PAGE_SIZE,
    STRATEGY_KIND,
    STRATEGY_TURNS,
    STRATEGY_BUDGET,
    COMPARE_QUESTION,
    COMPARE_REPEATS,
    COMPARE_SEED,
    COMPARE_BASELINE,
    SEND_SESSION_ID,
    TIMEOUT,
    DEADLINE,
    MAX_REPLY_MB,
    PRICE_AS,
    COMPARE_ONE_AT_A_TIME,
    COMPARE_DIFF,
    COMPARE_EXPECTED,
    INSPECTOR_SPACES,
    INSPECTOR_SOURCE,
    INSPECTOR_TEXT,
    INSPECTOR_AS_MESSAGE,
    INSPECTOR_VARIANT,
    WALKTHROUGH_STEP,
    PRESENTING,
    PRESENT_SHOW,
    PRESENT_SOURCE,
    PRESENT_CASE,
    ADD_ROLE,
    KEEP_OLD_ANSWER,
    *EXP_KEPT,
    TOOL_CHOICE,
    PARALLEL_TOOL_CALLS,
}
# Widget keys kept by their start: a Compare variant slot's, the Experiments case editor's.
SLOT_PREFIX = "variant_"
KEPT_WIDGET_PREFIXES = (SLOT_PREFIX, EXP_EDITOR_PREFIX)
# What a saved session keeps besides its messages (lib/session.SETTINGS checks the same names). Never the key.
PERSISTED_SETTINGS = (
    *(k for k in SETTING_KEYS if k != API_KEY),
    STRATEGY_KIND,
    STRATEGY_TURNS,
    STRATEGY_BUDGET,
    LAST_TURNS,
    SEND_SESSION_ID,
    TOOL_CHOICE,
    PARALLEL_TOOL_CALLS,
)


def init() -> None:
    for key, value in DEFAULTS.items():
        st.session_state.setdefault(key, value)
    st.session_state.setdefault(HISTORY, [])
    st.session_state.setdefault(TOOLS, ())
    # Streamlit forgets a widget's value on a page where it is not drawn; re-owning the values
    # keeps the settings, the system prompt, the draft, the compare variants and the experiments' choices
    # across pages. It runs first on every page: a page's own loop would run only where it is drawn, and
    # the page left would have dropped the values at the end of the other page's first run.
    for owned in list(st.session_state):
        if owned in KEPT_WIDGET_KEYS or str(owned).startswith(KEPT_WIDGET_PREFIXES):
            st.session_state[owned] = st.session_state[owned]


def history() -> list[Message]:
    return st.session_state[HISTORY]


def set_history(messages: list[Message]) -> None:
    st.session_state[HISTORY] = messages
    for message in messages:
        st.session_state[include_key(message.id)] = message.included


def system_prompt() -> SystemPrompt:
    return SystemPrompt(st.session_state[SYSTEM_TEXT], st.session_state[SYSTEM_INCLUDED])


def tools() -> tuple[ToolDefinition, ...]:
    return st.session_state.get(TOOLS, ())


def set_tools(definitions: tuple[ToolDefinition, ...]) -> None:
    st.session_state[TOOLS] = tuple(definitions)


def tool_settings() -> ToolSettings:
    """The session's tools and choices, as `build_body` takes them."""
    return ToolSettings(tools(), st.session_state.get(TOOL_CHOICE), st.session_state.get(PARALLEL_TOOL_CALLS))


def slot_key(slot: str, name: str) -> str:
    return f"{SLOT_PREFIX}{slot}_{name}"


def include_key(message_id: str) -> str:
    return f"include_{message_id}"


def edit_key(message_id: str) -> str:
    return f"edit_{message_id}"


def role_key(message_id: str) -> str:
    """The role picker in a message's editor."""
    return f"role_{message_id}"


def editor_key(message_id: str) -> str:
    """Whether the message's editor is open."""
    return f"editor_{message_id}"


def tool_edit_key(tool_id: str) -> str:
    """A tool definition's JSON text in its editor."""
    return f"tooledit_{tool_id}"


def tool_include_key(tool_id: str) -> str:
    return f"toolinc_{tool_id}"


def name_key(message_id: str) -> str:
    """The participant name in a message's editor."""
    return f"msgname_{message_id}"


def calls_key(message_id: str) -> str:
    """An assistant message's tool calls (JSON) in its editor."""
    return f"msgcalls_{message_id}"


def answers_key(message_id: str) -> str:
    """The call a tool result answers, in its editor."""
    return f"msganswers_{message_id}"


def import_key(count: int) -> str:
    """The session uploader's key: a new one (after an import) is an empty uploader."""
    return f"session_import_{count}"


def forget_message_widgets() -> None:
    """Drop per-message widget values (another session is opening; its messages may share ids)."""
    prefixes = (
        include_key(""),
        edit_key(""),
        editor_key(""),
        role_key(""),
        name_key(""),
        calls_key(""),
        answers_key(""),
        tool_edit_key(""),
        tool_include_key(""),
    )
    for key in [k for k in st.session_state if str(k).startswith(prefixes)]:
        del st.session_state[key]
    st.session_state[HISTORY_PAGE] = 0


def held_keys() -> list[str]:
    """Every key held now (for views that own a family of keys, such as ui/experiments_state.py's)."""
    return [str(key) for key in st.session_state]


def get(key: str) -> object:
    """The value under `key`, untyped: read it through a typed accessor below (`text`, `whole`, `of`…) or a
    page's view (ui/experiments_state.py, ui/chat/calls.py) to use it as what it is."""
    return st.session_state.get(key)


# --- typed reads: what a key holds, as its type (a widget's value, or an object a page keeps) ---------


def text(key: str, default: str = "") -> str:
    """A text widget's value (`default` while it has none)."""
    value = st.session_state.get(key)
    return default if value is None else str(value)


def optional_text(key: str) -> str | None:
    value = st.session_state.get(key)
    return None if value is None else str(value)


def whole(key: str, default: int = 0) -> int:
    """A number widget's value as a whole number (`default` while it has none)."""
    value = st.session_state.get(key)
    return default if value is None else int(value)


def real(key: str, default: float = 0.0) -> float:
    value = st.session_state.get(key)
    return default if value is None else float(value)


def flag(key: str) -> bool:
    """A toggle's or a checkbox's value (False while it has none)."""
    return bool(st.session_state.get(key))


def of(key: str, kind: type[T]) -> T | None:
    """The `kind` object kept under `key`, or None (none kept, or one of another class: a module reloaded
    while the session lived holds objects of the class it had before)."""
    value = st.session_state.get(key)
    return value if isinstance(value, kind) else None


def pop_of(key: str, kind: type[T]) -> T | None:
    """`of`, and the key dropped."""
    value = st.session_state.pop(key, None)
    return value if isinstance(value, kind) else None


def mapping(key: str) -> dict[Any, Any]:
    """A dict kept under `key` (empty while there is none)."""
    value = st.session_state.get(key)
    return value if isinstance(value, dict) else {}


def listing(key: str) -> list[Any]:
    """A list, tuple or set kept under `key`, as a list (empty while there is none)."""
    value = st.session_state.get(key)
    return list(value) if isinstance(value, list | tuple | set | frozenset) else []


def note(key: str) -> tuple[str, str] | None:
    """A (kind, text) message kept under `key` for the page's next run, taken (shown once)."""
    value = st.session_state.pop(key, None)
    return (str(value[0]), str(value[1])) if isinstance(value, tuple) and len(value) == 2 else None


# The chat's own keys, typed.


def draft() -> str:
    return text(DRAFT)


def strategy_kind() -> str:
    return text(STRATEGY_KIND)


def last_call() -> LastCall | None:
    return of(LAST_CALL, LastCall)


def pending() -> PendingCall | None:
    return of(PENDING, PendingCall)


def default(key: str, value) -> None:
    """Seed a widget's value before it is drawn (widgets take no value once their key is set)."""
    st.session_state.setdefault(key, value)


def put(key: str, value) -> None:
    st.session_state[key] = value


def pop(key: str) -> object:
    return st.session_state.pop(key, None)


def flash(kind: str, text: str) -> None:
    """A message for the next render (set from callbacks, shown once by the page)."""
    st.session_state[FLASH] = (kind, text)
