"""The Compare page's set-up: its variant slots, kept with the session, and planned.

A variant slot is a set of widgets keyed by the slot's id (`state.slot_key`). The slots, the question
and the run's options make a `lib.analysis.compare.CompareSetup`, saved with the session (its own table, not
the session's settings: a set-up is a list of structured variants, and saving one must not touch the
session's own row or its export format) whenever it changes; finished comparisons are saved as they
finish. A refresh, a new tab or a restarted server finds both again.

The Token inspector plans the same variants through `requests`; a run in flight is `ui/compare/runs.py`'s.
"""

from __future__ import annotations

from typing import cast

import streamlit as st

from lib.analysis import compare_store
from lib.analysis.compare import (
    PRESETS,
    CompareSetup,
    Comparison,
    FixedMessage,
    Variant,
    distinct_names,
    plan_variant,
)
from lib.analysis.targets import target_for
from lib.context.conversation import new_id
from lib.context.request import Request, Target
from lib.context.strategies import PARAMETERS, spec_of
from lib.core.errors import STORE_FAILED
from lib.store import storage
from ui import price_as, sessions, state
from ui.keys import known_secrets
from ui.planning import summary_for
from ui.settings import Settings

SLOT_FIELDS = (
    "name",
    "strategy",
    *(p.key for p in PARAMETERS),
    "system_mode",
    "system_text",
    "model",
    "temperature_inherit",
    "temperature",
    "max_tokens_inherit",
    "max_tokens",
    "fixed_context",
    "tools_mode",
    "tool_names",
)


# --- slots ------------------------------------------------------------------------------------------


def slots() -> list[str]:
    return [str(slot) for slot in state.listing(state.COMPARE_SLOTS)]


def fixed_context(slot: str) -> tuple[FixedMessage, ...] | None:
    """The messages a slot's variant sends whatever the conversation holds (attribution's smallest
    context), or None: its strategy and system prompt choose."""
    value = state.of(state.slot_key(slot, "fixed_context"), tuple)
    return None if value is None else tuple(cast(FixedMessage, tuple(item)) for item in value)


def comparisons() -> list[Comparison]:
    """The comparisons kept in this session, oldest first."""
    return [c for c in state.listing(state.COMPARISONS) if isinstance(c, Comparison)]


def add_slot(variant: Variant) -> None:
    slot = new_id()
    mode = "conversation" if variant.system_override is None else ("none" if not variant.system_override else "custom")
    values = {
        "name": variant.name,
        "strategy": variant.strategy.kind,
        **{p.key: getattr(variant.strategy, p.field) for p in PARAMETERS},
        "system_mode": mode,
        "system_text": variant.system_override or "",
        "model": variant.model,
        "temperature_inherit": variant.temperature is None,
        "temperature": 0.7 if variant.temperature is None else float(variant.temperature),
        "max_tokens_inherit": variant.max_tokens is None,
        "max_tokens": 256 if variant.max_tokens is None else int(variant.max_tokens),
        "fixed_context": variant.fixed_context,  # not a widget: the page shows it, no one edits it
        "tools_mode": "session" if variant.tools is None else ("none" if not variant.tools else "only"),
        "tool_names": list(variant.tools or ()),
    }
    for name, value in values.items():
        state.put(state.slot_key(slot, name), value)
    state.put(state.COMPARE_SLOTS, [*slots(), slot])


def remove_slot(slot: str) -> None:
    state.put(state.COMPARE_SLOTS, [s for s in slots() if s != slot])
    for name in SLOT_FIELDS:
        state.pop(state.slot_key(slot, name))


def set_variants(variants: list[Variant] | tuple[Variant, ...]) -> None:
    for slot in slots():
        remove_slot(slot)
    state.put(state.COMPARE_SLOTS, [])
    for variant in variants:
        add_slot(variant)


def reset_slots() -> None:
    set_variants(PRESETS)


def variant_of(slot: str) -> Variant:
    def key(name: str) -> str:
        return state.slot_key(slot, name)

    mode = state.text(key("system_mode"))
    override = None if mode == "conversation" else ("" if mode == "none" else state.text(key("system_text")))
    spec = spec_of(state.get(key("strategy")))
    strategy = spec.build({p.key: state.get(key(p.key)) for p in spec.parameters})
    return Variant(
        name=state.text(key("name")),
        strategy=strategy,
        system_override=override,
        model=state.text(key("model")),
        temperature=None if state.flag(key("temperature_inherit")) else state.real(key("temperature")),
        max_tokens=None if state.flag(key("max_tokens_inherit")) else state.whole(key("max_tokens")),
        fixed_context=fixed_context(slot),
        tools=_tools_of(state.text(key("tools_mode")) or None, state.listing(key("tool_names"))),
    )


