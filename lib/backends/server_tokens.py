"""Exact prompt counts from an OpenAI-compatible server that can tokenize with its own chat template.

tiktoken's o200k is only an estimate for a server's own model (13-72 % low on llama.cpp with
SmolLM2), and an estimate that fits the window can still be refused. Three servers say how they
read a prompt; `detect` asks which one this is, once, and `ServerCounter` then counts with it:

- llama.cpp's server: POST /apply-template renders the messages with the model's template, POST
  /tokenize (`add_special`, `parse_special`: as its chat route tokenizes) gives the token ids. Exact.
- vLLM: POST /tokenize with `messages` renders and tokenizes in one call. Exact.
- llama-cpp-python: POST /extras/tokenize takes a string only (`input`), and the server says nothing
  of its template (no route names it; it applies the GGUF's own, whatever alias it was started
  under). So the template is rendered here, and which one is asked of the server itself
  (`calibrate`): two one-token chat calls (without a system prompt, and with one and a reply in the
  history) report the server's own prompt counts; the first template the app knows (the embedded
  model's, ChatML) whose render, tokenized by the server, gives those very counts is used, exact.
  None agrees: ChatML, labelled an estimate. The server cannot be asked (no usage, a timeout): the
  template known by the model's name, else ChatML, as before.

The context window a server runs with is read in one method, `TokenizingServer.window`: GET /props
(llama.cpp's `default_generation_settings.n_ctx`; the embedded server answers it too), vLLM's
`max_model_len` in its /tokenize answer, then in GET /v1/models; llama-cpp-python's stock server says
none. A server with a counter is asked through it (`ServerCounter.window`: asked until it answers once,
kept); `server_window` asks a server the app has no counter for (the embedded one).

Those routes sit at the server's root, beside /v1. The user's key goes only there: to the scheme,
host and port of the base URL it was entered for, under the same path, and redirects are never
followed (a redirect could carry the key elsewhere). The requests go through an `openai` SDK client
made as the chat calls' is (`make_client`): one HTTP stack carries keys, with the same timeouts,
proxies and TLS settings. Per-message numbers are each message's text as the server tokenizes it;
the template's own tokens are the overhead.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from functools import lru_cache, partial
from typing import Literal, TypeVar
from urllib.parse import urlsplit

import httpx2
import openai

from lib.backends.providers import ProviderConfig, make_client
from lib.context import caching
from lib.context.tokens import FALLBACK_ENCODING, PromptCount, TiktokenCounter
from lib.core.errors import ServerTokenizerError

Dialect = Literal["llama.cpp", "vllm", "llama-cpp-python"]
# Renders messages (and a body's `tools=`, when given) as a chat template does: (prompt text,
# whether the template added the BOS itself).
Renderer = Callable[..., tuple[str, bool]]

_T = TypeVar("_T")

PROBE = [{"role": "user", "content": "Hello"}]
# What tells templates apart: a default system prompt (SmolLM2's, when the first message is not one:
# 21 tokens ChatML misses), and how a system prompt and an earlier reply are framed.
CALIBRATION = (
    PROBE,
    [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello."},
        {"role": "user", "content": "Bye"},
    ],
)
MAX_ANSWER_BYTES = 16 * 1024 * 1024  # a token list of a long prompt; anything longer is not an answer
# What the meter says when the server stops answering its tokenize routes (it died, it hangs, it
# answers garbage): the counts fall back to tiktoken, labelled, and the server is asked again only
# after a while, so a dead one costs one failed request per RETRY_AFTER_S, not one per rerun.
UNANSWERED = "estimate: the server's tokenizer did not answer"
RETRY_AFTER_S = 30.0


def server_root(base_url: str) -> str:
    """Where a server's own routes live: the base URL without its OpenAI-style /v1."""
    return base_url.rstrip("/").removesuffix("/v1")


def chatml(messages: list[dict]) -> tuple[str, bool]:
    """The ChatML template (Qwen, SmolLM, many fine-tunes): the guess when the server's is unknown."""
    turns = "".join(f"<|im_start|>{m['role']}\n{m.get('content') or ''}<|im_end|>\n" for m in messages)
    return turns + "<|im_start|>assistant\n", False


