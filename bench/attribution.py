"""Context attribution on the embedded model: planted facts, determinism, the smallest context, time.

`python -m bench.attribution [--planted-only | --timing-only | --tokens-only] [--grid]`
`[--shapes chat notes] [--sizes N…] [--rounds N] [--threads N]`

1. Planted facts: a fact in one message, filler around it, a question that needs it. The answer is
   the embedded server's at temperature 0 (through the app's own `Reply`); attribution scores it in
   process (leave-one-out). Counted: the fact's message ranks first; a second run gives the same
   numbers (exactly); the smallest context, sent to the server at temperature 0, gives the same answer
   back. `--grid` also runs every fact at every position (50 conversations) and counts how often the
   135M model's answer uses the fact at all.
2. Time for 10 and 30 messages, as a ratio to one call on the same context (the server answering
   it at temperature 0, its prompt cache cold): the attribution with prefix-ordered passes sharing
   the KV cache, and without (every pass evaluated from the start) — and, between the two, the
   passes in a shuffled order with the cache on — in the same run, interleaved. Two contexts: *chat*
   (short messages, a paragraph answer) and *notes* (long pasted notes, a short answer): what the
   order can save depends on that shape (bench/RESULTS.md, section 9).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import time
from dataclasses import dataclass, replace
from pathlib import Path

from bench.common import median, result, synthetic_history, table
from lib.analysis.attribution import AnswerContext, HoldRule, LogprobScorer, ScoringModel, attribute, plan_ablations
from lib.analysis.attribution.planner import AblationPlan
from lib.analysis.attribution.run import plan_cost, smallest_context
from lib.backends.embedded import EmbeddedServer, EmbeddedTokenizer
from lib.backends.providers import ProviderConfig, make_client
from lib.backends.reply import Reply
from lib.context.conversation import Message, SystemPrompt
from lib.context.payload import Sampling
from lib.context.request import Target, build_request
from lib.context.strategies import Strategy
from lib.core.models import EMBEDDED_MODEL, MODELS

SYSTEM = "You are a helpful assistant."
ACK = "Sure, noted."
FILLER = (
    ("I went for a long walk in the park this morning.", "That sounds refreshing."),
    ("Can you recommend a good book?", "Many people enjoy classic novels."),
    ("The weather has been rainy all week.", "I hope it gets sunnier soon."),
    ("I am learning to play the guitar.", "That is a fun hobby."),
)
MORE_FILLER = (  # with FILLER, the 14 filler turns of the 30-message planted conversations
    ("My neighbour is painting his fence green.", "Green fences can look nice."),
    ("I cooked pasta for dinner yesterday.", "Pasta is a quick and tasty meal."),
    ("The train was late again today.", "Delays can be frustrating."),
    ("I watched a documentary about whales.", "Whales are fascinating animals."),
    ("My phone battery drains very quickly.", "Lowering the screen brightness may help."),
    ("We are planning a picnic on Sunday.", "I hope you have good weather."),
    ("I started reading about astronomy.", "The night sky has a lot to explore."),
    ("The coffee shop downstairs closed.", "That is a pity."),
    ("I bought new running shoes.", "Enjoy your runs."),
    ("My plants need more sunlight.", "A window sill could help."),
)
FACTS = (
    ("Please remember: the secret code word is Biscuit.", "What is the secret code word?", "Biscuit"),
    ("Please remember: my sister Maria lives in Lisbon.", "In which city does my sister Maria live?", "Lisbon"),
    ("Please remember: the meeting is on Thursday at 3 pm.", "When is the meeting?", "Thursday"),
    ("Please remember: my wifi password is tulip42.", "What is my wifi password?", "tulip42"),
    ("Please remember: my boss is called Mr. Okafor.", "What is my boss called?", "Okafor"),
    ("Please remember: my flight leaves from gate B12.", "Which gate does my flight leave from?", "B12"),
    ("Please remember: my cat's name is Pepper.", "What is my cat's name?", "Pepper"),
    ("Please remember: the hotel room number is 417.", "What is the hotel room number?", "417"),
    ("Please remember: my favourite fruit is mango.", "What is my favourite fruit?", "mango"),
    ("Please remember: the spare key is under the blue pot.", "Where is the spare key?", "blue pot"),
)


@dataclass(frozen=True)
class Planted:
    fact: int  # index into FACTS
    position: int  # the fact's turn among the filler turns (0: first)
    filler: int = len(FILLER)  # filler turns: 4 (10 messages, leave-one-out) or 14 (30, random ablations)

    @property
    def key(self) -> str:
        return FACTS[self.fact][2]

    @property
    def messages(self) -> int:
        return 2 * (self.filler + 1)

    def history(self) -> list[Message]:
        turns = list((FILLER + MORE_FILLER)[: self.filler])
        turns.insert(self.position, (FACTS[self.fact][0], ACK))
        return [Message(role, text) for turn in turns for role, text in zip(("user", "assistant"), turn, strict=True)]

    def question(self) -> Message:
        return Message("user", FACTS[self.fact][1])

    @property
    def fact_unit(self) -> int:
        """The fact's unit: the system prompt is unit 0, then two messages per turn."""
        return 1 + 2 * self.position


