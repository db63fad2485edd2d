import ast
import json
import os
import shutil
import subprocess
import sys

import pytest

from lib.backends.providers import ProviderConfig
from lib.backends.snippets import ARGUMENT_LIMIT, curl_snippet, python_snippet
from lib.context.payload import Sampling, build_body, serialise
from tests.fake_openai import FakeOpenAI

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


def test_the_curl_snippet_carries_the_compact_bytes():
    body = build_body("m", [{"role": "user", "content": "héllo 👋 'single' \"double\""}], Sampling(seed=1))
    snippet = curl_snippet(ProviderConfig("compatible", "m", base_url="http://127.0.0.1:9/v1"), body)
    compact = serialise(body).decode()
    assert compact.replace("'", "'\"'\"'") in snippet and "\n  " not in compact


# --- the snippets run: against the recording server, they send the plan's very body ----------------

# Text a shell or a Python literal could mangle: quotes of both kinds, $ and backticks (a shell would
# expand them outside single quotes), backslashes, escapes, newlines, non-ASCII, emoji, U+2028.
HOSTILE = (
    'It\'s "quoted" $HOME `whoami` $(echo pwned) \\n \\\\ back\\slash\n'
    "new line\ttab é ü 日本語 مرحبا 👩🏽\u200d💻 🇫🇷 \u2028 end"
)
MAX_ARG_STRLEN = 128 * 1024  # Linux: the most one command-line argument may hold
REPLY = "Bonjour, l'ami — ça va? 🙂"
# What a key-free environment looks like: no stray OPENAI_* settings or proxies steer the snippet.
_CLEAN_ENV = {
    k: v for k, v in os.environ.items() if not k.upper().startswith(("OPENAI", "AZURE")) and "PROXY" not in k.upper()
}


def _body(stream: bool, content: str = HOSTILE) -> dict:
    messages = [{"role": "system", "content": "Answer in French."}, {"role": "user", "content": content}]
    return build_body("fake-model", messages, Sampling(0.3, 64, stream=stream, end_user="cl-1", seed=5))


def _run(program: str, snippet: str, tmp_path, **env: str) -> subprocess.CompletedProcess:
    """Run a snippet saved to a file, as a user would paste it into one (a huge one would not fit
    a command-line argument)."""
    script = tmp_path / "snippet"
    script.write_text(snippet, encoding="utf-8")
    result = subprocess.run(
        [program, str(script)], capture_output=True, text=True, timeout=60, env={**_CLEAN_ENV, **env}, check=False
    )
    assert result.returncode == 0, result.stderr
    return result


@pytest.fixture
def server():
    with FakeOpenAI() as fake:
        fake.behaviour.reply = REPLY
        yield fake


@pytest.mark.parametrize("stream", [True, False])
def test_the_python_snippet_runs_and_sends_exactly_the_body(server, stream, tmp_path):
    body = _body(stream)
    config = ProviderConfig("compatible", "fake-model", base_url=server.base_url, api_key=KEY)
    snippet = python_snippet(config, body)
    result = _run(sys.executable, snippet, tmp_path, API_KEY=KEY)
    assert result.stdout == REPLY + "\n"  # the reply, printed, streamed or whole
    sent = server.requests[-1]
    assert sent.body == serialise(body)
    assert sent.headers["authorization"] == f"Bearer {KEY}"  # read from the environment


@pytest.mark.parametrize("stream", [True, False])
def test_the_keyless_python_snippet_runs_against_a_local_server(server, stream, tmp_path):
    body = _body(stream)
    snippet = python_snippet(ProviderConfig("embedded", "fake-model", base_url=server.base_url), body)
    assert "os.environ" not in snippet and "import os" not in snippet
    assert _run(sys.executable, snippet, tmp_path).stdout == REPLY + "\n"
    assert server.requests[-1].body == serialise(body)


