"""The sidebar: which backend and model, sampling, and figures for models the table lacks."""

from __future__ import annotations

from dataclasses import dataclass, replace

import streamlit as st

from lib.analysis.targets import TargetSettings
from lib.backends.kinds import KIND_LABELS, backend_of
from lib.backends.providers import DEFAULT_AZURE_API_VERSION, ProviderConfig, key_scope, valid_base_url
from lib.context.payload import Sampling
from lib.context.request import Target
from lib.context.tokens import PromptCounter
from lib.core import models
from lib.store.session import end_user_id
from ui import demos, navigation, owner, resources, session_sidebar, sessions, state
from ui.glossary import explain
from ui.keys import TYPED_KEYS, secret, typed_keys


@dataclass(frozen=True)
class Settings:
    provider: ProviderConfig
    model: models.ModelInfo
    sampling: Sampling
    # Where `model.context_window` comes from: the server's own report when it gives one, else the table.
    window_source: str = "the model table"

    def counter(self) -> PromptCounter:
        if self.provider.backend.counts_in_process:
            return resources.embedded_tokenizer()
        # A compatible server that tokenizes with its own template counts exactly; asked only once the
        # user typed its URL in this browser session, as for its model list.
        typed = key_scope("compatible", self.provider.base_url) in state.listing(TYPED_ENDPOINTS)
        exact = resources.server_counter(self.provider) if typed else None
        return exact if exact is not None else resources.tiktoken_counter(self.model.name)

    def target(self) -> Target:
        """The chat's target: the sidebar's model, its counter, its name on the wire."""
        return Target(self.model, self.counter(), self.provider.model)

    def targets(self) -> TargetSettings:
        """What a variant's target is made from (lib/analysis/targets.target_for)."""
        backend = self.provider.backend
        return TargetSettings(
            self.target(),
            self.provider.kind,
            backend.one_model,
            resources.tiktoken_counter,
            resources.embedded_tokenizer,
        )


# --- keys and endpoints --------------------------------------------------------------------------
# A key is sent only to the endpoint it was typed for: the sidebar keeps each key under the scope
# (provider kind + endpoint, lib.backends.providers.key_scope) shown when it was typed, and its key field
# shows the key of the scope in use, or nothing. A base URL changed by hand or by opening an
# imported session inherits no key. And only an endpoint typed in this browser session (or one the
# user asked to list) is asked for its models: opening a file makes no request by itself.
TYPED_ENDPOINTS = "typed_endpoints"  # {scope}: endpoints the user typed (or listed) in this browser session
ENTER_THE_KEY = "Enter the key for this endpoint: a key is sent only to the endpoint it was entered for."


def _scope_now() -> tuple[str, str]:
    kind = state.text(state.KIND)
    backend = backend_of(kind)
    url = state.text(state.AZURE_ENDPOINT if backend and backend.address_is_endpoint else state.BASE_URL)
    return key_scope(kind, url)


def _key_typed() -> None:
    """The key field's callback: the key belongs to the endpoint shown."""
    state.put(TYPED_KEYS, {**typed_keys(), _scope_now(): state.get(state.API_KEY) or ""})


def _endpoint_typed() -> None:
    """The base URL's (or a "List models" button's) callback: the user chose this endpoint."""
    state.put(TYPED_ENDPOINTS, {*state.listing(TYPED_ENDPOINTS), _scope_now()})


def _key_field(label: str, scope: tuple[str, str], from_env: str = "", key_elsewhere: bool = False, **options) -> str:
    """The key field, showing the key typed for `scope` (if any); returns the key to use there:
    the typed one, else `from_env` (the environment's key, already checked to be for `scope`).
    `key_elsewhere`: a key is at hand for another endpoint (the environment's), not for this one."""
    state.put(state.API_KEY, typed_keys().get(scope, ""))
    typed = st.text_input(
        label,
        type="password",
        key=state.API_KEY,
        on_change=_key_typed,
        help="Held in this browser session's memory only; never saved or shown. Sent only to this endpoint.",
        **options,
    )
    key = typed or from_env
    if not key and (key_elsewhere or any(typed_keys().values())):
        st.caption(ENTER_THE_KEY)
    return key