# Ten conversations whose questions the 135M model answers from the conversation (the grid, --grid,
# shows that for half of the 50 it does not use the fact at all, and then nothing can rank it first).
PLANTED = (
    Planted(0, 0),
    Planted(0, 3),
    Planted(1, 1),
    Planted(1, 0),
    Planted(5, 2),
    Planted(5, 4),
    Planted(7, 1),
    Planted(7, 3),
    Planted(9, 4),
    Planted(4, 4),
)
# Thirty messages: the fact at positions spread over the 15 turns, chosen before any was run (the
# answers decide nothing here: how many state the fact is counted, and the ranks read among those).
PLANTED_30 = tuple(
    Planted(fact, position, filler=14)
    for fact, position in ((0, 0), (1, 3), (5, 7), (7, 10), (9, 14), (4, 12), (0, 9), (7, 5), (1, 13), (5, 2))
)
GRID = tuple(Planted(fact, position) for fact in range(len(FACTS)) for position in range(len(FILLER) + 1))

ANSWER_TOKENS = 96
TIMING_SIZES = (10, 30)
SHAPES = ("chat", "notes")
TIMING_ROUNDS = 1  # a round at 30 messages is about 20 minutes a context on one thread
TARGET_RATIO = 0.6


def target(tokenizer: EmbeddedTokenizer) -> Target:
    return Target(MODELS[EMBEDDED_MODEL], tokenizer, EMBEDDED_MODEL)


def greedy_sampling() -> Sampling:
    return Sampling(temperature=0.0, max_tokens=ANSWER_TOKENS, stream=False)


def request_for(history: list[Message], question: Message, tokenizer: EmbeddedTokenizer):
    return build_request(
        SystemPrompt(SYSTEM), history, question, Strategy("full"), target(tokenizer), greedy_sampling()
    )


def ask(client, body: dict) -> tuple[str, float]:
    started = time.perf_counter()
    reply = Reply(client, body)
    text = reply.text()
    if not reply.outcome.ok:
        raise RuntimeError(f"the embedded server failed: {reply.outcome.error}")
    return text, time.perf_counter() - started


@dataclass
class PlantedRow:
    case: Planted
    answer: str
    uses_fact: bool
    rank: int
    deterministic: bool
    kept: int
    units: int
    saving: float
    reproduced: bool | None
    full_greedy: bool
    fit_r2: float | None = None  # random ablations: the fit's held-out R²

    def cells(self) -> list[object]:
        fact = FACTS[self.case.fact][2]
        reproduced = "—" if self.reproduced is None else ("yes" if self.reproduced else "no")
        return [
            f"{fact} @ {self.case.position}",
            self.answer.replace("|", "/")[:60],
            "yes" if self.uses_fact else "no",
            self.rank,
            "—" if self.fit_r2 is None else f"{self.fit_r2:.2f}",
            "yes" if self.deterministic else "NO",
            f"{self.kept} of {self.units}",
            f"−{self.saving:.0%}",
            reproduced,
            "yes" if self.full_greedy else "no",
        ]


