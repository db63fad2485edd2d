"""Exact counts from servers that tokenize with their own template: llama.cpp's and vLLM's routes on the
recording server (the exact HTTP exchange), llama-cpp-python's on the real embedded server."""

import gc
import json
import sys
import time
import weakref

import pytest

from lib.backends import kinds
from lib.backends.embedded import EmbeddedServer
from lib.backends.providers import ProviderConfig, make_client, stream_chat
from lib.backends.server_tokens import (
    CALIBRATION,
    RETRY_AFTER_S,
    UNANSWERED,
    ServerCounter,
    ServerWindow,
    chatml,
    detect,
    server_root,
)
from lib.context import caching
from lib.context.conversation import Message
from lib.context.payload import Sampling, plan_request
from lib.context.tokens import FALLBACK_ENCODING, PromptCount, TiktokenCounter
from lib.core import models
from lib.core.outcome import CallOutcome
from tests.fake_openai import FakeOpenAI, toy_template, toy_tokens

MESSAGES = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "Combien de renards? 🦊"},
]
KEY = "sk-server-key-0123456789abcdef"


@pytest.fixture
def fake():
    with FakeOpenAI() as server:
        yield server


def test_a_llama_cpp_server_renders_and_tokenizes_the_prompt_itself(fake):
    fake.behaviour.tokenizer = "llama.cpp"
    counter = detect(fake.base_url, "fake-model", KEY)
    assert isinstance(counter, ServerCounter) and counter.server.dialect == "llama.cpp"
    fake.tokenize_requests.clear()
    count = counter.count(MESSAGES)
    assert count.exact and "llama.cpp" in count.method
    assert count.total == len(toy_tokens(toy_template(MESSAGES), add_special=True))
    assert count.per_message == tuple(len(toy_tokens(m["content"])) for m in MESSAGES)
    template = next(r for r in fake.tokenize_requests if r.path == "/apply-template")
    assert template.json() == {"messages": MESSAGES}
    tokenize = [r.json() for r in fake.tokenize_requests if r.path == "/tokenize"]
    assert {"content": toy_template(MESSAGES), "add_special": True, "parse_special": True} in tokenize
    assert len(fake.tokenize_requests) == 4  # two texts, the template, the prompt
    assert counter.count(MESSAGES) == count and len(fake.tokenize_requests) == 4  # then cached


def test_a_vllm_server_tokenizes_messages_in_one_call(fake):
    fake.behaviour.tokenizer = "vllm"
    counter = detect(fake.base_url, "fake-model")
    assert counter is not None and counter.server.dialect == "vllm"
    fake.tokenize_requests.clear()
    assert counter.count(MESSAGES).total == len(toy_tokens(toy_template(MESSAGES)))
    asked = [r.json() for r in fake.tokenize_requests]
    assert {"model": "fake-model", "messages": MESSAGES, "add_generation_prompt": True} in asked
    assert all("authorization" not in r.headers for r in fake.tokenize_requests)  # no key entered: none sent


def test_predicted_equals_reported_through_the_chat_route(fake):
    for dialect in ("llama.cpp", "vllm"):
        fake.behaviour.tokenizer = dialect
        counter = detect(fake.base_url, "fake-model", KEY)
        messages = [Message("system", "Be brief.", id="system"), Message("user", "Qu'est-ce qu'un renard ?")]
        plan = plan_request(messages, models.info_for("fake-model"), counter, Sampling(stream=False))
        outcome = CallOutcome()
        # Closed, as are the counter's: an `openai` client that has sent refers to itself, and one left
        # open keeps its socket until the cycle collector runs, inside whichever test comes next.
        with make_client(ProviderConfig("compatible", "fake-model", fake.base_url, KEY)) as client:
            for _ in stream_chat(client, plan.body, outcome):
                pass
        counter.server.client.close()
        assert outcome.usage.prompt_tokens == plan.prompt_tokens and plan.count.exact