def _tools_of(mode: str | None, names: list[str] | None) -> tuple[str, ...] | None:
    """A slot's tool choice: the session's (also for a slot made before tools existed), none, or only some."""
    if mode == "none":
        return ()
    if mode == "only":
        return tuple(names or ())
    return None


def variants() -> list[Variant]:
    """The slots' variants, each name distinct (tables, charts and the run log tell them apart by name)."""
    return distinct_names([variant_of(slot) for slot in slots()])


# --- kept with the session --------------------------------------------------------------------------


def setup_now() -> CompareSetup:
    return CompareSetup(
        variants=tuple(variant_of(slot) for slot in slots()),
        question=state.text(state.COMPARE_QUESTION),
        repeats=state.whole(state.COMPARE_REPEATS) or 1,
        seed=state.whole(state.COMPARE_SEED),
        priced_as=price_as.chosen(),
        expected=state.text(state.COMPARE_EXPECTED),
    )


def _store_failed(exc: Exception) -> None:
    reason = storage.problem(exc).rstrip(".")
    st.warning(f"The session store ({storage.shown()}) failed: {reason}. The comparison is kept in this tab only.")


def load_for_session() -> None:
    """Once per session (a first visit, a refresh, another session opened): its set-up and comparisons."""
    session_id = sessions.current_id()
    if state.get(state.COMPARE_LOADED_FOR) == session_id:
        return
    setup, kept = None, []
    try:
        with storage.opened() as conn:
            setup = compare_store.load_compare_setup(conn, session_id)
            kept = compare_store.list_comparisons(conn, session_id)
    except STORE_FAILED as exc:
        _store_failed(exc)
    stored = setup
    setup = setup or CompareSetup(PRESETS, question=state.draft() or "What is my name?")
    set_variants(setup.variants)
    state.put(state.COMPARE_QUESTION, setup.question)
    state.put(state.COMPARE_REPEATS, max(1, min(setup.repeats, 10)))
    state.put(state.COMPARE_SEED, max(0, setup.seed))
    state.put(state.COMPARE_EXPECTED, setup.expected)
    # A hosted model this session's Compare was priced at is picked again; none (older sessions saved "" by
    # default) leaves the choice the chat meter and the presenter's view show.
    if stored is not None and stored.priced_as and stored.priced_as in price_as.options():
        state.put(state.PRICE_AS, stored.priced_as)
    state.put(state.COMPARISONS, kept)
    state.pop(state.COMPARE_SHOWN)
    state.put(state.COMPARE_SAVED_SETUP, setup_now())
    state.put(state.COMPARE_LOADED_FOR, session_id)


def save_if_changed() -> None:
    """Save the set-up when it differs from its last saved form (an unchanged rerun writes nothing)."""
    now = setup_now()
    if now == state.get(state.COMPARE_SAVED_SETUP):
        return
    try:
        with storage.opened() as conn:
            compare_store.save_compare_setup(conn, sessions.current_id(), now, known_secrets())
    except STORE_FAILED as exc:
        _store_failed(exc)
        return
    state.put(state.COMPARE_SAVED_SETUP, now)


# --- planning ----------------------------------------------------------------------------------------


def target(variant: Variant, settings: Settings) -> Target:
    return target_for(variant, settings.targets())


def requests(variant_list: list[Variant], question: str, settings: Settings) -> list[Request]:
    """Each variant's request from the one builder, with the summaries made in this session."""
    system, history = state.system_prompt(), state.history()
    return [
        plan_variant(
            v,
            system,
            history,
            question,
            target(v, settings),
            settings.sampling,
            lambda older: summary_for(older, settings),
            state.tool_settings(),
        )
        for v in variant_list
    ]


def reload_comparisons(unsaved: Comparison | None = None) -> None:
    """The session's comparisons as stored, and `unsaved` (a run the store failed to keep) after them."""
    try:
        with storage.opened() as conn:
            kept = compare_store.list_comparisons(conn, sessions.current_id())
    except STORE_FAILED as exc:
        _store_failed(exc)
        kept = comparisons()
    state.put(state.COMPARISONS, [*kept, *([unsaved] if unsaved is not None else [])])
    state.pop(state.COMPARE_SHOWN)
