"""The sidebar: which backend and model, sampling, and figures for models the table lacks."""

from __future__ import annotations

import os
from dataclasses import dataclass, replace

import streamlit as st

from lib import models
from lib.payload import Sampling
from lib.providers import DEFAULT_AZURE_API_VERSION, KIND_LABELS, ProviderConfig, valid_base_url
from lib.session import end_user_id
from lib.tokens import PromptCounter
from ui import resources, sessions, state


@dataclass(frozen=True)
class Settings:
    provider: ProviderConfig
    model: models.ModelInfo
    sampling: Sampling

    def counter(self) -> PromptCounter:
        if self.provider.kind == "embedded":
            return resources.embedded_tokenizer()
        return resources.tiktoken_counter(self.model.name)


def _secret(name: str) -> str:
    """A key from the environment or .streamlit/secrets.toml, read, never written."""
    if os.environ.get(name):
        return os.environ[name]
    try:
        return str(st.secrets.get(name, ""))
    except (FileNotFoundError, KeyError, AttributeError):
        return ""
    except Exception:
        return ""


def known_secrets() -> tuple[str, ...]:
    """Every key the app may hold (the sidebar's, the environment's), to mask out of what it saves."""
    values = (state.get(state.API_KEY) or "", _secret("OPENAI_API_KEY"), _secret("AZURE_OPENAI_API_KEY"))
    return tuple(v for v in values if len(v) >= 4)


def _default_kind() -> str:
    if _secret("OPENAI_API_KEY"):
        return "openai"
    if _secret("AZURE_OPENAI_API_KEY") and _secret("AZURE_OPENAI_ENDPOINT"):
        return "azure"
    return "embedded"


def _embedded() -> ProviderConfig:
    server = resources.embedded_server()
    return ProviderConfig("embedded", models.EMBEDDED_MODEL, base_url=server.base_url)


def _openai() -> ProviderConfig:
    key = st.text_input(
        "API key", type="password", key=state.API_KEY,
        placeholder="from OPENAI_API_KEY" if _secret("OPENAI_API_KEY") else "sk-…",
        help="Held in this browser session's memory only; never saved or shown.",
    ) or _secret("OPENAI_API_KEY")  # fmt: skip
    names = [m.name for m in models.MODELS.values() if m.encoding != "embedded"]
    model = st.selectbox("Model", names, key=state.OPENAI_MODEL, accept_new_options=True)
    return ProviderConfig("openai", model or "", api_key=key)


def _azure() -> ProviderConfig:
    state.default(state.AZURE_ENDPOINT, _secret("AZURE_OPENAI_ENDPOINT"))
    state.default(state.AZURE_DEPLOYMENT, _secret("AZURE_OPENAI_DEPLOYMENT"))
    state.default(state.AZURE_API_VERSION, _secret("OPENAI_API_VERSION") or DEFAULT_AZURE_API_VERSION)
    endpoint = st.text_input("Endpoint", key=state.AZURE_ENDPOINT, placeholder="https://NAME.openai.azure.com")
    deployment = st.text_input("Deployment", key=state.AZURE_DEPLOYMENT)
    version = st.text_input("API version", key=state.AZURE_API_VERSION)
    key = st.text_input(
        "API key", type="password", key=state.API_KEY,
        help="Held in this browser session's memory only; never saved or shown.",
    ) or _secret("AZURE_OPENAI_API_KEY")  # fmt: skip
    return ProviderConfig("azure", deployment, base_url=endpoint, api_key=key, api_version=version)


def _compatible() -> ProviderConfig:
    base_url = st.text_input(
        "Base URL", key=state.BASE_URL, placeholder="http://localhost:11434/v1",
        help="Ollama: http://localhost:11434/v1 · LM Studio: http://localhost:1234/v1 · vLLM: http://localhost:8000/v1",
    )  # fmt: skip
    key = st.text_input("API key (optional)", type="password", key=state.API_KEY)
    probe = ProviderConfig("compatible", "", base_url=base_url, api_key=key)
    listed = resources.model_ids(probe) if valid_base_url(base_url) else []
    if listed:
        model = st.selectbox("Model", listed, key=state.COMPATIBLE_MODEL, accept_new_options=True)
    else:
        model = st.text_input("Model", key=state.COMPATIBLE_MODEL, help="The server lists no models: type one.")
    return ProviderConfig("compatible", model or "", base_url=base_url, api_key=key)


def _model_info(provider: ProviderConfig) -> models.ModelInfo:
    name = provider.model
    if provider.kind == "azure":
        table = [m.name for m in models.MODELS.values() if m.encoding != "embedded"]
        name = st.selectbox(
            "Underlying model", table, key=state.PRICED_AS,
            help="The model behind the deployment: sets the tokenizer, window and prices.",
        )  # fmt: skip
    if models.is_known(name):
        return models.info_for(name)
    st.caption("This model is not in the table: give its figures (counts are estimates).")
    return models.info_for(
        name,
        context_window=st.number_input("Context window (tokens)", 256, 10_000_000, key=state.CUSTOM_WINDOW),
        input_per_million=st.number_input("Input $/1M tokens", 0.0, 1000.0, key=state.CUSTOM_INPUT_PRICE),
        output_per_million=st.number_input("Output $/1M tokens", 0.0, 1000.0, key=state.CUSTOM_OUTPUT_PRICE),
    )


_BUILDERS = {"embedded": _embedded, "openai": _openai, "azure": _azure, "compatible": _compatible}


def sidebar() -> Settings:
    with st.sidebar:
        st.header("Backend")
        state.default(state.KIND, _default_kind())
        kind = st.selectbox("Provider", list(KIND_LABELS), format_func=KIND_LABELS.__getitem__, key=state.KIND)
        provider = _BUILDERS[kind]()
        timeout = st.number_input(
            "Timeout (s)", 1, 600, key=state.TIMEOUT, help="How long a call may wait for the server before it fails."
        )
        provider = replace(provider, timeout_s=float(timeout))
        model = _model_info(provider)
        st.header("Sampling")
        temperature = 1.0 if model.reasoning else st.slider(
            "Temperature", 0.0, 2.0, step=0.1, key=state.TEMPERATURE
        )  # fmt: skip
        max_tokens = st.number_input("Max reply tokens", 1, 100_000, key=state.MAX_TOKENS)
        stream = st.toggle(
            "Stream replies", key=state.STREAM,
            help="Some servers (llama-cpp-python's among them) report no token usage while "
            "streaming: turn this off to compare the prediction with the server's own count.",
        )  # fmt: skip
    end_user = end_user_id(sessions.current_id()) if state.get(state.SEND_SESSION_ID) else None
    sampling = Sampling(
        temperature, int(max_tokens), provider.token_limit_field, stream, end_user, provider.end_user_field
    )
    return Settings(provider, model, sampling)


def page_setup() -> Settings:
    """What every page does first: session state (the saved session on a first run), the sidebar, the autosave."""
    state.init()
    sessions.restore()
    settings = sidebar()
    sessions.sidebar(sessions.autosave())
    return settings
