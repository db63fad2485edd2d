"""Prompt caching as the user meets it: the meter's cacheable prefix and what breaks it, the server's
cached tokens beside the prediction, and the run log's cost with the cache applied. Azure OpenAI
cannot run here: the recording server stands in for it, and says what its cache read."""

import pytest

from lib.context.tokens import TiktokenCounter
from lib.core import models
from lib.core.prices import cost, money
from tests.app.conftest import metric, run_log_rows, send
from tests.fake_openai import FakeOpenAI

pytestmark = pytest.mark.slow

LONG = "Foxes are small omnivores of the dog family; they hunt at dusk and at night. " * 80  # ~1,600 tokens


def _azure_chat(base_url: str):

    from tests.app.conftest import new_app

    at = new_app()
    for name, value in {"provider_kind": "azure", "azure_deployment": "chat-prod", "priced_as": "gpt-4o"}.items():
        at.session_state[name] = value
    at.run()
    # Typed, as a user does: a key goes only to the endpoint it was typed for.
    at.text_input(key="azure_endpoint").set_value(base_url.removesuffix("/v1"))
    at.text_input(key="api_key").set_value("azure-key-0123456789")
    at.run()
    assert not at.exception, at.exception
    return at


def _number(text: str) -> int:
    return int(text.split()[0].replace(",", ""))


def test_reported_cached_tokens_are_shown_beside_the_prediction_and_billed_in_the_run_log():
    with FakeOpenAI() as fake:
        at = _azure_chat(fake.base_url)
        fake.behaviour.reply = "Foxes eat mice."
        send(at, "Tell me about foxes. " + LONG)
        assert metric(at, "Predicted cached") == "0"  # the first call: nothing cached yet
        assert metric(at, "Reported cached") == "none reported"
        # The second call repeats the first one's prompt: Azure's rule caches it in 128-token steps.
        counter = TiktokenCounter.for_model("gpt-4o")
        first = [
            {"role": "system", "content": "You are a helpful assistant."},
            {"role": "user", "content": "Tell me about foxes. " + LONG},
        ]
        shared = counter.count(first).total
        predicted = shared - shared % 128
        at.text_area(key="draft").set_value("And their tails? " + LONG).run()
        assert _number(metric(at, "Cacheable prefix")) == predicted >= 1024
        fake.behaviour.prompt_tokens, fake.behaviour.cached_tokens = 3000, predicted
        send(at, "And their tails? " + LONG)
        assert metric(at, "Predicted cached") == f"{predicted:,}"
        assert metric(at, "Reported cached") == f"{predicted:,}"
        assert any("cached tokens billed as cached" in c.value and "genai-prices" in c.value for c in at.caption)
    record = run_log_rows()[-1]
    gpt4o = models.MODELS["gpt-4o"]
    assert record.usage.cached_tokens == predicted
    assert record.cost == pytest.approx(cost(gpt4o.prices, 3000, predicted, record.usage.completion_tokens))
    assert record.cost < cost(gpt4o.prices, 3000, 0, record.usage.completion_tokens)


def test_switching_an_early_message_off_says_how_much_it_uncaches():
    with FakeOpenAI() as fake:
        at = _azure_chat(fake.base_url)
        fake.behaviour.reply = "Noted. " + LONG
        send(at, "First: " + LONG)
        send(at, "Second: tell me more.")
        first_id = at.session_state["history"][0].id
        at.text_area(key="draft").set_value("Third question.").run()
        assert _number(metric(at, "Cacheable prefix")) >= 1024 and not at.warning
        at.toggle(key=f"include_{first_id}").set_value(False).run()
        warning = " ".join(w.value for w in at.warning).replace("\\", "")  # as shown: the escapes are not
        assert "message 1 (user, “First: Foxes are small omnivores of the…”) was switched off" in warning
        # Had the cache been made without message 1, it would hold the system prompt, the reply and the
        # second question (128-token steps): the tokens now uncached, each $1.25/M dearer than cached.
        kept = [
            {"role": "system", "content": "You are a helpful assistant."},
            {"role": "assistant", "content": "Noted. " + LONG},
            {"role": "user", "content": "Second: tell me more."},
        ]
        tokens = sum(TiktokenCounter.for_model("gpt-4o").count(kept).per_message)
        lost = tokens - tokens % 128
        assert f"this change makes {lost:,} tokens uncached ({'+' + money(lost * 1.25 / 1e6)} per call)" in warning
        assert metric(at, "Cacheable prefix") == "0"


