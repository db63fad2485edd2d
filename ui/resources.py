"""Expensive things, made once per process: the embedded server, tokenizers, SDK clients."""

from __future__ import annotations

import streamlit as st

from lib import embedded, models, providers, server_tokens, tokens


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


@st.cache_resource(show_spinner=False, max_entries=16)
def client(config: providers.ProviderConfig):
    return providers.make_client(config)


@st.cache_data(show_spinner=False, ttl=60, max_entries=16)
def model_ids(config: providers.ProviderConfig) -> list[str]:
    return providers.list_models(client(config))


@st.cache_resource(show_spinner=False, max_entries=16, ttl=600)
def server_counter(config: providers.ProviderConfig) -> server_tokens.ServerCounter | None:
    """An exact counter for a compatible server that tokenizes with its own template, or None (the
    caller keeps its labelled estimate). Asked once per server, model and key, for ten minutes; the
    key goes only to that server (lib/server_tokens.py)."""
    if config.kind != "compatible" or config.missing():
        return None
    templates = {models.EMBEDDED_MODEL: embedded_tokenizer().render} if config.model == models.EMBEDDED_MODEL else {}
    return server_tokens.detect(config.base_url, config.model, config.api_key, templates=templates)
