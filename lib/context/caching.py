"""Prompt caching: how much of the next call a provider can read from its cache of the previous one.

Every call resends the context, but providers keep the prompt prefix they last computed: the part
of the next prompt that repeats it, token for token from the start, is read back instead of being
computed (and, at OpenAI, billed at the cached-input price). The rules, in one table:

- OpenAI and Azure OpenAI (documented): nothing below 1,024 shared tokens, then in steps of 128;
  the cache holds prompts (not replies), best effort, for minutes of inactivity.
- The embedded llama.cpp server (measured, exact): its KV cache holds the previous prompt and every
  token of the reply but the last one sampled; the new prompt reuses the longest common prefix,
  all of it when the prompt equals the cache, all but one token when it is a proper prefix of it.
- Any other server: unknown; the shared prefix is shown, labelled an estimate.

A prompt is compared as segments of token ids (one per message where the format allows), so a
long unchanged history is compared message by message, not token by token.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import chain
from typing import Protocol

from lib.context.conversation import Message
from lib.core.models import ModelInfo
from lib.core.prices import cost

Segments = tuple[tuple[int, ...], ...]


@dataclass(frozen=True)
class CacheRule:
    name: str  # who caches, for the label
    minimum: int  # below this many shared tokens nothing is cached
    step: int  # cached tokens come in multiples of this
    holds_reply: bool  # the cache holds the previous reply too (a KV cache), not only the prompt
    known: bool  # a rule to predict with; False: none (the shared prefix alone is shown)
    note: str  # where the rule comes from, one sentence
    estimate: bool = False  # a likely rule (the server's settings decide), not a documented or measured one

    def cached(self, shared: int, prompt_tokens: int, cache_tokens: int) -> int:
        """Tokens read from the cache when `shared` tokens of a `prompt_tokens` prompt repeat, from
        the start, what the cache holds (`cache_tokens`)."""
        shared = max(0, min(shared, prompt_tokens, cache_tokens))
        if self.holds_reply and shared == prompt_tokens and prompt_tokens:
            # llama.cpp keeps a whole prompt that equals its cache; one it holds more than, it
            # re-evaluates by one token (the logits of the last prompt position are needed).
            shared = prompt_tokens if prompt_tokens == cache_tokens else prompt_tokens - 1
        if shared < self.minimum:
            return 0
        return shared - shared % self.step


OPENAI = CacheRule(
    "OpenAI",
    1024,
    128,
    holds_reply=False,
    known=True,
    note="OpenAI caches prompts from 1,024 tokens in 128-token steps, automatically and best effort "
    "(an idle cache is cleared after minutes)",
)
AZURE = CacheRule(
    "Azure OpenAI",
    1024,
    128,
    holds_reply=False,
    known=True,
    note="Azure OpenAI caches prompts from 1,024 tokens in 128-token steps, as OpenAI does, on the models "
    "that support it",
)
LLAMA_CPP = CacheRule(
    "llama.cpp",
    0,
    1,
    holds_reply=True,
    known=True,
    note="llama.cpp reuses its KV cache for the longest prefix shared with the previous prompt and reply; "
    "any other call to the same server (another tab, Compare, a summary) replaces it",
)
UNKNOWN = CacheRule(
    "this server",
    0,
    1,
    holds_reply=False,
    known=False,
    note="This server documents no cache rule the app knows: the shared prefix is an estimate of what it could reuse",
)
LLAMA_CPP_SERVER = CacheRule(
    "llama.cpp's server",
    0,
    1,
    holds_reply=True,
    known=True,
    estimate=True,
    note="A llama.cpp server reuses the KV cache of the longest prefix shared with the slot's previous prompt "
    "and reply (cache_prompt, on by default): an estimate, since other clients and other slots change it",
)
VLLM = CacheRule(
    "vLLM",
    16,
    16,
    holds_reply=True,
    known=True,
    estimate=True,
    note="vLLM's automatic prefix caching reuses whole 16-token blocks it has computed (on by default in its V1 "
    "engine): an estimate, since its settings and other clients change it",
)
# Which backend follows which rule is the backend's to say (lib/backends/kinds.py, `Backend.rule_for`).


# --- prompts as token segments -------------------------------------------------------------------


class SegmentingCounter(Protocol):
    """A counter that can also give the prompt's token ids (lib.context.tokens.TiktokenCounter,
    lib.backends.server_tokens.ServerCounter)."""

    def prompt_segments(self, messages: list[dict]) -> Segments: ...

    def reply_segment(self, text: str) -> tuple[int, ...]: ...


def prompt_segments(counter, messages: list[dict]) -> Segments | None:
    """The prompt's token ids as the counter sees them; None when the counter cannot give them."""
    if hasattr(counter, "prompt_segments"):
        return counter.prompt_segments(messages)
    if hasattr(counter, "render") and hasattr(counter, "tokenize"):  # lib.backends.embedded.EmbeddedTokenizer
        return _whole_prompt(counter, tuple((m["role"], m.get("content") or "") for m in messages))
    return None