def test_a_counter_let_go_is_freed_at_once_with_its_client(fake):
    """Not left to the cycle collector: a counter (and the HTTP client whose sockets it holds) that no
    one refers to any more is gone when the last reference goes, as a cached one replaced in the app is."""
    fake.behaviour.tokenizer = "llama.cpp"
    counter = detect(fake.base_url, "fake-model", KEY)
    assert counter is not None and counter.count(MESSAGES).exact  # its caches filled
    counter_gone, client_gone = weakref.ref(counter), weakref.ref(counter.server.client)
    gc.disable()
    try:
        del counter
        assert counter_gone() is None and client_gone() is None
    finally:
        gc.enable()


def test_a_server_that_cannot_tokenize_keeps_the_estimate(fake):
    assert detect(fake.base_url, "fake-model", KEY) is None
    assert [r.path for r in fake.tokenize_requests] == ["/apply-template", "/tokenize", "/extras/tokenize"]


def test_the_key_goes_only_to_the_server_it_was_entered_for():
    with FakeOpenAI() as elsewhere, FakeOpenAI() as server:
        elsewhere.behaviour.tokenizer = "llama.cpp"
        server.behaviour.redirect_tokenize_to = elsewhere.base_url.removesuffix("/v1")
        assert detect(server.base_url, "fake-model", KEY) is None  # redirects are not followed
        assert elsewhere.tokenize_requests == []
        assert all(r.headers.get("authorization") == f"Bearer {KEY}" for r in server.tokenize_requests)
        assert {r.path for r in server.tokenize_requests} <= {"/apply-template", "/tokenize", "/extras/tokenize"}


def test_tokenize_requests_go_through_the_sdk_client_as_the_chat_call_does(fake):
    """One HTTP stack carries keys: the tokenize routes are asked through an `openai` client made as
    the chat call's is (its timeouts, proxies, TLS), so they arrive as the chat call does."""
    fake.behaviour.tokenizer = "llama.cpp"
    counter = detect(fake.base_url, "fake-model", KEY, timeout_s=2.5)
    assert counter is not None
    counter.server.client.close()
    with make_client(ProviderConfig("compatible", "fake-model", fake.base_url, KEY, timeout_s=2.5)) as client:
        for _ in stream_chat(client, {"model": "fake-model", "messages": MESSAGES}, CallOutcome()):
            pass
    chat = fake.requests[-1]
    assert fake.tokenize_requests and chat.path == "/v1/chat/completions"
    for request in fake.tokenize_requests:
        for header in ("user-agent", "x-stainless-lang", "x-stainless-package-version", "authorization"):
            assert request.headers.get(header) == chat.headers[header], header
        assert request.headers["x-stainless-read-timeout"] == "2.5"  # the client's timeout, as it says


def test_routes_sit_at_the_servers_root_under_the_same_path():
    assert server_root("http://host:8080/v1") == "http://host:8080"
    assert server_root("https://proxy.example/team/v1/") == "https://proxy.example/team"
    assert server_root("http://host:8000") == "http://host:8000"


def test_a_llama_cpp_server_gets_its_cache_rule():
    counter = ServerCounter.__new__(ServerCounter)
    counter.server = type("S", (), {"dialect": "llama.cpp"})()
    assert kinds.cache_rule("compatible", counter) is caching.LLAMA_CPP_SERVER
    assert kinds.cache_rule("compatible", object()) is caching.UNKNOWN


