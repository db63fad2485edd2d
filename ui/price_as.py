"""*Price as*: what the same tokens would cost at a hosted model's list prices, chosen once per browser session.

A local model is free, so every cost it shows would read $0 and tell a stakeholder nothing about what the
context costs in a real deployment. One picker (one key, `state.PRICE_AS`) is drawn by the chat meter, by
Compare's *Price the run* and by the presenter's view: a choice made on one page is the choice on the others.
Only the prices change: the tokens are still the model's own count (`lib.core.models.priced_as`), and
every cost goes through the one formula (`lib.core.prices.cost` / `billed`).
"""

from __future__ import annotations

import streamlit as st

from lib.core import models
from lib.core.models import ModelInfo
from lib.core.prices import Prices, money
from ui import state

OWN = ""  # no hosted price: each model's own (a local model's $0)
DEFAULT = "gpt-4o-mini"  # cheap and widely used: a fair "what would this cost" for a demo
HELP = (
    "A local model costs nothing. To see what the same tokens would cost in a real deployment, they are "
    "priced at a hosted model's list prices (the token count stays this model's own)."
)


def options() -> list[str]:
    return [OWN, *models.priced_models()]


def label(name: str) -> str:
    return "No: each model's own prices" if name == OWN else name


def chosen() -> str:
    """The hosted model costs are priced as ("" for each model's own prices); the default until one is picked."""
    name = state.get(state.PRICE_AS)
    return name if isinstance(name, str) and name in options() else DEFAULT


def picker(where=None, title: str = "Price as", explained: bool = False) -> str:
    """The selectbox (in `where`, a container or column; the page's body by default). Every page draws the same
    key, so the choice follows the user from page to page."""
    state.put(state.PRICE_AS, chosen())  # a value from an older release or an unknown model: the default
    # No hover of its own where the cost above it explains it (the chat meter): `explained=False` elsewhere.
    (where or st).selectbox(title, options(), format_func=label, key=state.PRICE_AS, help=None if explained else HELP)
    return chosen()


def is_free(model: ModelInfo) -> bool:
    """A model whose every call costs $0 (the embedded one, a local server given no prices)."""
    return model.free


def prices(name: str | None = None) -> Prices | None:
    """The picked hosted model's prices (None for each model's own)."""
    name = chosen() if name is None else name
    entry = models.lookup(name) if name else None
    return entry.prices if entry is not None else None


def at(model: ModelInfo, name: str | None = None) -> ModelInfo:
    """`model` priced as the picked hosted model (itself when none is picked)."""
    return models.priced_as(model, chosen() if name is None else name)


def both(own: float | None, priced: float | None, name: str | None = None) -> str:
    """A local model's cost beside the hosted one's, never a bare $0: "$0 here (local model) · $0.000012 at
    gpt-4o-mini"."""
    name = chosen() if name is None else name
    here = f"{money(own)} here (local model)"
    if not name:
        return f"{here} · pick a hosted model under *Price as* to see what it would cost"
    return f"{here} · {money(priced)} at {name}"
