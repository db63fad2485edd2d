"""lib/backends/llama_server.py: the embedded server's streaming — its feed on its own, then the real server;
its usage with cached tokens, its version guard, and its settings."""

import asyncio
import contextlib
import ipaddress
import json
import logging
import os
import socket
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import openai
import pytest

from lib.backends import llama_server
from lib.backends.embedded import EmbeddedServer, free_port, queue_state
from lib.backends.llama_server import _ChunkFeed
from lib.backends.providers import ProviderConfig, make_client, stream_chat
from lib.core.models import EMBEDDED_MODEL
from lib.core.outcome import CallOutcome

ROLE = {"choices": [{"index": 0, "delta": {"role": "assistant"}}]}


def text_chunk(text: str) -> dict:
    return {"choices": [{"index": 0, "delta": {"content": text}}]}


def run(coroutine):
    """asyncio.run in a thread of its own: the browser tests' Playwright keeps a loop in this one."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def events_of(batch: bytes) -> list[dict]:
    blocks = batch.decode().split("\n\n")
    assert blocks[-1] == ""  # every event is finished within its batch
    return [json.loads(block.removeprefix("data: ")) for block in blocks[:-1]]


async def collect(chunks, interval: float = 0.0, limit: int | None = None) -> list[bytes]:
    feed = _ChunkFeed(asyncio.get_running_loop(), lambda: chunks, interval)
    batches = []
    try:
        async for batch in feed.batches():
            batches.append(batch)
            if limit is not None and len(batches) >= limit:
                break
    finally:
        await feed.close()
    return batches


def test_every_chunk_arrives_once_in_order_as_server_sent_events():
    chunks = [ROLE, *(text_chunk(f"t{i} ") for i in range(200))]
    batches = run(collect(iter(chunks), interval=0.01))
    assert [event for batch in batches for event in events_of(batch)] == chunks


def test_chunks_that_are_ready_together_go_out_together():
    chunks = [ROLE, *(text_chunk("x") for i in range(300))]
    batches = run(collect(iter(chunks), interval=0.05))
    assert len(batches) < len(chunks) / 10  # the model outran the writes: far fewer writes than tokens


def test_the_first_text_is_not_held_back():
    """The role chunk comes alone, the text after it; no batching pause may sit between them."""
    role_sent, release = threading.Event(), threading.Event()

    def chunks():
        yield ROLE
        role_sent.wait(30)  # the role chunk goes out on its own
        yield text_chunk("Hello")
        release.wait(30)  # the model 'thinks' until the test has seen the first text
        yield text_chunk(" world")

    async def first_text():
        feed = _ChunkFeed(asyncio.get_running_loop(), chunks, interval=60.0)
        seen = []
        try:
            async for batch in feed.batches():
                seen += events_of(batch)
                role_sent.set()
                if any(e["choices"][0]["delta"].get("content") for e in seen):
                    return seen
        finally:
            role_sent.set()
            release.set()
            await feed.close()

    seen = run(asyncio.wait_for(first_text(), timeout=20))
    assert seen == [ROLE, text_chunk("Hello")]


def test_an_error_of_the_model_reaches_the_event_loop_after_what_came_before():
    def chunks():
        yield ROLE
        yield text_chunk("partial")
        raise ValueError("Requested tokens (9031) exceed context window of 8192")

    received = []

    async def consume():
        feed = _ChunkFeed(asyncio.get_running_loop(), chunks, 0.0)
        try:
            async for batch in feed.batches():
                received.extend(events_of(batch))
        finally:
            await feed.close()

    with pytest.raises(ValueError, match="exceed context window"):
        run(consume())
    assert received == [ROLE, text_chunk("partial")]


def test_a_client_that_goes_away_stops_the_model_and_frees_it():
    made = []
    closed = threading.Event()

    def chunks():
        try:
            for i in range(100_000):
                made.append(i)
                yield text_chunk(f"{i} ")
        finally:
            closed.set()

    run(collect(chunks(), interval=0.01, limit=2))
    assert closed.is_set()  # the generator was closed before close() returned: the model is free
    assert len(made) < 100_000


# --- the real embedded server --------------------------------------------------------------------


def _client(server) -> openai.OpenAI:
    """A client of the real server; used in a `with` block, so its sockets are closed, not left for the
    cycle collector to find in whichever test runs then."""
    return openai.OpenAI(base_url=server.base_url, api_key="unused", timeout=60, max_retries=0)


@pytest.mark.slow
def test_a_failure_mid_stream_reaches_the_user_as_a_message(embedded_server):
    """The stock server ended such a stream without a word; now the SDK raises, the app says why."""
    body = {
        "model": EMBEDDED_MODEL,
        "messages": [{"role": "user", "content": "word " * 9_000}],
        "stream": True,
        "stream_options": {"include_usage": True},
        "max_tokens": 8,
    }
    outcome = CallOutcome()
    with _client(embedded_server) as client:
        assert "".join(stream_chat(client, body, outcome)) == ""
    assert not outcome.ok
    assert "exceed context window of 8192" in outcome.error


@pytest.mark.slow
def test_the_server_answers_the_next_request_after_a_client_hung_up(embedded_server):
    prompt = [{"role": "user", "content": "Count from 1 to 400, one number per line."}]
    with _client(embedded_server) as client:
        stream = client.chat.completions.create(model=EMBEDDED_MODEL, messages=prompt, stream=True, max_tokens=1_500)
        for index, _ in enumerate(stream):
            if index == 3:
                break
        stream.close()
        reply = client.chat.completions.create(
            model=EMBEDDED_MODEL, messages=[{"role": "user", "content": "Say hi."}], max_tokens=8
        )
    assert reply.choices[0].message.content.strip()


def _listening(pid: int) -> set[tuple[str, int]]:
    """The TCP addresses process `pid` listens on: its sockets' inodes, found in the kernel's tables."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            target = os.readlink(fd)
            if target.startswith("socket:["):
                inodes.add(target.removeprefix("socket:[").removesuffix("]"))
    found = set()
    for table in ("tcp", "tcp6"):
        path = Path(f"/proc/{pid}/net/{table}")
        for line in path.read_text().splitlines()[1:] if path.exists() else []:
            fields = line.split()
            (address, port), state, inode = fields[1].split(":"), fields[3], fields[9]
            if state == "0A" and inode in inodes:  # 0A: LISTEN
                raw = bytes.fromhex(address)  # each 32-bit word in the host's (little-endian) order
                raw = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
                found.add((str(ipaddress.ip_address(raw)), int(port, 16)))
    return found


