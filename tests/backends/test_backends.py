"""One object per backend: what differs between them is said once, and the rest of the code asks."""

import subprocess
import sys

import pytest

from lib.backends.kinds import BACKENDS, KIND_LABELS, tls_context
from lib.backends.providers import ProviderConfig

KEY = "sk-test-BACKENDS-0123456789"


@pytest.mark.parametrize(
    ("kind", "base_url", "endpoint", "limit_field", "user_field"),
    [
        ("openai", "", "https://api.openai.com/v1/chat/completions", "max_completion_tokens", "safety_identifier"),
        (
            "azure",
            "https://x.openai.azure.com/",
            "https://x.openai.azure.com/openai/deployments/dep/chat/completions?api-version=2024-10-21",
            "max_completion_tokens",
            "user",
        ),
        ("compatible", "http://127.0.0.1:8/v1/", "http://127.0.0.1:8/v1/chat/completions", "max_tokens", "user"),
        ("embedded", "http://127.0.0.1:9/v1", "http://127.0.0.1:9/v1/chat/completions", "max_tokens", "user"),
    ],
)
def test_each_backend_names_its_endpoint_and_fields(kind, base_url, endpoint, limit_field, user_field):
    config = ProviderConfig(kind, "dep", base_url=base_url, api_key=KEY)
    assert config.endpoint == endpoint
    assert config.token_limit_field == limit_field and config.end_user_field == user_field
    assert config.missing() is None


@pytest.mark.parametrize(
    ("config", "missing"),
    [
        (ProviderConfig("openai", "gpt-4o"), "an API key"),
        (ProviderConfig("azure", "dep", api_key=KEY), "the endpoint URL"),
        (ProviderConfig("azure", "", base_url="https://x.openai.azure.com", api_key=KEY), "the deployment name"),
        (ProviderConfig("compatible", "m", base_url="host:8"), "the base URL (a full http:// or https:// address)"),
        (ProviderConfig("compatible", "", base_url="http://127.0.0.1:1/v1"), "a model"),
    ],
)
def test_what_is_missing_is_said_in_the_backends_words(config, missing):
    assert config.missing() == missing


def test_each_client_goes_where_its_backend_says():
    for kind, backend in BACKENDS.items():
        config = ProviderConfig(kind, "dep", base_url="http://127.0.0.1:9/v1", api_key=KEY)
        client = backend.client(config)
        assert str(client.base_url).startswith(
            "https://api.openai.com/v1" if kind == "openai" else "http://127.0.0.1:9"
        ), kind
        assert client.max_retries == 0  # retries are shown to the user, never hidden in the SDK
    assert set(KIND_LABELS) == {"embedded", "openai", "azure", "compatible"}


def test_every_client_shares_one_tls_context_and_keeps_the_sdks_defaults():
    """The CA bundle is read once per process, not by every client (28 ms each: most of a client's
    making); the rest is what the SDK gives a client it makes for itself."""
    clients = [
        backend.client(ProviderConfig(kind, "dep", base_url="https://x.example/v1", api_key=KEY, timeout_s=7))
        for kind, backend in BACKENDS.items()
    ]
    try:
        for client in clients:
            http = client._client
            pool = http._transport._pool
            assert pool._ssl_context is tls_context()
            assert http.follow_redirects  # as the SDK's own (a key goes along only to the same origin)
            assert client.timeout == 7  # the user's timeout, sent with each request
    finally:
        for client in clients:
            client.close()


def test_the_kinds_and_labels_need_no_http_client():
    """lib/session validates a file's provider kind with this table: it must not pull in the SDK."""
    code = "import sys, lib.backends.kinds; print('openai' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


@pytest.mark.parametrize(
    ("kind", "facts"),
    [
        (
            "embedded",
            {"answers_one_at_a_time", "started_by_the_app", "counts_in_process", "one_model", "bounds_json_strings"},
        ),
        ("openai", set()),
        ("azure", {"names_deployments", "address_is_endpoint"}),
        ("compatible", {"may_count_on_server"}),
    ],
)
def test_each_backend_answers_what_the_pages_used_to_work_out_from_its_name(kind, facts):
    """What the pages, Compare, the experiments and attribution once decided with `kind == "embedded"`
    (or "azure", "compatible") branches, each backend now says: the same answers as those branches gave."""
    asked = (
        "answers_one_at_a_time",
        "started_by_the_app",
        "counts_in_process",
        "one_model",
        "may_count_on_server",
        "names_deployments",
        "address_is_endpoint",
        "bounds_json_strings",
    )
    assert {fact for fact in asked if getattr(BACKENDS[kind], fact)} == facts
