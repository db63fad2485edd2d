"""The one provider code path, against a local OpenAI-compatible server: the exact request sent."""

import itertools
import json
import logging
import threading
import time
from types import SimpleNamespace

import httpx2
import openai
import pytest
from hypothesis import given
from hypothesis import strategies as st

from lib.backends import kinds, providers
from lib.backends.providers import ProviderConfig, describe_error, make_client, stream_chat
from lib.backends.reply import STOPPED, Reply
from lib.context.conversation import Message
from lib.context.payload import Sampling, blocking_reason, build_body, in_wire_order, plan_request, serialise
from lib.core import models, secrets
from lib.core.outcome import CallOutcome
from lib.core.prices import billed
from tests.fake_openai import FakeOpenAI

KEY = "sk-proj-LEAKCHECK0123456789abcdef"


@pytest.fixture
def server():
    with FakeOpenAI() as fake:
        yield fake


def _call(config: ProviderConfig, body: dict) -> CallOutcome:
    outcome = CallOutcome()
    with make_client(config) as client:  # closed: its sockets are not left for the collector
        text = "".join(stream_chat(client, body, outcome, config.secrets))
    assert text == outcome.text
    return outcome


def _body(model="fake-model"):
    return build_body(model, [{"role": "user", "content": "héllo 👋"}], Sampling(0.5, 32))


def test_compatible_server_gets_exactly_the_planned_bytes(server):
    body = _body()
    outcome = _call(ProviderConfig("compatible", "fake-model", base_url=server.base_url), body)
    sent = server.requests[-1]
    assert sent.path == "/v1/chat/completions"
    assert sent.body == serialise(body)  # byte for byte: the same keys, in the same order
    assert outcome.text == "Hello from the fake server." and outcome.usage.prompt_tokens == 42
    assert outcome.ttft_s is not None and outcome.latency_s >= outcome.ttft_s


def test_openai_style_bearer_key_goes_in_the_header_only(server):
    body = _body("gpt-4o")
    _call(ProviderConfig("compatible", "gpt-4o", base_url=server.base_url, api_key=KEY), body)
    sent = server.requests[-1]
    assert sent.headers["authorization"] == f"Bearer {KEY}"
    assert KEY.encode() not in sent.body


def test_azure_request_shape(server):
    config = ProviderConfig(
        "azure",
        "my-deployment",
        base_url=server.base_url.removesuffix("/v1"),
        api_key=KEY,
        api_version="2024-10-21",
    )
    body = build_body("my-deployment", [{"role": "user", "content": "hi"}], Sampling(0.1, 8, config.token_limit_field))
    _call(config, body)
    sent = server.requests[-1]
    assert sent.path == "/openai/deployments/my-deployment/chat/completions?api-version=2024-10-21"
    assert sent.headers["api-key"] == KEY
    assert sent.json()["max_completion_tokens"] == 8


def test_a_server_without_usage_leaves_it_unknown(server):
    server.behaviour.usage = False
    outcome = _call(ProviderConfig("compatible", "m", base_url=server.base_url), _body())
    assert outcome.ok and outcome.usage.prompt_tokens is None


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (401, "API key was rejected"),
        (403, "not allowed"),
        (404, "Not found"),
        (429, "Rate limited"),
        (500, "server failed"),
        (503, "server failed"),
    ],
)
def test_http_errors_become_clear_messages_without_the_key(server, status, expected):
    server.behaviour.status = status
    server.behaviour.error_body = {"error": {"message": f"Incorrect API key provided: {KEY}"}}
    server.behaviour.headers = {"retry-after": "7"} if status == 429 else {}
    outcome = _call(ProviderConfig("compatible", "m", base_url=server.base_url, api_key=KEY), _body())
    assert not outcome.ok and expected in outcome.error
    assert KEY not in outcome.error and "sk-proj" not in outcome.error
    if status == 429:
        assert "wait 7 s" in outcome.error