def _quiet(curl: str) -> str:
    """No progress meter; errors still shown. On the first line: a here-document may end the snippet."""
    return curl.replace(" \\\n", " --silent --show-error \\\n", 1)


@pytest.fixture(scope="module")
def bash_with_curl():
    if not shutil.which("curl"):
        pytest.fail("curl is not installed: `apt-get install curl` (CI too)")
    return shutil.which("bash")


@pytest.mark.parametrize("stream", [True, False])
def test_the_curl_snippet_runs_and_posts_exactly_the_body(server, bash_with_curl, stream, tmp_path):
    body = _body(stream)
    config = ProviderConfig("compatible", "fake-model", base_url=server.base_url, api_key=KEY)
    snippet = curl_snippet(config, body)
    result = _run(bash_with_curl, _quiet(snippet), tmp_path, API_KEY=KEY)
    sent = server.requests[-1]
    assert sent.body == serialise(body)
    assert sent.headers["authorization"] == f"Bearer {KEY}"
    assert sent.headers["content-type"] == "application/json"
    assert "Bonjour" in result.stdout  # the server's answer, streamed or whole, as JSON


@pytest.mark.parametrize("stream", [True, False])
def test_a_huge_body_is_sent_whole_by_both_snippets(server, bash_with_curl, stream, tmp_path):
    """A body over one command-line argument's limit (128 KiB on Linux) goes through a here-document."""
    body = _body(stream, ("a long line of the conversation, " * 20_000) + HOSTILE)
    assert len(serialise(body)) > MAX_ARG_STRLEN
    config = ProviderConfig("compatible", "fake-model", base_url=server.base_url)
    _run(bash_with_curl, _quiet(curl_snippet(config, body)), tmp_path)
    assert server.requests[-1].body == serialise(body)
    assert _run(sys.executable, python_snippet(config, body), tmp_path).stdout == REPLY + "\n"
    assert server.requests[-1].body == serialise(body)


def test_a_body_at_the_limit_still_goes_on_the_command_line():
    config = ProviderConfig("compatible", "m", base_url="http://127.0.0.1:9/v1")
    body = build_body("m", [{"role": "user", "content": ""}], Sampling())
    body["messages"][0]["content"] = "x" * (ARGUMENT_LIMIT - len(serialise(body)))
    assert len(serialise(body)) == ARGUMENT_LIMIT and "<<'JSON'" not in curl_snippet(config, body)
    body["messages"][0]["content"] += "x"
    assert "<<'JSON'" in curl_snippet(config, body)


def _tool_body(stream: bool) -> dict:
    from lib.context.conversation import Message, ToolCall
    from lib.context.tools import ToolDefinition, ToolSettings

    arguments = json.dumps({"q": HOSTILE}, ensure_ascii=False)
    messages = [
        Message("user", HOSTILE, name="ada"),
        Message("assistant", "", tool_calls=(ToolCall("call_1", "lookup", arguments),)),
        Message("tool", HOSTILE, tool_call_id="call_1"),
    ]
    tools = ToolSettings((ToolDefinition("lookup", HOSTILE, {"type": "object", "properties": {}}),), "auto", False)
    return build_body("fake-model", [m.as_api() for m in messages], Sampling(0.3, 64, stream=stream), tools=tools)


@pytest.mark.parametrize("stream", [True, False])
def test_both_snippets_send_the_tools_calls_and_results_byte_for_byte(server, bash_with_curl, stream, tmp_path):
    body = _tool_body(stream)
    assert body["tools"] and body["parallel_tool_calls"] is False and body["messages"][2]["role"] == "tool"
    config = ProviderConfig("compatible", "fake-model", base_url=server.base_url, api_key=KEY)
    _run(sys.executable, python_snippet(config, body), tmp_path, API_KEY=KEY)
    assert server.requests[-1].body == serialise(body)
    _run(bash_with_curl, _quiet(curl_snippet(config, body)), tmp_path, API_KEY=KEY)
    assert server.requests[-1].body == serialise(body)