@pytest.mark.slow
def test_the_users_environment_does_not_reach_the_servers_settings(monkeypatch):
    """`PORT=8600 make run` once moved the model onto the app's port; a HOST would open it to the
    network; an API_KEY would lock the app out. Where the child really listens is read from /proc."""
    elsewhere = free_port()
    monkeypatch.setenv("PORT", str(elsewhere))
    monkeypatch.setenv("HOST", "0.0.0.0")
    monkeypatch.setenv("api_key", "sk-from-the-users-shell")  # pydantic-settings reads names in any case
    server = EmbeddedServer().ensure_running(timeout_s=60)
    try:
        assert _listening(server.pid) == {("127.0.0.1", server.port)}
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", elsewhere), timeout=5).close()
        outcome = CallOutcome()
        body = {"model": EMBEDDED_MODEL, "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 4}
        with make_client(ProviderConfig("embedded", EMBEDDED_MODEL, base_url=server.base_url)) as client:
            "".join(stream_chat(client, body, outcome))
        assert outcome.ok, outcome.error  # no key asked for
    finally:
        server.stop()


# --- the version guard ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "version, tested",
    [
        ("0.3.36", True),
        ("0.3.35", False),
        ("0.3.37", False),
        ("0.4.0", False),
        ("0.3.36rc1", False),
        ("0.3.36+local", False),
        ("0.3", False),
        ("", False),
        ("unknown", False),
    ],
)
def test_only_the_tested_releases_are_patched(version, tested):
    assert llama_server.is_tested_version(version) is tested


def test_another_version_leaves_the_server_stock_and_says_so(caplog):
    from llama_cpp import Llama
    from llama_cpp.server import app as server

    before = (
        Llama.create_completion,
        Llama.create_chat_completion,
        Llama.eval,
        server.get_event_publisher,
        server.llama_outer_lock,
        server.llama_inner_lock,
        list(server.router.routes),
    )
    with caplog.at_level(logging.WARNING, logger="context_lab.llama_server"):
        assert llama_server.install("0.4.0") is False
    after = (
        Llama.create_completion,
        Llama.create_chat_completion,
        Llama.eval,
        server.get_event_publisher,
        server.llama_outer_lock,
        server.llama_inner_lock,
        list(server.router.routes),
    )
    assert after == before
    assert "llama-cpp-python 0.4.0 is not the version" in caplog.text and "0.3.36" in caplog.text