def planted_row(case: Planted, client, scorer: LogprobScorer, tokenizer, minimise: bool = True) -> PlantedRow:
    request = request_for(case.history(), case.question(), tokenizer)
    answer, _ = ask(client, request.plan.body)
    context = AnswerContext.of(request, answer, target(tokenizer))
    plan = plan_ablations(len(context.units))
    first = attribute(context, scorer, plan)
    second = attribute(context, scorer, plan)
    deterministic = [p.value for p in first.passes] == [p.value for p in second.passes]
    rank = first.ranking().index(case.fact_unit) + 1
    kept, saving, reproduced = len(context.units), 0.0, None
    if minimise:
        found = smallest_context(context, scorer, first, HoldRule())
        kept, saving = found.minimal.kept_count, found.token_saving
        again, _ = ask(client, context.request_for(found.kept).plan.body)
        reproduced = again == answer
    return PlantedRow(
        case,
        answer,
        case.key.casefold() in answer.casefold(),
        rank,
        deterministic,
        kept,
        len(context.units),
        saving,
        reproduced,
        bool(first.full.greedy),
        first.fit.heldout_r2 if first.fit else None,
    )


def planted(client, scorer: LogprobScorer, tokenizer, grid: bool, cases=PLANTED) -> float:
    rows = []
    for case in cases:
        rows.append(planted_row(case, client, scorer, tokenizer))
        print(" | ".join(str(cell) for cell in rows[-1].cells()), flush=True)
    headers = [
        "fact @ turn",
        "answer (temperature 0)",
        "states it",
        "rank",
        "fit R²",
        "same twice",
        "smallest",
        "tokens",
        "sent again: same",
        "greedy",
    ]
    print(table(headers, [row.cells() for row in rows]), flush=True)
    first = sum(row.rank == 1 for row in rows)
    reproduced = sum(bool(row.reproduced) for row in rows)
    using = [row for row in rows if row.uses_fact]
    print(
        f"\n{rows[0].case.messages} messages: the answer states the fact in {len(using)} of {len(rows)}; among "
        f"those the fact's message ranks first in {sum(r.rank == 1 for r in using)}.",
        flush=True,
    )
    print(
        f"The fact's message ranks first in {first} of {len(rows)}; the same numbers twice in "
        f"{sum(r.deterministic for r in rows)} of {len(rows)}; the smallest context keeps on average "
        f"{statistics.mean(r.kept for r in rows):.1f} of {rows[0].units} messages "
        f"(−{statistics.mean(r.saving for r in rows):.0%} prompt tokens) and, sent at temperature 0, gives the "
        f"same answer back in {reproduced} of {len(rows)}.",
        flush=True,
    )
    name = "attribution_planted" + ("" if rows[0].case.messages == 10 else f"_{rows[0].case.messages}")
    result(f"{name}_ranked_first", first)
    result(f"{name}_ranked_first_of_those_stating_it", sum(r.rank == 1 for r in using))
    result(f"{name}_same_twice", sum(r.deterministic for r in rows))
    result(f"{name}_smallest_same_answer", reproduced)
    if grid:
        survey = [planted_row(case, client, scorer, tokenizer, minimise=False) for case in GRID]
        using = [row for row in survey if row.uses_fact]
        print(
            f"\nGrid ({len(survey)} conversations: every fact at every turn): the answer states the fact in "
            f"{len(using)}; the fact's message ranks first in {sum(r.rank == 1 for r in using)} of those, and in "
            f"{sum(r.rank == 1 for r in survey if not r.uses_fact)} of the {len(survey) - len(using)} others.",
            flush=True,
        )
    return first / len(rows)


