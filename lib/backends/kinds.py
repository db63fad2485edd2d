"""One object per backend: everything that differs between OpenAI, Azure OpenAI, an OpenAI-compatible
server and the embedded model, in one place each — instead of `kind == "azure"` branches spread
across the code. Every one of them is reached through the same `openai` SDK.

A backend says where a call goes (`endpoint`), how it is made (`client`), which fields of the body it
names its own way, what the user must fill in, how the copied snippets authenticate, and the facts
the pages, Compare, experiments and attribution ask of it (one call at a time? counted in process?
which cache rule? how it is told to answer in a JSON shape?). A fifth backend is one more class here;
no other module compares a kind with a backend's name (tests/test_architecture.py holds that).
"""

from __future__ import annotations

import contextlib
import functools
from typing import TYPE_CHECKING, Any, Protocol

from lib.context import caching
from lib.core.secrets import PLACEHOLDER_KEY
from lib.core.wire import EndUserField, Kind, TokenLimitField

if TYPE_CHECKING:  # the SDK is imported where a client is made: the kinds and labels need no HTTP client
    import ssl

    import httpx2
    import openai

OPENAI_BASE_URL = "https://api.openai.com/v1"


@functools.cache
def tls_context() -> ssl.SSLContext:
    """The TLS settings every client's connections use: the SDK's HTTP library's own default (its CA
    bundle, and SSL_CERT_FILE / SSL_CERT_DIR as read when the first client is made), made once per
    process. Each client made its own: 28 ms of reading the CA bundle, nearly all of a client's making,
    paid again by every browser session and every key typed (issue 27). One context serves any number
    of connections on any thread."""
    import httpx2

    return httpx2.create_ssl_context()


def http_client() -> httpx2.Client:
    """An HTTP client for one SDK client: the SDK's own defaults (its timeouts, connection limits and
    redirects: a key goes along only to the same origin), over the shared `tls_context`, closed when
    it is collected as the SDK's own is."""
    return _http_client_class()(verify=tls_context())


@functools.cache
def _http_client_class() -> type[httpx2.Client]:
    """Defined on first use: the kinds and labels are read without the SDK (a file's backend is
    checked against them), so this module imports it only to make a client."""
    import openai

    class ClosedWhenCollected(openai.DefaultHttpxClient):
        """As the client the SDK makes for itself when given none (`SyncHttpxClientWrapper`): a client
        left unclosed closes its pooled connections once nothing refers to it."""

        def __del__(self) -> None:
            if not self.is_closed:
                with contextlib.suppress(Exception):  # at interpreter exit the pool may be gone already
                    self.close()

    return ClosedWhenCollected


class ProviderConfig(Protocol):
    """What a backend reads of the user's settings: lib.backends.providers.ProviderConfig is one (named
    here by its shape, so that this module, which it imports, need not import it back)."""

    @property
    def model(self) -> str: ...
    @property
    def base_url(self) -> str: ...
    @property
    def api_key(self) -> str: ...
    @property
    def api_version(self) -> str: ...
    @property
    def timeout_s(self) -> float: ...
    @property
    def secrets(self) -> tuple[str, ...]: ...


class Backend:
    """What a compatible server does; the others override what they do differently."""

    kind: Kind = "compatible"
    label = "OpenAI-compatible URL (Ollama, vLLM, LM Studio, llama.cpp)"
    token_limit_field: TokenLimitField = "max_tokens"
    # `user` is the field the other backends have long taken (llama-cpp-python's server declares it).
    end_user_field: EndUserField = "user"
    needs_key = False
    address_name = "the base URL"
    model_name = "a model"
    answers_one_at_a_time = False  # a single-slot server: concurrent calls queue behind each other
    # The app's own server, started on a free port of the moment: its address is no part of what
    # identifies a run, and it answers, mid-generation, how many calls wait (lib.backends.embedded.queue_state).
    started_by_the_app = False
    # The prompt is counted by the model's own tokenizer in this process (exact, offline), and attribution
    # scores ablations in process on the same weights.
    counts_in_process = False
    # It serves one model: a Compare variant or a judge cannot pick another.
    one_model = False
    # A server of unknown make may say how it tokenizes (lib/backends/server_tokens.py): ask it.
    may_count_on_server = True
    # Its model names are deployments, which say nothing of the model behind them: the user names that.
    names_deployments = False
    # Its address is a resource's endpoint, kept in a field of its own, not a server's base URL.
    address_is_endpoint = False
    # The JSON schema of a forced answer may bound a string's length (OpenAI's strict mode refuses `maxLength`).
    bounds_json_strings = False
    cache_rule: caching.CacheRule = caching.UNKNOWN
    # Answers from a recorded demo (lib/backends/replay.py): nothing is sent, each answer is marked replayed.
    replays = False
    # Its server may be asked what it reports (its context window): a replay asks nothing.
    asks_its_server = True

    def logged_as(self) -> str:
        """What the run log's provider column says of its calls."""
        return self.kind

    def rule_for(self, counter: object = None) -> caching.CacheRule:
        """Its prompt cache's rule (lib/context/caching.py)."""
        return self.cache_rule

    def json_answer_format(self, name: str, schema: dict[str, Any]) -> dict[str, Any]:
        """The body's `response_format` that forces the answer into `schema`."""
        return {"type": "json_schema", "json_schema": {"name": name, "strict": True, "schema": schema}}

    def base_url(self, config: ProviderConfig) -> str:
        return config.base_url

    def endpoint(self, config: ProviderConfig) -> str:
        """Where the POST goes, for the preview and the snippets."""
        return f"{self.base_url(config).rstrip('/')}/chat/completions"

    def client(self, config: ProviderConfig) -> openai.OpenAI:
        import openai

        # Retries are the user's to see and trigger, not the SDK's to hide.
        return openai.OpenAI(
            base_url=self.base_url(config),
            api_key=config.api_key or PLACEHOLDER_KEY,
            timeout=config.timeout_s,
            max_retries=0,
            http_client=http_client(),
        )

    def key_header(self, config: ProviderConfig) -> str | None:
        """The curl header, with the key as an environment variable (the snippet never holds it)."""
        return "Authorization: Bearer $API_KEY" if config.secrets else None

    def python_client(self, config: ProviderConfig) -> tuple[str, str]:
        """The snippet's (import line, client construction)."""
        key = 'os.environ["API_KEY"]' if config.secrets else f'"{PLACEHOLDER_KEY}"'
        return "from openai import OpenAI", f"client = OpenAI(base_url={config.base_url!r}, api_key={key})"