@dataclass(frozen=True)
class ServerWindow:
    tokens: int
    source: str  # where the number was read, in words for the label beside it


@dataclass(frozen=True)
class TokenizingServer:
    """One server's tokenize routes, and how to call them."""

    base_url: str
    dialect: Dialect
    model: str
    api_key: str = field(default="", repr=False)
    timeout_s: float = 10.0
    renderer: Renderer | None = field(default=None, compare=False)  # llama-cpp-python: the template, if known
    # The SDK client the requests go through; made from the fields above when not given.
    client: openai.OpenAI = field(default=None, compare=False, repr=False)  # type: ignore[assignment]
    # llama-cpp-python: the template's name, and whether the server's own counts confirmed it (`calibrate`).
    template: str = ""
    verified: bool = False

    def __post_init__(self) -> None:
        if self.client is None:
            config = ProviderConfig("compatible", self.model, self.base_url, self.api_key, timeout_s=self.timeout_s)
            object.__setattr__(self, "client", make_client(config))

    @property
    def root(self) -> str:
        return server_root(self.base_url)

    @property
    def exact(self) -> bool:
        return self.dialect != "llama-cpp-python" or self.renderer is not None

    def window(self) -> ServerWindow | None:
        """The context window the server runs with, as it reports it, and where it said so: GET /props's
        n_ctx (llama.cpp, the embedded server), vLLM's /tokenize `max_model_len`, GET /v1/models'
        `max_model_len`; None when it says none (llama-cpp-python) or does not answer. The one place the
        app reads a server's window: the models table is the labelled fallback. The model table's figure
        is the model's, not the server's: a llama.cpp server started with `-c 4096` refuses what 8,192
        would let through."""
        routes: list[tuple[str, dict | None, Callable[[dict], int | None], str]] = [
            ("/props", None, _props_n_ctx, "n_ctx in its /props")
        ]
        if self.dialect == "vllm":
            routes.append(("/tokenize", _vllm_probe(self.model), _tokenize_max_len, "max_model_len in its /tokenize"))
        if self.base_url.rstrip("/").endswith("/v1"):
            read_models: Callable[[dict], int | None] = lambda answer: _models_max_len(answer, self.model)  # noqa: E731
            routes.append(("/v1/models", None, read_models, "max_model_len in its /v1/models"))
        for route, body, read, where in routes:
            try:
                tokens = read(self.post(route, body))
            except ServerTokenizerError:
                continue
            if tokens is not None:
                return ServerWindow(tokens, f"reported by the server: {where}")
        return None

    def context_window(self) -> int | None:
        """The window's tokens (`window`), or None."""
        window = self.window()
        return None if window is None else window.tokens

    def post(self, route: str, body: dict | None) -> dict:
        """POST JSON to one of the server's own routes (GET when `body` is None); the key goes along
        only because the route is on the very server (scheme, host, port, path) the base URL names."""
        url = self.root + route
        if not _same_server(url, self.base_url):
            raise ServerTokenizerError(f"{url} is not on the server of {self.base_url}")
        # No key entered: no Authorization header at all (the SDK would send its placeholder key).
        headers = {} if self.api_key else {"Authorization": openai.Omit()}
        options: openai.RequestOptions = {"headers": headers, "follow_redirects": False, "max_retries": 0}
        try:
            # A 3xx is not followed (the SDK's client follows by default): it raises a status error,
            # so the key is never re-sent to another address. The answer is read up to a bound.
            if body is None:
                response = self.client.get(url, cast_to=httpx2.Response, options=options, stream=True)
            else:
                response = self.client.post(url, cast_to=httpx2.Response, body=body, options=options, stream=True)
            try:
                answer = json.loads(_read_at_most(response, MAX_ANSWER_BYTES))
            finally:
                response.close()
        except (openai.OpenAIError, httpx2.HTTPError, ValueError) as exc:  # status, connection, timeout, not JSON
            raise ServerTokenizerError(f"{route}: {type(exc).__name__}") from None
        if not isinstance(answer, dict):
            raise ServerTokenizerError(f"{route}: not a JSON object")
        return answer

    def prompt_ids(self, messages: list[dict], tools: list[dict] | None = None) -> list[int]:
        """The whole prompt's token ids, the chat template applied as the server's chat route does:
        to the messages as the body sends them (tool calls and results included) and its tools."""
        with_tools = {"tools": tools} if tools else {}
        if self.dialect == "llama.cpp":
            prompt = self.post("/apply-template", {"messages": messages, **with_tools}).get("prompt")
            if not isinstance(prompt, str):
                raise ServerTokenizerError("/apply-template: no prompt")
            return _ids(self.post("/tokenize", {"content": prompt, "add_special": True, "parse_special": True}))
        if self.dialect == "vllm":
            body = {"model": self.model, "messages": messages, "add_generation_prompt": True, **with_tools}
            return _ids(self.post("/tokenize", body))
        if self.renderer is not None:
            prompt, _added_bos = self.renderer(messages, **with_tools)
        else:
            prompt, _added_bos = chatml(messages)
        return _ids(self.post("/extras/tokenize", {"input": prompt, "model": self.model}))

    def text_ids(self, text: str) -> list[int]:
        """One text's ids as they read inside a prompt (no BOS of their own)."""
        if self.dialect == "llama.cpp":
            return _ids(self.post("/tokenize", {"content": text, "add_special": False, "parse_special": True}))
        if self.dialect == "vllm":
            return _ids(self.post("/tokenize", {"model": self.model, "prompt": text, "add_special_tokens": False}))
        return _ids(self.post("/extras/tokenize", {"input": text, "model": self.model}))

    def reported_prompt_tokens(self, messages: list[dict], timeout_s: float) -> int | None:
        """The prompt tokens the server's own chat route reports for `messages` (a one-token reply at
        temperature 0, through the same client); None when it reports none or does not answer."""
        try:
            completion = self.client.with_options(timeout=timeout_s, max_retries=0).chat.completions.create(
                model=self.model,
                messages=messages,  # type: ignore[arg-type]
                max_tokens=1,
                temperature=0.0,
                stream=False,
            )
        except (openai.OpenAIError, httpx2.HTTPError, ValueError):
            return None
        usage = getattr(completion, "usage", None)
        tokens = getattr(usage, "prompt_tokens", None)
        return tokens if type(tokens) is int and tokens > 0 else None


