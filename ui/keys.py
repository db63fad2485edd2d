"""The keys this browser session holds: typed in the sidebar (per endpoint) or read from the environment.

Its own module so that everything that saves or logs (ui/sessions.py, the run log, Compare) can mask
every key without importing the sidebar (ui/settings.py), which itself imports the session glue.
"""

from __future__ import annotations

import os

import streamlit as st

from lib.core.secrets import is_secret
from ui import state

TYPED_KEYS = "typed_keys"  # {scope: key}, this browser session's memory only, never saved


def secret(name: str) -> str:
    """A key from the environment or .streamlit/secrets.toml, read, never written."""
    if os.environ.get(name):
        return os.environ[name]
    try:
        return str(st.secrets.get(name, ""))
    except (FileNotFoundError, KeyError, AttributeError):
        return ""
    except Exception:
        return ""


def typed_keys() -> dict[tuple[str, str], str]:
    return state.mapping(TYPED_KEYS)


def known_secrets() -> tuple[str, ...]:
    """Every key the app may hold (typed in the sidebar for any endpoint, the environment's), to mask
    out of what it saves."""
    typed = (state.text(state.API_KEY), *(str(key) for key in typed_keys().values()))
    values = (*typed, secret("OPENAI_API_KEY"), secret("AZURE_OPENAI_API_KEY"))
    return tuple(dict.fromkeys(v for v in values if is_secret(v)))
