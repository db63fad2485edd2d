"""Context attribution on the embedded model: planted facts, determinism, the smallest context, time.

`python -m bench.attribution [--planted-only | --timing-only] [--grid]`

1. Planted facts: a fact in one message, filler around it, a question that needs it. The answer is
   the embedded server's at temperature 0 (through the app's own `Reply`); attribution scores it in
   process (leave-one-out). Counted: the fact's message ranks first; a second run gives the same
   numbers (exactly); the smallest context, sent to the server at temperature 0, gives the same answer
   back. `--grid` also runs every fact at every position (50 conversations) and counts how often the
   135M model's answer uses the fact at all.
2. Time for 10 and 30 messages, as a ratio to one call on the same context (the server answering
   it at temperature 0, its prompt cache cold): the attribution with prefix-ordered passes sharing
   the KV cache, and without (every pass evaluated from the start) — and, between the two, the
   passes in a shuffled order with the cache on — in the same run, interleaved.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from dataclasses import dataclass, replace

from bench.common import median, result, synthetic_history, table
from lib.attribution import AnswerContext, HoldRule, LogprobScorer, ScoringModel, attribute, plan_ablations
from lib.attribution.planner import AblationPlan
from lib.attribution.run import smallest_context
from lib.conversation import Message, SystemPrompt
from lib.embedded import EmbeddedServer, EmbeddedTokenizer
from lib.models import EMBEDDED_MODEL, MODELS
from lib.payload import Sampling
from lib.providers import ProviderConfig, make_client
from lib.reply import Reply
from lib.request import Target, build_request
from lib.strategies import Strategy

SYSTEM = "You are a helpful assistant."
ACK = "Sure, noted."
FILLER = (
    ("I went for a long walk in the park this morning.", "That sounds refreshing."),
    ("Can you recommend a good book?", "Many people enjoy classic novels."),
    ("The weather has been rainy all week.", "I hope it gets sunnier soon."),
    ("I am learning to play the guitar.", "That is a fun hobby."),
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

    @property
    def key(self) -> str:
        return FACTS[self.fact][2]

    def history(self) -> list[Message]:
        turns = list(FILLER)
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
    Planted(0, 0), Planted(0, 3), Planted(1, 1), Planted(1, 0), Planted(5, 2),
    Planted(5, 4), Planted(7, 1), Planted(7, 3), Planted(9, 4), Planted(4, 4),
)  # fmt: skip
GRID = tuple(Planted(fact, position) for fact in range(len(FACTS)) for position in range(len(FILLER) + 1))

ANSWER_TOKENS = 96
TIMING_SIZES = (10, 30)
TIMING_ROUNDS = 2
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

    def cells(self) -> list[object]:
        fact = FACTS[self.case.fact][2]
        reproduced = "—" if self.reproduced is None else ("yes" if self.reproduced else "no")
        return [
            f"{fact} @ {self.case.position}", self.answer.replace("|", "/")[:60], "yes" if self.uses_fact else "no",
            self.rank, "yes" if self.deterministic else "NO", f"{self.kept} of {self.units}", f"−{self.saving:.0%}",
            reproduced, "yes" if self.full_greedy else "no",
        ]  # fmt: skip


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
        case, answer, case.key.casefold() in answer.casefold(), rank, deterministic, kept, len(context.units), saving,
        reproduced, bool(first.full.greedy),
    )  # fmt: skip


def planted(client, scorer: LogprobScorer, tokenizer, grid: bool) -> float:
    rows = []
    for case in PLANTED:
        rows.append(planted_row(case, client, scorer, tokenizer))
        print(" | ".join(str(cell) for cell in rows[-1].cells()), flush=True)
    headers = ["fact @ turn", "answer (temperature 0)", "states it", "rank", "same twice", "smallest",
               "tokens", "sent again: same", "greedy"]  # fmt: skip
    print(table(headers, [row.cells() for row in rows]), flush=True)
    first = sum(row.rank == 1 for row in rows)
    reproduced = sum(bool(row.reproduced) for row in rows)
    print(
        f"\nThe fact's message ranks first in {first} of {len(rows)}; the same numbers twice in "
        f"{sum(r.deterministic for r in rows)} of {len(rows)}; the smallest context keeps on average "
        f"{statistics.mean(r.kept for r in rows):.1f} of {rows[0].units} messages "
        f"(−{statistics.mean(r.saving for r in rows):.0%} prompt tokens) and, sent at temperature 0, gives the "
        f"same answer back in {reproduced} of {len(rows)}.",
        flush=True,
    )
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


def _timed(scorer: LogprobScorer, context: AnswerContext, plan: AblationPlan, reuse: bool) -> float:
    scorer.model.reuse_prefix = reuse
    started = time.perf_counter()
    attribute(context, scorer, plan)
    scorer.model.reuse_prefix = True
    return time.perf_counter() - started


def timing(client, scorer: LogprobScorer, tokenizer, rounds: int = TIMING_ROUNDS, sizes=TIMING_SIZES) -> float:
    rows, ratios = [], []
    for size in sizes:
        history = [replace(m, included=True) for m in synthetic_history(size)]
        question = Message("user", "Summarise what we discussed in three sentences.")
        request = request_for(history, question, tokenizer)
        ask(client, request_for([], Message("user", "Say hello."), tokenizer).plan.body)  # the server's cache: cold
        answer, _ = ask(client, request.plan.body)
        context = AnswerContext.of(request, answer, target(tokenizer))
        ordered = plan_ablations(len(context.units))
        made = plan_ablations(len(context.units), prefix_ordered=False)
        full, *rest = made.masks
        random.Random(size).shuffle(rest)
        shuffled = AblationPlan(made.method, (full, *rest), False)
        times: dict[str, list[float]] = {"call": [], "ordered": [], "shuffled": [], "scratch": []}
        for _ in range(rounds):
            ask(client, request_for([], Message("user", "Say hello again."), tokenizer).plan.body)
            times["call"].append(ask(client, request.plan.body)[1])
            times["ordered"].append(_timed(scorer, context, ordered, reuse=True))
            times["shuffled"].append(_timed(scorer, context, shuffled, reuse=True))
            times["scratch"].append(_timed(scorer, context, made, reuse=False))
        call, best, mixed, scratch = (median(times[k]) for k in ("call", "ordered", "shuffled", "scratch"))
        ratios.append(best / scratch)
        rows.append([
            size, len(context.units), ordered.method.replace("_", " "), ordered.passes,
            f"{request.plan.prompt_tokens:,}",
            f"{call:.2f}", f"{best:.2f} ({best / call:.1f}×)", f"{mixed:.2f} ({mixed / call:.1f}×)",
            f"{scratch:.2f} ({scratch / call:.1f}×)", f"{best / scratch:.2f}",
        ])  # fmt: skip
        print(" | ".join(str(cell) for cell in rows[-1]), flush=True)
    headers = ["messages", "units", "method", "passes", "prompt tokens", "one call (s)", "prefix-ordered, cache (s)",
               "shuffled, cache (s)", "no cache (s)", "ordered ÷ no cache"]  # fmt: skip
    print(table(headers, rows), flush=True)
    worst = max(ratios)
    print(
        f"\nTarget: prefix-ordered ≤ {TARGET_RATIO}× the time without: {'met' if worst <= TARGET_RATIO else 'NOT met'}."
    )
    return worst


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--planted-only", action="store_true")
    parser.add_argument("--timing-only", action="store_true")
    parser.add_argument("--grid", action="store_true", help="also every fact at every turn (50 conversations)")
    parser.add_argument("--sizes", type=int, nargs="+", default=list(TIMING_SIZES), help="history sizes timed")
    parser.add_argument("--rounds", type=int, default=TIMING_ROUNDS, help="timing rounds (the median is kept)")
    parser.add_argument("--threads", type=int, default=0, help="threads of the scoring model (0: every core)")
    args = parser.parse_args()
    tokenizer = EmbeddedTokenizer()
    server = EmbeddedServer().ensure_running()
    try:
        client = make_client(ProviderConfig("embedded", EMBEDDED_MODEL, base_url=server.base_url, timeout_s=600))
        scorer = LogprobScorer(ScoringModel(threads=args.threads), tokenizer)
        if not args.timing_only:
            print("### Planted facts (leave-one-out, exact)\n", flush=True)
            share = planted(client, scorer, tokenizer, args.grid)
            if args.planted_only:
                result("attribution_planted_first_share", share)
                return
        print("\n### Time, as a ratio to one call on the same context\n", flush=True)
        result("attribution_ordered_over_unordered", timing(client, scorer, tokenizer, args.rounds, args.sizes))
    finally:
        server.stop()


if __name__ == "__main__":
    main()