_TEAMS = ("platform", "billing", "search", "mobile", "data", "support", "security", "design")
_TOPICS = ("checkout", "onboarding", "invoicing", "analytics", "notifications", "export", "login", "pricing")
_CODES = (
    "Heron",
    "Quartz",
    "Maple",
    "Comet",
    "Juniper",
    "Falcon",
    "Cobalt",
    "Saffron",
    "Tundra",
    "Orchid",
    "Granite",
    "Willow",
    "Pelican",
    "Ember",
    "Lagoon",
)
_CITIES = ("Lisbon", "Porto", "Ghent", "Turin", "Gdansk", "Leeds", "Malmo")
_PEOPLE = ("Amara", "Bruno", "Chen", "Dalia", "Emeka", "Freya", "Goran")
_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday")


def note(index: int) -> str:
    """A meeting note pasted into the chat, about 110 tokens, one code name each."""
    team, topic = _TEAMS[index % len(_TEAMS)], _TOPICS[(index * 3) % len(_TOPICS)]
    return (
        f"Note {index + 1}. The {team} team met on {_DAYS[index % len(_DAYS)]} to review the {topic} project, "
        f"code name {_CODES[index % len(_CODES)]}. They agreed that the {topic} work moves to the "
        f"{_CITIES[index % len(_CITIES)]} office next quarter, that its budget stays at {40 + 7 * index} thousand "
        f"euros, and that {_PEOPLE[index % len(_PEOPLE)]} writes the weekly summary. Risks raised: late "
        f"deliveries from a supplier, a shortage of test hardware, and unclear ownership of the {topic} "
        f"dashboards. Next review in {2 + index % 4} weeks."
    )


