"""A small OpenAI-compatible server on 127.0.0.1 for what cannot run here (OpenAI's, Azure's servers).

It records every request exactly as it arrived (path, headers, body bytes) and answers the way a
test tells it to: a streamed reply with usage, an HTTP error, a delay, a stream cut off mid-way.
"""

from __future__ import annotations

import json
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


@dataclass
class Behaviour:
    reply: str = "Hello from the fake server."
    status: int = 200
    error_body: dict | str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    cut_after_chunks: int | None = None  # close the stream after this many content chunks
    usage: bool = True
    prompt_tokens: int = 42
    models: list[str] = field(default_factory=lambda: ["fake-model", "fake-model-2"])
    reject_unknown_models: bool = False  # answer 404 for a model not in `models`, as real servers do


def _chunk(content: str | None, finish: str | None = None, usage: dict | None = None) -> bytes:
    choices = [] if usage else [{"index": 0, "delta": {"content": content} if content else {}, "finish_reason": finish}]
    payload = {
        "id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 0,
        "model": "fake-model", "choices": choices,
    }  # fmt: skip
    if usage:
        payload["usage"] = usage
    return f"data: {json.dumps(payload)}\n\n".encode()


class FakeOpenAI:
    def __init__(self) -> None:
        self.behaviour = Behaviour()
        self.requests: list[Recorded] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # keep test output clean
                pass

            def _record(self) -> Recorded:
                length = int(self.headers.get("content-length") or 0)
                headers = {k.lower(): v for k, v in self.headers.items()}
                recorded = Recorded(self.command, self.path, headers, self.rfile.read(length))
                fake.requests.append(recorded)
                return recorded

            def _send_json(self, status: int, body, extra: dict[str, str] | None = None) -> None:
                data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                for name, value in (extra or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                self._record()
                models = [{"id": m, "object": "model", "owned_by": "test"} for m in fake.behaviour.models]
                self._send_json(200, {"object": "list", "data": models})

            def do_POST(self) -> None:
                recorded = self._record()
                behaviour = fake.behaviour
                time.sleep(behaviour.delay_s)
                if behaviour.reject_unknown_models and recorded.json().get("model") not in behaviour.models:
                    message = f"The model `{recorded.json().get('model')}` does not exist"
                    self._send_json(404, {"error": {"message": message, "code": "model_not_found"}})
                    return
                if behaviour.status != 200:
                    body = behaviour.error_body or {"error": {"message": "fake failure", "type": "test"}}
                    self._send_json(behaviour.status, body, behaviour.headers)
                    return
                self._stream(behaviour)

            def _stream(self, behaviour: Behaviour) -> None:
                self.send_response(200)
                self.send_header("content-type", "text/event-stream")
                self.send_header("connection", "close")
                self.end_headers()
                words = behaviour.reply.split(" ")
                for index, word in enumerate(words):
                    if behaviour.cut_after_chunks is not None and index >= behaviour.cut_after_chunks:
                        self.wfile.flush()
                        self.close_connection = True
                        return
                    self.wfile.write(_chunk(word if index == 0 else " " + word))
                self.wfile.write(_chunk(None, finish="stop"))
                if behaviour.usage:
                    completion = len(words)
                    usage = {
                        "prompt_tokens": behaviour.prompt_tokens,
                        "completion_tokens": completion,
                        "total_tokens": behaviour.prompt_tokens + completion,
                    }
                    self.wfile.write(_chunk(None, usage=usage))
                self.wfile.write(b"data: [DONE]\n\n")
                self.wfile.flush()

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/v1"

    def __enter__(self) -> FakeOpenAI:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()
