"""Built-in demo conversations: short conversations whose question the embedded model answers right
with the context it needs and wrong without it, measured so a live demo does not backfire.

SmolLM2-135M (the embedded model) repeats a fact when the fact is one plain word, the assistant has
restated it in the words the answer takes ("Got it: your dog's name is Biscuit." → "The dog's name is
Biscuit."), and a few short question-and-answer turns show it the shape of an answer. Otherwise it
often answers wrong: a number ("locker 4471" → "1480"); a dog's name asked for right after it is
given (wrong in 4 of 14); a code word given in the conversation and asked for three turns later
(wrong in 12 of 12: "The code word is \"code\"."). Each demo here was searched for on the model
at temperature 0 (the words kept are ones it gets right) and is measured by
`bench/demo_conversations.py`: ten variants of the same conversation (ten words planted in it, as
the agent trace plants ten cities), each asked under the full context and under the contexts that
leave the fact out. The README's "Giving a demo" gives the counts.

An answer is right when it contains the expected word, case folded: the experiments' `icontains`
check (lib/analysis/experiments/kinds.py), so *correct?* means the same on Compare, in an experiment
and here.

The API, small on purpose (the recorded demos and the presenter's view use it too):

- `DEMOS`: every demo, in the order a presenter tells the story; `demo(key)` finds one.
- `DemoConversation`: `title`, `shows` (one line for a stakeholder), `system`, `messages` (wire dicts),
  `question`, `expected`, `arms` (each a Compare `Variant` and whether it should be right) — those of the
  variant the app loads; `case(value)` and `cases()` the same conversation for each planted word.
- `answered(answer, expected)`: the check.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from lib.analysis.compare import Variant
from lib.analysis.experiments.kinds import Check, decide
from lib.context.strategies import Strategy

HELPFUL = "You are a helpful assistant."

# The Compare variants the demos are measured under: the same names and contexts as Compare's presets.
FULL = Variant("System prompt + full history", Strategy("full"))
STATELESS = Variant("System prompt + question, no history", Strategy("none"))
BARE = Variant("Bare question: no system prompt, no history", Strategy("none"), system_override="")
LAST_2 = Variant("System prompt + last 2 turns", Strategy("last_turns", last_turns=2))


def answered(answer: str, expected: str) -> bool:
    """Whether `answer` states `expected`: the experiments' `icontains` check (the text found, case folded)."""
    passed, _ = decide(Check("contains", expected, ignore_case=True), answer)
    return bool(passed)


@dataclass(frozen=True)
class Arm:
    """One context the demo is asked under, and what the model should do with it."""

    variant: Variant  # a Compare variant: its strategy, and whether the system prompt goes
    right: bool  # the answer should contain the expected word


@dataclass(frozen=True)
class DemoCase:
    """One variant of a demo: the conversation with one word planted in it."""

    system: str  # the system prompt ("" for none)
    messages: tuple[dict, ...]  # the history, Chat Completions wire dicts, oldest first
    question: str
    expected: str  # the planted word: the right answer contains it

    def answered(self, answer: str) -> bool:
        return answered(answer, self.expected)


@dataclass(frozen=True)
class DemoConversation:
    key: str  # a stable name (tests, the bench, recordings)
    title: str
    shows: str  # what it shows, in one line a stakeholder reads
    values: tuple[str, ...]  # the ten words planted, one per variant; the first is the one the app loads
    arms: tuple[Arm, ...]  # the first is the full context, right; the others leave the fact out
    build: Callable[[str], DemoCase]

    def case(self, value: str | None = None) -> DemoCase:
        """The conversation with `value` planted (the first of `values` when None)."""
        return self.build(self.values[0] if value is None else value)

    def cases(self) -> list[DemoCase]:
        """One per planted word: what the bench measures."""
        return [self.build(value) for value in self.values]

    # The loaded variant's parts, read directly.
    @property
    def system(self) -> str:
        return self.case().system

    @property
    def messages(self) -> tuple[dict, ...]:
        return self.case().messages

    @property
    def question(self) -> str:
        return self.case().question

    @property
    def expected(self) -> str:
        return self.case().expected

    @property
    def variants(self) -> tuple[Variant, ...]:
        """The Compare variants it is measured under, in order (full context first)."""
        return tuple(arm.variant for arm in self.arms)

    @property
    def right_under(self) -> tuple[str, ...]:
        return tuple(arm.variant.name for arm in self.arms if arm.right)

    @property
    def wrong_under(self) -> tuple[str, ...]:
        return tuple(arm.variant.name for arm in self.arms if not arm.right)


