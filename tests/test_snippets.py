import ast

from lib.providers import ProviderConfig
from lib.snippets import curl_snippet, python_snippet

KEY = "sk-test-SNIPPETSECRET-123456"
BODY = {"model": "gpt-4o", "messages": [{"role": "user", "content": 'it\'s "quoted"'}], "stream": True}


def test_no_snippet_contains_the_key():
    for kind in ("openai", "azure", "compatible"):
        config = ProviderConfig(kind, "gpt-4o", base_url="http://127.0.0.1:9/v1", api_key=KEY)
        assert KEY not in curl_snippet(config, BODY)
        assert KEY not in python_snippet(config, BODY)


def test_the_python_snippet_is_valid_python_with_the_same_body():
    config = ProviderConfig("compatible", "m", base_url="http://127.0.0.1:9/v1")
    tree = ast.parse(python_snippet(config, BODY))
    assigned = next(n for n in tree.body if isinstance(n, ast.Assign) and n.targets[0].id == "body")
    assert ast.literal_eval(assigned.value) == BODY


def test_curl_targets_the_right_endpoint_and_header():
    azure = ProviderConfig("azure", "dep", base_url="https://x.openai.azure.com", api_key=KEY, api_version="2024-10-21")
    snippet = curl_snippet(azure, BODY)
    assert "https://x.openai.azure.com/openai/deployments/dep/chat/completions?api-version=2024-10-21" in snippet
    assert "api-key: $AZURE_OPENAI_API_KEY" in snippet
    assert "Bearer $OPENAI_API_KEY" in curl_snippet(ProviderConfig("openai", "gpt-4o", api_key=KEY), BODY)