@pytest.mark.parametrize("dialect", ["llama.cpp", "vllm", "llama-cpp-python"])
def test_a_tokenizer_that_stops_answering_gives_a_labelled_estimate_never_an_error(dialect, monkeypatch):
    """Was: ServerTokenizerError (/extras/tokenize: URLError) out of every caller once the server died."""
    with FakeOpenAI() as fake:
        fake.behaviour.tokenizer = dialect
        counter = detect(fake.base_url, "fake-model", KEY)
        # the fake llama-cpp-python server's counts are ChatML's: confirmed, so exact as well
        assert counter is not None and counter.count(MESSAGES).exact
        sent = (Message("system", "Be brief.", id="s"), Message("user", "Combien de renards?", id="u"))
        previous = caching.CachedCall(("compatible",), sent, "Trois renards, puis")
        fake.die()
        after = [*sent, Message("assistant", "Trois renards, puis", id="r"), Message("user", "Et?", id="u2")]
        estimate = TiktokenCounter(FALLBACK_ENCODING, False)
        count = counter.count([m.as_api() for m in after])  # new content: the server is asked, and fails
        assert count == PromptCount(
            estimate.count([m.as_api() for m in after]).per_message,
            estimate.count([m.as_api() for m in after]).total,
            False,
            f"{UNANSWERED} (tiktoken o200k_base (estimate))",
        )
        assert counter.reply_segment("Trois renards, puis") == estimate.reply_segment("Trois renards, puis")
        prediction = caching.predict(previous, ("compatible",), after, counter, counter.cache_rule)
        assert prediction is not None and prediction.prompt_tokens == estimate.count([m.as_api() for m in after]).total
        asked = len(fake.tokenize_requests)
        counter.count([{"role": "user", "content": "once more"}])
        assert len(fake.tokenize_requests) == asked  # a dead server is not asked on every rerun...
        now = time.monotonic()
        monkeypatch.setattr(time, "monotonic", lambda: now + RETRY_AFTER_S)
        assert not counter.count([{"role": "user", "content": "later"}]).exact  # ...only after a while


def test_a_prediction_never_mixes_the_servers_ids_with_the_estimates(monkeypatch):
    """The server's tokenizer fails part-way through a prediction (its prompt answered from the cache,
    the partial reply asked anew): the whole prediction is the estimate's, not half of each."""
    with FakeOpenAI() as fake:
        fake.behaviour.tokenizer = "llama.cpp"
        counter = detect(fake.base_url, "fake-model", KEY)
        sent = (Message("user", "Combien de renards?", id="u"),)
        after = [*sent, Message("assistant", "Trois", id="r"), Message("user", "Et?", id="u2")]
        counter.prompt_segments([m.as_api() for m in after])  # the server's ids, cached
        counter.prompt_segments([m.as_api() for m in sent])
        fake.die()
        previous = caching.CachedCall(("compatible",), sent, "Trois")
        prediction = caching.predict(previous, ("compatible",), after, counter, counter.cache_rule)
        estimate = TiktokenCounter(FALLBACK_ENCODING, False)
        expected = caching.predict(previous, ("compatible",), after, estimate, counter.cache_rule)
        assert prediction == expected


# --- llama-cpp-python: the embedded server reached as any OpenAI-compatible server ------------------


def test_the_embedded_server_counted_through_the_compatible_path_matches_its_usage(embedded_server, embedded_tokenizer):
    templates = {models.EMBEDDED_MODEL: embedded_tokenizer.render}
    counter = detect(embedded_server.base_url, models.EMBEDDED_MODEL, templates=templates)
    assert counter is not None and counter.server.dialect == "llama-cpp-python" and counter.server.exact
    guessed = detect(embedded_server.base_url, models.EMBEDDED_MODEL)  # its template unknown: ChatML, labelled
    assert guessed is not None and "estimate" in guessed.method and not guessed.count(MESSAGES).exact
    client = make_client(ProviderConfig("compatible", models.EMBEDDED_MODEL, embedded_server.base_url))
    for history in (MESSAGES, MESSAGES[1:]):  # with a system prompt, and without (the template adds its own)
        messages = [Message(m["role"], m["content"]) for m in history]
        plan = plan_request(messages, models.info_for("not-in-the-table"), counter, Sampling(max_tokens=4))
        outcome = CallOutcome()
        for _ in stream_chat(client, plan.body, outcome):
            pass
        assert outcome.ok, outcome.error
        assert plan.count.exact and outcome.usage.prompt_tokens == plan.prompt_tokens
        assert plan.prompt_tokens == embedded_tokenizer.count(history).total
    # ChatML is SmolLM2's format: with a system prompt first, the guess is right; without, its default
    # system prompt is what the guess misses.
    assert guessed.count(MESSAGES).total == counter.count(MESSAGES).total
    assert guessed.count(MESSAGES[1:]).total < counter.count(MESSAGES[1:]).total
    assert chatml(MESSAGES)[0].endswith("<|im_start|>assistant\n")
    json.dumps(counter.method)