def _turn(user: str, assistant: str) -> tuple[dict, dict]:
    return {"role": "user", "content": user}, {"role": "assistant", "content": assistant}


# --- the demos ----------------------------------------------------------------------------------------


# Three questions of small talk after the fact: they make the conversation long enough for a "last 2
# turns" strategy to drop the fact, and they show the model the shape its answer takes (a question,
# the answer restated): with them SmolLM2 names the planted word far more often than right after it.
SMALL_TALK: tuple[dict, ...] = (
    *_turn("What is the capital of France?", "The capital of France is Paris."),
    *_turn("How many days are in a week?", "There are seven days in a week."),
    *_turn("What colour is the sky?", "The sky is blue."),
)


def _name(name: str) -> DemoCase:
    return DemoCase(
        HELPFUL,
        (*_turn(f"My name is {name}.", f"Got it: your name is {name}."), *SMALL_TALK),
        "What is my name?",
        name,
    )


NAME = DemoConversation(
    key="name",
    title="The model forgets what is not sent",
    shows="Tell the model your name, chat a little, then ask it back: with the conversation sent it knows; "
    "asked on its own, the same model has never heard of you.",
    values=("Priya", "Tomas", "Keiko", "Ingrid", "Zara", "Dmitri", "Leila", "Hamid", "Sofia", "Nadia"),
    arms=(Arm(FULL, True), Arm(STATELESS, False), Arm(BARE, False)),
    build=_name,
)


def _dog(name: str) -> DemoCase:
    return DemoCase(
        HELPFUL,
        (*_turn(f"My dog's name is {name}.", f"Got it: your dog's name is {name}."), *SMALL_TALK),
        "What is my dog's name?",
        name,
    )


EARLY = DemoConversation(
    key="early_fact",
    title="Keeping only the last turns drops an early fact",
    shows="Your dog's name at the start, then three other questions: the full history still holds it; "
    "keeping only the last 2 turns (cheaper) loses it, and so does sending no history.",
    values=("Biscuit", "Pepper", "Mango", "Ziggy", "Waffles", "Noodle", "Pickles", "Juniper", "Otis", "Clover"),
    arms=(Arm(FULL, True), Arm(LAST_2, False), Arm(STATELESS, False)),
    build=_dog,
)


def _system_rule(word: str) -> DemoCase:
    # In quotes: the model answers 'The code word is "…"', and copies the quoted word (7 of 12 unquoted).
    return DemoCase(f'{HELPFUL} The code word is "{word}".', (), "What is the code word?", word)


SYSTEM_RULE = DemoConversation(
    key="system_prompt",
    title="The system prompt is sent every time too",
    shows="The code word is only in the system prompt: sent with the question, the model answers it; "
    "leave the system prompt out and the model does not know it.",
    values=("falcon", "harbor", "pepper", "meadow", "copper", "lantern", "walnut", "orbit", "velvet", "cactus"),
    arms=(Arm(FULL, True), Arm(BARE, False)),
    build=_system_rule,
)

DEMOS: tuple[DemoConversation, ...] = (NAME, EARLY, SYSTEM_RULE)


def demo(key: str) -> DemoConversation:
    """The demo named `key`; KeyError naming the known ones."""
    for each in DEMOS:
        if each.key == key:
            return each
    raise KeyError(f"no demo conversation {key!r} (known: {', '.join(d.key for d in DEMOS)})")