def test_on_the_embedded_model_the_prediction_is_what_its_cache_reports(app):
    app.session_state["max_tokens"] = 8
    app.run()
    send(app, "Name a small animal.")
    send(app, "And a big one?")
    predicted, reported = metric(app, "Predicted cached"), metric(app, "Reported cached")
    assert predicted == reported and _number(reported) > 0
    app.text_area(key="draft").set_value("And a fast one?").run()
    assert _number(metric(app, "Cacheable prefix")) >= _number(reported)


def test_a_llama_cpp_server_behind_a_compatible_url_is_counted_exactly_and_caches_by_its_rule():
    from tests.app.conftest import chat_on

    with FakeOpenAI() as fake:
        fake.behaviour.tokenizer = "llama.cpp"
        at = chat_on(fake.base_url, "sk-local-0123456789abcdef")
        at.text_area(key="draft").set_value("Combien de renards ?").run()
        label = next(m.label for m in at.metric if m.label.startswith("Prompt tokens"))
        assert label == "Prompt tokens"  # not "(estimate)": the server's own template and tokenizer
        send(at, "Combien de renards ?")
        assert metric(at, "Predicted prompt") == metric(at, "Reported prompt")
        at.text_area(key="draft").set_value("Et de loups ?").run()
        assert metric(at, "Cacheable prefix (estimate)").split()[0] != "0"  # llama.cpp's rule, labelled
        tokenize_calls = fake.tokenize_requests
        assert tokenize_calls and all(
            r.headers.get("authorization") == "Bearer sk-local-0123456789abcdef" for r in tokenize_calls
        )


def test_a_url_that_came_with_a_session_is_not_asked_to_tokenize():

    from tests.app.conftest import new_app

    with FakeOpenAI() as fake:
        fake.behaviour.tokenizer = "llama.cpp"
        at = new_app()
        at.session_state["provider_kind"] = "compatible"
        at.session_state["base_url"] = fake.base_url  # as opening an imported session sets it
        at.session_state["compatible_model"] = "fake-model"
        at.run()
        assert not at.exception, at.exception
        at.text_area(key="draft").set_value("Hello").run()
        assert fake.tokenize_requests == [] and fake.requests == []
        assert next(m.label for m in at.metric if m.label.startswith("Prompt tokens")) == "Prompt tokens (estimate)"


def test_the_cacheable_prefix_is_a_number_with_its_total_under_it_and_a_reopened_session_is_not_said_to_have_no_call():
    """Was: "114 of …" (the value "1,114 of 2,300" cut at 1280 px), and "Nothing cached yet: no earlier call
    in this session" on a session reopened after many calls."""
    from lib.context.caching import NO_CALL, NOT_HERE_YET
    from lib.context.conversation import Message
    from tests.app.conftest import chat_on

    with FakeOpenAI() as fake:
        fake.behaviour.tokenizer = "llama.cpp"
        at = chat_on(fake.base_url)
        at.session_state["history"] = [Message("user", "Hi, I am Ada."), Message("assistant", "Hello Ada.")]
        at.text_area(key="draft").set_value("Who am I?").run()
        captions = " ".join(c.value for c in at.caption)
        assert f"Nothing cached yet: {NOT_HERE_YET}" in captions and NO_CALL not in captions
        send(at, "Who am I?")
        at.text_area(key="draft").set_value("And again?").run()
        shown = next(m for m in at.metric if m.label.startswith("Cacheable prefix"))
        assert shown.value.replace(",", "").isdigit() and int(shown.value.replace(",", "")) > 0
        total = next(m.value for m in at.metric if m.label.startswith("Prompt tokens"))
        assert shown.proto.delta == f"of {total} tokens"