def test_a_partially_echoed_key_is_redacted():
    assert "sk-abc" not in secrets.redact("Incorrect API key provided: sk-abc***********wxyz.")


def test_unreachable_server_says_so():
    from lib.backends.embedded import free_port

    config = ProviderConfig("compatible", "m", base_url=f"http://127.0.0.1:{free_port()}/v1")
    outcome = _call(config, _body())
    assert "Could not connect" in outcome.error


def test_timeout_says_so(server):
    server.behaviour.delay_s = 1.5
    config = ProviderConfig("compatible", "m", base_url=server.base_url, timeout_s=0.3)
    assert "timeout" in _call(config, _body()).error


def test_a_stream_cut_mid_answer_keeps_the_partial_text(server):
    server.behaviour.reply = "one two three four five"
    server.behaviour.cut_after_chunks = 2
    outcome = _call(ProviderConfig("compatible", "m", base_url=server.base_url), _body())
    assert outcome.text == "one two"
    assert outcome.incomplete and "cut off" in outcome.error


def test_models_are_listed_where_the_server_has_them(server):
    with make_client(ProviderConfig("compatible", "", base_url=server.base_url)) as client:
        assert providers.list_models(client) == ["fake-model", "fake-model-2"]


def test_the_key_never_reaches_the_logs(server, caplog):
    caplog.set_level(logging.DEBUG)
    server.behaviour.status = 401
    _call(ProviderConfig("compatible", "m", base_url=server.base_url, api_key=KEY), _body())
    _call(ProviderConfig("compatible", "m", base_url=server.base_url, api_key=KEY), _body())
    assert KEY not in caplog.text


def test_config_repr_hides_the_key():
    assert KEY not in repr(ProviderConfig("openai", "gpt-4o", api_key=KEY))


def test_missing_settings_are_named():
    assert providers.ProviderConfig("openai", "gpt-4o").missing() == "an API key"
    assert providers.ProviderConfig("compatible", "m").missing() == "the base URL"
    assert providers.ProviderConfig("compatible", "", base_url="http://x").missing() == "a model"
    assert describe_error(ValueError("boom")).startswith("The call failed")


# --- failure paths: every one a sentence, none a traceback -------------------------------------


@pytest.mark.parametrize(
    ("behaviour", "stream", "expected"),
    [
        ({"malformed": True}, True, "not valid JSON"),
        ({"malformed": True}, False, "not valid JSON"),
        ({"empty_choices": True}, True, "empty choices list"),
        ({"empty_choices": True}, False, "empty choices list"),
        ({"empty_choices": True, "usage": False}, True, "no reply data"),
        ({"reply": "one two three", "cut_after_chunks": 2, "break_stream": True}, True, "connection dropped"),
    ],
)
def test_a_broken_answer_becomes_a_message(server, behaviour, stream, expected):
    for name, value in behaviour.items():
        setattr(server.behaviour, name, value)
    body = build_body("m", [{"role": "user", "content": "hi"}], Sampling(0.5, 32, stream=stream))
    outcome = _call(ProviderConfig("compatible", "m", base_url=server.base_url), body)
    assert not outcome.ok and expected in outcome.error, outcome.error
    assert outcome.incomplete == ("cut_after_chunks" in behaviour)


def test_a_failed_status_records_what_the_retry_policy_needs(server):
    server.behaviour.status = 429
    server.behaviour.headers = {"retry-after-ms": "1500"}
    server.behaviour.error_body = {"error": {"message": "slow down", "code": "rate_limit_exceeded"}}
    outcome = _call(ProviderConfig("compatible", "m", base_url=server.base_url), _body())
    assert (outcome.status_code, outcome.error_code, outcome.retry_after_s) == (429, "rate_limit_exceeded", 1.5)
    assert "wait 1.5 s" in outcome.error


def test_a_reply_stopped_at_the_limit_is_marked_truncated(server):
    server.behaviour.finish_reason = "length"
    outcome = _call(ProviderConfig("compatible", "m", base_url=server.base_url), _body())
    assert outcome.ok and outcome.truncated


