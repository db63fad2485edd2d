"""The hosted model the presenter's cost is priced as: one picker, one reading (`chosen`).

A stand-in until the shared *price as* picker (ui/price_as.py, the chat meter's and Compare's) lands:
the page calls only `picker` and `chosen`, so the swap is one line each."""

from __future__ import annotations

import streamlit as st

from lib.core import models
from ui import state

# A hosted model whose price a stakeholder recognises: the presenter's view never opens on "free".
DEFAULT = "gpt-4o-mini"


def chosen() -> str:
    """The priced model's name ("" would be each model's own prices, which the presenter view never
    starts on: a local model's are $0)."""
    name = state.text(state.PRESENT_PRICE_AS)
    return name if name in models.priced_models() else DEFAULT


def picker(where=None) -> str:
    """The selectbox (in `where`, a container; the page's body by default); the model picked."""
    names = models.priced_models()
    state.default(state.PRESENT_PRICE_AS, DEFAULT if DEFAULT in names else names[0])
    (where or st).selectbox(
        "Price as",
        names,
        key=state.PRESENT_PRICE_AS,
        help="The cost is what the same tokens would cost at this hosted model's prices.",
    )
    return chosen()
