"""The same question under different contexts: variants, their plans, a concurrent run, and
how far the answers moved (a word diff and a similarity score against a baseline)."""

from __future__ import annotations

import math
import queue
import re
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from difflib import SequenceMatcher
from typing import Literal

import openai

from lib.conversation import Message, SystemPrompt
from lib.payload import RequestPlan, Sampling, in_wire_order, serialise
from lib.prices import billed
from lib.providers import CallOutcome, stream_chat
from lib.request import Request, Target, build_request
from lib.strategies import Strategy

MAX_VARIANTS = 6
QUESTION_ID = "question"


@dataclass(frozen=True)
class Variant:
    name: str
    strategy: Strategy = field(default_factory=lambda: Strategy("full"))
    system_override: str | None = None  # None: the conversation's system prompt; "": none at all
    model: str = ""  # "": the sidebar's model
    temperature: float | None = None  # None: the sidebar's
    max_tokens: int | None = None


PRESETS: tuple[Variant, ...] = (
    Variant("Full history", Strategy("full")),
    Variant("No history (stateless)", Strategy("none"), system_override=""),
    Variant("Last 2 turns", Strategy("last_turns", last_turns=2)),
    Variant("Only the system prompt", Strategy("none")),
)


def plan_variant(
    variant: Variant,
    system: SystemPrompt,
    history: list[Message],
    question: str,
    target: Target,
    sampling: Sampling,
    summaries: Callable[[tuple[Message, ...]], str | None] | None = None,
) -> Request:
    """The variant's request, from the one builder: the question after the history its strategy keeps."""
    if variant.system_override is not None:
        system = SystemPrompt(variant.system_override, included=bool(variant.system_override.strip()))
    sampling = replace(
        sampling,
        temperature=sampling.temperature if variant.temperature is None else variant.temperature,
        max_tokens=sampling.max_tokens if variant.max_tokens is None else variant.max_tokens,
    )
    question_message = Message("user", question, id=QUESTION_ID)
    return build_request(system, history, question_message, variant.strategy, target, sampling, summaries)


# --- running ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Job:
    key: tuple[int, int]  # (variant index, repeat index)
    client: openai.OpenAI
    body: dict
    secrets: tuple[str, ...] = ()


@dataclass(frozen=True)
class Event:
    key: tuple[int, int]
    kind: Literal["delta", "done"]
    text: str = ""
    outcome: CallOutcome | None = None


def with_seed(body: dict, seed: int | None) -> dict:
    """`body` with a `seed`, where the SDK writes it: the bytes sent stay the bytes previewed."""
    return body if seed is None else in_wire_order({**body, "seed": seed})


def seeded(plan: RequestPlan, seed: int | None) -> RequestPlan:
    """The plan as it is sent with `seed`: the body, and its size, carry the seed."""
    if seed is None:
        return plan
    body = with_seed(plan.body, seed)
    return replace(plan, body=body, body_bytes=len(serialise(body)))


def _run_job(job: Job, events: queue.Queue) -> None:
    outcome = CallOutcome()
    try:
        for delta in stream_chat(job.client, job.body, outcome, job.secrets):
            events.put(Event(job.key, "delta", delta))
    except Exception as exc:  # a broken variant must not stop the others
        outcome.error = outcome.error or f"{type(exc).__name__}: {exc}"
    events.put(Event(job.key, "done", outcome=outcome))


def run_concurrently(jobs: list[Job], max_workers: int = 12) -> Iterator[Event]:
    """Send every job at once; yield their deltas as they arrive and one `done` event per job."""
    if not jobs:
        return
    events: queue.Queue[Event] = queue.Queue()
    with ThreadPoolExecutor(max_workers=min(max_workers, len(jobs))) as pool:
        for job in jobs:
            pool.submit(_run_job, job, events)
        remaining = len(jobs)
        while remaining:
            event = events.get()
            remaining -= event.kind == "done"
            yield event


# --- results ----------------------------------------------------------------------------------


