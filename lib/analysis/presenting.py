"""The presenter's view, decided: a saved comparison or experiment run as steps (one variant each), the
step a key press lands on, and the cost a stakeholder reads (at a hosted model's price, never a bare $0).

A step says what its variant sent by everything it sent (`Variant.sends`, pinned messages included, as
the Compare report says it), its answer, whether the answer is right when the question has an expected
one, its prompt tokens and what the call cost at the price the presenter picked. The pages draw this;
nothing here draws. Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

from lib.analysis.compare import Comparison, VariantResult
from lib.analysis.experiments.planner import RunSpec
from lib.analysis.experiments.results import summaries
from lib.analysis.experiments.store import CellResult
from lib.context.composition import Composition, compose
from lib.context.payload import RequestPlan
from lib.context.request import Request
from lib.context.strategies import Strategy
from lib.core.models import ModelInfo, lookup, priced_as
from lib.core.prices import billed, money

# The checks that name the text a right answer states (a regex or a rubric is no answer to show).
STATES_A_TEXT = frozenset({"contains", "equals", "starts-with"})
PER_CALLS = 1000  # a cost per call of a few thousandths of a cent reads as nothing: say it per 1,000 calls too


@dataclass(frozen=True)
class Step:
    """One variant of a saved comparison or experiment run, as the presenter shows it."""

    number: int  # 1-based: "Step 2 of 4"
    total: int
    name: str  # the variant's name (the user's words: drawn inert)
    sends: str  # what its call carried, in words, pinned messages included
    question: str
    answer: str
    error: str  # why there is no answer ("" when there is one)
    correct: bool | None  # None: nothing expected (or no answer to judge)
    expected: str  # the answer the question should get ("": none given)
    prompt_tokens: int  # what the call sent: the plan's count (exact on the embedded model)
    cost: float | None  # the whole call (prompt and reply) at the chosen price; None: unpriced
    priced_as: str  # whose prices `cost` is at (the hosted model picked, or the call's own model)
    note: str = ""  # e.g. how the variant did over the run's other cases
    plan: RequestPlan | None = None  # the body it sent, for its composition bar (None: not kept)


def clamp(index: int, total: int) -> int:
    """A step index kept inside 0…total-1 (0 when there are none): a key press past the ends stays put."""
    return max(0, min(index, total - 1)) if total > 0 else 0


def free(model: ModelInfo) -> bool:
    """A model whose every call costs $0 (the embedded one, a local server given no prices): the one whose
    cost is shown at the hosted price picked (ui/price_as.is_free, the chat meter's rule, says the same)."""
    prices = model.prices
    return (
        prices.input is not None
        and prices.input.base == 0
        and not prices.input.tiers
        and (prices.output is None or prices.output.base == 0)
    )


def priced(model: ModelInfo, price_as: str) -> ModelInfo:
    """`model` as the chat meter prices it: a free model at `price_as`'s prices (a hosted model's), a
    priced one at its own ("" or a name the table lacks: its own too)."""
    if price_as and free(model) and lookup(price_as) is not None:
        return priced_as(model, price_as)
    return model


def price_name(model: ModelInfo, price_as: str) -> str:
    """Whose prices `priced` uses: the hosted model picked, or the model's own."""
    return price_as if priced(model, price_as) is not model else model.name


def _result_step(comparison: Comparison, index: int, result: VariantResult, price_as: str) -> Step:
    outcome = result.outcomes[0] if result.outcomes else None
    cost = (
        None
        if outcome is None
        else billed(priced(result.plan.model, price_as).prices, result.plan.prompt_tokens, outcome.usage)
    )
    error = "" if outcome is None else (outcome.error or "")
    if outcome is None:
        error = "This variant was not sent."
    return Step(
        number=index + 1,
        total=len(comparison.results),
        name=result.variant.name,
        sends=result.sends,
        question=comparison.question,
        answer=result.answer,
        error=error,
        correct=comparison.correct(index),
        expected=comparison.expected.strip(),
        prompt_tokens=result.plan.prompt_tokens,
        cost=cost,
        priced_as=price_name(result.plan.model, price_as),
        plan=result.plan,
    )


def comparison_steps(comparison: Comparison, price_as: str = "") -> list[Step]:
    """The comparison's variants in its order, one step each (its first run's answer, as Compare shows)."""
    return [_result_step(comparison, i, r, price_as) for i, r in enumerate(comparison.results)]


def _cell_correct(cell: CellResult | None) -> bool | None:
    if cell is None:
        return None
    return {"pass": True, "fail": False}.get(cell.status)


def _expected_of(spec: RunSpec, case_id: str) -> str:
    """What the case's checks look for, in words, when one check names a text to find."""
    case = next((c for c in spec.test_set.cases if c.id == case_id), None)
    if case is None:
        return ""
    for check in case.checks:
        if check.kind in STATES_A_TEXT and check.value.strip():
            return check.value.strip()
    return ""


def run_steps(
    spec: RunSpec, cells: list[CellResult], case_id: str, price_as: str = "", model: ModelInfo | None = None
) -> list[Step]:
    """An experiment run's variants, one step each, on one of its cases (its first repeat): the answer,
    passed or failed, tokens and cost; the note says how the variant did over all the run's cases.
    `model`: the model the run's calls went to (its prices, unless `price_as` names another)."""
    case = next((c for c in spec.test_set.cases if c.id == case_id), None)
    question = case.question if case is not None else ""
    pinned = sum(m.pinned for m in case.conversation.messages) if case is not None else 0
    by_key = {(c.key.variant, c.key.case, c.key.repeat): c for c in cells}
    overall = summaries(spec, cells)
    steps = []
    for index, variant in enumerate(spec.variants):
        cell = by_key.get((index, case_id, 0))
        cost: float | None = None
        if cell is not None:
            cost = cell.cost
            if model is not None and (priced(model, price_as) is not model or cost is None):
                cost = billed(priced(model, price_as).prices, cell.predicted_prompt_tokens, cell.usage)
        summary = overall[index] if index < len(overall) else None
        note = ""
        if summary is not None and summary.scored:
            note = f"passed {summary.passed} of {summary.scored} cases in this run"
        error = "Not run yet." if cell is None else (cell.error or "")
        steps.append(
            Step(
                number=index + 1,
                total=len(spec.variants),
                name=variant.name,
                sends=variant.sends(pinned),
                question=question,
                answer="" if cell is None else cell.answer,
                error=error,
                correct=_cell_correct(cell),
                expected=_expected_of(spec, case_id),
                prompt_tokens=0 if cell is None else cell.predicted_prompt_tokens,
                cost=cost,
                priced_as=price_name(model, price_as) if model is not None else "the run's model",
                note=note,
            )
        )
    return steps


def composition_of_plan(plan: RequestPlan) -> Composition:
    """A kept plan's composition (its last message is the question), against its model's window."""
    question = plan.messages[-1] if plan.messages else None
    return compose(Request(plan, (), question, Strategy("full")))


@dataclass(frozen=True)
class CostText:
    """A cost as the presenter's big number shows it: never a bare "$0"."""

    value: str  # the big number
    detail: str  # the line under it: per 1,000 calls, or why there is no price


def cost_text(cost: float | None, model_name: str) -> CostText:
    """`cost` at `model_name`'s prices, for a stakeholder: a bare "$0" reads as "costs nothing anywhere",
    so a free (local) price says so in words and asks for a hosted model's price."""
    if cost is None:
        return CostText("unpriced", f"No price known for {model_name}: pick a hosted model's price.")
    if cost == 0:
        return CostText(
            "free here", f"{model_name} runs on this machine: pick a hosted model's price to see what a call costs."
        )
    thousand = money(cost * PER_CALLS)
    return CostText(money(cost), f"at {model_name}'s prices · {thousand} per {PER_CALLS:,} calls")
