"""Entry point of the embedded server's process: llama-cpp-python's server, with additions.

`python -m lib.backends.llama_server PARENT_PID [llama_cpp.server arguments…]`

Always:
- A watchdog ends the server as soon as the app that started it is gone, whatever thread started
  it (PR_SET_PDEATHSIG fires when the *thread* ends, and Streamlit starts resources in threads).
- Its settings come from the command line only, never from the user's environment (PORT, API_KEY…).

On the llama-cpp-python versions they were tested on (TESTED_VERSIONS), four patches of its
internals; on any other version the server runs as shipped, with a warning in its log (the app
then gets no usage while streaming, no cached tokens and no queue figures, and still runs):
- GET /health answers at once, even mid-generation: {"status": "ok", "busy": bool, "waiting": n}.
  Every stock route waits for the model's lock (GET /v1/models included), so a liveness probe
  there failed whenever the model was busy and the app killed its own working server.
- Chat completions report usage as OpenAI's do: a final usage chunk on streamed replies (asked for
  with `stream_options.include_usage`; the stock server sends none while streaming), and in both
  forms `prompt_tokens_details.cached_tokens`: the prompt tokens llama.cpp did not evaluate again
  because its KV cache already held them (the prefix shared with the tokens it last evaluated).
  The numbers are the server's own, counted where the model evaluates the prompt.
- A streamed reply is made by a thread of its own and written in batches (_ChunkFeed): the stock
  server's thread-pool round trip and socket write per token cost 15-18 % of the decode speed on
  two cores, against 5-7 % now (bench/RESULTS.md). A failure mid-stream is sent as an `error`
  event, as OpenAI's API does, instead of ending the stream without a word.
  CONTEXT_LAB_STOCK_STREAMING=1 turns this one off (the benchmark's comparison).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import os
import re
import runpy
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, cast

log = logging.getLogger("context_lab.llama_server")

# The lowest and highest llama-cpp-python release the patches below were tested on (requirements.txt
# pins it): they replace functions and wrap locks inside its server, which any release may change.
TESTED_VERSIONS = ("0.3.36", "0.3.36")


def _release(version: str) -> tuple[int, ...] | None:
    """(0, 3, 36) for "0.3.36"; None for anything else (a pre-release, a local build): untested."""
    if not re.fullmatch(r"\d+(\.\d+)*", version):
        return None
    return tuple(int(part) for part in version.split("."))


def is_tested_version(version: str) -> bool:
    release = _release(version)
    low, high = (_release(v) for v in TESTED_VERSIONS)
    return release is not None and low is not None and high is not None and low <= release <= high


def install(version: str) -> bool:
    """Patch llama-cpp-python's server when `version` is one the patches were tested on; otherwise
    leave it stock and say so in the log. True when patched."""
    if not is_tested_version(version):
        low, high = TESTED_VERSIONS
        tested = low if low == high else f"{low} to {high}"
        log.warning(
            "llama-cpp-python %s is not the version Context Lab's server patches were tested on (%s): "
            "running its stock server (no usage while streaming, no cached tokens, no /health queue figures).",
            version,
            tested,
        )
        return False
    _count_the_queue()
    _add_health()
    _add_usage()
    if not os.environ.get("CONTEXT_LAB_STOCK_STREAMING"):
        _stream_from_one_thread()
    return True


def _watch(parent_pid: int) -> None:
    while True:
        if os.getppid() != parent_pid:
            os._exit(0)
        time.sleep(0.5)


class _Queue:
    """Requests waiting for the model. llama-cpp-python's server guards the model with two locks: a
    request takes the outer one, then the inner one (held while the model works), then lets the outer
    one go. So a request waits from its outer acquire until its inner acquire returns (or it is
    cancelled: a client that hung up). Counted on the event loop's thread only: a plain int."""

    def __init__(self) -> None:
        self.waiting = 0


