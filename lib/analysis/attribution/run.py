"""Running an attribution and the smallest-context search, and what their results say.

`attribute` scores every pass of an `AblationPlan`; the influence of a unit is how much the score
falls without it — measured (leave-one-out) or the weight of the fitted linear model (random
ablations). `smallest_context` then drops the least influential units while the answer holds.
Both take a `Progress`: they report each pass, and stop between passes when asked.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TypeVar

from lib.analysis.attribution.context import AnswerContext, Mask, Unit
from lib.analysis.attribution.explain import no_longer_mentioned, percent, probability_change, quoted_list
from lib.analysis.attribution.fit import LinearFit, fit_linear
from lib.analysis.attribution.minimise import Minimal, minimise
from lib.analysis.attribution.planner import AblationPlan, Method, PassCost, estimate
from lib.analysis.attribution.scoring import Measure, PassScore, Scorer
from lib.analysis.compare import Variant
from lib.context.conversation import Message
from lib.core import job as core_job
from lib.core.errors import Stopped

DEFAULT_MAX_FALL = 0.5  # the answer may become at most half as likely and still "hold"
DEFAULT_MAX_SIMILARITY_LOSS = 0.1


@dataclass
class Progress:
    """Shared between a run and the page polling it: passes done, and a stop request."""

    total: int = 0
    done: int = 0
    phase: str = ""
    _stop: threading.Event = field(default_factory=threading.Event)

    def step(self) -> None:
        self.done += 1

    def stop(self) -> None:
        self._stop.set()

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    def check(self) -> None:
        if self.stopped:
            raise Stopped


def measure_label(measure: Measure) -> str:
    if measure == "logprob":
        return "the answer's log-probability under the embedded model (exact, from its own logits)"
    return "the word similarity of an answer regenerated at temperature 0 to this one (regenerated, not a probability)"


@dataclass(frozen=True)
class Attribution:
    measure: Measure
    method: Method
    units: tuple[Unit, ...]
    answer: str
    passes: tuple[PassScore, ...]  # in the order scored; the full context first
    influence: tuple[float, ...]  # per unit: how much the score falls without it
    fit: LinearFit | None  # random ablations: the linear model the influence comes from
    seconds: float
    prefix_ordered: bool

    @property
    def full(self) -> PassScore:
        return self.passes[0]

    def without(self, unit: int) -> PassScore | None:
        """Leave-one-out: the pass without `unit` alone."""
        wanted = tuple(j != unit for j in range(len(self.units)))
        return next((p for p in self.passes if p.kept == wanted), None)

    @property
    def evaluated_tokens(self) -> int:
        return sum(p.evaluated_tokens for p in self.passes)

    @property
    def reused_tokens(self) -> int:
        return sum(p.reused_tokens for p in self.passes)

    def ranking(self) -> list[int]:
        """Units by influence, the most influential first (ties: the earlier unit)."""
        return sorted(range(len(self.units)), key=lambda i: (-self.influence[i], i))

    def top(self, count: int = 3) -> list[int]:
        """The most influential units that do support the answer (influence above zero)."""
        return [i for i in self.ranking() if self.influence[i] > 0][:count]

    def bar(self, unit: int) -> float:
        """The unit's influence for a bar, 0-1: relative to the largest; a unit against the answer is 0."""
        largest = max([v for v in self.influence if v > 0], default=0.0)
        return max(self.influence[unit], 0.0) / largest if largest > 0 else 0.0

    def change(self, unit: int) -> str:
        """The unit's effect in a few words, for its bar."""
        value = self.influence[unit]
        if self.measure == "logprob":
            fitted = " (fitted)" if self.fit else ""
            return f"probability {probability_change(value)} without it{fitted}"
        return f"similarity −{value:.2f} without it" + (" (fitted)" if self.fit else "")

    def sentence(self, unit: int) -> str:
        """What leaving `unit` out does, in a sentence."""
        value = self.influence[unit]
        if self.fit is not None:
            if self.measure == "logprob":
                return (
                    f"The fitted model says: without this message the answer's probability "
                    f"{probability_change(value)} (a log-probability change of {-value:+.2f})."
                )
            return (
                "The fitted model says: without this message the regenerated answer's similarity falls by "
                + f"{value:.2f}."
            )
        alone = self.without(unit)
        if self.measure == "logprob":
            text = f"Without this message the answer's probability {probability_change(value)}"
            if alone is not None and self.full.greedy and not alone.greedy:
                text += ", and greedy decoding would no longer give this answer"
            elif alone is not None and self.full.greedy is False and alone.greedy:
                text += "; greedy decoding would then give exactly this answer"
            return text + ("." if value >= 0 else ": it works against this answer.")
        if alone is None or alone.text is None:
            return f"Without this message the similarity falls by {value:.2f}."
        lost = no_longer_mentioned(self.answer, self.full.text or self.answer, alone.text)
        checks = ""
        if alone.check is not None and self.full.check:
            checks = " and fails its checks" if not alone.check else " but still passes its checks"
        if lost:
            return f"Without it the answer no longer mentions {quoted_list(lost)}{checks}."
        return (
            f"Without it the regenerated answer shares {percent(alone.value)} of this answer's words "
            f"(with every message: {percent(self.full.value)}){checks}."
        )


