"""A run, planned: every cell's request from the one builder, the order they are sent in, the estimate.

A run is variants x cases x repeats. Each cell's request is `lib.analysis.compare.plan_variant` (which is
`lib.context.request.build_request`) for the case's question after its conversation, seeded for its repeat;
so what the estimate counts is what is sent, and re-planning a stored run gives the same bodies.

Order matters on the embedded model: llama.cpp keeps the KV cache of the prompt it last evaluated
and reuses the longest prefix the next prompt shares with it. `prefix_order` sends together the
cells whose prompts share their history (all cases of one conversation under one variant), so each
history is evaluated about once per variant; `interleaved_order` (variant after variant for each
case) is the naive order the benchmark compares it with.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, cast

from lib.analysis.compare import Variant, plan_variant, seeded, seeds_for
from lib.analysis.experiments import stored
from lib.analysis.experiments.cases import Case, TestSet, set_from_dict, set_to_dict
from lib.analysis.experiments.judge import JudgeSpec, judge_request
from lib.context.conversation import Message
from lib.context.payload import RequestPlan, Sampling
from lib.context.request import Request, Target, send_blocker
from lib.context.strategies import Strategy, StrategyKind, summary_key
from lib.core.wire import EndUserField, Kind, TokenLimitField

MAX_CELLS = 20_000
# The variants the page offers before the user edits any: where the built-in set's facts sit (23, 17,
# 11 and 5 turns back), each keeps fewer of them (bench/experiments.py measures them).
DEFAULT_VARIANTS = (
    Variant("Full history", Strategy("full")),
    Variant("Last 12 turns", Strategy("last_turns", last_turns=12)),
    Variant("Last 6 turns", Strategy("last_turns", last_turns=6)),
    Variant("No history", Strategy("none")),
)


@dataclass(frozen=True, order=True)
class CellKey:
    variant: int  # index into the run's variants
    case: str  # the case id
    repeat: int  # 0-based

    def label(self, variants: tuple[Variant, ...] | list[Variant]) -> str:
        return f"{variants[self.variant].name} · {self.case} · run {self.repeat + 1}"


@dataclass(frozen=True)
class RunSpec:
    """Everything a run needs to be planned again (to resume it): the set with every conversation
    written out, the variants, the repeats and seeds, the sampling, the backend (never its key)."""

    test_set: TestSet
    variants: tuple[Variant, ...]
    repeats: int = 1
    base_seed: int = 1
    sampling: Sampling = field(default_factory=lambda: Sampling(temperature=0.0, max_tokens=64))
    provider_kind: Kind = "embedded"
    provider_model: str = ""
    provider_base_url: str = ""
    judge: JudgeSpec | None = None
    concurrency: int = 1
    baseline: int = 0  # the variant regressions are measured against
    # The summarising strategy's summaries, made before the run: (summary_id(older messages), text).
    summaries: tuple[tuple[str, str], ...] = ()

    @property
    def total_cells(self) -> int:
        return len(self.variants) * len(self.test_set.cases) * self.repeats

    @property
    def seeds(self) -> list[int | None]:
        return seeds_for(self.repeats, self.base_seed)

    def keys(self) -> list[CellKey]:
        return [
            CellKey(v, case.id, r)
            for v in range(len(self.variants))
            for case in self.test_set.cases
            for r in range(self.repeats)
        ]


@dataclass(frozen=True)
class PlannedCell:
    key: CellKey
    case: Case
    plan: RequestPlan  # the exact body sent (seeded for its repeat)
    blocker: str | None  # why it cannot be sent (a prompt over the window…); None: it can

    @property
    def prefix(self) -> tuple:
        """What consecutive prompts should share: the model and every message before the question."""
        return (self.plan.body.get("model"), tuple(_shared(m) for m in self.plan.messages[:-1]))


def _shared(message: Message) -> tuple:
    """What of a message a prompt's prefix is made of: its role and text, and its tool calls or the call
    it answers (two histories alike in text but not in their calls are different prompts)."""
    return (message.role, message.content, message.tool_calls, message.tool_call_id)


def summary_id(older: tuple[Message, ...] | list[Message]) -> str:
    """What a summary is stored under: the messages it condenses (lib.context.strategies.summary_key)."""
    return json.dumps(summary_key(list(older)), ensure_ascii=False)


def _requests(spec: RunSpec, target_for: Callable[[Variant], Target]) -> list[tuple[int, Case, Request]]:
    found = dict(spec.summaries)
    requests = []
    for index, variant in enumerate(spec.variants):
        target = target_for(variant)
        for case in spec.test_set.cases:
            conversation = case.conversation
            request = plan_variant(
                variant,
                conversation.system_prompt(),
                list(conversation.messages),
                case.question,
                target,
                spec.sampling,
                lambda older: found.get(summary_id(older)),
                spec.test_set.tools_for(case),
            )
            requests.append((index, case, request))
    return requests


def plan_cells(spec: RunSpec, target_for: Callable[[Variant], Target]) -> list[PlannedCell]:
    """Every cell of the run, in the set's order (variant, case, repeat)."""
    if spec.total_cells > MAX_CELLS:
        raise ValueError(f"{spec.total_cells:,} cells: at most {MAX_CELLS:,} in a run")
    seeds = spec.seeds
    cells = []
    for index, case, request in _requests(spec, target_for):
        blocker = send_blocker(request)
        if request.needs_summary:
            blocker = "the summarising strategy's summary of the older messages was not made before the run"
        for repeat, seed in enumerate(seeds):
            cells.append(PlannedCell(CellKey(index, case.id, repeat), case, seeded(request.plan, seed), blocker))
    return cells