def test_the_embedded_server_reports_the_window_it_runs_with(embedded_server):
    """llama-cpp-python's stock server says its n_ctx nowhere: ours answers llama.cpp's /props."""
    from lib.backends.embedded import CONTEXT_WINDOW
    from lib.backends.server_tokens import server_window

    window = server_window(embedded_server.base_url, models.EMBEDDED_MODEL)
    assert window is not None and window.tokens == CONTEXT_WINDOW
    assert window.source == "reported by the server: n_ctx in its /props"


def test_a_server_that_reports_no_window_gives_none(fake):
    from lib.backends.server_tokens import server_window

    assert server_window(fake.base_url, "m", timeout_s=1.0) is None


TOOL_MESSAGES = [
    {"role": "user", "content": "Weather in Oslo?"},
    {
        "role": "assistant",
        "content": "",
        "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Oslo"}'}}
        ],
    },
    {"role": "tool", "tool_call_id": "call_1", "content": "3 C"},
]
TOOL_DEFINITIONS = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]


@pytest.mark.parametrize("dialect", ["llama.cpp", "vllm"])
def test_a_tokenizing_server_is_given_the_tool_calls_results_and_definitions_as_sent(fake, dialect):
    """The server's own template decides what of them the model reads: it gets them as the body has them
    (the meter asked with role and content only, and a template that renders tools was counted short)."""
    fake.behaviour.tokenizer = dialect
    counter = detect(fake.base_url, "fake-model", KEY)
    assert counter is not None
    fake.tokenize_requests.clear()
    count = counter.count(TOOL_MESSAGES, tools=TOOL_DEFINITIONS)
    route = "/apply-template" if dialect == "llama.cpp" else "/tokenize"
    asked = [r.json() for r in fake.tokenize_requests if r.path == route and "messages" in r.json()]
    assert {"messages", "tools"} <= set(asked[0]) and asked[0]["tools"] == TOOL_DEFINITIONS
    assert asked[0]["messages"][1]["tool_calls"][0]["function"]["arguments"] == '{"city":"Oslo"}'
    assert asked[0]["messages"][2]["tool_call_id"] == "call_1"
    # The toy template ignores tools, so the definitions' share is measured as what they add: nothing.
    assert count.exact and count.tool_tokens == 0 and count.total == counter.count(TOOL_MESSAGES).total
    counter.server.client.close()


# --- the template asked of the server: any model alias, the stock llama-cpp-python server -------------

STOCK_ALIAS = "my-local-llm"  # not the name the app knows the model by: the template cannot be picked by it
# Conversations as a user builds them: with and without a system prompt, several turns, non-ASCII.
CONVERSATIONS = [
    [{"role": "user", "content": "Hello"}],
    [{"role": "user", "content": "Combien de renards? 🦊"}],
    MESSAGES,
    [
        {"role": "system", "content": "You answer in one word."},
        {"role": "user", "content": "Sky colour?"},
        {"role": "assistant", "content": "Blue."},
        {"role": "user", "content": "And grass?"},
    ],
    [
        {"role": "user", "content": "My locker is 4471."},
        {"role": "assistant", "content": "Noted."},
        {"role": "user", "content": "What is my locker number?"},
    ],
    [{"role": "system", "content": ""}, {"role": "user", "content": "Empty system prompt."}],
]


class StockServer(EmbeddedServer):
    """llama-cpp-python's own server, as shipped (`python -m llama_cpp.server`, no Context Lab patch),
    started under a model alias of its own."""

    def command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "llama_cpp.server",
            "--model",
            str(self.model_path),
            "--model_alias",
            STOCK_ALIAS,
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--n_ctx",
            "2048",
            "--n_threads",
            str(self.threads),
            "--logits_all",
            "False",
        ]


@pytest.fixture(scope="module")
def stock_server():
    server = StockServer(threads=1).ensure_running()
    yield server
    server.stop()


def _reported(base_url: str, model: str, history: list[dict]) -> int | None:
    client = make_client(ProviderConfig("compatible", model, base_url))
    try:
        completion = client.chat.completions.create(model=model, messages=history, max_tokens=1)  # type: ignore[arg-type]
    finally:
        client.close()
    return completion.usage.prompt_tokens if completion.usage else None