def influence_of(plan: AblationPlan, passes: list[PassScore]) -> tuple[tuple[float, ...], LinearFit | None]:
    full = passes[0]
    if plan.method == "leave_one_out":
        by_mask = {p.kept: p for p in passes}
        units = len(full.kept)
        return tuple(full.value - by_mask[tuple(j != i for j in range(units))].value for i in range(units)), None
    fit = fit_linear([p.kept for p in passes], [p.value for p in passes])
    return fit.weights, fit


def attribute(
    context: AnswerContext, scorer: Scorer, plan: AblationPlan, progress: Progress | None = None
) -> Attribution:
    """Score every pass of `plan` on `context`, then the influence of each unit."""
    progress = progress or Progress()
    progress.total, progress.done, progress.phase = plan.passes, 0, "attribution"
    started = time.perf_counter()
    scorer.begin()  # from an empty cache: a second run scores the same passes the same way
    passes = []
    for mask in plan.masks:
        progress.check()
        passes.append(scorer.score(context, mask))
        progress.step()
    influence, fit = influence_of(plan, passes)
    return Attribution(
        scorer.measure,
        plan.method,
        context.units,
        context.answer,
        tuple(passes),
        influence,
        fit,
        time.perf_counter() - started,
        plan.prefix_ordered,
    )


@dataclass(frozen=True)
class HoldRule:
    """When an answer still "holds" without some units.

    Log-probability: it may fall by at most `max_fall` (0.5: the answer at least half as likely as with
    everything), and if temperature 0 gave exactly this answer with everything, it still must. Similarity:
    the regenerated answer passes its checks where it has them, else its similarity to the answer falls
    by at most `max_similarity_loss`."""

    max_fall: float = DEFAULT_MAX_FALL
    keep_greedy: bool = True
    max_similarity_loss: float = DEFAULT_MAX_SIMILARITY_LOSS

    @property
    def max_drop(self) -> float:
        """The most the log-probability may fall, in nats."""
        return math.inf if self.max_fall >= 1 else -math.log1p(-self.max_fall)

    def holds(self, full: PassScore, score: PassScore) -> bool:
        if score.text is None:  # log-probability
            if self.keep_greedy and full.greedy and not score.greedy:
                return False
            return full.value - score.value <= self.max_drop
        if score.check is not None:
            return score.check
        return score.value >= full.value - self.max_similarity_loss

    def describe(self, measure: Measure, full: PassScore) -> str:
        if measure == "logprob":
            text = f"its probability falls by at most {percent(self.max_fall)}"
            if self.keep_greedy and full.greedy:
                text += " and greedy decoding still gives exactly this answer"
            return text
        if full.check is not None:
            return "the answer regenerated at temperature 0 still passes its checks"
        return (
            "the answer regenerated at temperature 0 keeps a word similarity within "
            f"{self.max_similarity_loss:.2f} of the full context's"
        )


