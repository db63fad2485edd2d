"""The glossary (lib/context/glossary.py) where Streamlit draws a term: hover text for widgets and metrics, and
header help for a table's columns, so a term reads the same on every page."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from lib.context.glossary import column_help, explain, label, strategy_help

__all__ = ["columns", "explain", "label", "strategy_help"]


def columns(names: Iterable[object], config: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """`st.dataframe`'s `column_config` with every known column's hover added (a column given a config keeps it:
    its format stays, its help is the glossary's)."""
    import streamlit as st

    merged: dict[str, Any] = dict(config or {})
    for name in map(str, names):
        text = column_help(name)
        if text is None:
            continue
        merged[name] = {**merged[name], "help": text} if name in merged else st.column_config.Column(help=text)
    return merged