_RECENT = 8  # prompts kept tokenized: the last call's, the next one's, a few drafts


@lru_cache(maxsize=_RECENT)
def _whole_prompt(counter, messages: tuple[tuple[str, str], ...]) -> Segments:
    """The whole prompt as its template renders it, tokenized (one segment): the meter asks for the
    last call's prompt and the next one's on every rerun."""
    if not messages:
        return ()
    rendered = counter.render([{"role": role, "content": content} for role, content in messages])
    return (tuple(counter.tokenize(*rendered)),)


def reply_segment(counter, text: str) -> tuple[int, ...]:
    if hasattr(counter, "reply_segment"):
        return counter.reply_segment(text)
    return tuple(counter.tokenize(text, True)) if text else ()  # as it reads inside a prompt: no BOS


def common_prefix(left: Sequence[Sequence[int]], right: Sequence[Sequence[int]]) -> int:
    """Tokens the two segmented sequences share from the start (equal segments are skipped whole)."""
    shared = 0
    index = 0
    while index < len(left) and index < len(right) and left[index] == right[index]:
        shared += len(left[index])
        index += 1
    for a, b in zip(chain.from_iterable(left[index:]), chain.from_iterable(right[index:]), strict=False):
        if a != b:
            break
        shared += 1
    return shared


def cache_contents(rule: CacheRule, prompt: Segments, reply: tuple[int, ...], finished: bool) -> Segments:
    """What the provider's cache holds after a call: its prompt and, for a KV cache, the reply's
    tokens but the last one sampled (the end-of-turn token when it `finished`, else the last kept)."""
    if not rule.holds_reply or not reply:
        return prompt
    return (*prompt, reply if finished else reply[:-1])


# --- the previous call, and the next call's prediction ------------------------------------------


@dataclass(frozen=True)
class CachedCall:
    """A call as the next one's cache sees it: where it went, what it sent, how it ended."""

    backend: tuple[str, ...]  # provider kind, base URL, model on the wire: another backend has another cache
    sent: tuple[Message, ...]  # the messages sent, in order (ids name them in "what breaks the cache")
    reply: str = ""  # the reply's text ("" when none came)
    finished: bool = True  # the reply ended on its own (finish_reason "stop")


@dataclass(frozen=True)
class CachePrediction:
    rule: CacheRule
    prompt_tokens: int
    shared: int  # tokens shared from the start with what the cache holds
    cached: int | None  # what the rule reads from the cache; None: unknown (no rule known)
    could_cache: int | None  # had nothing before the new messages changed: what the rule would read
    cold: str = ""  # why nothing is cached (no previous call, another backend), if so
    breaks_at: int | None = None  # position in the previous call's messages of the first one changed
    old: Message | None = field(default=None, compare=False)  # that message, as the previous call sent it
    new: Message | None = field(default=None, compare=False)  # what the next call sends in its place
    dropped: bool = False  # the old message is not in the next call at all (rather than moved on by an insert)

    @property
    def lost(self) -> int:
        """Tokens the change makes uncached (0 when nothing changed or nothing is known)."""
        if self.cached is None or self.could_cache is None:
            return 0
        return max(self.could_cache - self.cached, 0)

    def input_cost(self, model: ModelInfo) -> float | None:
        return cost(model.prices, self.prompt_tokens, self.cached or 0)

    def input_cost_uncached(self, model: ModelInfo) -> float | None:
        return cost(model.prices, self.prompt_tokens, 0)

    def lost_cost(self, model: ModelInfo) -> float | None:
        """What the change adds to every call from here on (USD)."""
        if not self.lost:
            return 0.0
        now, before = self.input_cost(model), cost(model.prices, self.prompt_tokens, (self.cached or 0) + self.lost)
        return None if now is None or before is None else now - before


REPLY_ID = "previous-reply"
NO_CALL = "no earlier call in this session"
# A session whose replies were not got in this tab (reopened, imported): what its calls left in a
# server's cache, and whether it is still there, is not known here.
NOT_HERE_YET = (
    "no call made since this session was opened here (what its earlier calls left in the server's cache, "
    "if anything is still there, is not known here)"
)