def calibrate(server: TokenizingServer, candidates: Mapping[str, Renderer], timeout_s: float) -> TokenizingServer:
    """llama-cpp-python's server with the template its own counts confirm: the first of `candidates`
    (then ChatML) whose render of every CALIBRATION conversation, tokenized by the server, has as many
    tokens as the server's chat route reports for it. None confirmed: ChatML, unverified (an estimate);
    the server reports no counts: `server` as it came (its template chosen by the model's name)."""
    reported = [server.reported_prompt_tokens(messages, timeout_s) for messages in CALIBRATION]
    if any(tokens is None for tokens in reported):
        return server
    for name, renderer in {**candidates, "ChatML": chatml}.items():
        probe = replace(server, renderer=renderer, template=name, verified=True)
        try:
            if [len(probe.prompt_ids(messages)) for messages in CALIBRATION] == reported:
                return probe
        except ServerTokenizerError:
            return server
    return replace(server, renderer=None, template="ChatML", verified=False)


def _same_server(url: str, base_url: str) -> bool:
    target, base = urlsplit(url), urlsplit(base_url)
    root_path = urlsplit(server_root(base_url)).path
    return (target.scheme, target.hostname, target.port) == (
        base.scheme,
        base.hostname,
        base.port,
    ) and target.path.startswith(root_path + "/")


def _read_at_most(response: httpx2.Response, limit: int) -> bytes:
    """The body, or ValueError past `limit` bytes: a token list is never that long."""
    body = bytearray()
    for chunk in response.iter_bytes():
        body += chunk
        if len(body) > limit:
            raise ValueError("answer too long")
    return bytes(body)


def _ids(answer: dict) -> list[int]:
    tokens = answer.get("tokens")
    if not isinstance(tokens, list) or not all(type(t) is int for t in tokens):
        raise ServerTokenizerError("no token list in the answer")
    return tokens


def _prompt_ids(server: TokenizingServer, key: str) -> tuple[int, ...]:
    messages, tools = json.loads(key)
    return tuple(server.prompt_ids(messages, tools))


