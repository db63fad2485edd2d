"""The Experiments page's notes and its calls to the store: a failing store is said in the store's
own sentence (lib/store/storage: the driver's words, the store's password masked), and the page goes on."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import streamlit as st

from lib.analysis.compare import Variant
from lib.analysis.experiments import store
from lib.analysis.experiments.planner import RunSpec
from lib.analysis.targets import stored_target_for
from lib.context.display import inert_markdown
from lib.context.request import Target
from lib.core.errors import STORE_FAILED, NotYours
from lib.store import storage
from ui import experiments_state, owner
from ui.settings import Settings

T = TypeVar("T")

# What a failing store call raises (a store's own errors; a stored row that does not read back).
STORE_FAILURES: tuple[type[Exception], ...] = (*STORE_FAILED, ValueError, KeyError)


def note(kind: str, text: str) -> None:
    """A message for the page's next run (set from callbacks and store calls, shown once)."""
    experiments_state.put_note(kind, text)


def show_note() -> None:
    said = experiments_state.take_note()
    if said:
        getattr(st, said[0])(inert_markdown(said[1]))


def store_failure(exc: BaseException) -> str:
    """The experiment store, named with its password masked, and the driver's own words (its first line,
    the password masked should it repeat it; not the SQL and values SQLAlchemy appends)."""
    cause = getattr(exc, "orig", None) or exc
    return f"The experiment store ({storage.shown()}) failed: {type(cause).__name__}: {storage.problem(exc)}"


def on_store(action: Callable[..., T], *args: Any) -> T | None:
    """A store call; a failing database is said (not a traceback), and the page goes on."""
    try:
        with storage.opened() as conn:
            return action(conn, *args)
    except NotYours as refused:
        note("error", str(refused))
        return None
    except STORE_FAILURES as exc:
        note("error", store_failure(exc))
        return None


def mine(action: Callable[..., T], *args: Any) -> T | None:
    """`on_store` for a store call that takes the owner: it acts on this browser's (or signed-in user's)
    test sets and runs only (ui/owner.py)."""

    def call(conn: Any) -> T:
        return action(conn, *args, owner=owner.owner())

    return on_store(call)


def claim_unowned() -> None:
    """Single-user install: the test sets and runs made before experiments had owners go to the first
    browser that opens this page (once per browser session; under sign-in they stay nobody's), as the
    sessions from before owners go to the first browser (ui/sessions.py)."""
    if experiments_state.claimed() or owner.auth_configured() or owner.signed_in():
        return
    experiments_state.set_claimed()
    on_store(store.claim_unowned, owner.owner())


def stored_targets(spec: RunSpec, settings: Settings) -> Callable[[Variant], Target]:
    """The targets a stored run was planned for (lib/analysis/targets.stored_target_for)."""
    targets = settings.targets()
    return lambda variant: stored_target_for(variant, spec.provider_kind, spec.provider_model, targets)