class _QueueEntry:
    """The outer lock, counting each request that starts to wait."""

    def __init__(self, lock, queue: _Queue) -> None:
        self._lock, self._queue = lock, queue

    async def acquire(self) -> None:
        self._queue.waiting += 1
        try:
            await self._lock.acquire()
        except BaseException:
            self._queue.waiting -= 1
            raise

    def release(self) -> None:
        self._lock.release()

    def locked(self) -> bool:
        return self._lock.locked()


class _Model:
    """The inner lock: whoever holds it has the model; a request stops waiting once it returns."""

    def __init__(self, lock, queue: _Queue) -> None:
        self._lock, self._queue = lock, queue

    async def acquire(self) -> None:
        try:
            await self._lock.acquire()
        finally:
            self._queue.waiting -= 1

    def release(self) -> None:
        self._lock.release()

    def locked(self) -> bool:
        return self._lock.locked()


_QUEUE = _Queue()


def _count_the_queue() -> None:
    from llama_cpp.server import app as server

    # get_llama_proxy looks both locks up by name at each request: every route that needs the model
    # (chat, completions, /v1/models, tokenize…) goes through these.
    # Wrapped, not replaced: the version guard (TESTED_VERSIONS) keeps these patches on the server they fit.
    server.llama_outer_lock = _QueueEntry(server.llama_outer_lock, _QUEUE)  # type: ignore[assignment]
    server.llama_inner_lock = _Model(server.llama_inner_lock, _QUEUE)  # type: ignore[assignment]


async def _health() -> dict:
    """Liveness and the queue, never waiting for the model: answered by the event loop, which stays
    free while the model works in a thread."""
    from llama_cpp.server import app as server

    return {"status": "ok", "busy": server.llama_inner_lock.locked(), "waiting": _QUEUE.waiting}


def _add_health() -> None:
    from llama_cpp.server import app as server

    # The router is included into the app by create_app, which runs after this.
    server.router.add_api_route("/health", _health, methods=["GET"], include_in_schema=False)
    # The window the model runs with, where llama.cpp's own server says it (GET /props): the stock
    # llama-cpp-python server says it nowhere, and the model table's figure need not be the server's.
    server.router.add_api_route("/props", _props, methods=["GET"], include_in_schema=False)


def _add_usage() -> None:
    from llama_cpp import Llama
    from llama_cpp.server import app as server

    create_completion = Llama.create_completion
    create_chat_completion = Llama.create_chat_completion
    evaluate = Llama.eval

    def recording_completion(self, prompt, *args, **kwargs):
        self._context_lab_prompt_tokens = len(prompt) if isinstance(prompt, list) else None
        self._context_lab_cached_tokens = None
        return create_completion(self, prompt, *args, **kwargs)

    def recording_eval(self, tokens):
        # Llama.generate first keeps the KV cache's longest prefix shared with the prompt (all of it
        # when the prompt is exactly what the cache holds; one token less when the prompt is a proper
        # prefix of it, to refresh the logits; nothing when it cannot trim the cache), sets n_tokens
        # to that length, and evaluates the rest: n_tokens at its first eval is the cached length.
        if getattr(self, "_context_lab_cached_tokens", 0) is None:
            self._context_lab_cached_tokens = self.n_tokens
        return evaluate(self, tokens)

    def chat_completion_with_usage(self, *args, **kwargs):
        # Plain dicts at run time, whatever llama-cpp-python's TypedDicts declare.
        result: Any = create_chat_completion(self, *args, **kwargs)
        if kwargs.get("stream"):
            return _with_usage(self, result)
        usage = result.get("usage")
        if isinstance(usage, dict):
            usage.update(_cache_details(self))
        return result

    Llama.create_completion = recording_completion  # type: ignore[method-assign]  # version-guarded patches
    Llama.eval = recording_eval  # type: ignore[method-assign]
    Llama.create_chat_completion = chat_completion_with_usage  # type: ignore[method-assign]
    # The chat route validates its answer against llama-cpp-python's ChatCompletion type, which
    # drops keys it does not know (prompt_tokens_details): send the answer as it is made.
    for route in server.router.routes:
        if getattr(route, "path", None) == "/v1/chat/completions":
            route.response_model = None  # type: ignore[attr-defined]  # an APIRoute's