class CompatibleBackend(Backend):
    def rule_for(self, counter: object = None) -> caching.CacheRule:
        """A server that said what it is (lib.backends.server_tokens.ServerCounter) gets its own rule."""
        rule = getattr(counter, "cache_rule", None)
        return rule if isinstance(rule, caching.CacheRule) else self.cache_rule


class EmbeddedBackend(Backend):
    kind: Kind = "embedded"
    label = "Embedded (SmolLM2-135M, offline)"
    answers_one_at_a_time = True  # llama-cpp-python's server holds one generation lock
    started_by_the_app = True
    counts_in_process = True
    one_model = True
    may_count_on_server = False
    bounds_json_strings = True  # llama.cpp's grammar honours maxLength
    cache_rule = caching.LLAMA_CPP

    def json_answer_format(self, name: str, schema: dict[str, Any]) -> dict[str, Any]:
        # llama-cpp-python's ResponseFormat is {"type": "json_object", "schema": …}
        return {"type": "json_object", "schema": schema}


class OpenAIBackend(Backend):
    kind: Kind = "openai"
    label = "OpenAI"
    token_limit_field: TokenLimitField = "max_completion_tokens"
    # OpenAI documents `safety_identifier` in place of the older `user`.
    end_user_field: EndUserField = "safety_identifier"
    needs_key = True
    may_count_on_server = False
    cache_rule = caching.OPENAI

    def base_url(self, config: ProviderConfig) -> str:
        return OPENAI_BASE_URL

    def key_header(self, config: ProviderConfig) -> str | None:
        return "Authorization: Bearer $OPENAI_API_KEY"

    def python_client(self, config: ProviderConfig) -> tuple[str, str]:
        return "from openai import OpenAI", 'client = OpenAI(api_key=os.environ["OPENAI_API_KEY"])'


class AzureBackend(Backend):
    kind: Kind = "azure"
    label = "Azure OpenAI"
    token_limit_field: TokenLimitField = "max_completion_tokens"
    needs_key = True
    address_name = "the endpoint URL"
    model_name = "the deployment name"
    may_count_on_server = False
    names_deployments = True
    address_is_endpoint = True
    cache_rule = caching.AZURE

    def endpoint(self, config: ProviderConfig) -> str:
        root = config.base_url.rstrip("/")
        return f"{root}/openai/deployments/{config.model}/chat/completions?api-version={config.api_version}"

    def client(self, config: ProviderConfig) -> openai.OpenAI:
        import openai

        return openai.AzureOpenAI(
            azure_endpoint=config.base_url,
            api_key=config.api_key,
            api_version=config.api_version,
            timeout=config.timeout_s,
            max_retries=0,
            http_client=http_client(),
        )

    def key_header(self, config: ProviderConfig) -> str | None:
        return "api-key: $AZURE_OPENAI_API_KEY"

    def python_client(self, config: ProviderConfig) -> tuple[str, str]:
        client = (
            "client = AzureOpenAI(\n"
            f"    azure_endpoint={config.base_url!r},\n"
            '    api_key=os.environ["AZURE_OPENAI_API_KEY"],\n'
            f"    api_version={config.api_version!r},\n)"
        )
        return "from openai import AzureOpenAI", client


BACKENDS: dict[Kind, Backend] = {
    backend.kind: backend for backend in (EmbeddedBackend(), OpenAIBackend(), AzureBackend(), CompatibleBackend())
}
KIND_LABELS: dict[Kind, str] = {kind: backend.label for kind, backend in BACKENDS.items()}


def backend_of(kind: str) -> Backend | None:
    """The backend of a kind read from anywhere (a file, the sidebar's state); None for no known kind."""
    return BACKENDS.get(kind)  # type: ignore[call-overload]  # a kind read from a file may be anything


def cache_rule(kind: str, counter: object = None) -> caching.CacheRule:
    """The prompt cache's rule of the backend `kind` (`counter`: the prompt's counter, which may know its
    server's); no known kind: no rule."""
    backend = backend_of(kind)
    return backend.rule_for(counter) if backend is not None else caching.UNKNOWN