@pytest.mark.parametrize(
    ("body", "code", "expected"),
    [
        ({"error": {"message": "Too long", "code": "context_length_exceeded"}}, None, "longer than the model"),
        ({"error": {"message": "This model's maximum context length is 4096"}}, None, "longer than the model"),
        ({"error": {"message": "You exceeded your quota", "code": "insufficient_quota"}}, 429, "quota is used up"),
        ("<html>\n  <body>\n    Bad gateway\n  </body>\n</html>", 502, "Server said: <html> <body> Bad gateway"),
    ],
)
def test_error_codes_and_bodies_name_the_problem(server, body, code, expected):
    server.behaviour.status = code or 400
    server.behaviour.error_body = body
    outcome = _call(ProviderConfig("compatible", "m", base_url=server.base_url), _body())
    assert expected in outcome.error


def test_fragments_of_the_key_are_redacted():
    text = f"Bad key {KEY[:10]}…{KEY[-4:]}; the key ending {KEY[-9:]}; in the middle {KEY[12:20]}."
    shown = secrets.redact(text, (KEY,))
    assert KEY[-9:] not in shown and KEY[12:20] not in shown and KEY[:10] not in shown
    assert shown.startswith("Bad key ***") and shown.endswith("in the middle ***.")


def test_redaction_leaves_ordinary_text_alone():
    text = "The model `gpt-4o` does not exist (404)."
    assert secrets.redact(text, (KEY,)) == text


def test_an_unexpected_exception_is_described_not_raised():
    def create(**_):
        raise RuntimeError(f"boom with {KEY}")

    client = SimpleNamespace(chat=SimpleNamespace(completions=SimpleNamespace(create=create)))
    outcome = CallOutcome()
    assert list(stream_chat(client, _body(), outcome, (KEY,))) == []
    assert outcome.error.startswith("The call failed: RuntimeError") and KEY not in outcome.error


def test_each_backend_names_its_end_user_field():
    assert ProviderConfig("openai", "gpt-4o").end_user_field == "safety_identifier"
    for kind in ("azure", "compatible", "embedded"):
        assert ProviderConfig(kind, "m").end_user_field == "user"


@pytest.mark.parametrize("field", ["user", "safety_identifier"])
def test_the_sdk_sends_the_end_user_field_as_planned(server, field):
    sampling = Sampling(end_user="cl-1234", end_user_field=field)
    body = build_body("fake-model", [{"role": "user", "content": "hi"}], sampling)
    outcome = _call(ProviderConfig("compatible", "fake-model", base_url=server.base_url), body)
    assert outcome.ok and server.requests[-1].json()[field] == "cl-1234"


@pytest.mark.slow
def test_the_embedded_server_accepts_the_user_field(embedded_server):
    sampling = Sampling(0.0, 4, end_user="cl-1234")
    body = build_body(models.EMBEDDED_MODEL, [{"role": "user", "content": "Say hi."}], sampling)
    outcome = _call(ProviderConfig("embedded", models.EMBEDDED_MODEL, base_url=embedded_server.base_url), body)
    assert outcome.ok, outcome.error
    assert outcome.usage.prompt_tokens


@pytest.mark.parametrize(
    "url", ["foo", "http://", "http://[::1", "http://x:99999/v1", "javascript:alert(1)", "ftp://x"]
)
def test_an_unusable_base_url_is_named_before_any_call(url):
    assert not providers.valid_base_url(url)
    missing = ProviderConfig("compatible", "m", base_url=url).missing()
    assert missing == "the base URL (a full http:// or https:// address)"


@pytest.mark.parametrize("url", ["http://localhost:11434/v1", "https://x.openai.azure.com", "http://[::1]:8000/v1"])
def test_a_usable_base_url_passes(url):
    assert providers.valid_base_url(url)
    assert ProviderConfig("compatible", "m", base_url=url).missing() is None