def _default_kind() -> str:
    if secret("OPENAI_API_KEY"):
        return "openai"
    if secret("AZURE_OPENAI_API_KEY") and secret("AZURE_OPENAI_ENDPOINT"):
        return "azure"
    return "embedded"


def _embedded() -> ProviderConfig:
    server = resources.embedded_server()
    return ProviderConfig("embedded", models.EMBEDDED_MODEL, base_url=server.base_url)


def _openai() -> ProviderConfig:
    from_env = secret("OPENAI_API_KEY")
    key = _key_field(
        "API key", key_scope("openai"), from_env, placeholder="from OPENAI_API_KEY" if from_env else "sk-…"
    )
    names = [m.name for m in models.MODELS.values() if m.encoding != "embedded"]
    model = st.selectbox("Model", names, key=state.OPENAI_MODEL, accept_new_options=True)
    return ProviderConfig("openai", model or "", api_key=key)


def _azure() -> ProviderConfig:
    state.default(state.AZURE_ENDPOINT, secret("AZURE_OPENAI_ENDPOINT"))
    state.default(state.AZURE_DEPLOYMENT, secret("AZURE_OPENAI_DEPLOYMENT"))
    state.default(state.AZURE_API_VERSION, secret("OPENAI_API_VERSION") or DEFAULT_AZURE_API_VERSION)
    endpoint = st.text_input("Endpoint", key=state.AZURE_ENDPOINT, placeholder="https://NAME.openai.azure.com")
    deployment = st.text_input("Deployment", key=state.AZURE_DEPLOYMENT)
    version = st.text_input("API version", key=state.AZURE_API_VERSION)
    scope = key_scope("azure", endpoint)
    # The environment's key is for the environment's endpoint, not for one typed or imported since.
    env_key = secret("AZURE_OPENAI_API_KEY")
    env_endpoint = key_scope("azure", secret("AZURE_OPENAI_ENDPOINT")) == scope
    key = _key_field(
        "API key", scope, env_key if env_endpoint else "", key_elsewhere=bool(env_key) and not env_endpoint
    )
    return ProviderConfig("azure", deployment, base_url=endpoint, api_key=key, api_version=version)


def _listed_models(probe: ProviderConfig) -> list[str] | None:
    """The models the server lists, or None where it was not asked: a URL the user did not type in
    this browser session (restored or imported with a session) is asked only at their word."""
    if not valid_base_url(probe.base_url):
        return None
    if key_scope("compatible", probe.base_url) not in state.listing(TYPED_ENDPOINTS):
        st.button(
            "List models",
            icon=":material/list:",
            on_click=_endpoint_typed,
            help="Ask this server which models it has (GET /models): this URL came with the session, "
            "and nothing is sent to it until you say so.",
        )
        return None
    return resources.model_ids(probe)


def _compatible() -> ProviderConfig:
    base_url = st.text_input(
        "Base URL",
        key=state.BASE_URL,
        placeholder="http://localhost:11434/v1",
        on_change=_endpoint_typed,
        help="Ollama: http://localhost:11434/v1 · LM Studio: http://localhost:1234/v1 · vLLM: http://localhost:8000/v1",
    )
    key = _key_field("API key (optional)", key_scope("compatible", base_url))
    listed = _listed_models(ProviderConfig("compatible", "", base_url=base_url, api_key=key))
    if listed:
        if not state.get(state.COMPATIBLE_MODEL):
            state.pop(state.COMPATIBLE_MODEL)  # an empty typed name: the list's first model instead
        model = st.selectbox("Model", listed, key=state.COMPATIBLE_MODEL, accept_new_options=True)
    else:
        model = st.text_input("Model", key=state.COMPATIBLE_MODEL)
        if listed == []:
            st.caption("The server lists no models: type the model's name.")
    return ProviderConfig("compatible", model or "", base_url=base_url, api_key=key)


