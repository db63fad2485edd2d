import pytest

from lib.backends import kinds
from lib.context import caching
from lib.context.conversation import Message
from lib.context.strategies import Decision
from lib.context.tokens import TiktokenCounter
from lib.core import models

GPT4O = models.MODELS["gpt-4o"]
COUNTER = TiktokenCounter.for_model("gpt-4o")
BACKEND = ("openai", "", "gpt-4o")


@pytest.mark.parametrize(
    ("shared", "cached"), [(0, 0), (1023, 0), (1024, 1024), (1151, 1024), (1152, 1152), (5000, 4992)]
)
def test_openai_caches_from_1024_tokens_in_128_token_steps(shared, cached):
    assert caching.OPENAI.cached(shared, 10_000, 10_000) == cached
    assert caching.AZURE.cached(shared, 10_000, 10_000) == cached


def test_llama_cpp_reuses_the_longest_common_prefix():
    rule = caching.LLAMA_CPP
    assert rule.cached(17, 100, 80) == 17  # the prompts part after 17 tokens
    assert rule.cached(80, 100, 80) == 80  # the new prompt goes on after the whole cache
    assert rule.cached(100, 100, 100) == 100  # the same prompt again: all of it
    assert rule.cached(60, 60, 100) == 59  # a proper prefix of the cache: all but one token
    assert rule.cached(0, 60, 0) == 0


def test_a_server_with_no_known_rule_is_an_estimate():
    assert kinds.cache_rule("compatible") is caching.UNKNOWN and not caching.UNKNOWN.known
    assert kinds.cache_rule("embedded") is caching.LLAMA_CPP


def test_the_common_prefix_skips_equal_segments_and_stops_at_the_first_difference():
    assert caching.common_prefix(((1, 2), (3, 4, 5)), ((1, 2), (3, 4, 9), (5,))) == 4
    assert caching.common_prefix(((1, 2), (3,)), ((1, 2), (3, 4))) == 3
    assert caching.common_prefix(((1, 2),), ((1,), (2, 7))) == 2  # segment borders do not matter
    assert caching.common_prefix((), ((1,),)) == 0


def test_a_kv_cache_holds_the_reply_but_its_last_sampled_token():
    prompt, reply = ((1, 2, 3),), (4, 5, 6)
    assert caching.cache_contents(caching.LLAMA_CPP, prompt, reply, finished=True) == ((1, 2, 3), (4, 5, 6))
    assert caching.cache_contents(caching.LLAMA_CPP, prompt, reply, finished=False) == ((1, 2, 3), (4, 5))
    assert caching.cache_contents(caching.OPENAI, prompt, reply, finished=True) == prompt


LONG = "The fox is a small omnivore of the dog family that hunts at dusk and at night. " * 30  # ~540 tokens


def _conversation():
    system = Message("system", "You are a helpful assistant. " + LONG, id="system")
    history = [
        Message("user", "First question. " + LONG, id="q1"),
        Message("assistant", "First answer. " + LONG, id="a1"),
        Message("user", "Second question?", id="q2"),
    ]
    return system, history


def test_the_next_turn_reuses_the_whole_previous_prompt():
    system, history = _conversation()
    previous = caching.CachedCall(BACKEND, (system, history[0]), "First answer. " + LONG)
    nxt = [system, *history]
    prediction = caching.predict(previous, BACKEND, nxt, COUNTER, caching.OPENAI)
    before = COUNTER.count([system.as_api(), history[0].as_api()]).total
    assert prediction.shared == before  # the reply priming is the start of the reply's own message
    assert prediction.cached == before - before % 128 and prediction.cached >= 1024
    assert prediction.prompt_tokens == COUNTER.count([m.as_api() for m in nxt]).total
    assert prediction.breaks_at is None and prediction.lost == 0
    assert prediction.input_cost(GPT4O) < prediction.input_cost_uncached(GPT4O)


def test_switching_an_early_message_off_names_it_and_prices_the_loss():
    system, history = _conversation()
    q3 = Message("user", "Third?", id="q3")
    previous = caching.CachedCall(BACKEND, (system, *history), "Second answer.")
    history = [*history, Message("assistant", "Second answer.", id="a2"), q3]
    switched = [Message("user", history[0].content, included=False, id="q1"), *history[1:]]
    sent = [system, *[m for m in switched if m.included]]
    prediction = caching.predict(previous, BACKEND, sent, COUNTER, caching.OPENAI)
    system_tokens = COUNTER.count([system.as_api()]).total - 3
    assert prediction.breaks_at == 1 and prediction.dropped
    assert prediction.shared == system_tokens + 1  # the system message, and <|start|> of the next one
    assert prediction.cached == 0  # under 1,024 tokens: nothing
    # Made with q1 already off, the cache would hold the system prompt, a1 and q2: those are lost.
    kept = sum(COUNTER.count([m.as_api() for m in (system, *history[1:3])]).per_message)
    assert prediction.could_cache == kept - kept % 128 and prediction.could_cache >= 1024
    assert prediction.lost == prediction.could_cache
    assert prediction.lost_cost(GPT4O) == pytest.approx(prediction.lost * (2.5 - 1.25) / 1e6)
    decisions = [Decision(m, m.included, "included" if m.included else "left out by hand") for m in switched[:-1]]
    why = caching.describe_break(prediction, switched, decisions, "manual")
    assert why == "message 1 (user, “First question. The fox is a small omni…”) was switched off"