# --- byte for byte: what the server receives is the compact form of the previewed body ------------

HUGE = "long line of text, " * 60_000 + "end"
BYTE_CASES = {
    "plain": ([{"role": "user", "content": "hi"}], Sampling()),
    "whole reply": ([{"role": "user", "content": "hi"}], Sampling(0.0, 5, stream=False)),
    "end user": ([{"role": "user", "content": "hi"}], Sampling(end_user="cl-5f3a", end_user_field="user")),
    "safety id, not streamed": (
        [{"role": "user", "content": "hi"}],
        Sampling(1.0, 7, "max_completion_tokens", False, "cl-5f3a", "safety_identifier"),
    ),
    "seed": ([{"role": "user", "content": "hi"}], Sampling(seed=42)),
    "seed, whole reply, end user": (
        [{"role": "user", "content": "hi"}],
        Sampling(0.2, 3, stream=False, end_user="cl-1", seed=0),
    ),
    "non-ASCII and emoji": (
        [
            {"role": "system", "content": "Réponds en français. 日本語も。"},
            {"role": "user", "content": 'emoji 👩🏽\u200d💻🇫🇷 "quoted" \\ \u2028 \t tab\nnew line \x7f مرحبا'},
        ],
        Sampling(0.5, 32, end_user="cl-ü"),
    ),
    "huge": ([{"role": "user", "content": HUGE}, {"role": "assistant", "content": HUGE[::-1]}], Sampling()),
}


@pytest.mark.parametrize("case", BYTE_CASES)
def test_the_server_receives_exactly_the_serialised_body(server, case):
    messages, sampling = BYTE_CASES[case]
    body = build_body("fake-model", messages, sampling)
    outcome = _call(ProviderConfig("compatible", "fake-model", base_url=server.base_url), body)
    assert outcome.ok, outcome.error
    assert server.requests[-1].body == serialise(body)


def test_a_reasoning_body_for_azure_arrives_byte_for_byte(server):
    config = ProviderConfig("azure", "dep", base_url=server.base_url.removesuffix("/v1"), api_key=KEY)
    sampling = Sampling(0.1, 8, config.token_limit_field, stream=False, end_user="cl-1", seed=3)
    body = build_body("dep", [{"role": "user", "content": "ça va ? 🙂"}], sampling, reasoning=True)
    assert _call(config, body).ok
    assert server.requests[-1].body == serialise(body)


def test_a_seed_added_after_planning_is_put_in_its_place(server):
    """How Compare seeds a planned body: `in_wire_order` puts the new key where the SDK writes it."""
    body = in_wire_order({**_body(), "seed": 11})
    assert _call(ProviderConfig("compatible", "fake-model", base_url=server.base_url), body).ok
    assert server.requests[-1].body == serialise(body)


# --- a prompt that fills the window: the server's refusal gets the context advice --------------------

CONTEXT_ADVICE = "The prompt is longer than the model's context window"


def _stream_error(error: dict) -> openai.APIError:
    """What the SDK raises for an `error` event in a stream that had begun with 200."""
    request = httpx2.Request("POST", "http://127.0.0.1:9/v1/chat/completions")
    return openai.APIError(error["message"], request, body=error)


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (
            {"message": "Requested tokens (8192) exceed context window of 8192", "type": "server_error", "code": None},
            f"{CONTEXT_ADVICE}: leave messages out",
        ),
        ({"message": "Too long", "code": "context_length_exceeded"}, f"{CONTEXT_ADVICE}: leave messages out"),
        ({"message": "The model crashed", "code": None}, "The server stopped the reply with an error: retry"),
    ],
)
def test_an_error_event_mid_stream_gets_its_advice(error, expected):
    described = describe_error(_stream_error(error))
    assert described.startswith(expected) and described.endswith(f"Server said: {error['message']}")
    assert "(400)" not in described  # no status was sent: none is claimed