def _cache_details(llama) -> dict:
    cached = getattr(llama, "_context_lab_cached_tokens", None)
    return {} if cached is None else {"prompt_tokens_details": {"cached_tokens": cached}}


def _with_usage(llama, chunks: Iterator[dict]) -> Iterator[dict]:
    last = None
    for chunk in chunks:
        last = chunk
        yield chunk
    prompt_tokens = getattr(llama, "_context_lab_prompt_tokens", None)
    if last is None or prompt_tokens is None:
        return
    # The context holds every generated token but the last one when the reply stopped on length.
    finished_on_length = any(c.get("finish_reason") == "length" for c in last.get("choices", []))
    completion_tokens = max(0, llama.n_tokens - prompt_tokens) + int(finished_on_length)
    usage = {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
        **_cache_details(llama),
    }
    yield {**{k: last[k] for k in ("id", "object", "created", "model")}, "choices": [], "usage": usage}


_END = object()
# A streamed reply goes out in batches at most this often, the first chunk at once: every write wakes
# the server's event loop and the client, and on a small machine each wake-up is time the model waits
# for (bench/RESULTS.md). 25 ms is below what the eye sees in a text that streams in.
BATCH_INTERVAL_S = 0.025


class _ChunkFeed:
    """Chunks of a streamed reply, made by one thread of their own and sent in batches.

    llama-cpp-python's server fetches every chunk with a thread-pool round trip, so the model sits
    idle while the event loop encodes and sends a token and asks for the next one. Here a thread runs
    the model's token loop straight through and leaves each chunk, JSON-encoded, for the event loop,
    which wakes for the first chunk and then at most once per `interval`, taking all that is ready."""

    def __init__(self, loop: asyncio.AbstractEventLoop, start: Callable[[], Iterator[dict]], interval: float) -> None:
        self._loop, self._interval = loop, interval
        self._lock = threading.Lock()
        self._ready: list[object] = []
        self._waiting = False  # the event loop waits for the next item: wake it
        self._wake = asyncio.Event()
        self._stop = threading.Event()  # the client is gone: the thread stops at the next token
        self._posted = 0
        self._first_text: int | None = None  # which posted item brought the first text
        self._thread = threading.Thread(target=self._produce, args=(start,), name="stream", daemon=True)
        self._thread.start()

    def _produce(self, start: Callable[[], Iterator[dict]]) -> None:
        try:
            chunks = start()
            try:
                for chunk in chunks:
                    if self._first_text is None and _has_text(chunk):
                        self._first_text = self._posted
                    self._post(json.dumps(chunk))
                    if self._stop.is_set():
                        break
            finally:
                getattr(chunks, "close", lambda: None)()
        except BaseException as error:  # re-raised on the event loop's side
            self._post(error)
        finally:
            self._post(_END)

    def _post(self, item: object) -> None:
        with self._lock:
            self._ready.append(item)
            self._posted += 1
            wake, self._waiting = self._waiting, False
        if wake:
            self._loop.call_soon_threadsafe(self._wake.set)

    async def _take(self) -> list[object]:
        while True:
            with self._lock:
                items, self._ready = self._ready, []
                self._waiting = not items
                if self._waiting:
                    self._wake.clear()
            if items:
                return items
            await self._wake.wait()

    async def batches(self) -> AsyncIterator[bytes]:
        """Server-sent events, several to a write; ends with the reply (or raises its error). No
        waiting before the first text is out: the time to the first token stays what it was."""
        sent = 0
        while True:
            items = await self._take()
            events = list(itertools.takewhile(lambda item: isinstance(item, str), items))
            if events:
                yield "".join(f"data: {data}\n\n" for data in events).encode()
                sent += len(events)
            if len(events) < len(items):
                if items[len(events)] is _END:
                    return
                raise cast(BaseException, items[len(events)])  # a failure the token thread handed over
            if self._first_text is not None and sent > self._first_text:
                await asyncio.sleep(self._interval)

    async def close(self) -> None:
        """Stop the thread and wait for it, even when cancelled: the model stays locked until then."""
        import anyio

        self._stop.set()
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(self._thread.join)