def predict(
    previous: CachedCall | None,
    backend: tuple[str, ...],
    sent: Sequence[Message],
    counter,
    rule: CacheRule,
    no_previous: str | None = None,
) -> CachePrediction | None:
    """What the next call (`sent`, to `backend`) reads from the cache `previous` left; None when
    the counter cannot give token ids. `no_previous`: why there is no previous call, when it is not
    that none was made (NOT_HERE_YET: a reopened session)."""
    failures = getattr(counter, "failures", None)
    prediction = _predict(previous, backend, sent, counter, rule, no_previous or NO_CALL)
    if failures is not None and counter.failures != failures:
        # The server's tokenizer stopped answering part-way (lib.backends.server_tokens.ServerCounter):
        # its ids and the estimate's do not compare. Again, all from the estimate it now gives.
        prediction = _predict(previous, backend, sent, counter, rule, no_previous or NO_CALL)
    return prediction


def _predict(
    previous: CachedCall | None,
    backend: tuple[str, ...],
    sent: Sequence[Message],
    counter,
    rule: CacheRule,
    no_previous: str = NO_CALL,
) -> CachePrediction | None:
    messages = [m.as_api() for m in sent]
    segments = prompt_segments(counter, messages)
    if segments is None:
        return None
    prompt_tokens = sum(map(len, segments))
    if previous is None or previous.backend != backend:
        why = no_previous if previous is None else "the last call went to another model or server"
        return CachePrediction(rule, prompt_tokens, 0, 0 if rule.known else None, 0, cold=why)
    before = prompt_segments(counter, [m.as_api() for m in previous.sent]) or ()
    reply = reply_segment(counter, previous.reply) if rule.holds_reply else ()
    cache = cache_contents(rule, before, reply, previous.finished)
    cache_tokens = sum(map(len, cache))
    shared = common_prefix(cache, segments)
    expected = list(previous.sent)
    if previous.reply and rule.holds_reply:  # only a KV cache holds the reply
        expected.append(Message("assistant", previous.reply, id=REPLY_ID))
    breaks_at = next((i for i, old in enumerate(expected) if i >= len(sent) or sent[i].as_api() != old.as_api()), None)
    if not rule.known:
        return CachePrediction(rule, prompt_tokens, shared, None, None, "", breaks_at)
    cached = rule.cached(shared, prompt_tokens, cache_tokens)
    could = cached
    if breaks_at is not None:
        # Had the cache been made with this change in place, the messages after it that the last call
        # sent too would be read from it: those are the tokens the change makes uncached.
        earlier = Counter((m.role, m.content) for m in expected[breaks_at:])
        per_message = counter.count(messages).per_message
        again = 0
        for message, tokens in zip(sent[breaks_at:], per_message[breaks_at:], strict=True):
            if earlier[message.role, message.content] > 0:  # each earlier message counts once
                earlier[message.role, message.content] -= 1
                again += tokens
        unchanged = min(shared, sum(per_message[:breaks_at]))  # the messages before the change
        could = max(cached, rule.cached(unchanged + again, prompt_tokens, prompt_tokens + 1))
    old = expected[breaks_at] if breaks_at is not None else None
    new = sent[breaks_at] if breaks_at is not None and breaks_at < len(sent) else None
    dropped = old is not None and all(m.id != old.id for m in sent)
    return CachePrediction(rule, prompt_tokens, shared, cached, could, "", breaks_at, old, new, dropped)


def describe_break(
    prediction: CachePrediction, history: Sequence[Message], decisions: Sequence | None = None, strategy: str = ""
) -> str | None:
    """What changed since the last call, in words: "message 3 (user, “…”) was switched off"; None
    when nothing before the new messages changed. `decisions` (lib.context.strategies.Decision) say why a
    message still in the history is not sent."""
    old, new = prediction.old, prediction.new
    if prediction.breaks_at is None or old is None:
        return None
    where = {m.id: i for i, m in enumerate(history)}
    if old.id == REPLY_ID:
        if new is not None and new.role == "assistant" and new.id in where:
            return "the last reply was edited"
        return "the last reply is not sent"
    if old.id == "system":
        if new is not None and new.id == "system":
            return "the system prompt was edited"
        return "the system prompt is no longer sent"
    label = _label(old, where)
    if new is not None and new.id == old.id:
        return f"{_label(new, where)} was edited"
    if prediction.dropped:
        decision = next((d for d in decisions or () if d.message.id == old.id), None)
        if old.id not in where:
            return f"{label} was deleted"
        if decision is not None and not decision.kept and strategy == "manual":
            return f"{label} was switched off"
        if decision is not None and not decision.kept:
            return f"{label} is left out by the context strategy ({decision.reason})"
        return f"{label} is no longer sent"
    if new is not None and new.id in where:
        return f"{_label(new, where)} is now sent before {label}"
    if new is not None:
        return f"a {new.role} message is now sent before {label}"
    return f"{label} is no longer sent"


def _label(message: Message, where: dict[str, int]) -> str:
    words = " ".join(message.content.split())
    words = words if len(words) <= 40 else words[:39] + "…"
    position = where.get(message.id)
    number = f"message {position + 1}" if position is not None else "a message"
    return f"{number} ({message.role}, “{words}”)"