def summaries_needed(spec: RunSpec, target_for: Callable[[Variant], Target]) -> list[tuple[Message, ...]]:
    """The older messages a summarising variant must have condensed before the run, each set once."""
    wanted: dict[str, tuple[Message, ...]] = {}
    for _, _, request in _requests(spec, target_for):
        if request.needs_summary:
            wanted.setdefault(summary_id(request.to_summarise), request.to_summarise)
    return list(wanted.values())


def prefix_order(cells: list[PlannedCell]) -> list[PlannedCell]:
    """Cells whose prompts share their history sent one after another (all cases of a conversation
    under one variant together, repeats back to back); groups in the order they first appear."""
    first_seen: dict[tuple, int] = {}
    for cell in cells:
        first_seen.setdefault(cell.prefix, len(first_seen))
    position = {id(cell): index for index, cell in enumerate(cells)}
    return sorted(cells, key=lambda c: (first_seen[c.prefix], position[id(c)]))


def interleaved_order(cells: list[PlannedCell]) -> list[PlannedCell]:
    """The naive order: for each case and repeat, every variant in turn."""
    case_rank: dict[str, int] = {}
    for cell in cells:
        case_rank.setdefault(cell.key.case, len(case_rank))
    return sorted(cells, key=lambda c: (case_rank[c.key.case], c.key.repeat, c.key.variant))


def shared_prefix_tokens(order: list[PlannedCell]) -> int:
    """Messages' tokens each prompt shares with the one before it (what a prefix cache could skip)."""
    shared = 0
    for before, cell in itertools.pairwise(order):
        for a, b, tokens in zip(before.plan.messages, cell.plan.messages, cell.plan.count.per_message, strict=False):
            if _shared(a) != _shared(b):
                break
            shared += tokens
    return shared


# --- the estimate ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class VariantEstimate:
    variant: str
    calls: int
    prompt_tokens: int
    input_cost: float | None
    max_output_cost: float | None  # every reply at its token limit
    blocked: int  # cells that cannot be sent (their reason shows in the grid)

    @property
    def max_cost(self) -> float | None:
        if self.input_cost is None:
            return None
        return self.input_cost + (self.max_output_cost or 0.0)


@dataclass(frozen=True)
class Estimate:
    variants: tuple[VariantEstimate, ...]
    judge_calls: int = 0
    judge_prompt_tokens: int = 0  # at most: every answer at its token limit
    judge_cost: float | None = 0.0

    @property
    def calls(self) -> int:
        return sum(v.calls for v in self.variants) + self.judge_calls

    @property
    def prompt_tokens(self) -> int:
        return sum(v.prompt_tokens for v in self.variants) + self.judge_prompt_tokens

    @property
    def max_cost(self) -> float | None:
        """The most the run can cost (None when a model has no price)."""
        costs = [v.max_cost for v in self.variants] + [self.judge_cost]
        return None if any(c is None for c in costs) else sum(c for c in costs if c is not None)

    def rows(self) -> list[dict[str, Any]]:
        rows = [
            {
                "variant": v.variant,
                "calls": v.calls,
                "prompt tokens": v.prompt_tokens,
                "input cost $": v.input_cost,
                "cost at most $": v.max_cost,
                "not sendable": v.blocked,
            }
            for v in self.variants
        ]
        if self.judge_calls:
            rows.append(
                {
                    "variant": "judge (at most)",
                    "calls": self.judge_calls,
                    "prompt tokens": self.judge_prompt_tokens,
                    "input cost $": self.judge_cost,
                    "cost at most $": self.judge_cost,
                    "not sendable": 0,
                }
            )
        return rows