def _error_body(error: Exception) -> dict:
    return {"message": str(error) or type(error).__name__, "type": "server_error", "code": None}


def context_window(argv: list[str]) -> int:
    """The n_ctx the server is started with (its command line), or llama-cpp-python's default."""
    from llama_cpp.server.settings import ModelSettings

    for flag, value in itertools.pairwise(argv):
        if flag == "--n_ctx":
            return int(value)
    return int(ModelSettings.model_fields["n_ctx"].default)


_N_CTX: list[int] = []  # set by main() from the command line


async def _props() -> dict:
    """llama.cpp's shape: n_ctx under default_generation_settings, so one reader serves both servers."""
    n_ctx = _N_CTX[0] if _N_CTX else context_window([])
    return {"default_generation_settings": {"n_ctx": n_ctx}, "n_ctx": n_ctx}


def _has_text(chunk: dict) -> bool:
    return any(c.get("text") or (c.get("delta") or {}).get("content") for c in chunk.get("choices") or ())


async def _publish(request, inner_send_chan, body, body_model, llama_call, kwargs) -> None:
    """llama_cpp.server.app.get_event_publisher, streaming through a _ChunkFeed. A client that
    disconnects cancels this task (sse-starlette watches for it); the model is released only once
    the thread has stopped."""
    from llama_cpp.server import app as server

    settings = next(server.get_server_settings())
    interrupt_requests = settings.interrupt_requests if settings else False
    async with contextlib.asynccontextmanager(server.get_llama_proxy)() as proxy:
        llama = server.prepare_request_resources(body, proxy, body_model, kwargs)
        async with inner_send_chan:
            feed = _ChunkFeed(asyncio.get_running_loop(), lambda: llama_call(llama, **kwargs), BATCH_INTERVAL_S)
            try:
                async for events in feed.batches():
                    await inner_send_chan.send(events)  # bytes: sse-starlette sends them as they are
                    if interrupt_requests and server.llama_outer_lock.locked():
                        break  # another request is waiting and the server was told to favour it
                await inner_send_chan.send({"data": "[DONE]"})
            except Exception as error:
                # The status line is long gone: say it the way OpenAI's API does mid-stream, where the
                # stock server ended the stream without a word (a prompt over the window, for one).
                await inner_send_chan.send({"data": json.dumps({"error": _error_body(error)})})
            finally:
                await feed.close()


def _stream_from_one_thread() -> None:
    from llama_cpp.server import app as server

    server.get_event_publisher = _publish


def _only_the_command_line() -> None:
    """llama-cpp-python's server also takes its settings from the environment — HOST, PORT and
    CONFIG_FILE, and every setting by name, case-insensitive (API_KEY, MODEL, CACHE…) — where the
    command line is silent, and PORT and HOST even over it. The user's `PORT=8600 make run` put the
    model on the app's own port; an API_KEY in the user's shell would lock the app out. The server
    gets the command line `lib.backends.embedded` gives it, nothing else."""
    from llama_cpp.server.settings import ModelSettings, ServerSettings

    names = {name.upper() for name in (*ModelSettings.model_fields, *ServerSettings.model_fields)}
    for key in [k for k in os.environ if k.upper() in names | {"HOST", "PORT", "CONFIG_FILE"}]:
        del os.environ[key]


def main() -> None:
    parent_pid = int(sys.argv[1])
    threading.Thread(target=_watch, args=(parent_pid,), daemon=True).start()
    _only_the_command_line()
    import llama_cpp

    _N_CTX.append(context_window(sys.argv[2:]))
    install(llama_cpp.__version__)
    sys.argv = ["llama_cpp.server", *sys.argv[2:]]
    runpy.run_module("llama_cpp.server", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