def _model_info(provider: ProviderConfig) -> models.ModelInfo:
    name = provider.model
    if provider.backend.names_deployments:
        table = [m.name for m in models.MODELS.values() if m.encoding != "embedded"]
        state.default(state.PRICED_AS, models.underlying_model(provider.model) or table[0])  # "gpt-35-turbo" → GPT-3.5
        name = st.selectbox(
            "Underlying model",
            table,
            key=state.PRICED_AS,
            help="The model behind the deployment: sets the tokenizer, window and prices.",
        )
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
        replay = demos.replaying()
        if replay is not None:  # a recorded demo answers, as the backend it was recorded with (ui/demos.py)
            demos.replay_panel()
            provider = replay.provider()
        else:
            kind = st.selectbox("Provider", list(KIND_LABELS), format_func=KIND_LABELS.__getitem__, key=state.KIND)
            provider = _BUILDERS[kind]()
        # A call's limits are for whoever runs the server, not for a newcomer's first screen: folded away
        # (nine clickable controls: each number has its own − and +). A fixed label: one that showed the values
        # would be a new expander, closed, after each edit.
        limits = st.expander("Advanced: call limits (timeout, deadline, reply size)")
        timeout = limits.number_input(
            "Timeout (s)", 1, 600, key=state.TIMEOUT, help="How long a call may wait for the server before it fails."
        )
        deadline = limits.number_input(
            "Call deadline (s)",
            1,
            3600,
            key=state.DEADLINE,
            help="The longest a whole call may take, however the server trickles its reply; what arrived by "
            "then is kept, marked incomplete. The timeout above bounds each wait for the server's next bytes.",
        )
        cap_mb = limits.number_input(
            "Reply size cap (MB)",
            0.001,
            100.0,
            step=0.5,
            format="%g",
            key=state.MAX_REPLY_MB,
            help="The most reply text a call keeps; a reply that reaches it is ended there, kept, marked incomplete.",
        )
        provider = replace(
            provider, timeout_s=float(timeout), deadline_s=float(deadline), max_reply_bytes=int(cap_mb * 1_000_000)
        )
        model = _model_info(provider)
        model, window_source = _server_window(provider, model)
        # Folded like the limits: a newcomer's first screen is the conversation and its meter (eight controls
        # less); the defaults serve a first call, and the fold names what is inside.
        fold = st.expander("Sampling: temperature, reply length, streaming")
        temperature = (
            1.0
            if model.reasoning
            else fold.slider("Temperature", 0.0, 2.0, step=0.1, key=state.TEMPERATURE, help=explain("temperature"))
        )
        max_tokens = fold.number_input("Max reply tokens", 1, 100_000, key=state.MAX_TOKENS, help=explain("max_tokens"))
        stream = fold.toggle(
            "Stream replies",
            key=state.STREAM,
            help=explain("stream") + " Some servers (llama-cpp-python's among them) report no token usage while "
            "streaming: turn this off to compare the prediction with the server's own count.",
        )
    end_user = end_user_id(sessions.current_id()) if state.get(state.SEND_SESSION_ID) else None
    sampling = Sampling(
        temperature, int(max_tokens), provider.token_limit_field, stream, end_user, provider.end_user_field
    )
    return Settings(provider, model, sampling, window_source)


def _server_window(provider: ProviderConfig, model: models.ModelInfo) -> tuple[models.ModelInfo, str]:
    """The model with the window its server reports, which the meter's share, the composition bar and
    the send check then use; the table's (or the user's) figure, labelled, when the server says none.
    A compatible server is asked only once the user typed its URL in this browser session."""
    fallback = "the model table" if models.is_known(model.name) else "your figure in the sidebar"
    backend = provider.backend
    typed = key_scope("compatible", provider.base_url) in state.listing(TYPED_ENDPOINTS)
    asks = backend.asks_its_server and (backend.counts_in_process or (backend.may_count_on_server and typed))
    if not asks or provider.missing():
        return model, fallback
    window = resources.server_window(provider)
    if window is None:
        return model, fallback + "; the server does not report its window"
    return replace(model, context_window=window.tokens), window.source


def page_setup() -> Settings:
    """What every page does first: session state (the saved session on a first run), the sidebar, the autosave."""
    navigation.titled_if_listed_by_file_name()
    resources.freeze_long_lived()  # what earlier runs loaded for good (modules, tokenizers): see there
    state.init()
    owner.require_sign_in()  # team mode: nothing but the sign-in button until signed in
    sessions.restore()
    settings = sidebar()
    now = sessions.autosave()
    session_sidebar.sidebar(now)
    demos.sidebar(now)
    return settings