def _exactly(tokens: int, tokenizer) -> list[dict]:
    """A system prompt and a user message of exactly `tokens` prompt tokens for the embedded model."""
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": ""}]

    def total(words: int, tail: str = "") -> int:
        messages[1]["content"] = "a " * words + tail
        return tokenizer.count(messages).total

    words = tokens - total(0)  # "a " is one token: start near, then step
    while total(words) > tokens:
        words -= 1
    for tail in ("", "a", "ab", "abc"):  # one more short piece when a single word overshoots
        if total(words, tail) == tokens:
            return messages
    raise AssertionError(f"no prompt of exactly {tokens} tokens")


@pytest.mark.slow
@pytest.mark.parametrize("stream", [True, False])
def test_the_embedded_server_refuses_a_prompt_that_fills_its_window_and_the_meter_blocked_it(
    embedded_server, embedded_tokenizer, stream
):
    info = models.MODELS[models.EMBEDDED_MODEL]
    history = [
        Message(m["role"], m["content"], id=m["role"]) for m in _exactly(info.context_window, embedded_tokenizer)
    ]
    plan = plan_request(history, info, embedded_tokenizer, Sampling(0.0, 4, stream=stream))
    assert plan.prompt_tokens == info.context_window and not plan.fits
    assert "no room is left for the reply" in blocking_reason(plan, "a")
    # Sent anyway, past the meter: llama.cpp refuses it (400 whole, an error event streamed).
    outcome = _call(ProviderConfig("embedded", info.name, base_url=embedded_server.base_url), plan.body)
    assert not outcome.ok and outcome.text == ""
    assert outcome.error.startswith(CONTEXT_ADVICE), outcome.error
    assert f"{info.context_window}" in outcome.error  # the server's own words, with its count


# --- what /models may answer ----------------------------------------------------------------------

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(40)


@pytest.mark.parametrize(
    ("body", "kind"),
    [
        (b"<!doctype html><html><body><h1>Welcome to nginx!</h1></body></html>", "text/html"),
        (PNG, "image/png"),
        (b"[]", "application/json"),
        (b'{"data": "notalist"}', "application/json"),
        (b'{"data": [1, null, {"id": 7}, {"name": "no id"}, "x"]}', "application/json"),
        (b'{"object": "list"}', "application/json"),
        (b"null", "application/json"),
        (b"", "application/json"),
        (b'{"data": [', "application/json"),
    ],
)
def test_any_other_answer_to_models_is_no_list(server, body, kind):
    server.behaviour.models_body, server.behaviour.models_type = body, kind
    with make_client(ProviderConfig("compatible", "", base_url=server.base_url)) as client:
        assert providers.list_models(client) == []
    assert [r.path for r in server.requests] == ["/v1/models"]  # asked once, not paged through


def test_listed_ids_are_offered_only_as_clean_strings(server):
    huge = "x" * 1_000_000
    ids = ["b-model", "a-model", "b-model", "half \ud83d", "two\nlines", " padded", "", huge, "\u202eevil", "ok:7b"]
    server.behaviour.models_body = json.dumps({"object": "list", "data": [{"id": i} for i in ids]}).encode()
    with make_client(ProviderConfig("compatible", "", base_url=server.base_url)) as client:
        assert providers.list_models(client) == ["a-model", "b-model", "ok:7b"]


def test_a_list_too_long_is_cut():
    listed = providers.model_id_choices(f"m{i:05d}" for i in range(5_000))
    assert len(listed) == providers.MAX_LISTED_MODELS and listed[0] == "m00000"


