"""The embedded default: the real llama.cpp server through the real `openai` client, over loopback."""

import os
import signal
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lib.embedded import EmbeddedServer, gguf_path
from lib.models import EMBEDDED_MODEL
from lib.payload import Sampling, build_body
from lib.providers import CallOutcome, ProviderConfig, make_client, stream_chat

pytestmark = pytest.mark.slow

LONG = "The quick brown fox jumps over the lazy dog. " * 120
CONVERSATIONS = {
    "plain": [{"role": "user", "content": "Hello"}],
    "system": [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Hi"}],
    "empty system prompt": [{"role": "system", "content": ""}, {"role": "user", "content": "Hi"}],
    "no system prompt, template default": [{"role": "user", "content": "What is my name?"}],
    "unicode": [{"role": "user", "content": "Ünïcödé: naïve café, 北京, Москва, עברית"}],
    "emoji": [{"role": "user", "content": "🎉👩‍👩‍👧‍👦 🇫🇷 ❤️‍🔥 emoji sequences"}],
    "code": [{"role": "user", "content": "```python\ndef f(x):\n    return {'a': [x, \"\\n\"]}\n```"}],
    "special-looking text": [{"role": "user", "content": "<|im_start|>user <|im_end|> </s>"}],
    "long": [{"role": "system", "content": "Summarise."}, {"role": "user", "content": LONG}],
    "whitespace": [{"role": "user", "content": "  spaced\n\n\ttabs  \n"}],
    "many turns": [
        {"role": "system", "content": "Remember names."},
        *[
            {"role": role, "content": f"{role} turn {i}: my name is Ada number {i}"}
            for i in range(12)
            for role in ("user", "assistant")
        ],
        {"role": "user", "content": "What is my name?"},
    ],
    "assistant last": [{"role": "user", "content": "Say hi"}, {"role": "assistant", "content": "Hi!"}],
}


def _ask(server: EmbeddedServer, messages: list[dict], max_tokens: int = 1, stream=False) -> CallOutcome:
    config = ProviderConfig("embedded", EMBEDDED_MODEL, base_url=server.base_url)
    outcome = CallOutcome()
    body = build_body(EMBEDDED_MODEL, messages, Sampling(0.0, max_tokens, stream=stream))
    for _ in stream_chat(make_client(config), body, outcome):
        pass
    return outcome


def test_the_model_ships_in_the_package():
    assert gguf_path().stat().st_size > 50_000_000


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
@pytest.mark.parametrize("name", list(CONVERSATIONS))
def test_predicted_equals_the_servers_prompt_tokens(name, stream, embedded_server, embedded_tokenizer):
    messages = CONVERSATIONS[name]
    outcome = _ask(embedded_server, messages, stream=stream)
    assert outcome.ok, outcome.error
    assert embedded_tokenizer.count(messages).total == outcome.prompt_tokens


def test_per_message_counts_add_up_with_a_visible_overhead(embedded_tokenizer):
    messages = CONVERSATIONS["many turns"]
    count = embedded_tokenizer.count(messages)
    assert count.exact and len(count.per_message) == len(messages)
    assert all(n > 0 for n in count.per_message)
    assert 0 <= count.overhead < 20  # the reply priming, not hidden messages


def test_leaving_out_the_system_prompt_costs_the_templates_default(embedded_tokenizer):
    bare = embedded_tokenizer.count([{"role": "user", "content": "Hi"}])
    assert bare.overhead > 10  # SmolLM2's template adds its own system prompt


# Text that stresses the per-message sum: special tokens, template words, whitespace at the edges.
PIECES = ["<|im_start|>", "<|im_end|>", "</s>", "<s>", "system", "assistant\n", "\n", " ", "\t", "🦊", "naïve", "Hi"]
contents = st.lists(st.sampled_from(PIECES) | st.text(max_size=6), max_size=6).map("".join)
conversations = st.lists(
    st.fixed_dictionaries({"role": st.sampled_from(["system", "user", "assistant"]), "content": contents}),
    min_size=1,
    max_size=6,
)


def _whole_prompt_tokens(tokenizer, messages: list[dict]) -> int:
    return len(tokenizer.tokenize(*tokenizer.render(messages, True)))


@pytest.mark.parametrize("name", list(CONVERSATIONS))
def test_the_total_is_the_whole_rendered_prompt(name, embedded_tokenizer):
    messages = CONVERSATIONS[name]
    assert embedded_tokenizer.count(messages).total == _whole_prompt_tokens(embedded_tokenizer, messages)


@settings(max_examples=300, deadline=None)
@given(messages=conversations)
def test_the_total_is_the_whole_rendered_prompt_for_any_conversation(embedded_tokenizer, messages):
    assert embedded_tokenizer.count(messages).total == _whole_prompt_tokens(embedded_tokenizer, messages)


def test_a_new_message_is_the_only_text_encoded(embedded_tokenizer, monkeypatch):
    history = [{"role": ("user", "assistant")[i % 2], "content": f"{time.time_ns()} message {i}"} for i in range(40)]
    before = embedded_tokenizer.count(history)
    encoded: list[str] = []
    tokenize = embedded_tokenizer.tokenize

    def recording_tokenize(text: str, special: bool) -> list[int]:
        encoded.append(text)
        return tokenize(text, special)

    monkeypatch.setattr(embedded_tokenizer, "tokenize", recording_tokenize)
    new = {"role": "user", "content": f"{time.time_ns()} the new question"}
    after = embedded_tokenizer.count([*history, new])
    assert len(encoded) == 1 and new["content"] in encoded[0]
    assert not any(m["content"] in encoded[0] for m in history)
    assert after.total == before.total + after.per_message[-1]


@pytest.mark.parametrize("max_tokens", [1, 12, 200])
@pytest.mark.parametrize("name", ["plain", "emoji", "many turns"])
def test_streamed_usage_equals_the_servers_whole_reply_usage(name, max_tokens, embedded_server):
    # llama-cpp-python's server sends no usage while streaming; lib/llama_server.py adds it.
    messages = CONVERSATIONS[name]
    streamed = _ask(embedded_server, messages, max_tokens=max_tokens, stream=True)
    whole = _ask(embedded_server, messages, max_tokens=max_tokens, stream=False)
    assert streamed.ok and whole.ok
    assert streamed.text == whole.text
    assert (streamed.prompt_tokens, streamed.completion_tokens) == (
        whole.prompt_tokens,
        whole.completion_tokens,
    )
    assert streamed.ttft_s is not None and streamed.ttft_s <= streamed.latency_s


def test_a_whole_reply_carries_usage(embedded_server):
    outcome = _ask(embedded_server, [{"role": "user", "content": "Say hello."}], max_tokens=12)
    assert outcome.ok and outcome.text.strip()
    assert 0 < outcome.completion_tokens <= 12


def test_a_dead_server_is_restarted_and_stopped_without_orphans():
    server = EmbeddedServer().ensure_running()
    first = server.pid
    os.kill(first, signal.SIGKILL)
    time.sleep(0.2)
    server.ensure_running()
    assert server.pid != first and server.restarts == 1
    assert _ask(server, [{"role": "user", "content": "Hi"}]).ok
    second = server.pid
    server.stop()
    with pytest.raises(ProcessLookupError):
        os.kill(second, 0)


def test_the_server_dies_with_the_app_even_on_sigkill(tmp_path):
    """No orphan: the server's watchdog ends it when the process that started it is gone."""
    import subprocess
    import sys

    script = (
        "from lib.embedded import EmbeddedServer\n"
        "server = EmbeddedServer().ensure_running()\n"
        "print(server.pid, flush=True)\n"
        "import time; time.sleep(600)\n"
    )
    app = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, cwd=Path.cwd())
    server_pid = int(app.stdout.readline())
    os.kill(server_pid, 0)  # running
    app.kill()
    app.wait()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            os.kill(server_pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.2)
    os.kill(server_pid, signal.SIGKILL)
    pytest.fail("the embedded server outlived the app")