def _text_ids(server: TokenizingServer, text: str) -> tuple[int, ...]:
    return tuple(server.text_ids(text)) if text else ()


class ServerCounter:
    """A `PromptCounter` (and a `caching.SegmentingCounter`) that asks the server: counts cached by
    content, so a rerun asks only about what changed.

    The one place a tokenizer that stops answering is handled: every public method answers from the
    server or, whole, from `fallback` (tiktoken, labelled UNANSWERED), never with an exception. A
    server that died mid-reply must not turn the page into a traceback. `failures` counts the falls,
    so a caller that combined several answers can tell they may come from two tokenizers."""

    def __init__(self, server: TokenizingServer, fallback: TiktokenCounter | None = None):
        self.server = server
        self.fallback = fallback or TiktokenCounter(FALLBACK_ENCODING, False)
        self.failures = 0
        self._failed_at: float | None = None
        self._window: tuple[ServerWindow | None] | None = None  # (the answer,) once asked
        # Cached on the server, not on bound methods: a cache holding `self` made every counter a cycle,
        # freed (with its HTTP client's open sockets) only when the cycle collector next ran.
        self._prompt = lru_cache(maxsize=64)(partial(_prompt_ids, server))
        self._text = lru_cache(maxsize=20_000)(partial(_text_ids, server))

    @property
    def answering(self) -> bool:
        """False for RETRY_AFTER_S after the server last failed to tokenize: the estimate is used meanwhile."""
        return self._failed_at is None or time.monotonic() - self._failed_at >= RETRY_AFTER_S

    def _ask(self, ask: Callable[[], _T], fallback: Callable[[], _T]) -> _T:
        if self.answering:
            try:
                answer = ask()
            except ServerTokenizerError:
                self._failed_at = time.monotonic()
                self.failures += 1
            else:
                self._failed_at = None
                return answer
        return fallback()

    @property
    def method(self) -> str:
        if not self.answering:
            return f"{UNANSWERED} ({self.fallback.count([]).method})"
        how = {
            "llama.cpp": "the server's own template and tokenizer (llama.cpp /apply-template + /tokenize), exact",
            "vllm": "the server's own template and tokenizer (vLLM /tokenize), exact",
        }.get(self.server.dialect)
        if how:
            return how
        if self.server.exact and self.server.verified:
            return (
                f"the {self.server.template} template (it gives the server's own counts) + the server's "
                "tokenizer (llama-cpp-python /extras/tokenize), exact"
            )
        if self.server.exact:
            return "the model's template + the server's tokenizer (llama-cpp-python /extras/tokenize), exact"
        if self.server.template:  # asked, and no template the app knows gives the server's counts
            return (
                "the server's tokenizer, template assumed ChatML (no template the app knows gives the "
                "server's own counts; llama-cpp-python /extras/tokenize; estimate)"
            )
        return "the server's tokenizer, template assumed ChatML (llama-cpp-python /extras/tokenize; estimate)"

    def window(self) -> ServerWindow | None:
        """The window the server reports running with (`TokenizingServer.window`), asked once and kept
        (a server that says none is not asked again on every rerun: the counter itself is remade after a
        while, ui/resources.py); None: the models table's figure stands (labelled as such)."""
        if self._window is None:
            self._window = (self.server.window(),)
        return self._window[0]

    def context_window(self) -> int | None:
        window = self.window()
        return None if window is None else window.tokens

    @property
    def cache_rule(self) -> caching.CacheRule:
        return caching.LLAMA_CPP_SERVER if self.server.dialect != "vllm" else caching.VLLM

    def _server_count(self, messages: list[dict], tools: list[dict] | None) -> PromptCount:
        per_message = tuple(len(self._text(m.get("content") or "")) for m in messages)
        total = len(self._prompt(_key(messages, tools))) if messages else 0
        # The definitions' share: the same prompt with and without them (what the template adds).
        tool_tokens = total - len(self._prompt(_key(messages))) if messages and tools else 0
        return PromptCount(per_message, total, self.server.exact, self.method, tool_tokens)

    def _estimate(self, messages: list[dict], tools: list[dict] | None) -> PromptCount:
        count = self.fallback.count(messages, tools=tools)
        return PromptCount(count.per_message, count.total, False, self.method, count.tool_tokens)

    def count(self, messages: list[dict], tools: list[dict] | None = None) -> PromptCount:
        return self._ask(lambda: self._server_count(messages, tools), lambda: self._estimate(messages, tools))

    def prompt_segments(self, messages: list[dict]) -> caching.Segments:
        return self._ask(
            lambda: (self._prompt(_key(messages)),) if messages else (),
            lambda: self.fallback.prompt_segments(messages),
        )

    def reply_segment(self, text: str) -> tuple[int, ...]:
        return self._ask(lambda: self._text(text), lambda: self.fallback.reply_segment(text))


