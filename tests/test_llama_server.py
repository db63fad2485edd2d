"""lib/llama_server.py: the embedded server's streaming — its feed on its own, then the real server."""

import asyncio
import json
import threading
from concurrent.futures import ThreadPoolExecutor

import openai
import pytest

from lib.embedded import EmbeddedServer, free_port
from lib.llama_server import _ChunkFeed
from lib.models import EMBEDDED_MODEL
from lib.providers import CallOutcome, ProviderConfig, make_client, stream_chat

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
    return openai.OpenAI(base_url=server.base_url, api_key="unused", timeout=60, max_retries=0)


@pytest.mark.slow
def test_a_failure_mid_stream_reaches_the_user_as_a_message(embedded_server):
    """The stock server ended such a stream without a word; now the SDK raises, the app says why."""
    body = {"model": EMBEDDED_MODEL, "messages": [{"role": "user", "content": "word " * 9_000}], "stream": True,
            "stream_options": {"include_usage": True}, "max_tokens": 8}  # fmt: skip
    outcome = CallOutcome()
    assert "".join(stream_chat(_client(embedded_server), body, outcome)) == ""
    assert not outcome.ok
    assert "exceed context window of 8192" in outcome.error


@pytest.mark.slow
def test_the_server_answers_the_next_request_after_a_client_hung_up(embedded_server):
    client = _client(embedded_server)
    prompt = [{"role": "user", "content": "Count from 1 to 400, one number per line."}]
    stream = client.chat.completions.create(model=EMBEDDED_MODEL, messages=prompt, stream=True, max_tokens=1_500)
    for index, _ in enumerate(stream):
        if index == 3:
            break
    stream.close()
    reply = client.chat.completions.create(
        model=EMBEDDED_MODEL, messages=[{"role": "user", "content": "Say hi."}], max_tokens=8
    )
    assert reply.choices[0].message.content.strip()


@pytest.mark.slow
def test_the_users_environment_does_not_reach_the_servers_settings(monkeypatch):
    """`PORT=8600 make run` once moved the model onto the app's port; an API_KEY would lock the app out."""
    elsewhere = free_port()
    monkeypatch.setenv("PORT", str(elsewhere))
    monkeypatch.setenv("HOST", "0.0.0.0")
    monkeypatch.setenv("api_key", "sk-from-the-users-shell")  # pydantic-settings reads names in any case
    server = EmbeddedServer().ensure_running(timeout_s=60)
    try:
        client = make_client(ProviderConfig("embedded", EMBEDDED_MODEL, base_url=server.base_url))
        outcome = CallOutcome()
        body = {"model": EMBEDDED_MODEL, "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 4}
        "".join(stream_chat(client, body, outcome))
        assert outcome.ok, outcome.error
        assert server.port != elsewhere
    finally:
        server.stop()
