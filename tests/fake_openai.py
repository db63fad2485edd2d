"""A small OpenAI-compatible server on 127.0.0.1 for what cannot run here (OpenAI's, Azure's servers).

It records every request exactly as it arrived (path, headers, body bytes) and answers the way a
test tells it to: a streamed (or whole) reply with usage, an HTTP error (for the next N requests
only, then recovered), a delay, a stream cut off or broken mid-way, a body that is not JSON, a
reply with no choices, a reply stopped by the length limit (or the content filter), a call for a tool,
an echo of the question.
"""

from __future__ import annotations

import contextlib
import json
import select
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> dict:
        return json.loads(self.body)


class _Server(ThreadingHTTPServer):
    # A real server queues hundreds of connections (uvicorn: 2,048); the standard library's 5 drops
    # the rest of a burst (8 calls at once), and a dropped connection is tried again a second later.
    request_queue_size = 128

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.open_connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()

    def process_request(self, request, client_address) -> None:
        with self._connections_lock:
            self.open_connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request) -> None:
        with self._connections_lock:
            self.open_connections.discard(request)
        super().shutdown_request(request)

    def drop_connections(self) -> None:
        """What a crashed process does to the connections it held: they end (a kept-alive connection
        of the SDK's pool would otherwise go on being answered by its handler thread)."""
        with self._connections_lock:
            connections = list(self.open_connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


@dataclass
class Behaviour:
    reply: str = "Hello from the fake server."
    status: int = 200
    error_body: dict | str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    chunk_delay_s: float = 0.0  # a pause before each streamed content chunk: a reply that takes a while
    cut_after_chunks: int | None = None  # close the stream after this many content chunks
    usage: bool = True
    prompt_tokens: int = 42
    cached_tokens: int | None = None  # reported as usage.prompt_tokens_details.cached_tokens when set
    models: list[str] = field(default_factory=lambda: ["fake-model", "fake-model-2"])
    # GET /models answers this body (with this content type) instead of the `models` list: a hostile server
    models_body: bytes | None = None
    models_type: str = "application/json"
    reject_unknown_models: bool = False  # answer 404 for a model not in `models`, as real servers do
    failures: int | None = None  # answer `status` to this many requests, then 200 (a server that recovers)
    break_stream: bool = False  # with cut_after_chunks: break the body mid-chunk instead of ending it cleanly
    malformed: bool = False  # a 200 whose body (or streamed data line) is not JSON
    empty_choices: bool = False  # a 200 reply with an empty `choices` list
    finish_reason: str = "stop"  # "length": the reply hit max_tokens; "content_filter", "tool_calls"
    tool_call: bool = False  # the reply asks for a tool (tool_calls), after its text if it has any
    echo: bool = False  # reply with the last message's content (each session sees its own answer)
    # Answer the tokenize routes of one server ("llama.cpp", "vllm", "llama-cpp-python"), with a toy
    # tokenizer (one token per UTF-8 byte) and template (ChatML); usage counts prompts the same way.
    tokenizer: str | None = None
    redirect_tokenize_to: str | None = None  # answer the tokenize routes with a 307 to this URL
    n_ctx: int = 4096  # the context window llama.cpp's GET /props and vLLM's /tokenize report
    redirect_loop: bool = False  # answer the chat route with a 307 to itself, forever
    # Send the reply `repeat` times over, each time as one chunk (None: forever, until the client hangs
    # up), `interval_s` apart: a 10 MB reply, an endless one, one token a second.
    repeat: int | None = 1
    interval_s: float = 0.0
    # After this many chunks the whole server dies (stops listening, breaks the stream): its tokenize
    # routes, asked next, do not answer either.
    die_after_chunks: int | None = None
    # The usage object sent instead of the counted one, as it is (negative, 10^30, "twelve"...).
    raw_usage: dict | None = None

    def prompt_tokens_of(self, request: dict) -> int:
        if self.tokenizer is None:
            return self.prompt_tokens
        return len(toy_tokens(toy_template(request.get("messages") or []), self.tokenizer == "llama.cpp"))

    def reply_to(self, request: dict) -> str:
        messages = request.get("messages") or [{}]
        return str(messages[-1].get("content", "")) if self.echo else self.reply

    def fails_now(self) -> bool:
        """Whether this request gets the error status; counts down `failures`."""
        if self.status == 200 or self.failures == 0:
            return False
        if self.failures is not None:
            self.failures -= 1
        return True


def toy_template(messages: list[dict]) -> str:
    turns = "".join(f"<|im_start|>{m.get('role')}\n{m.get('content') or ''}<|im_end|>\n" for m in messages)
    return turns + "<|im_start|>assistant\n"


def toy_tokens(text: str, add_special: bool = False) -> list[int]:
    return ([1] if add_special else []) + list(text.encode())


def tokenize_answer(dialect: str | None, route: str, request: dict | None, n_ctx: int = 4096) -> dict | None:
    """What a server of `dialect` answers on a tokenize route (`request` None: a GET); None: it has no
    such route (404)."""
    if request is None:  # llama.cpp's GET /props: its settings, the window it runs with among them
        if dialect == "llama.cpp" and route == "/props":
            return {
                "default_generation_settings": {"n_ctx": n_ctx},
                "total_slots": 1,
                "chat_template": "{% for m in messages %}<|im_start|>...{% endfor %}",
            }
        return None
    if route == "/props":
        return None
    if dialect == "llama.cpp" and route == "/apply-template":
        return {"prompt": toy_template(request["messages"])}
    if dialect == "llama.cpp" and route == "/tokenize":
        content = request.get("content")
        return {"tokens": toy_tokens(content, bool(request.get("add_special"))) if isinstance(content, str) else []}
    if dialect == "vllm" and route == "/tokenize":
        text = toy_template(request["messages"]) if "messages" in request else request["prompt"]
        tokens = toy_tokens(text)
        return {"count": len(tokens), "max_model_len": n_ctx, "tokens": tokens}
    if dialect == "llama-cpp-python" and route == "/extras/tokenize":
        return {"tokens": toy_tokens(request["input"])}
    return None


# The longest first: "/extras/tokenize" also ends in "/tokenize".
TOKENIZE_ROUTES = ("/extras/tokenize", "/apply-template", "/tokenize", "/props")


def _chunk(content: str | None, finish: str | None = None, usage: dict | None = None) -> bytes:
    choices = [] if usage else [{"index": 0, "delta": {"content": content} if content else {}, "finish_reason": finish}]
    payload = {
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": "fake-model",
        "choices": choices,
    }
    if usage:
        payload["usage"] = usage
    return f"data: {json.dumps(payload)}\n\n".encode()


TOOL_CALL = {"index": 0, "id": "call_fake", "type": "function", "function": {"name": "lookup", "arguments": "{}"}}


def _tool_chunk() -> bytes:
    payload = {
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": "fake-model",
        "choices": [{"index": 0, "delta": {"tool_calls": [TOOL_CALL]}, "finish_reason": None}],
    }
    return f"data: {json.dumps(payload)}\n\n".encode()


def _completion(content: str, finish: str, usage: dict | None, empty: bool, tool_call: bool = False) -> dict:
    message: dict = {"role": "assistant", "content": None if tool_call and not content else content}
    if tool_call:
        message["tool_calls"] = [{k: v for k, v in TOOL_CALL.items() if k != "index"}]
    choices = [] if empty else [{"index": 0, "message": message, "finish_reason": finish}]
    completion = {"id": "chatcmpl-fake", "object": "chat.completion", "created": 0, "model": "fake-model"}
    return {**completion, "choices": choices, **({"usage": usage} if usage else {})}


class FakeOpenAI:
    def __init__(self, port: int = 0) -> None:
        """`port` 0 picks a free one; a fixed one lets a test start the server where it refused before."""
        self.behaviour = Behaviour()
        self.requests: list[Recorded] = []  # the OpenAI API's routes (/v1/...)
        # The tokenizer routes (/apply-template, /tokenize, /extras/tokenize), kept apart: asking a server
        # whether it tokenizes (lib/server_tokens.detect) is not one of the calls a test counts.
        self.tokenize_requests: list[Recorded] = []
        # How many POSTs were being answered at once, at most: concurrency seen, not timed.
        self.in_flight = self.max_in_flight = 0
        # Streams the client hung up on (a write failed: the connection was closed on the other side).
        self.hangups = 0
        self._count_lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # keep test output clean
                pass

            def _record(self) -> Recorded:
                length = int(self.headers.get("content-length") or 0)
                headers = {k.lower(): v for k, v in self.headers.items()}
                recorded = Recorded(self.command, self.path, headers, self.rfile.read(length))
                tokenizing = any(self.path.split("?")[0].endswith(route) for route in TOKENIZE_ROUTES)
                (fake.tokenize_requests if tokenizing else fake.requests).append(recorded)
                return recorded

            def _send_json(self, status: int, body, extra: dict[str, str] | None = None) -> None:
                data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
                self._send_raw(status, "application/json", data, extra)

            def _send_raw(self, status: int, kind: str, data: bytes, extra: dict[str, str] | None = None) -> None:
                self.send_response(status)
                self.send_header("content-type", kind)
                self.send_header("content-length", str(len(data)))
                for name, value in (extra or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                recorded = self._record()
                if recorded.path.split("?")[0].endswith("/props"):
                    answer = tokenize_answer(fake.behaviour.tokenizer, "/props", None, fake.behaviour.n_ctx)
                    self._send_json(200 if answer is not None else 404, answer or {"detail": "Not Found"})
                    return
                if fake.behaviour.models_body is not None:
                    self._send_raw(200, fake.behaviour.models_type, fake.behaviour.models_body)
                    return
                models = [{"id": m, "object": "model", "owned_by": "test"} for m in fake.behaviour.models]
                self._send_json(200, {"object": "list", "data": models})

            def do_POST(self) -> None:
                with fake._count_lock:
                    fake.in_flight += 1
                    fake.max_in_flight = max(fake.max_in_flight, fake.in_flight)
                try:
                    self._answer_post()
                finally:
                    with fake._count_lock:
                        fake.in_flight -= 1

            def _answer_post(self) -> None:
                recorded = self._record()
                behaviour = fake.behaviour
                route = next((r for r in TOKENIZE_ROUTES if recorded.path.split("?")[0].endswith(r)), None)
                if route is not None:
                    self._tokenize(behaviour, route, recorded)
                    return
                time.sleep(behaviour.delay_s)
                if behaviour.reject_unknown_models and recorded.json().get("model") not in behaviour.models:
                    message = f"The model `{recorded.json().get('model')}` does not exist"
                    self._send_json(404, {"error": {"message": message, "code": "model_not_found"}})
                    return
                if behaviour.redirect_loop:
                    self._send_json(307, {}, {"location": recorded.path})
                    return
                if behaviour.fails_now():
                    body = behaviour.error_body or {"error": {"message": "fake failure", "type": "test"}}
                    self._send_json(behaviour.status, body, behaviour.headers)
                    return
                request = recorded.json()
                if request.get("stream"):
                    self._stream(behaviour, behaviour.reply_to(request), request)
                else:
                    self._whole(behaviour, behaviour.reply_to(request), request)

            def _tokenize(self, behaviour: Behaviour, route: str, recorded: Recorded) -> None:
                if behaviour.redirect_tokenize_to:
                    self._send_json(307, {}, {"location": behaviour.redirect_tokenize_to + route})
                    return
                answer = tokenize_answer(behaviour.tokenizer, route, recorded.json(), behaviour.n_ctx)
                self._send_json(200 if answer is not None else 404, answer or {"detail": "Not Found"})

            def _usage(self, behaviour: Behaviour, reply: str, request: dict | None = None) -> dict | None:
                if not behaviour.usage:
                    return None
                if behaviour.raw_usage is not None:
                    return behaviour.raw_usage
                completion = len(reply.split(" "))
                prompt = behaviour.prompt_tokens_of(request or {})
                usage = {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}
                if behaviour.cached_tokens is not None:
                    usage["prompt_tokens_details"] = {"cached_tokens": behaviour.cached_tokens}
                return usage

            def _whole(self, behaviour: Behaviour, reply: str, request: dict) -> None:
                if behaviour.malformed:
                    self._send_json(200, '{"id": "chatcmpl-fake", "choices": [')
                    return
                reply *= behaviour.repeat or 1
                usage = self._usage(behaviour, reply, request)
                completion = _completion(
                    reply, behaviour.finish_reason, usage, behaviour.empty_choices, behaviour.tool_call
                )
                self._send_json(200, completion)

            def _write(self, data: bytes, chunked: bool) -> None:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data) if chunked else data)

            def _stream(self, behaviour: Behaviour, reply: str, request: dict) -> None:
                # Chunked only to break: a body that stops inside a chunk is an error to the client,
                # where one that just ends (connection: close) is a normal, if early, end.
                chunked = behaviour.break_stream or behaviour.die_after_chunks is not None
                self.send_response(200)
                self.send_header("content-type", "text/event-stream")
                self.send_header("transfer-encoding" if chunked else "connection", "chunked" if chunked else "close")
                self.end_headers()
                self.close_connection = True
                if behaviour.malformed:
                    self._write(b'data: {"id": "chatcmpl-fake", "choices": [\n\n', chunked)
                    return
                if behaviour.repeat != 1:
                    try:
                        self._repeat(behaviour, reply, chunked)
                    except OSError:  # the client hung up: what Stop, Cancel and the limits must do
                        with fake._count_lock:
                            fake.hangups += 1
                        return
                    words = []
                else:
                    words = [] if behaviour.empty_choices or (behaviour.tool_call and not reply) else reply.split(" ")
                for index, word in enumerate(words):
                    dies = behaviour.die_after_chunks is not None and index >= behaviour.die_after_chunks
                    if dies:
                        fake.die()
                    if dies or (behaviour.cut_after_chunks is not None and index >= behaviour.cut_after_chunks):
                        if chunked:
                            self.wfile.write(b"400\r\ndata: {")  # promises 1 KiB, sends 7 bytes, hangs up
                        return
                    time.sleep(behaviour.chunk_delay_s)
                    self._write(_chunk(word if index == 0 else " " + word), chunked)
                    time.sleep(behaviour.interval_s)
                if behaviour.tool_call:
                    self._write(_tool_chunk(), chunked)
                if not behaviour.empty_choices:
                    self._write(_chunk(None, finish=behaviour.finish_reason), chunked)
                usage = self._usage(behaviour, reply, request)
                if usage:
                    self._write(_chunk(None, usage=usage), chunked)
                self._write(b"data: [DONE]\n\n", chunked)
                if chunked:
                    self.wfile.write(b"0\r\n\r\n")

            def _repeat(self, behaviour: Behaviour, reply: str, chunked: bool) -> None:
                sent = 0
                while behaviour.repeat is None or sent < behaviour.repeat:
                    self._write(_chunk(reply), chunked)
                    self.wfile.flush()
                    sent += 1
                    self._pause(behaviour.interval_s)

            def _pause(self, seconds: float) -> None:
                """Wait between chunks, as a model thinking; a client that hangs up meanwhile is noticed
                at once (its end of the connection reads as closed), not at the next write."""
                if seconds <= 0:
                    return
                readable, _, _ = select.select([self.connection], [], [], seconds)
                if readable and not self.connection.recv(1, socket.MSG_PEEK):
                    raise ConnectionResetError("the client hung up")

        self._server = _Server(("127.0.0.1", port), Handler)
        self._server.daemon_threads = True
        # shutdown() waits for the serving loop's next poll: at the default 0.5 s that was half a second
        # of every test that stops a fake server (90 of them: 45 s of the suite, issue 27).
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.02,), daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/v1"

    def __enter__(self) -> FakeOpenAI:
        self._thread.start()
        return self

    def die(self) -> None:
        """Stop listening, as a server that crashed: new connections are refused, open ones end."""
        self._server.shutdown()
        self._server.server_close()
        self._server.drop_connections()

    def __exit__(self, *exc) -> None:
        self.die()