def test_the_stock_llama_cpp_python_server_under_any_alias_is_counted_exactly(stock_server, embedded_tokenizer):
    """The server names no template: the one whose counts match the server's own is found by asking it,
    whatever alias the server was started under; every conversation's count is then the server's."""
    templates = {models.EMBEDDED_MODEL: embedded_tokenizer.render}
    counter = detect(stock_server.base_url, STOCK_ALIAS, templates=templates)
    assert counter is not None and counter.server.dialect == "llama-cpp-python"
    assert counter.server.exact and counter.server.verified and counter.server.template == models.EMBEDDED_MODEL
    assert "exact" in counter.method and "server's own counts" in counter.method
    for history in CONVERSATIONS:
        count = counter.count(history)
        assert count.exact
        assert count.total == _reported(stock_server.base_url, STOCK_ALIAS, history), history
    assert counter.context_window() is None  # llama-cpp-python says none: the table stays the fallback


def test_a_template_the_server_does_not_confirm_is_not_called_exact(stock_server):
    counter = detect(stock_server.base_url, STOCK_ALIAS, templates={"other": chatml})
    assert counter is not None and not counter.server.exact and not counter.server.verified
    assert "estimate" in counter.method and "no template the app knows" in counter.method
    without_system = CONVERSATIONS[0]
    assert counter.count(without_system).total < _reported(stock_server.base_url, STOCK_ALIAS, without_system)  # type: ignore[operator]


def test_a_llama_cpp_python_server_whose_counts_are_chatml_is_counted_exactly_as_chatml(fake):
    fake.behaviour.tokenizer = "llama-cpp-python"
    counter = detect(fake.base_url, "any-alias")
    assert counter is not None and counter.server.verified and counter.server.template == "ChatML"
    assert counter.count(MESSAGES).total == len(toy_tokens(toy_template(MESSAGES)))
    probes = [r.json() for r in fake.requests if r.path.endswith("/chat/completions")]
    assert [p["messages"] for p in probes] == [list(c) for c in CALIBRATION]
    assert all(p["max_tokens"] == 1 for p in probes)


def test_a_llama_cpp_python_server_that_reports_no_counts_keeps_the_template_known_by_name(fake):
    fake.behaviour.tokenizer = "llama-cpp-python"
    fake.behaviour.usage = False
    unknown = detect(fake.base_url, "any-alias")
    assert unknown is not None and not unknown.server.exact and "estimate" in unknown.method
    named = detect(fake.base_url, "known", templates={"known": chatml})
    assert named is not None and named.server.exact and not named.server.verified


@pytest.mark.parametrize("dialect", ["llama.cpp", "vllm"])
def test_the_context_window_is_the_one_the_server_reports(fake, dialect):
    fake.behaviour.tokenizer = dialect
    fake.behaviour.n_ctx = 4096
    counter = detect(fake.base_url, "fake-model")
    assert counter is not None and counter.context_window() == 4096
    if dialect == "llama.cpp":
        assert any(r.method == "GET" and r.path == "/props" for r in fake.tokenize_requests)
    assert counter.context_window() == 4096  # asked once: the answer is kept
    fake.behaviour.tokenizer = None  # a server that stops answering: no window, no error
    assert counter.server.context_window() is None


@pytest.mark.parametrize(
    ("dialect", "where"), [("llama.cpp", "n_ctx in its /props"), ("vllm", "max_model_len in its /tokenize")]
)
def test_the_counter_says_where_the_server_reported_its_window(fake, dialect, where):
    """One reader of a server's window (TokenizingServer.window), whether the sidebar asks it through the
    counter or, for a server the app has no counter for, through `server_window`."""
    fake.behaviour.tokenizer = dialect
    fake.behaviour.n_ctx = 5000
    counter = detect(fake.base_url, "fake-model")
    assert counter is not None and counter.window() == ServerWindow(5000, f"reported by the server: {where}")
    from lib.backends.server_tokens import server_window

    if dialect == "llama.cpp":  # a server with no counter is asked /props the same way
        assert server_window(fake.base_url, "fake-model", timeout_s=1.0) == counter.window()