@dataclass(frozen=True)
class SmallestContext:
    minimal: Minimal
    units: tuple[Unit, ...]
    full: PassScore
    kept_score: PassScore  # the score of the context found (the full one if nothing could go)
    passes: tuple[PassScore, ...]  # one per unit tried
    rule: HoldRule
    full_tokens: int
    kept_tokens: int
    seconds: float

    @property
    def kept(self) -> Mask:
        return self.minimal.kept

    @property
    def messages(self) -> list[Message]:
        """The messages it keeps, as they were sent (the system prompt among them if it is kept)."""
        return [u.message for u, sent in zip(self.units, self.kept, strict=True) if sent]

    @property
    def token_saving(self) -> float:
        return 1 - self.kept_tokens / self.full_tokens if self.full_tokens else 0.0

    def headline(self) -> str:
        kept, total = self.minimal.kept_count, len(self.units)
        verb = "keeps" if kept == 1 else "keep"
        return f"{kept} of {total} messages {verb} this answer: −{percent(self.token_saving)} prompt tokens"


def smallest_context(
    context: AnswerContext,
    scorer: Scorer,
    attribution: Attribution,
    rule: HoldRule | None = None,
    progress: Progress | None = None,
) -> SmallestContext:
    """Drop the least influential units one at a time while the answer holds (one pass per unit)."""
    rule = rule or HoldRule()
    progress = progress or Progress()
    progress.total, progress.done, progress.phase = len(context.units), 0, "smallest context"
    started = time.perf_counter()
    scorer.begin()
    full = scorer.score(context, context.full)  # the reference, scored again from the same start
    scores: dict[Mask, PassScore] = {}

    def holds(mask: Mask) -> bool:
        progress.check()
        score = scorer.score(context, mask)
        scores[mask] = score
        progress.step()
        return rule.holds(full, score)

    minimal = minimise(attribution.influence, holds)
    # What was scored: a tool round is left out whole (AnswerContext.paired), so the context found says so.
    minimal = replace(minimal, kept=context.paired(minimal.kept))
    kept_score = scores.get(minimal.kept, full)
    return SmallestContext(
        minimal,
        context.units,
        full,
        kept_score,
        tuple(scores.values()),
        rule,
        context.prompt_tokens(context.full),
        context.prompt_tokens(minimal.kept),
        time.perf_counter() - started,
    )


def as_variant(found: SmallestContext, variant: Variant) -> Variant:
    """`variant` (its model, temperature, reply limit) sending exactly the smallest context found for its
    answer, and the question: on the Compare page, beside the others, to check the answer by sending."""
    name = f"{variant.name} · smallest context ({found.minimal.kept_count} of {len(found.units)})"
    return variant.keeping(found.messages, name)


def plan_cost(context: AnswerContext, plan: AblationPlan, measure: Measure, answer_tokens: int) -> PassCost:
    """Before running: every pass's prompt tokens (exact, from the builder) and the prefix they share."""
    fixed = context.plan.prompt_tokens - sum(u.tokens for u in context.units)
    shared = estimate(plan.masks, [u.tokens for u in context.units], fixed, answer_tokens)
    prompt = sum(context.prompt_tokens(mask) for mask in plan.masks)
    reused = shared.reused_tokens if measure == "logprob" else 0
    return PassCost(plan.passes, prompt, reused, answer_tokens)


T = TypeVar("T")


class Job(core_job.Job[T]):
    """An attribution run (or its check call) as a lib.core.job.Job: its work gets the `Progress` the page
    polls, whose stop is the job's; `error` is how it ended, as the page says it."""

    def __init__(self, work: Callable[[Progress], T], tag: str = "", name: str = "context-lab-attribution"):
        self.tag = tag  # what the caller needs to know the result by (the context it was run on)
        self.progress = Progress()
        super().__init__(lambda _stopping: work(self.progress), name, stopping=self.progress._stop)

    @property
    def error(self) -> str | None:
        if isinstance(self.exception, Stopped):
            return f"Stopped by you after {self.progress.done} of {self.progress.total} passes: nothing is kept."
        if self.exception is not None:  # a failed pass ends the run with its reason, never half a result
            return str(self.exception) or type(self.exception).__name__
        return None
