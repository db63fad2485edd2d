"""The token inspector through AppTest: the chat's next request, token by token, as the counters count it."""

import html
import re
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from lib.analysis.inspect_tokens import MAX_RENDERED
from lib.context.conversation import Message
from lib.context.tokens import TiktokenCounter
from tests.app.conftest import metric, new_app

pytestmark = pytest.mark.slow

PAGE = str(Path(__file__).resolve().parents[2] / "pages" / "inspector.py")
SYSTEM = {"role": "system", "content": "You are a helpful assistant."}
HISTORY = [
    Message("user", "My name is Ada and I like 🦊 foxes."),
    Message("assistant", "Nice to meet you, Ada!"),
    Message("user", "What animal do I like?"),
    Message("assistant", "Foxes."),
]


def _open(history: list[Message], **state) -> AppTest:
    at = new_app(PAGE)
    at.session_state["history"] = list(history)
    for key, value in state.items():
        at.session_state[key] = value
    at.run()
    assert not at.exception, at.exception
    return at


def _tokens(at: AppTest) -> int:
    return int(metric(at, "Prompt tokens").replace(",", ""))


def _sent(history: list[Message]) -> list[dict]:
    return [SYSTEM, *(m.as_api() for m in history if m.included)]


def _drawn(at: AppTest) -> int:
    return at.html[0].value.count(' title="')


def _shown_text(at: AppTest) -> str:
    """What a reader sees of the tokens: the markup without the style, the tags and the newline marks."""
    markup = at.html[0].value.split("</style>", 1)[1]
    return html.unescape(re.sub(r"<[^>]+>", "", markup)).replace("↵", "")


def test_the_embedded_model_is_inspected_by_default_with_its_exact_count(embedded_tokenizer):
    at = _open(HISTORY)
    expected = embedded_tokenizer.count(_sent(HISTORY))
    assert _tokens(at) == expected.total == _drawn(at)
    assert "Nice to meet you, Ada!" not in at.html[0].value  # drawn token by token…
    assert "<|im_start|>assistant\nNice to meet you, Ada!<|im_end|>" in _shown_text(at)  # …template included
    table = at.dataframe[0].value
    assert list(table["tokens"])[:-1] == list(expected.per_message) and table["tokens"].sum() == expected.total


@pytest.mark.parametrize("encoding", ["o200k_base", "cl100k_base"])
def test_an_openai_encoding_counts_what_lib_tokens_counts(encoding):
    at = _open(HISTORY)
    at.selectbox(key="inspector_encoding").set_value(encoding).run()
    assert _tokens(at) == TiktokenCounter(encoding, True).count(_sent(HISTORY)).total == _drawn(at)
    assert "&lt;|start|&gt;" in at.html[0].value and "The cue that starts the reply" in at.html[0].value


def test_an_openai_model_in_the_sidebar_picks_its_encoding():
    at = _open(HISTORY, provider_kind="openai", openai_model="gpt-4")
    assert at.selectbox(key="inspector_encoding").value == "cl100k_base"
    assert _tokens(at) == TiktokenCounter("cl100k_base", True).count(_sent(HISTORY)).total


def test_it_inspects_what_the_chat_would_send_draft_included(embedded_tokenizer):
    history = [HISTORY[0], Message("assistant", "Hello there, fox friend.", included=False), *HISTORY[2:]]
    at = _open(history, draft="And my cat?")
    shown = _shown_text(at)
    assert "fox friend" not in shown and "And my cat?" in shown
    messages = [*_sent(history), {"role": "user", "content": "And my cat?"}]
    assert _tokens(at) == embedded_tokenizer.count(messages).total
    assert any("the unsent draft is the last message" in c.value for c in at.caption)


def test_the_chat_strategy_decides_what_is_inspected(embedded_tokenizer):
    at = _open(HISTORY, strategy_kind="last_turns", strategy_turns=1)
    assert _tokens(at) == embedded_tokenizer.count(_sent(HISTORY[2:])).total


def test_html_in_a_message_is_shown_as_text():
    at = _open([Message("user", '<script>alert("boom")</script><b>bold</b>')])
    markup = at.html[0].value
    assert "<script" not in markup and "<b>" not in markup
    assert ">&lt;</span>" in markup and ">script</span>" in markup  # the tokenizer splits the tag: drawn as text


def test_the_hi_example_explains_its_cost(embedded_tokenizer):
    at = _open([])
    hi = embedded_tokenizer.count([{"role": "user", "content": "Hi"}]).total
    explanation = next(m.value for m in at.markdown if "Why “Hi” costs" in m.value)
    assert f"costs {hi} tokens" in explanation and "default system prompt" in explanation
    assert any(">Hi<" in h.value for h in at.html)


def test_a_long_prompt_draws_the_first_tokens_and_says_so():
    long = [Message("user", "fox " * 2500), Message("assistant", "dog " * 2500), Message("user", "cat " * 2500)]
    at = _open(long)
    total = _tokens(at)
    assert total > MAX_RENDERED and _drawn(at) == MAX_RENDERED
    caption = next(c.value for c in at.caption if c.value.startswith("Showing the first"))
    assert re.search(rf"first {MAX_RENDERED:,} of {total:,} tokens", caption)


def test_any_text_is_split_as_tiktokenizer_does():
    from lib.context.tokens import get_encoding

    text = "Context windows aren't free: 🦊 tokens cost money."
    at = _open([], inspector_source="text", inspector_encoding="o200k_base", inspector_text=text)
    tokens = len(get_encoding("o200k_base").encode(text))
    assert metric(at, "Tokens") == str(tokens) and _drawn(at) == tokens
    assert metric(at, "Characters") == str(len(text))
    assert "tokens cost money." in _shown_text(at) and "&lt;|start|&gt;" not in at.html[0].value  # no chat format
    at.toggle(key="inspector_as_message").set_value(True).run()
    assert _tokens(at) == TiktokenCounter("o200k_base", True).count([{"role": "user", "content": text}]).total


def test_any_text_on_the_embedded_tokenizer(embedded_tokenizer):
    at = _open([], inspector_source="text", inspector_text="Hello, Ada!")
    assert at.selectbox(key="inspector_encoding").value == "embedded"
    assert metric(at, "Tokens") == str(len(embedded_tokenizer.tokenize("Hello, Ada!", True)))


def test_a_compare_variants_request_can_be_inspected(embedded_tokenizer):
    at = _open(HISTORY, inspector_source="variant")
    names = at.selectbox(key="inspector_variant").options
    assert names[0] == "System prompt + full history" and len(names) == 4
    assert (
        _tokens(at)
        == embedded_tokenizer.count([*_sent(HISTORY), {"role": "user", "content": "What is my name?"}]).total
    )
    at.selectbox(key="inspector_variant").set_value(names[1]).run()  # the bare question: nothing but it
    assert _tokens(at) == embedded_tokenizer.count([{"role": "user", "content": "What is my name?"}]).total
    assert any("no system prompt · no history" in c.value for c in at.caption)
