"""The built-in test set: facts planted at different depths of a long conversation, asked at its end.

Four conversations of 24 turns of small talk. In each, four facts are told — a name, a city, a
number, a preference — one at each of four depths (23, 17, 11 and 5 turns before the question),
each fact at a different depth in each conversation. Then each fact is asked for. A case passes
when the answer holds the fact (case-insensitive). Under *Full history* every fact is in the
prompt; under *Last N turns* only the facts told in the last N turns are; under *No history* none
is: the forgetting curve (pass rate by turns ago, per strategy) shows where each one forgets.

The facts are ones a model cannot guess (an unusual name, a number), phrased the way SmolLM2-135M
answers reliably when the fact is in its prompt (measured: README, "Experiments").
"""

from __future__ import annotations

from lib.analysis.experiments.cases import Case, Check, Conversation, TestSet
from lib.context.conversation import Message

NAME = "Facts planted at different depths (built-in)"
TURNS = 24
SYSTEM = "You are a helpful assistant. Answer in one short sentence."
# Depths: the turn (0-based) each fact is told in; the question comes after turn TURNS - 1.
POSITIONS = (1, 7, 13, 19)

# (fact, what the user says, the reply, the question, what the answer must contain). SmolLM2-135M
# answers "What is my X?" by copying the reply "Your X is Y" it finds in its prompt; asked about its
# favourite anything, it answers from its own prior ("blue", "apples") whatever the prompt says. So the
# preference is phrased like the other facts, and no small talk below starts "What is…" (the model
# copied "What is a good stretch…" → "The cat-cow stretch." as the answer to "What is my …?").
FACTS = (
    ("name", "My name is Marisol.", "Your name is Marisol.", "What is my name?", "Marisol"),
    (
        "city",
        "My home town is called Porto.",
        "Your home town is called Porto.",
        "What is my home town called?",
        "Porto",
    ),
    ("number", "My locker number is 4817.", "Your locker number is 4817.", "What is my locker number?", "4817"),
    (
        "preference",
        "My preferred seat is the window seat.",
        "Your preferred seat is the window seat.",
        "What is my preferred seat?",
        "window",
    ),
)
FILLER = (
    ("How do I start the morning well?", "A glass of water and a short walk."),
    ("Any tip for keeping plants alive?", "Water them when the soil is dry."),
    ("How do I stay focused at work?", "Work in short blocks with breaks."),
    ("How do I choose a holiday book?", "Pick a light novel you can put down easily."),
    ("How often should I stretch?", "A few minutes every hour helps."),
    ("Is tea better than coffee?", "Both are fine in moderation."),
    ("How can I sleep better?", "Keep a regular bedtime and a dark room."),
    ("Any idea for a weekend hobby?", "Hiking, baking or painting."),
    ("How do I learn a language?", "Practise a little every day."),
    ("How do I clean a cast iron pan?", "Rinse it, dry it, oil it lightly."),
    ("How do I fold a shirt?", "Sleeves in, then fold it in thirds."),
    ("How do I ease a stiff back?", "Gentle stretches and a short walk."),
    ("How do I make rice fluffy?", "Rinse it first and let it rest."),
    ("Any podcast topic you suggest?", "History told as stories."),
    ("How do I keep bread fresh?", "Store it in a cloth bag."),
    ("Any gift idea for a friend?", "A plant or a good book."),
    ("How do I get better at chess?", "Solve a few puzzles every day."),
    ("Any tip for public speaking?", "Rehearse aloud and slow down."),
    ("How do I write a good email?", "Say what you need in the first line."),
    ("How do I keep a journal?", "Write a few lines each evening."),
)


def _layout(conversation: int) -> dict[str, int]:
    """Which turn each fact is told in: the depths rotate from one conversation to the next."""
    return {fact[0]: POSITIONS[(index + conversation) % len(POSITIONS)] for index, fact in enumerate(FACTS)}


def conversation(number: int) -> tuple[Message, ...]:
    told = {turn: fact for fact, turn in _layout(number).items()}
    facts = {fact[0]: fact for fact in FACTS}
    messages: list[Message] = []
    filler = iter(FILLER[number % len(FILLER) :] + FILLER[: number % len(FILLER)])
    for turn in range(TURNS):
        if turn in told:
            _, said, reply, _, _ = facts[told[turn]]
        else:
            said, reply = next(filler)
        messages += [
            Message("user", said, id=f"h{2 * turn:04d}"),
            Message("assistant", reply, id=f"h{2 * turn + 1:04d}"),
        ]
    return tuple(messages)


def test_set() -> TestSet:
    cases = []
    for number in range(len(POSITIONS)):
        history = Conversation("inline", conversation(number), SYSTEM)
        for fact, _, _, question, expected in FACTS:
            turns_ago = TURNS - _layout(number)[fact]
            cases.append(
                Case(
                    f"{'ABCD'[number]}-{fact}",
                    question,
                    history,
                    (Check("contains", expected, ignore_case=True),),
                    turns_ago,
                    f"conversation {'ABCD'[number]}: the {fact} was told {turns_ago} turns before",
                )
            )
    description = (
        "Four 24-turn conversations; in each, a name, a city, a number and a preference are told at 23, 17, 11 and "
        "5 turns before the question, then each is asked for. Run it under Full history, Last N turns and No "
        "history to see where each strategy forgets."
    )
    return TestSet(NAME, tuple(cases), description)
