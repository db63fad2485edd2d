"""Expensive things, made once per process: the embedded server, tokenizers, SDK clients (those made
with a user's key, once per browser session)."""

from __future__ import annotations

import gc
import sys

import streamlit as st

from lib.backends import embedded, providers, server_tokens
from lib.context import tokens
from lib.core import models
from ui import state

_modules_when_frozen = 0


def freeze_long_lived() -> None:
    """Moves what the process has loaded for good out of the garbage collector's sight (`gc.freeze`).

    Streamlit runs a full collection after every run (`runner.postScriptGC`), and a full collection
    walks every object the process tracks: ~150,000 once the app's modules, the embedded tokenizer's
    vocabulary and tiktoken are loaded, twice a bare chatbot's. That walk was two thirds of the app's
    CPU per click, holding the GIL while it ran (bench/RESULTS.md, "Click to meter").
    Those objects live as long as the process. Called as every run starts (`page_setup`), it freezes
    only when modules were imported since it last did (the first runs, a page opened for the first
    time: the tokenizer is loaded by then too), so a session's own objects are not frozen run after
    run. Frozen objects are still freed by reference counting; only cycles among them would stay.
    (Not from app.py: with a `pages/` folder Streamlit runs app.py on a session's first run only.)"""
    global _modules_when_frozen
    if len(sys.modules) != _modules_when_frozen:
        gc.freeze()
        _modules_when_frozen = len(sys.modules)


@st.cache_resource(show_spinner="Starting the embedded model (SmolLM2-135M)…")
def _embedded_server() -> embedded.EmbeddedServer:
    return embedded.EmbeddedServer().ensure_running()


def embedded_server() -> embedded.EmbeddedServer:
    """The running embedded server; restarted here if its process died since the last rerun (or has
    not answered for a while). Cheap on every rerun of every tab: the check asks a route that never
    waits for the model, so a server busy with another tab's reply is left to finish it."""
    return _embedded_server().ensure_running()


@st.cache_resource(show_spinner="Loading the embedded model's tokenizer…")
def embedded_tokenizer() -> embedded.EmbeddedTokenizer:
    return embedded.EmbeddedTokenizer()


@st.cache_resource(show_spinner=False)
def tiktoken_counter(model: str) -> tokens.TiktokenCounter:
    counter = tokens.TiktokenCounter.for_model(model)
    tokens.get_encoding(counter.encoding_name)
    return counter


def _close(client) -> None:
    """An evicted or released client closes its pooled connections now, not whenever it is collected."""
    client.close()


@st.cache_resource(show_spinner=False, max_entries=16, on_release=_close)
def _shared_client(config: providers.ProviderConfig):
    return providers.make_client(config)


# Clients made with a key, kept in the browser session that holds the key (see `client`).
SESSION_CLIENTS = "session_clients"
SESSION_CLIENTS_KEPT = 4


def client(config: providers.ProviderConfig):
    """An SDK client for `config`. One made with a key lives in this browser session's memory, as
    the key does (a process-wide cache would keep every user's key for the life of the server); a
    keyless one (the embedded server, a local server that checks no key) is shared by the process.
    (Not a session-scoped st.cache_resource: AppTest gives every test session one id, so its
    separation could not be tested.)
    A recorded demo's client holds no connection and no key, and answers from the recording it is made
    for (lib/backends/replay.py): made afresh, never cached."""
    if config.backend.replays:
        return providers.make_client(config)
    if not config.secrets:
        return _shared_client(config)
    held = state.mapping(SESSION_CLIENTS)
    if config not in held:
        kept = list(held.items())[-(SESSION_CLIENTS_KEPT - 1) :]
        for old_config, old_client in held.items():
            if (old_config, old_client) not in kept:
                old_client.close()  # its pooled connections go now, not whenever it is collected
        held = {**dict(kept), config: providers.make_client(config)}
        state.put(SESSION_CLIENTS, held)
    return held[config]


@st.cache_data(show_spinner=False, ttl=60, max_entries=16)
def model_ids(config: providers.ProviderConfig) -> list[str]:
    """What the server lists at /models. Call it only for an endpoint the user typed in this browser
    session (ui/settings): listing is a request, and an imported file must not make one."""
    return providers.list_models(client(config))


@st.cache_resource(show_spinner=False, max_entries=16, ttl=600)
def server_counter(config: providers.ProviderConfig) -> server_tokens.ServerCounter | None:
    """An exact counter for a compatible server that tokenizes with its own template, or None (the
    caller keeps its labelled estimate). Asked once per server, model and key, for ten minutes; the
    key goes only to that server (lib/backends/server_tokens.py)."""
    if not config.backend.may_count_on_server or config.missing():
        return None

    # The templates the app knows, whatever the server's model alias (loaded only for a llama-cpp-python
    # server, which confirms one by its own counts or none).
    def templates() -> dict[str, server_tokens.Renderer]:
        return {models.EMBEDDED_MODEL: embedded_tokenizer().render}

    return server_tokens.detect(config.base_url, config.model, config.api_key, timeout_s=2.0, templates=templates)


def server_window(config: providers.ProviderConfig) -> server_tokens.ServerWindow | None:
    """The context window the server reports running with, asked of the server's counter where it has
    one (it keeps the answer), else once per server, model and key for ten minutes; None when it does
    not say. One reader either way: lib/backends/server_tokens.TokenizingServer.window."""
    counter = server_counter(config)
    return counter.window() if counter is not None else _window_without_counter(config)


@st.cache_resource(show_spinner=False, max_entries=16, ttl=600)
def _window_without_counter(config: providers.ProviderConfig) -> server_tokens.ServerWindow | None:
    return server_tokens.server_window(config.base_url, config.model, config.api_key, timeout_s=2.0)
