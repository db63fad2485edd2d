"""The Compare page's variant cards: one card of widgets per slot (ui/compare/setup.py reads them
back as a `Variant`), and the row that adds a preset or resets to the presets."""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st

from lib.analysis.compare import MAX_VARIANTS, PRESETS
from lib.context.display import inert_inline, inert_markdown
from lib.context.strategies import STRATEGY_LABELS, spec_of
from ui import state, tools_panel
from ui.compare import setup
from ui.glossary import strategy_help
from ui.settings import Settings

SYSTEM_MODES = {"conversation": "The conversation's", "none": "None", "custom": "Custom"}


def _slot_editor(slot: str, settings: Settings, pinned: int) -> None:
    key = lambda name: state.slot_key(slot, name)  # noqa: E731 - a local shorthand
    with st.container(border=True):
        st.text_input("Name", key=key("name"))
        fixed = setup.fixed_context(slot)
        if fixed is not None:
            _fixed_context(fixed)
        else:
            _context_choice(key)
        if not settings.provider.backend.one_model:
            st.text_input("Model (blank: the sidebar's)", key=key("model"))
        # An explicit "inherit": the sidebar's value, named, or a value of the variant's own.
        st.checkbox(f"Sidebar's temperature ({settings.sampling.temperature:g})", key=key("temperature_inherit"))
        if not state.get(key("temperature_inherit")):
            st.number_input("Temperature", 0.0, 2.0, step=0.1, key=key("temperature"))
        st.checkbox(f"Sidebar's reply limit ({settings.sampling.max_tokens:,} tokens)", key=key("max_tokens_inherit"))
        if not state.get(key("max_tokens_inherit")):
            st.number_input("Max reply tokens", 1, 100_000, key=key("max_tokens"))
        tools_panel.variant_tools(key)
        st.caption("Sends " + inert_markdown(setup.variant_of(slot).sends(pinned)))
        st.button("Remove", key=f"remove_{slot}", on_click=setup.remove_slot, args=(slot,), icon=":material/close:")


def _context_choice(key: Callable[[str], str]) -> None:
    st.selectbox(
        "Context",
        list(STRATEGY_LABELS),
        format_func=STRATEGY_LABELS.__getitem__,
        key=key("strategy"),
        help=strategy_help(),
    )
    kind = state.get(key("strategy"))
    for parameter in spec_of(kind).parameters:
        st.number_input(
            parameter.label, parameter.minimum, parameter.maximum, step=parameter.step, key=key(parameter.key)
        )
    st.radio(
        "System prompt",
        list(SYSTEM_MODES),
        format_func=SYSTEM_MODES.__getitem__,
        key=key("system_mode"),
        horizontal=True,
    )
    if state.get(key("system_mode")) == "custom":
        st.text_area("Custom system prompt", key=key("system_text"), height=68)


def _fixed_context(fixed: tuple[tuple[str, ...], ...]) -> None:
    """A variant added from an answer's smallest context: its messages are fixed, listed, not edited."""
    with st.expander(f"Fixed context: {len(fixed)} message{'s' if len(fixed) != 1 else ''}"):
        lines = [f"- **{role}** {inert_inline(text, limit=120)}" for role, text, *_ in fixed]
        st.markdown("\n".join(lines) or "- (only the question)")


def variant_cards(settings: Settings) -> None:
    slots = setup.slots()
    pinned = sum(m.pinned for m in state.history())
    st.subheader(f"Variants ({len(slots)})")
    for column, slot in zip(st.columns(max(1, len(slots))), slots, strict=False):
        with column:
            _slot_editor(slot, settings, pinned)
    cols = st.columns([3, 1, 1], vertical_alignment="bottom")
    preset = cols[0].selectbox("Add a variant", range(len(PRESETS)), format_func=lambda i: PRESETS[i].name)
    cols[1].button(
        "Add",
        on_click=setup.add_slot,
        args=(PRESETS[preset],),
        disabled=len(slots) >= MAX_VARIANTS,
        icon=":material/add:",
    )
    cols[2].button("Reset to the presets", on_click=setup.reset_slots)