# --- where a key may go ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("first", "second", "same"),
    [
        (("compatible", "http://LocalHost:8000/v1/"), ("compatible", "http://localhost:8000/v1"), True),
        (("compatible", "http://localhost/v1"), ("compatible", "http://localhost:80/v1"), True),
        (("compatible", "http://localhost:8000/v1"), ("compatible", "http://localhost:8001/v1"), False),
        (("compatible", "http://localhost:8000/v1"), ("compatible", "https://localhost:8000/v1"), False),
        (("compatible", "http://a.example/v1"), ("compatible", "http://a.example.attacker.example/v1"), False),
        (("compatible", "http://a.example/v1"), ("compatible", "http://a.example/v2"), False),
        (("openai", ""), ("openai", "http://attacker.example/v1"), True),  # OpenAI's endpoint is fixed
        (("openai", ""), ("compatible", kinds.OPENAI_BASE_URL), False),
        (("azure", "https://me.openai.azure.com"), ("azure", "https://attacker.example"), False),
    ],
)
def test_a_key_scope_names_the_kind_and_the_endpoint(first, second, same):
    assert (providers.key_scope(*first) == providers.key_scope(*second)) is same


# --- keys a reply echoes ----------------------------------------------------------------------------


def test_every_run_of_six_or_more_characters_of_a_key_is_masked():
    for size in range(secrets.KEY_FRAGMENT, len(KEY) + 1):
        for start in range(len(KEY) - size + 1):
            shown = secrets.mask_secrets(f"before {KEY[start : start + size]} after", (KEY,))
            assert shown == f"before {secrets.MASK} after", (start, size)


def test_masking_spares_ordinary_text_and_public_placeholder_keys():
    text = "Use Ollama: api_key='ollama'. The sha256 is " + "ab" * 32 + "; sk-other-key-in-an-example."
    assert secrets.mask_secrets(text, (KEY, "ollama", "not-needed", "abc")) == text
    assert secrets.mask_secrets(KEY[:5] + " " + KEY[5:10], (KEY,)) == KEY[:5] + " " + KEY[5:10]  # 5-char runs
    assert ProviderConfig("compatible", "m", api_key="ollama").secrets == ()


def test_neighbouring_fragments_become_one_mask():
    assert secrets.mask_secrets(f"{KEY[:12]}{KEY[20:32]}!", (KEY,)) == f"{secrets.MASK}!"


@pytest.mark.parametrize("size", [1, 2, 3, 5, 7])
def test_a_masker_fed_in_pieces_masks_as_the_whole_does(size):
    text = f"Your key is {KEY}; its end {KEY[-11:]}; its middle {KEY[8:18]}, then {KEY[:6]}x{KEY[6:12]}."
    masker = secrets.SecretMasker((KEY, "other-secret-value"))
    pieces = [text[i : i + size] for i in range(0, len(text), size)]
    streamed = "".join(masker.feed(piece) for piece in pieces) + masker.finish()
    assert streamed == secrets.mask_secrets(text, (KEY, "other-secret-value"))
    assert not [KEY[i : i + 6] for i in range(len(KEY) - 5) if KEY[i : i + 6] in streamed]


def test_a_masker_without_secrets_passes_pieces_through():
    masker = secrets.SecretMasker(())
    assert [masker.feed("a"), masker.feed("b"), masker.finish()] == ["a", "b", ""]


@pytest.mark.parametrize("stream", [True, False])
def test_a_reply_echoing_the_key_is_masked_before_anything_sees_it(server, stream):
    server.behaviour.reply = f"Sure: your key is {KEY} and it ends {KEY[-11:]}."
    outcome = CallOutcome()
    config = ProviderConfig("compatible", "m", base_url=server.base_url, api_key=KEY)
    with make_client(config) as client:
        shown = list(stream_chat(client, {**_body(), "stream": stream}, outcome, config.secrets))
    assert outcome.ok and "".join(shown) == outcome.text == "Sure: your key is *** and it ends ***."
    assert not any(KEY[i : i + 6] in "".join(shown) for i in range(len(KEY) - 5))


def test_a_reply_cut_off_keeps_its_last_characters_masked(server):
    server.behaviour.reply = f"one two {KEY} and more"
    server.behaviour.cut_after_chunks, server.behaviour.break_stream = 3, True
    outcome = CallOutcome()
    config = ProviderConfig("compatible", "m", base_url=server.base_url, api_key=KEY)
    with make_client(config) as client:
        shown = "".join(stream_chat(client, {**_body(), "stream": True}, outcome, config.secrets))
    assert shown == outcome.text == "one two ***" and outcome.incomplete