def estimate(
    spec: RunSpec,
    cells: list[PlannedCell],
    judge_target: Target | None = None,
    skip: set[CellKey] | None = None,
    batch: bool = False,
) -> Estimate:
    """Calls, prompt tokens and cost of the cells still to run (`skip`: the finished ones). `batch`: the
    cells go through the Batch API, at its rate; the judge's calls are sent interactively (a resume
    grades them), at the list price."""
    skip = skip or set()
    todo = [c for c in cells if c.key not in skip]
    variants = []
    for index, variant in enumerate(spec.variants):
        mine = [c for c in todo if c.key.variant == index]
        sendable = [c for c in mine if c.blocker is None]
        inputs = [c.plan.model.input_cost(c.plan.prompt_tokens, batch=batch) for c in sendable]
        outputs = [c.plan.model.output_cost(c.plan.max_tokens, batch=batch) for c in sendable]
        variants.append(
            VariantEstimate(
                variant.name,
                len(sendable),
                sum(c.plan.prompt_tokens for c in sendable),
                None if any(i is None for i in inputs) else sum(i or 0.0 for i in inputs),
                None if any(o is None for o in outputs) else sum(o or 0.0 for o in outputs),
                len(mine) - len(sendable),
            )
        )
    judged = [c for c in todo if c.blocker is None and c.case.judged]
    if not judged or judge_target is None or spec.judge is None:
        return Estimate(tuple(variants))
    tokens, cost = 0, cast(float | None, 0.0)
    for cell in judged:
        for check in (c for c in cell.case.checks if c.is_judge):
            plan = judge_request(check.value, cell.case.question, "", judge_target, spec.judge.kind)
            prompt = plan.prompt_tokens + cell.plan.max_tokens
            tokens += prompt
            price = plan.model.input_cost(prompt)
            output = plan.model.output_cost(spec.judge.max_tokens)
            cost = None if cost is None or price is None or output is None else cost + price + output
    calls = sum(sum(c.is_judge for c in cell.case.checks) for cell in judged)
    return Estimate(tuple(variants), calls, tokens, cost)


# --- the spec as JSON (stored with the run) ---------------------------------------------------------


def _variant_json(variant: Variant) -> stored.VariantJson:
    s = variant.strategy
    return stored.VariantJson(
        name=variant.name,
        strategy=stored.StrategyJson(kind=s.kind, last_turns=s.last_turns, token_budget=s.token_budget),
        system_override=variant.system_override,
        model=variant.model,
        temperature=variant.temperature,
        max_tokens=variant.max_tokens,
        tools=None if variant.tools is None else list(variant.tools),
    )


def _variant(kept: stored.VariantJson) -> Variant:
    s = kept.strategy
    strategy = Strategy(cast(StrategyKind, s.kind), last_turns=s.last_turns, token_budget=s.token_budget)
    tools = None if kept.tools is None else tuple(kept.tools)
    return Variant(
        kept.name, strategy, kept.system_override, kept.model, kept.temperature, kept.max_tokens, None, tools
    )


def spec_to_dict(spec: RunSpec) -> dict[str, Any]:
    """The spec as stored with its run (lib/analysis/experiments/stored.py's models)."""
    sampling, judge = spec.sampling, spec.judge
    return stored.written(
        stored.SpecJson(
            test_set=set_to_dict(spec.test_set),
            variants=[_variant_json(v) for v in spec.variants],
            repeats=spec.repeats,
            base_seed=spec.base_seed,
            sampling=stored.SamplingJson(
                temperature=sampling.temperature,
                max_tokens=sampling.max_tokens,
                token_limit_field=sampling.token_limit_field,
                stream=sampling.stream,
                end_user=sampling.end_user,
                end_user_field=sampling.end_user_field,
            ),
            provider=stored.ProviderJson(
                kind=spec.provider_kind, model=spec.provider_model, base_url=spec.provider_base_url
            ),
            judge=None
            if judge is None
            else stored.JudgeJson(
                kind=judge.kind, model=judge.model, base_url=judge.base_url, max_tokens=judge.max_tokens
            ),
            concurrency=spec.concurrency,
            baseline=spec.baseline,
            summaries=list(spec.summaries),
        )
    )


def spec_from_dict(data: Any) -> RunSpec:
    """A stored spec; InvalidRun naming the field if it cannot be read (its test set: InvalidTestSet)."""
    kept = stored.read(stored.SpecJson, data, "run spec")
    s, p, j = kept.sampling, kept.provider, kept.judge
    sampling = Sampling(
        temperature=s.temperature,
        max_tokens=s.max_tokens,
        token_limit_field=cast(TokenLimitField, s.token_limit_field),
        stream=s.stream,
        end_user=s.end_user,
        end_user_field=cast(EndUserField, s.end_user_field),
    )
    return RunSpec(
        test_set=set_from_dict(kept.test_set),
        variants=tuple(_variant(v) for v in kept.variants),
        repeats=kept.repeats,
        base_seed=kept.base_seed,
        sampling=sampling,
        provider_kind=cast(Kind, p.kind),
        provider_model=p.model,
        provider_base_url=p.base_url,
        judge=None if j is None else JudgeSpec(cast(Kind, j.kind), j.model, j.base_url, j.max_tokens),
        concurrency=kept.concurrency,
        baseline=kept.baseline,
        summaries=tuple(kept.summaries),
    )


def for_batch(spec: RunSpec) -> RunSpec:
    """The spec as the Batch API takes it: whole replies, not streams (the builder plans the body)."""
    return replace(spec, sampling=replace(spec.sampling, stream=False))