def shaped(shape: str, size: int) -> tuple[list[Message], Message]:
    """The history and the question a timing runs on. *chat*: the other benchmarks' synthetic history
    (short questions, list answers) and a question whose answer is a paragraph. *notes*: meeting notes
    pasted one per user message, each acknowledged, and a question answered in a few words."""
    if shape == "chat":
        history = [replace(m, included=True) for m in synthetic_history(size)]
        return history, Message("user", "Summarise what we discussed in three sentences.")
    turns = [(note(k), "Noted.") for k in range(size // 2)]
    history = [Message(role, text) for turn in turns for role, text in zip(("user", "assistant"), turn, strict=True)]
    asked = (size // 2) // 3
    return history, Message("user", f"What is the code name of the project in note {asked + 1}?")


def _cpu_of(pid: int) -> float:
    """CPU seconds a process has used (its threads included), from /proc: load does not inflate it."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Timed:
    wall: float
    cpu: float
    evaluated: int = 0  # tokens the scoring model evaluated (in process)


def _timed(scorer: LogprobScorer, context: AnswerContext, plan: AblationPlan, reuse: bool) -> Timed:
    scorer.model.reuse_prefix = reuse
    started, cpu = time.perf_counter(), time.process_time()
    done = attribute(context, scorer, plan)
    scorer.model.reuse_prefix = True
    return Timed(time.perf_counter() - started, time.process_time() - cpu, done.evaluated_tokens)


def _call(client, body: dict, server_pid: int) -> Timed:
    cpu = _cpu_of(server_pid)
    _, wall = ask(client, body)
    return Timed(wall, _cpu_of(server_pid) - cpu)


def timing(
    client,
    scorer: LogprobScorer,
    tokenizer,
    server_pid: int,
    rounds: int = TIMING_ROUNDS,
    sizes=TIMING_SIZES,
    shapes=SHAPES,
) -> float:
    """Wall and CPU seconds of one call and of each way of running the passes, interleaved per round.
    On a loaded machine wall time takes whatever share of the cores is left; the CPU seconds (the
    server's process for the call, this process for the passes, both at `--threads`) are the work."""
    rows, ratios = [], []
    sides = ("call", "ordered", "shuffled", "scratch")
    for shape, size in [(shape, size) for shape in shapes for size in sizes]:
        history, question = shaped(shape, size)
        request = request_for(history, question, tokenizer)
        ask(client, request_for([], Message("user", "Say hello."), tokenizer).plan.body)  # the server's cache: cold
        answer, _ = ask(client, request.plan.body)
        context = AnswerContext.of(request, answer, target(tokenizer))
        ordered = plan_ablations(len(context.units))
        made = plan_ablations(len(context.units), prefix_ordered=False)
        full, *rest = made.masks
        random.Random(size).shuffle(rest)
        shuffled = AblationPlan(made.method, (full, *rest), False)
        scorer.begin()
        scorer.score(context, ordered.masks[0])  # untimed: the first pass pages the weights in, whichever side
        times: dict[str, list[Timed]] = {side: [] for side in sides}
        for _ in range(rounds):
            ask(client, request_for([], Message("user", "Say hello again."), tokenizer).plan.body)
            times["call"].append(_call(client, request.plan.body, server_pid))
            times["ordered"].append(_timed(scorer, context, ordered, reuse=True))
            times["shuffled"].append(_timed(scorer, context, shuffled, reuse=True))
            times["scratch"].append(_timed(scorer, context, made, reuse=False))
        wall = {side: median(t.wall for t in times[side]) for side in sides}
        cpu = {side: median(t.cpu for t in times[side]) for side in sides}
        tokens = {side: times[side][0].evaluated for side in sides}
        ratio = cpu["ordered"] / cpu["scratch"]
        ratios.append(ratio)
        for side in ("ordered", "shuffled", "scratch"):
            result(f"attribution_{shape}_{size}_{side}_over_call_cpu", cpu[side] / cpu["call"])
        result(f"attribution_{shape}_{size}_ordered_over_unordered_wall", wall["ordered"] / wall["scratch"])
        result(f"attribution_{shape}_{size}_ordered_over_shuffled_cpu", cpu["ordered"] / cpu["shuffled"])
        result(f"attribution_{shape}_{size}_ordered_over_unordered_cpu", ratio)

        cells = [
            f"{wall[side]:.1f} / {cpu[side]:.1f} ({cpu[side] / cpu['call']:.1f}×)"
            + (f", {tokens[side]:,} tok" if side != "call" else "")
            for side in sides
        ]
        rows.append(
            [
                shape,
                size,
                len(context.units),
                ordered.method.replace("_", " "),
                ordered.passes,
                f"{request.plan.prompt_tokens:,}",
                _answer_tokens(scorer, answer),
                *cells,
                f"{wall['ordered'] / wall['scratch']:.2f} / {ratio:.2f}",
            ]
        )
        print(" | ".join(str(c) for c in rows[-1]), flush=True)
    headers = [
        "context",
        "messages",
        "units",
        "method",
        "passes",
        "prompt tokens",
        "answer tokens",
        "one call: wall / CPU s",
        "prefix-ordered, cache",
        "shuffled, cache",
        "no cache",
        "ordered ÷ no cache: wall / CPU",
    ]
    print(table(headers, rows), flush=True)
    worst = max(ratios)
    print(
        f"\nTarget: prefix-ordered ≤ {TARGET_RATIO}× the time without (CPU): "
        f"{'met' if worst <= TARGET_RATIO else 'NOT met'}."
    )
    return worst


SHAPE_ANSWER_TOKENS = {"chat": ANSWER_TOKENS, "notes": 12}  # --tokens-only: the answer's length, assumed


def work(tokenizer, sizes=TIMING_SIZES, shapes=SHAPES) -> float:
    """Without running the model: the tokens every pass evaluates, prefix-ordered and from scratch
    (the planner's estimate of the shared prefix; each pass also evaluates the answer's tokens, here
    assumed: the reply limit for *chat*, a few words for *notes*). On a machine too loaded to time the
    passes, this is what the time follows."""
    rows, ratios = [], []
    for shape, size in [(shape, size) for shape in shapes for size in sizes]:
        history, question = shaped(shape, size)
        request = request_for(history, question, tokenizer)
        context = AnswerContext.of(request, "An answer.", target(tokenizer))
        ordered = plan_ablations(len(context.units))
        answer = SHAPE_ANSWER_TOKENS[shape]
        cost = plan_cost(context, ordered, "logprob", answer)
        answers = cost.passes * answer
        scratch, best = cost.prompt_tokens + answers, cost.evaluated_tokens + answers
        ratios.append(best / scratch)
        result(f"attribution_{shape}_{size}_tokens_ordered_over_unordered", best / scratch)
        rows.append(
            [
                shape,
                size,
                len(context.units),
                ordered.method.replace("_", " "),
                ordered.passes,
                f"{request.plan.prompt_tokens:,}",
                answer,
                f"{_unshared_over_unit(context, answer):.1f}",
                f"{best:,}",
                f"{scratch:,}",
                f"{best / scratch:.2f}",
            ]
        )
    headers = [
        "context",
        "messages",
        "units",
        "method",
        "passes",
        "prompt tokens",
        "answer tokens (assumed)",
        "unshared ÷ unit",
        "evaluated, prefix-ordered",
        "evaluated, no cache",
        "ordered ÷ no cache",
    ]
    print(table(headers, rows), flush=True)
    return max(ratios)


def _unshared_over_unit(context: AnswerContext, answer_tokens: int) -> float:
    """What every pass evaluates whatever the order (the question, the template's close, the answer)
    over the average unit: leave-one-out gets under 0.6× only while this stays under about 1.4."""
    units = [u.tokens for u in context.units]
    fixed = context.plan.prompt_tokens - sum(units)
    return (fixed + answer_tokens) / (sum(units) / len(units))


def _answer_tokens(scorer: LogprobScorer, answer: str) -> int:
    return len(scorer.model.answer_tokens(answer))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--planted-only", action="store_true")
    parser.add_argument("--timing-only", action="store_true")
    parser.add_argument("--grid", action="store_true", help="also every fact at every turn (50 conversations)")
    parser.add_argument(
        "--planted-messages",
        type=int,
        choices=(10, 30),
        default=10,
        help="the planted conversations' length: 10 (leave-one-out) or 30 (random ablations and the fit)",
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=list(TIMING_SIZES), help="history sizes timed")
    parser.add_argument("--rounds", type=int, default=TIMING_ROUNDS, help="timing rounds (the median is kept)")
    parser.add_argument(
        "--threads", type=int, default=0, help="threads of the scoring model and the server (0: every core)"
    )
    parser.add_argument("--tokens-only", action="store_true", help="the tokens each plan evaluates (no model run)")
    parser.add_argument("--shapes", nargs="+", choices=SHAPES, default=list(SHAPES), help="contexts timed")
    args = parser.parse_args()
    tokenizer = EmbeddedTokenizer()
    if args.tokens_only:
        print("### Tokens evaluated (the planner's count, nothing run)\n", flush=True)
        result("attribution_tokens_ordered_over_unordered", work(tokenizer, args.sizes, args.shapes))
        return
    server = EmbeddedServer(threads=args.threads).ensure_running()
    try:
        client = make_client(ProviderConfig("embedded", EMBEDDED_MODEL, base_url=server.base_url, timeout_s=600))
        scorer = LogprobScorer(ScoringModel(threads=args.threads), tokenizer)
        if not args.timing_only:
            print("### Planted facts (leave-one-out, exact)\n", flush=True)
            cases = PLANTED if args.planted_messages == 10 else PLANTED_30
            share = planted(client, scorer, tokenizer, args.grid, cases)
            if args.planted_only:
                result("attribution_planted_first_share", share)
                return
        print("\n### Time, as a ratio to one call on the same context\n", flush=True)
        pid = server._process.pid  # the server's CPU time is read from /proc
        result(
            "attribution_ordered_over_unordered",
            timing(client, scorer, tokenizer, pid, args.rounds, args.sizes, args.shapes),
        )
    finally:
        server.stop()


if __name__ == "__main__":
    main()