@dataclass
class VariantResult:
    variant: Variant
    plan: RequestPlan
    outcomes: list[CallOutcome] = field(default_factory=list)
    seeds: list[int | None] = field(default_factory=list)

    @property
    def answer(self) -> str:
        """The first run's answer: the one shown and diffed."""
        return self.outcomes[0].text if self.outcomes else ""

    @property
    def errors(self) -> list[str]:
        return [o.error for o in self.outcomes if o.error]


@dataclass
class Comparison:
    question: str
    results: list[VariantResult]
    created: str
    baseline: int = 0
    model_note: str = ""


_WORD = re.compile(r"\w+", re.UNICODE)


def similarity(a: str, b: str) -> float:
    """Cosine similarity of the answers' word counts (case-folded): 1 = the same words, 0 = none shared.

    Word choice, not meaning: a cheap, offline, explainable signal of how far an answer moved.
    """
    left, right = Counter(_WORD.findall(a.casefold())), Counter(_WORD.findall(b.casefold()))
    if not left and not right:
        return 1.0
    dot = sum(left[w] * right[w] for w in left.keys() & right.keys())
    norm = math.sqrt(sum(v * v for v in left.values())) * math.sqrt(sum(v * v for v in right.values()))
    return dot / norm if norm else 0.0


DiffOp = Literal["equal", "insert", "delete"]


def word_diff(baseline: str, other: str) -> list[tuple[DiffOp, str]]:
    """The other answer against the baseline, word by word (whitespace kept with its word)."""
    old, new = re.findall(r"\S+\s*", baseline), re.findall(r"\S+\s*", other)
    ops: list[tuple[DiffOp, str]] = []
    for tag, i1, i2, j1, j2 in SequenceMatcher(a=old, b=new, autojunk=False).get_opcodes():
        if tag == "equal":
            ops.append(("equal", "".join(new[j1:j2])))
            continue
        if i2 > i1:
            ops.append(("delete", "".join(old[i1:i2])))
        if j2 > j1:
            ops.append(("insert", "".join(new[j1:j2])))
    return ops


def answer_stats(results: list[VariantResult], baseline: int) -> list[dict]:
    """One row per run: for the tables and the charts."""
    reference = results[baseline].answer if results else ""
    rows = []
    for result in results:
        for repeat, outcome in enumerate(result.outcomes):
            rows.append(
                {
                    "variant": result.variant.name,
                    "repeat": repeat + 1,
                    "seed": result.seeds[repeat] if repeat < len(result.seeds) else None,
                    "prompt tokens (predicted)": result.plan.prompt_tokens,
                    "prompt tokens (reported)": outcome.prompt_tokens,
                    "cached tokens (reported)": outcome.cached_tokens,
                    "completion tokens": outcome.completion_tokens,
                    "payload bytes": result.plan.body_bytes,
                    "latency s": outcome.latency_s,
                    "first token s": outcome.ttft_s,
                    "answer words": len(_WORD.findall(outcome.text)),
                    "similarity to baseline": similarity(reference, outcome.text) if outcome.ok else None,
                    "cost": _cost(result.plan, outcome),
                    "error": outcome.error or "",
                }
            )
    return rows


def _cost(plan: RequestPlan, outcome: CallOutcome) -> float | None:
    return billed(
        plan.model, plan.prompt_tokens, outcome.prompt_tokens, outcome.cached_tokens, outcome.completion_tokens
    )


def plan_rows(variants: list[Variant], plans: list[RequestPlan]) -> list[dict]:
    """The pre-run table: what each variant would send, before anything is sent."""
    return [
        {
            "variant": variant.name,
            "strategy": variant.strategy.describe(),
            "messages": len(plan.messages),
            "prompt tokens": plan.prompt_tokens,
            "payload bytes": plan.body_bytes,
            "context window %": round(100 * plan.context_share, 3),
            "input cost $": plan.input_cost,
            "model": plan.body["model"],
        }
        for variant, plan in zip(variants, plans, strict=True)
    ]


def seeds_for(repeats: int, base_seed: int = 1) -> list[int | None]:
    return [base_seed + i for i in range(repeats)] if repeats > 1 else [None]