class _ServerClaiming(EmbeddedServer):
    """The embedded server, its llama-cpp-python made to report another version."""

    def __init__(self, version: str) -> None:
        self.claimed_version = version
        super().__init__()

    def command(self) -> list[str]:
        command = super().command()
        module = command.index("-m")
        launcher = (
            f"import llama_cpp; llama_cpp.__version__ = {self.claimed_version!r}; "
            "from lib.backends import llama_server; llama_server.main()"
        )
        return [*command[:module], "-c", launcher, *command[module + 2 :]]


def _chat(server: EmbeddedServer, stream: bool) -> tuple[str, object]:
    with _client(server) as client:
        return _chat_on(client, stream)


def _chat_on(client: openai.OpenAI, stream: bool) -> tuple[str, object]:
    messages = [{"role": "user", "content": "Say hi."}]
    if not stream:
        reply = client.chat.completions.create(model=EMBEDDED_MODEL, messages=messages, max_tokens=4)
        return reply.choices[0].message.content, reply.usage
    text, usage = "", None
    chunks = client.chat.completions.create(
        model=EMBEDDED_MODEL, messages=messages, max_tokens=4, stream=True, stream_options={"include_usage": True}
    )
    for chunk in chunks:
        text += "".join(choice.delta.content or "" for choice in chunk.choices)
        usage = chunk.usage or usage
    return text, usage


@pytest.mark.slow
def test_an_untested_llama_cpp_python_runs_stock_and_the_app_still_sees_it_alive():
    server = _ServerClaiming("0.4.0")
    try:
        server.ensure_running(timeout_s=60)  # ready without /health: its 404 is an answer
        assert "llama-cpp-python 0.4.0 is not the version" in server.log_path.read_text()
        streamed_text, streamed_usage = _chat(server, stream=True)
        whole_text, whole_usage = _chat(server, stream=False)
        assert streamed_text and whole_text
        assert streamed_usage is None  # the stock server's streams carry none
        assert whole_usage.prompt_tokens > 0 and whole_usage.prompt_tokens_details is None
        assert queue_state(server.base_url) is None
        pid = server.pid
        server.ensure_running()
        assert (server.pid, server.restarts) == (pid, 0)
    finally:
        server.stop()


@pytest.mark.slow
def test_a_new_server_on_a_port_starts_a_new_log():
    """Was: the log (one file per port) was appended to, so a server read what an earlier one on the same
    port had said (a stock llama-cpp-python's warning in this suite's log; a stale crash for a user)."""
    server = EmbeddedServer(port=free_port())
    server.log_path.write_text("llama-cpp-python 0.4.0 is not the version … (an earlier server)\n")
    try:
        server.ensure_running(timeout_s=60)
        assert "an earlier server" not in server.log_path.read_text()
    finally:
        server.stop()


@pytest.mark.slow
def test_the_tested_version_is_patched(embedded_server):
    assert "is not the version" not in embedded_server.log_path.read_text()
    assert queue_state(embedded_server.base_url) is not None
    _, streamed_usage = _chat(embedded_server, stream=True)
    _, whole_usage = _chat(embedded_server, stream=False)
    assert streamed_usage.prompt_tokens_details.cached_tokens is not None
    assert whole_usage.prompt_tokens_details.cached_tokens is not None


# --- cached tokens: the prefix llama.cpp did not evaluate again ----------------------------------