@given(
    key=st.text("abcdefghijklmnopqrstuvwxyz0123456789-_", min_size=8, max_size=40),
    parts=st.lists(st.one_of(st.text(max_size=8), st.tuples(st.integers(0, 40), st.integers(1, 40))), max_size=8),
    cuts=st.lists(st.integers(0, 400), max_size=10),
)
def test_masking_in_pieces_equals_masking_the_whole_and_leaves_no_run_of_six(key, parts, cuts):
    text = "".join(p if isinstance(p, str) else key[p[0] : p[0] + p[1]] for p in parts)  # text and bits of the key
    bounds = sorted({0, len(text), *(c % (len(text) + 1) for c in cuts)})
    masker = secrets.SecretMasker((key,))
    streamed = "".join(masker.feed(text[a:b]) for a, b in itertools.pairwise(bounds)) + masker.finish()
    whole = secrets.mask_secrets(text, (key,))
    assert streamed == whole
    assert not [key[i : i + 6] for i in range(len(key) - 5) if key[i : i + 6] in whole.replace(secrets.MASK, "\0")]


# --- a call's limits, Stop, and what a hostile server reports (issue 23) -----------------------------


def _hung_up(server: FakeOpenAI, count: int = 1) -> bool:
    """Whether the server saw `count` streams hung up on, within 5 s (its next write fails)."""
    deadline = time.monotonic() + 5
    while server.hangups < count and time.monotonic() < deadline:
        time.sleep(0.02)
    return server.hangups >= count


def _streamed(**changes) -> dict:
    return build_body("fake-model", [{"role": "user", "content": "Talk."}], Sampling(**{"stream": True, **changes}))


# A deadline of 1 s (2 s before): a stream still going then is stopped the same way; a trickling one
# sends a token every 0.4 s (it was one a second under the 2 s deadline), each well inside the timeout.
@pytest.mark.parametrize(("interval_s", "what"), [(0.01, "endless"), (0.4, "trickling"), (30.0, "stalled")])
def test_a_stream_that_does_not_end_stops_at_the_calls_deadline_kept_and_hung_up(server, interval_s, what):
    """Was: an endless stream and a 1-token-per-second one were still going after 30 s."""
    server.behaviour.reply, server.behaviour.repeat, server.behaviour.interval_s = "tok ", None, interval_s
    outcome = CallOutcome()
    client = make_client(ProviderConfig("compatible", "fake-model", server.base_url))
    started = time.monotonic()
    "".join(stream_chat(client, _streamed(), outcome, limits=providers.CallLimits(deadline_s=1.0)))
    assert time.monotonic() - started < 5  # the deadline is the promise: 1 s, generously bounded
    assert outcome.text.startswith("tok ") and outcome.incomplete  # kept, marked incomplete
    assert "stopped after 1 s: the call's deadline" in outcome.error
    assert _hung_up(server)  # the connection is closed: the server stops generating
    client.close()


@pytest.mark.parametrize("stream", [True, False])
def test_a_10_mb_reply_is_kept_up_to_the_size_cap(server, stream):
    """Was: a 10 MB reply was accepted whole."""
    server.behaviour.reply, server.behaviour.repeat = "é" * 5_000, 1_000  # 10 KB a chunk, 10 MB in all
    outcome = _call(ProviderConfig("compatible", "fake-model", server.base_url), _streamed(stream=stream))
    assert len(outcome.text.encode()) == providers.DEFAULT_LIMITS.max_reply_bytes == 1_000_000
    assert outcome.text == "é" * 500_000 and outcome.incomplete
    assert "stopped at 1 MB: the reply size cap" in outcome.error


