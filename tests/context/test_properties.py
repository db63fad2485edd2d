"""Properties that must hold for any input, hostile text included, each checked on as many generated cases as
the Hypothesis profile asks (tests/conftest.py: 200 in `make test`, 50 in `make test-fast`, 1,000 under
HYPOTHESIS_PROFILE=thorough).

Text is drawn from all of Unicode plus what breaks things in practice: lone surrogates, NUL and
other control characters, right-to-left and bidi overrides, emoji sequences (ZWJ, skin tones,
flags), combining marks and the tokenizers' own special-token strings.
"""

from __future__ import annotations

import json
import string
from dataclasses import replace

import httpx2
import openai
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lib.backends.providers import stream_chat
from lib.context import conversation as conv
from lib.context.conversation import Message, SystemPrompt
from lib.context.display import INERT_OPENER, LITERAL_OPENER, inert_deltas, inert_markdown
from lib.context.payload import Sampling, plan_request, serialise
from lib.context.strategies import Strategy, assemble, decide, summarised
from lib.context.tokens import REPLY_PRIMING, TOKENS_PER_MESSAGE, TiktokenCounter
from lib.core.models import MODELS
from lib.core.outcome import CallOutcome
from lib.core.secrets import KEY_FRAGMENT, redact
from lib.store import storage
from lib.store.session import InvalidSession, Session, export_json, parse_export

CASES = settings(suppress_health_check=[HealthCheck.too_slow])
AWKWARD = [
    "\ud800",
    "\udfff",
    "\ud83d",
    "\x00",
    "\x07",
    "\x1b[31m",
    "\r\n",
    "\t",
    "\u202e",
    "\u200f",
    "\u2066",
    "مرحبا",
    "שלום",
    "👩🏽‍💻",
    "🇫🇷",
    "👨‍👩‍👧‍👦",
    "e\u0301",
    "\ufeff",
    "<|endoftext|>",
    "<|im_end|>",
    "<script>",
    "![x](http://a.example/i.png)",
    "!",
    "[",
    "\\",
]
texts = st.lists(st.one_of(st.text(max_size=12), st.sampled_from(AWKWARD)), max_size=8).map("".join)
roles = st.sampled_from(["user", "assistant"])


@st.composite
def histories(draw, min_size: int = 0) -> list[Message]:
    size = draw(st.integers(min_size, 10))
    return [
        Message(draw(roles), draw(texts), included=draw(st.booleans()), pinned=draw(st.booleans())) for _ in range(size)
    ]


COUNTER = TiktokenCounter.for_model("gpt-4o")
GPT4O = MODELS["gpt-4o"]


def _tokens(message: Message) -> int:
    return COUNTER.count([message.as_api()]).per_message[0]


# --- the payload builder ---------------------------------------------------------------------


class Wire:
    """The real `openai` SDK with an in-process transport: the exact bytes it would POST."""

    def __init__(self) -> None:
        self.sent: list[bytes] = []
        transport = httpx2.MockTransport(self._answer)
        self.client = openai.OpenAI(
            base_url="http://wire.test/v1", api_key="k", max_retries=0, http_client=httpx2.Client(transport=transport)
        )

    def _answer(self, request: httpx2.Request) -> httpx2.Response:
        self.sent.append(request.content)
        head = {"id": "x", "created": 0, "model": "m"}
        if not json.loads(request.content)["stream"]:
            message = {"role": "assistant", "content": "ok"}
            whole = {
                **head,
                "object": "chat.completion",
                "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
            }
            return httpx2.Response(200, json=whole)
        chunk = {
            **head,
            "object": "chat.completion.chunk",
            "choices": [{"index": 0, "delta": {"content": "ok"}, "finish_reason": "stop"}],
        }
        stream = b"data: " + json.dumps(chunk).encode() + b"\n\ndata: [DONE]\n\n"
        return httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=stream)


WIRE = Wire()
samplings = st.builds(
    Sampling,
    temperature=st.sampled_from([0.0, 0.7, 1.0, 1.25]),
    max_tokens=st.integers(1, 4096),
    token_limit_field=st.sampled_from(["max_tokens", "max_completion_tokens"]),
    stream=st.booleans(),
    end_user=st.one_of(st.none(), texts.map(conv.clean_text)),
    end_user_field=st.sampled_from(["user", "safety_identifier"]),
    seed=st.one_of(st.none(), st.integers(-(2**31), 2**31 - 1)),
)