def _key(messages: list[dict], tools: list[dict] | None = None) -> str:
    """The cache key of a prompt: the messages as the body sends them (a tool call's arguments and a
    result's call id may be rendered) and the tool definitions, as one JSON text."""
    return json.dumps([messages, tools or None], ensure_ascii=False, sort_keys=True)


def detect(
    base_url: str,
    model: str,
    api_key: str = "",
    timeout_s: float = 3.0,
    templates: Mapping[str, Renderer] | Callable[[], Mapping[str, Renderer]] | None = None,
    calibrate_timeout_s: float = 30.0,  # a single-slot server answers after the reply it is busy with
) -> ServerCounter | None:
    """A counter for the server at `base_url` if it tokenizes with a chat template (llama.cpp, vLLM,
    llama-cpp-python, asked in that order), else None: the caller keeps its labelled estimate.
    `templates` renders the templates the app knows, by model name (for llama-cpp-python: each is a
    candidate whatever the server's model alias, confirmed by the server's own counts; a callable is
    called only for such a server)."""
    client = make_client(ProviderConfig("compatible", model, base_url, api_key, timeout_s=timeout_s))
    for dialect in ("llama.cpp", "vllm", "llama-cpp-python"):
        server = TokenizingServer(base_url, dialect, model, api_key, timeout_s, None, client)
        try:
            if dialect == "vllm" and not isinstance(server.post("/tokenize", _vllm_probe(model)).get("count"), int):
                continue  # llama.cpp's /tokenize answers a body without "content" with no tokens, and no count
            if server.prompt_ids(PROBE):
                if dialect == "llama-cpp-python":
                    known = dict((templates() if callable(templates) else templates) or {})
                    # The one named after the model first (the likeliest), and the fallback if the server
                    # reports no counts; the others next.
                    named = {model: known[model]} if model in known else {}
                    by_name = TokenizingServer(
                        base_url, dialect, model, api_key, timeout_s, named.get(model), client, model if named else ""
                    )
                    server = calibrate(by_name, {**named, **known}, calibrate_timeout_s)
                return ServerCounter(server)
        except ServerTokenizerError:
            continue
    client.close()  # its pooled connections go now: nothing will be asked through it
    return None


def server_window(base_url: str, model: str, api_key: str = "", timeout_s: float = 2.0) -> ServerWindow | None:
    """The context window a server the app has no counter for (the embedded one) runs the model with
    (`TokenizingServer.window`), or None when it does not say."""
    client = make_client(ProviderConfig("compatible", model, base_url, api_key, timeout_s=timeout_s))
    try:
        return TokenizingServer(base_url, "llama.cpp", model, api_key, timeout_s, client=client).window()
    finally:
        client.close()


def _positive(value: object) -> int | None:
    return value if type(value) is int and value > 0 else None


def _props_n_ctx(answer: dict) -> int | None:
    settings = answer.get("default_generation_settings")
    found = _positive(settings.get("n_ctx")) if isinstance(settings, dict) else None
    return found or _positive(answer.get("n_ctx"))


def _tokenize_max_len(answer: dict) -> int | None:
    return _positive(answer.get("max_model_len"))


def _models_max_len(answer: dict, model: str) -> int | None:
    data = answer.get("data")
    entries = [e for e in data if isinstance(e, dict)] if isinstance(data, list) else []
    entry = next((e for e in entries if e.get("id") == model), entries[0] if len(entries) == 1 else None)
    return _positive(entry.get("max_model_len")) if entry is not None else None


def _vllm_probe(model: str) -> dict:
    return {"model": model, "messages": PROBE, "add_generation_prompt": True}