def test_a_reply_under_the_limits_is_untouched(server):
    server.behaviour.reply, server.behaviour.repeat = "x" * 1_000, 3
    outcome = _call(ProviderConfig("compatible", "fake-model", server.base_url), _streamed())
    assert outcome.ok and outcome.text == "x" * 3_000 and outcome.finish_reason == "stop"


def test_stop_hangs_up_a_call_whose_server_sends_nothing(server):
    """Stop from another thread (the page's button) ends the call at once, not at the next token."""
    server.behaviour.reply, server.behaviour.repeat, server.behaviour.interval_s = "tok ", None, 30.0
    reply = Reply(make_client(ProviderConfig("compatible", "fake-model", server.base_url)), _streamed())
    threading.Timer(0.5, reply.stop).start()
    started = time.monotonic()
    assert reply.text() == "tok "
    assert time.monotonic() - started < 5  # not the 30 s until the server's next token
    assert reply.outcome.error == STOPPED and reply.outcome.incomplete
    assert _hung_up(server)
    reply.client.close()


def test_a_redirect_loop_is_named_not_a_connection_failure(server):
    """Was: "Could not connect … is the server running?" for a base URL that redirects to itself."""
    server.behaviour.redirect_loop = True
    outcome = _call(ProviderConfig("compatible", "fake-model", server.base_url, api_key=KEY), _body())
    assert "The server redirected in a loop (20 redirects)" in outcome.error and "check the base URL" in outcome.error
    assert "Could not connect" not in outcome.error and KEY not in outcome.error
    assert len(server.requests) == 1 + 20  # the call, then each redirect followed


IMPLAUSIBLE_USAGES = [
    ({"prompt_tokens": -5, "completion_tokens": 3}, "prompt_tokens -5 (negative)"),
    ({"prompt_tokens": 10, "completion_tokens": 10**30}, "completion_tokens ~10^30 (more than 10^9)"),
    (
        {"prompt_tokens": 10, "completion_tokens": 3, "prompt_tokens_details": {"cached_tokens": 10**40}},
        "cached_tokens ~10^40 (more than 10^9)",
    ),
    (
        {"prompt_tokens": 10, "completion_tokens": 3, "prompt_tokens_details": {"cached_tokens": 11}},
        "cached_tokens 11 (more than its prompt_tokens 10)",
    ),
    ({"prompt_tokens": 12.5, "completion_tokens": 3}, "prompt_tokens 12.5 (not a whole number)"),
    ({"prompt_tokens": "twelve", "completion_tokens": 3}, "prompt_tokens 'twelve' (not a whole number)"),
]


@pytest.mark.parametrize(("usage", "named"), IMPLAUSIBLE_USAGES)
@pytest.mark.parametrize("stream", [True, False])
def test_implausible_usage_is_kept_as_said_flagged_and_never_priced(server, usage, named, stream):
    server.behaviour.raw_usage = usage
    outcome = _call(ProviderConfig("compatible", "fake-model", server.base_url), _streamed(stream=stream))
    assert outcome.ok  # the reply itself is fine
    assert named in outcome.usage.flag and "not priced" in outcome.usage.flag
    assert outcome.usage.reported["prompt_tokens"] == usage["prompt_tokens"]  # what the server said, kept
    said = outcome.usage
    assert (said.prompt_tokens, said.completion_tokens, said.cached_tokens) == (None, None, None)
    assert billed(models.MODELS["gpt-4o"].prices, 10, said) is None


def test_plausible_usage_is_taken_and_priced(server):
    server.behaviour.raw_usage = {
        "prompt_tokens": 10,
        "completion_tokens": 3,
        "prompt_tokens_details": {"cached_tokens": 10},
    }
    outcome = _call(ProviderConfig("compatible", "fake-model", server.base_url), _streamed())
    assert outcome.usage.flag is None and (outcome.usage.prompt_tokens, outcome.usage.cached_tokens) == (10, 10)
    assert billed(models.MODELS["gpt-4o"].prices, 10, outcome.usage) is not None