@CASES
@given(history=histories(), system=texts, system_included=st.booleans(), sampling=samplings, reasoning=st.booleans())
def test_the_payload_carries_exactly_the_included_messages_and_its_predicted_bytes(
    history, system, system_included, sampling, reasoning
):
    selection = conv.selected(SystemPrompt(system, system_included), history)
    model = replace(GPT4O, reasoning=reasoning)
    plan = plan_request(selection, model, COUNTER, sampling)
    excluded = {m.id for m in history if not m.included}
    assert not excluded & {m.id for m in plan.messages}  # excluded messages never appear
    assert plan.body["messages"] == [m.as_api() for m in selection]
    assert len(plan.count.per_message) == len(selection)
    body = serialise(plan.body)  # never raises: every text in it is encodable
    assert plan.body_bytes == len(body) and json.loads(body) == plan.body
    outcome = CallOutcome()
    assert "".join(stream_chat(WIRE.client, plan.body, outcome)) == "ok" and outcome.ok
    assert WIRE.sent[-1] == body  # byte for byte what the SDK sends: the same keys, in the same order


# --- the token counter -----------------------------------------------------------------------


@CASES
@given(history=histories(min_size=1), extra=histories(min_size=1))
def test_counts_add_up_message_by_message(history, extra):
    messages = [m.as_api() for m in history]
    count = COUNTER.count(messages)
    assert count.total == sum(count.per_message) + REPLY_PRIMING
    assert all(n >= TOKENS_PER_MESSAGE + 1 for n in count.per_message)  # the wrapping and the role at least
    assert list(count.per_message) == [COUNTER.count([m]).per_message[0] for m in messages]  # context-free
    more = COUNTER.count(messages + [m.as_api() for m in extra])
    assert more.total == count.total + sum(_tokens(m) for m in extra)  # adding messages only adds


@CASES
@given(history=histories(min_size=1))
def test_the_embedded_count_equals_the_rendered_prompt_tokenized_whole(history, embedded_tokenizer):
    """The meter counts message by message (fast); the server tokenizes the whole rendered prompt."""
    messages = [m.as_api() for m in history]
    whole = len(embedded_tokenizer.tokenize(*embedded_tokenizer.render(messages)))
    assert embedded_tokenizer.count(messages).total == whole


# --- the context strategies --------------------------------------------------------------------

strategies_ = st.builds(
    Strategy,
    kind=st.sampled_from(["manual", "full", "none", "last_turns", "token_budget", "summarise"]),
    last_turns=st.integers(0, 6),
    token_budget=st.integers(0, 400),
)


@CASES
@given(strategy=strategies_, history=histories(), system=texts, system_tokens=st.integers(0, 50))
def test_strategies_decide_every_message_and_never_send_a_left_out_one(strategy, history, system, system_tokens):
    decisions = decide(strategy, history, _tokens, system_tokens)
    assert [d.message for d in decisions] == history  # one decision each, in order
    assert all(d.kept for d in decisions if d.message.pinned)  # pinned messages are always kept
    kept = [d.message for d in decisions if d.kept]
    dropped = {d.message.id for d in decisions if not d.kept}
    sent = assemble(SystemPrompt(system), decisions, "a summary" if strategy.kind == "summarise" else None)
    assert not dropped & {m.id for m in sent}
    assert [m for m in sent if m.id not in ("system", "summary")] == kept  # the kept ones, in order
    unpinned = [d.kept for d in decisions if not d.message.pinned]
    if strategy.kind in ("last_turns", "token_budget", "summarise"):
        assert unpinned == sorted(unpinned)  # the kept history is a suffix: no gaps
    if strategy.kind == "full":
        assert kept == history
    if strategy.kind == "none":
        assert kept == [m for m in history if m.pinned]
    if strategy.kind == "manual":
        assert kept == [m for m in history if m.included or m.pinned]
    if strategy.kind == "summarise":
        assert summarised(decisions) == [d.message for d in decisions if not d.kept]


@CASES
@given(history=histories(), budget=st.integers(0, 400), system_tokens=st.integers(0, 50))
def test_the_token_budget_is_kept_and_filled(history, budget, system_tokens):
    decisions = decide(Strategy("token_budget", token_budget=budget), history, _tokens, system_tokens)
    pinned = sum(_tokens(m) for m in history if m.pinned)
    kept = [d.message for d in decisions if d.kept and not d.message.pinned]
    used = system_tokens + pinned + sum(_tokens(m) for m in kept)
    assert used <= budget or not kept  # over budget only when the pinned ones alone are
    older = [d.message for d in decisions if not d.kept]
    if older:  # the next older message would not have fitted
        assert used + _tokens(older[-1]) > budget


# --- the session import --------------------------------------------------------------------


@st.composite
def sessions(draw, min_messages: int = 0) -> Session:
    statuses = st.sampled_from(["ok", "unanswered", "incomplete"])
    messages = [
        Message(draw(roles), draw(texts), draw(st.booleans()), conv.new_id(), draw(statuses), draw(st.booleans()))
        for _ in range(draw(st.integers(min_messages, 6)))
    ]
    title = conv.clean_text(draw(texts))  # typed in a browser, which sends no lone surrogate
    return Session(conv.new_id(), title=title, system=SystemPrompt(draw(texts)), messages=tuple(messages))