def test_a_sliding_window_and_an_edit_are_named():
    system, history = _conversation()
    previous = caching.CachedCall(BACKEND, (system, *history), "ok")
    window = [system, history[2], Message("assistant", "ok", id="a2"), Message("user", "Next", id="q3")]
    prediction = caching.predict(previous, BACKEND, window, COUNTER, caching.OPENAI)
    decisions = [Decision(history[0], False, "older than 1 turns"), Decision(history[1], False, "older than 1 turns")]
    assert caching.describe_break(prediction, history, decisions, "last_turns") == (
        "message 1 (user, “First question. The fox is a small omni…”) is left out by the context strategy "
        "(older than 1 turns)"
    )
    edited = Message("user", "Second question, edited?", id="q2")
    prediction = caching.predict(previous, BACKEND, [system, *history[:2], edited], COUNTER, caching.OPENAI)
    assert prediction.breaks_at == 3 and not prediction.dropped
    assert (
        caching.describe_break(prediction, [*history[:2], edited])
        == "message 3 (user, “Second question, edited?”) was edited"
    )
    system_edited = Message("system", "Be terse.", id="system")
    prediction = caching.predict(previous, BACKEND, [system_edited, *history], COUNTER, caching.OPENAI)
    assert prediction.shared == 3 and caching.describe_break(prediction, history) == "the system prompt was edited"


def test_a_cold_cache_and_another_backend_cache_nothing():
    system, history = _conversation()
    cold = caching.predict(None, BACKEND, [system, history[0]], COUNTER, caching.OPENAI)
    assert (cold.cached, cold.shared, cold.cold) == (0, 0, "no earlier call in this session")
    previous = caching.CachedCall(("openai", "", "gpt-4o-mini"), (system, history[0]), "x")
    other = caching.predict(previous, BACKEND, [system, *history], COUNTER, caching.OPENAI)
    assert other.cached == 0 and "another model" in other.cold


def test_an_unknown_rule_shows_the_shared_prefix_but_predicts_nothing():
    system, history = _conversation()
    previous = caching.CachedCall(BACKEND, (system, history[0]), "First answer. " + LONG)
    prediction = caching.predict(previous, BACKEND, [system, *history], COUNTER, caching.UNKNOWN)
    assert prediction.cached is None and prediction.shared > 1024 and prediction.lost == 0


def test_a_counter_without_token_ids_predicts_nothing():
    class CountsOnly:
        def count(self, messages):
            raise AssertionError("not needed")

    assert caching.predict(None, BACKEND, [Message("user", "hi")], CountsOnly(), caching.OPENAI) is None


# --- against the embedded server: llama.cpp's own prefix cache -----------------------------------


def _send(server, request, stream: bool):
    from lib.backends.providers import ProviderConfig, make_client, stream_chat
    from lib.core.outcome import CallOutcome

    body = {**request.plan.body, "stream": stream}
    if not stream:
        body.pop("stream_options", None)
    outcome = CallOutcome()
    for _ in stream_chat(
        make_client(ProviderConfig("embedded", models.EMBEDDED_MODEL, server.base_url)), body, outcome
    ):
        pass
    assert outcome.ok, outcome.error
    return outcome


def test_predicted_cached_tokens_equal_the_embedded_servers_over_a_conversation(embedded_server, embedded_tokenizer):
    from lib.context.conversation import SystemPrompt
    from lib.context.payload import Sampling
    from lib.context.request import Target, build_request
    from lib.context.strategies import Strategy

    target = Target(models.MODELS[models.EMBEDDED_MODEL], embedded_tokenizer, models.EMBEDDED_MODEL)
    system = SystemPrompt("You are a helpful assistant who answers briefly.")
    backend = ("embedded", embedded_server.base_url, models.EMBEDDED_MODEL)
    history: list[Message] = []
    previous = None
    questions = ["What is a fox?", "Say yes.", "What does it eat?", "Where does it live?", "Name one predator."]
    for turn, text in enumerate(questions):
        question = Message("user", text)
        # Short replies stop on length, longer limits let some end on their own: both leave the cache differently.
        sampling = Sampling(temperature=0.0, max_tokens=8 if turn % 2 else 32, seed=1)
        request = build_request(system, history, question, Strategy("manual"), target, sampling)
        prediction = caching.predict(previous, backend, request.plan.messages, embedded_tokenizer, caching.LLAMA_CPP)
        outcome = _send(embedded_server, request, stream=turn % 2 == 0)
        assert outcome.usage.prompt_tokens == request.plan.prompt_tokens == prediction.prompt_tokens
        if previous is not None:  # the first call meets whatever the tests before left in the cache
            assert outcome.usage.cached_tokens == prediction.cached, (turn, outcome.finish_reason)
            assert prediction.cached > 0
        previous = caching.CachedCall(backend, request.plan.messages, outcome.text, outcome.finish_reason == "stop")
        history += [question, Message("assistant", outcome.text)]
    # An early message switched off: only the system prompt's part of the template is still shared.
    history[0] = Message("user", history[0].content, included=False, id=history[0].id)
    request = build_request(
        system, history, Message("user", "Thanks."), Strategy("manual"), target, Sampling(max_tokens=4)
    )
    prediction = caching.predict(previous, backend, request.plan.messages, embedded_tokenizer, caching.LLAMA_CPP)
    outcome = _send(embedded_server, request, stream=True)
    assert outcome.usage.cached_tokens == prediction.cached
    system_part = len(embedded_tokenizer.tokenize(*embedded_tokenizer.render([system.as_message().as_api()], False)))
    assert system_part <= prediction.cached <= system_part + 3  # the system message, then "<|im_start|>" and a role
    assert prediction.lost > 100 and prediction.breaks_at == 1