FIRST = [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Name three colours."}]
UNRELATED = [{"role": "user", "content": "Something entirely different: what is a prime number?"}]


def _ask(server: EmbeddedServer, messages: list[dict], max_tokens: int, stream: bool = False):
    """The reply's text, finish reason and usage, through the real SDK at temperature 0."""
    with _client(server) as client:
        return _ask_on(client, messages, max_tokens, stream)


def _ask_on(client: openai.OpenAI, messages: list[dict], max_tokens: int, stream: bool):
    common = {"model": EMBEDDED_MODEL, "messages": messages, "max_tokens": max_tokens, "temperature": 0.0}
    if not stream:
        reply = client.chat.completions.create(**common)
        return reply.choices[0].message.content, reply.choices[0].finish_reason, reply.usage
    text, finish, usage = "", None, None
    for chunk in client.chat.completions.create(**common, stream=True, stream_options={"include_usage": True}):
        for choice in chunk.choices:
            text += choice.delta.content or ""
            finish = choice.finish_reason or finish
        usage = chunk.usage or usage
    return text, finish, usage


def _prompt(tokenizer, messages: list[dict]) -> list[int]:
    return tokenizer.tokenize(*tokenizer.render(messages, True))


def _shared_prefix(a: list[int], b: list[int]) -> int:
    return next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))


@pytest.mark.slow
@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
def test_the_next_turn_reports_the_previous_prompt_as_cached(stream, embedded_server, embedded_tokenizer):
    """One reply token: it is sampled but never evaluated, so the cache holds the first prompt exactly."""
    reply, finish, _ = _ask(embedded_server, FIRST, max_tokens=1, stream=stream)
    assert finish == "length"
    second = [*FIRST, {"role": "assistant", "content": reply}, {"role": "user", "content": "And three more."}]
    _, _, usage = _ask(embedded_server, second, max_tokens=1, stream=stream)
    expected = _shared_prefix(_prompt(embedded_tokenizer, FIRST), _prompt(embedded_tokenizer, second))
    assert usage.prompt_tokens_details.cached_tokens == expected
    assert 0 < expected < usage.prompt_tokens

    # An unrelated prompt shares only the chat template's opening with it.
    _, _, usage = _ask(embedded_server, UNRELATED, max_tokens=1, stream=stream)
    expected = _shared_prefix(_prompt(embedded_tokenizer, second), _prompt(embedded_tokenizer, UNRELATED))
    assert usage.prompt_tokens_details.cached_tokens == expected
    assert 0 < expected <= 5  # "<|im_start|>system\n…"


@pytest.mark.slow
@pytest.mark.parametrize("max_tokens, finish", [(5, "length"), (200, "stop")])
def test_the_previous_replys_tokens_are_cached_too(max_tokens, finish, embedded_server, embedded_tokenizer):
    """The cache holds the prompt and every reply token but the last one sampled (the end-of-turn
    token when the reply finished; the last text token when it was cut at max_tokens)."""
    reply, finished, usage = _ask(embedded_server, FIRST, max_tokens=max_tokens)
    assert finished == finish
    reply_tokens = embedded_tokenizer.tokenize(reply, True)
    assert len(reply_tokens) == usage.completion_tokens  # the end-of-turn token is not counted
    evaluated = reply_tokens[:-1] if finish == "length" else reply_tokens
    second = [*FIRST, {"role": "assistant", "content": reply}, {"role": "user", "content": "And three more."}]
    _, _, usage = _ask(embedded_server, second, max_tokens=1)
    in_cache = _prompt(embedded_tokenizer, FIRST) + evaluated
    assert usage.prompt_tokens_details.cached_tokens == _shared_prefix(in_cache, _prompt(embedded_tokenizer, second))
    assert usage.prompt_tokens_details.cached_tokens > len(_prompt(embedded_tokenizer, FIRST))


@pytest.mark.slow
def test_the_same_prompt_again_is_cached_whole_or_but_one_token(embedded_server, embedded_tokenizer):
    """Sent again right after a one-token reply, the prompt is all in the cache; after a longer reply,
    llama.cpp evaluates its last token again to get fresh logits."""
    prompt_tokens = len(_prompt(embedded_tokenizer, UNRELATED))
    _ask(embedded_server, UNRELATED, max_tokens=1)
    _, _, usage = _ask(embedded_server, UNRELATED, max_tokens=8)
    assert usage.prompt_tokens_details.cached_tokens == prompt_tokens
    _, _, usage = _ask(embedded_server, UNRELATED, max_tokens=1)
    assert usage.prompt_tokens_details.cached_tokens == prompt_tokens - 1


def test_the_window_is_read_from_the_command_line_or_llama_cpp_pythons_default():
    assert llama_server.context_window(["--model", "x", "--n_ctx", "4096", "--port", "1"]) == 4096
    assert llama_server.context_window(["--model", "x"]) == 2048  # llama-cpp-python's ModelSettings default