FIELDS = ["role", "content", "status", "included", "pinned"]


def _exported(session: Session) -> bytes:
    return export_json(session).encode("utf-8")


@CASES
@given(session=sessions())
def test_an_export_imports_back_as_the_same_session(session):
    imported = parse_export(_exported(session))
    assert (imported.id, imported.title, imported.system, imported.messages) == (
        session.id,
        session.title,
        session.system,
        session.messages,
    )


@CASES
@given(session=sessions(), cut=st.integers(0, 10_000), junk=st.binary(max_size=8))
def test_an_import_is_all_or_nothing(session, cut, junk):
    """Any damage to a file refuses the whole file with a reason; nothing half-read comes back."""
    data = _exported(session)
    damaged = data[: cut % (len(data) + 1)] + junk
    try:
        imported = parse_export(damaged)
    except InvalidSession as refusal:
        assert str(refusal)
        return
    assert imported.messages == session.messages  # what came back is the whole session


@CASES
@given(session=sessions(min_messages=1), index=st.integers(0, 5), field=st.sampled_from(FIELDS))
def test_one_bad_message_refuses_the_whole_file(session, index, field):
    document = json.loads(export_json(session))
    document["session"]["messages"][index % len(session.messages)][field] = 12345
    with pytest.raises(InvalidSession, match=field):
        parse_export(json.dumps(document))


STRING_FIELDS = ["title", "draft", "id", "created_at", "updated_at", "system_prompt", "message_id", "content"]
STRING_SETTINGS = [
    "openai_model",
    "azure_deployment",
    "compatible_model",
    "base_url",
    "azure_endpoint",
    "azure_api_version",
    "priced_as",
]


@CASES
@given(field=st.sampled_from(STRING_FIELDS + STRING_SETTINGS), text=texts, session=sessions(min_messages=1))
def test_whatever_an_import_accepts_can_be_saved_again(field, text, session):
    """Every string of a file, lone surrogates and NUL included, comes in as text that stores and exports."""
    document = json.loads(export_json(session))
    body = document["session"]
    if field in STRING_SETTINGS:
        body["settings"][field] = text
    elif field == "system_prompt":
        body["system_prompt"]["content"] = text
    elif field in ("message_id", "content"):
        body["messages"][0]["id" if field == "message_id" else "content"] = text
    else:
        body[field] = text
    try:
        imported = parse_export(json.dumps(document))  # ASCII escapes: a lone surrogate is valid JSON
    except InvalidSession as refusal:  # an id empty once cleaned (a lone NUL), or of 65+ characters; said
        assert field == "id" and not 1 <= len(conv.clean_text(text)) <= 64, refusal
        return
    assert parse_export(_exported(imported)) == imported  # encoded as UTF-8: what raised UnicodeEncodeError
    with storage.opened(":memory:") as conn:  # SQLite encodes too
        stored = storage.insert_new(conn, imported)
        assert storage.load_session(conn, stored.id) == replace(imported, id=stored.id, updated_at=stored.updated_at)


@CASES
@given(pieces=st.lists(texts, max_size=6))
def test_inert_text_arrives_the_same_however_it_is_split(pieces):
    streamed, whole = "".join(inert_deltas(pieces)), inert_markdown("".join(pieces))
    assert "![" not in streamed and "![" not in whole

    # The same text, each image opener neutralised; only how may differ (a piece cannot see whether a
    # code span it opens closes in a later one: Markdown escapes there would show).
    def as_typed(text: str) -> str:
        return text.replace(INERT_OPENER, "![").replace(LITERAL_OPENER, "![")

    assert as_typed(streamed) == as_typed(whole) == as_typed(conv.clean_text("".join(pieces)))


# --- keys in what is shown ---------------------------------------------------------------------

KEY_CHARS = string.ascii_letters + string.digits + "-_"


@CASES
@given(
    key=st.text(KEY_CHARS, min_size=20, max_size=64),
    before=texts,
    after=texts,
    start=st.integers(0, 64),
    length=st.integers(KEY_FRAGMENT, 64),
)
def test_no_part_of_a_key_a_server_echoes_is_shown(key, before, after, start, length):
    start %= len(key) - KEY_FRAGMENT + 1
    shown = redact(f"{before}Incorrect API key provided: {key[start : start + length]}.{after}", (key,))
    assert not [
        key[i : i + KEY_FRAGMENT] for i in range(len(key) - KEY_FRAGMENT + 1) if key[i : i + KEY_FRAGMENT] in shown
    ]
