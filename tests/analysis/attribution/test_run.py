"""Running an attribution and the smallest-context search on a scorer with known answers, and what they say.

The scorer here is a formula over the mask (its score is known exactly), so these tests check the
run's bookkeeping and sentences; tests/test_attribution_embedded.py scores with the real model.
"""

from __future__ import annotations

import math
import threading

import pytest

from lib.analysis.attribution.context import AnswerContext
from lib.analysis.attribution.planner import plan_ablations
from lib.analysis.attribution.run import (
    HoldRule,
    Job,
    Progress,
    Stopped,
    attribute,
    measure_label,
    plan_cost,
    smallest_context,
)
from lib.analysis.attribution.scoring import PassScore
from lib.context.conversation import Message, SystemPrompt
from lib.context.payload import Sampling
from lib.context.request import Target, build_request
from lib.context.strategies import Strategy
from lib.context.tokens import TiktokenCounter
from lib.core.models import MODELS

TARGET = Target(MODELS["gpt-4o-mini"], TiktokenCounter.for_model("gpt-4o-mini"), "gpt-4o-mini")


def _context(units: int, answer: str = "She lives in Lisbon.") -> AnswerContext:
    history = [Message("user" if i % 2 else "assistant", f"Message number {i}.", id=f"m{i}") for i in range(units - 1)]
    request = build_request(
        SystemPrompt("Be brief."),
        history,
        Message("user", "Where?"),
        Strategy("full"),
        TARGET,
        Sampling(temperature=0.0),
    )
    return AnswerContext.of(request, answer, TARGET)


class FormulaScorer:
    """log p(answer | kept) = base + Σ weight_i · kept_i; greedy while the first `needed` units are kept."""

    measure = "logprob"

    def __init__(self, weights, needed=(), base=-10.0):
        self.weights, self.needed, self.base = weights, needed, base
        self.scored: list[tuple[bool, ...]] = []
        self.begun = 0

    def begin(self):
        self.begun += 1

    def score(self, context, kept):
        self.scored.append(kept)
        value = self.base + sum(w for w, k in zip(self.weights, kept, strict=True) if k)
        return PassScore(kept, value, 100, 100, 0, 0.0, greedy=all(kept[i] for i in self.needed))


class RegeneratingScorer:
    """Regenerations: the answer mentions Lisbon while unit 1 is kept."""

    measure = "similarity"

    def begin(self):
        pass

    def score(self, context, kept):
        text = "She lives in Lisbon, Portugal." if kept[1] else "I do not know where she lives."
        from lib.analysis.compare import similarity

        return PassScore(kept, similarity(context.answer, text), 100, 100, 0, 0.0, text=text)


def test_leave_one_out_influence_is_the_score_lost_without_each_unit():
    context = _context(4)
    scorer = FormulaScorer([0.1, 3.0, -0.5, 0.0], needed=[1])
    result = attribute(context, scorer, plan_ablations(4))
    assert scorer.begun == 1 and scorer.scored[0] == (True,) * 4
    assert result.influence == pytest.approx((0.1, 3.0, -0.5, 0.0))
    assert result.ranking() == [1, 0, 3, 2]
    assert result.top(3) == [1, 0]  # only units that support the answer
    assert result.bar(1) == 1.0 and result.bar(0) == pytest.approx(0.1 / 3.0) and result.bar(2) == 0.0


def test_sentences_say_what_leaving_a_message_out_does():
    context = _context(4)
    result = attribute(context, FormulaScorer([0.1, 3.0, -0.5, 0.0], needed=[1]), plan_ablations(4))
    fall = 1 - math.exp(-3.0)
    assert result.sentence(1) == (
        f"Without this message the answer's probability falls by {fall * 100:.0f} %, and greedy decoding would no "
        "longer give this answer."
    )
    assert result.sentence(2).startswith("Without this message the answer's probability rises by 65 %")
    assert result.sentence(2).endswith("it works against this answer.")
    assert result.change(1) == "probability falls by 95 % without it"


def test_huge_falls_are_said_as_factors():
    result = attribute(_context(2), FormulaScorer([0.0, 40.0]), plan_ablations(2))
    assert "falls by more than 99.9 %" in result.sentence(1)


def test_random_ablations_above_twenty_units_fit_the_known_weights():
    weights = [0.0] * 26
    weights[7] = 5.0
    weights[20] = 1.0
    context = _context(26)
    result = attribute(context, FormulaScorer(weights), plan_ablations(26))
    assert result.method == "random_ablations" and result.fit is not None
    assert result.ranking()[:2] == [7, 20]
    assert result.fit.heldout_r2 > 0.9
    assert result.sentence(7).startswith("The fitted model says: without this message the answer's probability")
    assert "(fitted)" in result.change(7)


def test_regeneration_sentences_name_what_the_answer_no_longer_mentions():
    context = _context(3)
    result = attribute(context, RegeneratingScorer(), plan_ablations(3))
    assert result.measure == "similarity" and result.ranking()[0] == 1
    assert result.sentence(1) == "Without it the answer no longer mentions Lisbon."
    assert result.sentence(0).startswith("Without it the regenerated answer shares")


def test_smallest_context_keeps_what_holds_the_answer_and_says_how_much_it_saves():
    context = _context(6)
    weights = [0.0, 4.0, 0.05, 0.0, 0.3, 0.0]
    scorer = FormulaScorer(weights, needed=[1])
    result = attribute(context, scorer, plan_ablations(6))
    found = smallest_context(context, scorer, result, HoldRule(max_fall=0.5))
    # Without unit 4 the answer is e^-0.3 = 74 % as likely (holds), without 4 and 2 as well: 70 % (holds).
    assert found.kept == (False, True, False, False, False, False)
    assert found.kept_tokens < found.full_tokens
    assert found.headline() == f"1 of 6 messages keeps this answer: −{found.token_saving * 100:.0f} % prompt tokens"
    assert len(found.passes) == 6


def test_the_hold_rule_keeps_temperature_zero_answers_greedy():
    context = _context(3)
    scorer = FormulaScorer([0.0, 0.01, 0.0], needed=[1])
    result = attribute(context, scorer, plan_ablations(3))
    assert smallest_context(context, scorer, result, HoldRule(max_fall=0.9)).kept == (False, True, False)
    loose = HoldRule(max_fall=0.9, keep_greedy=False)
    assert smallest_context(context, scorer, result, loose).kept == (False, False, False)


def test_hold_rule_thresholds():
    full = PassScore((True,), -2.0, 10, 10, 0, 0.0, greedy=False)
    assert HoldRule(max_fall=0.5).holds(full, PassScore((False,), -2.0 - math.log(2) + 1e-9, 5, 5, 0, 0.0))
    assert not HoldRule(max_fall=0.5).holds(full, PassScore((False,), -2.0 - math.log(2) - 1e-3, 5, 5, 0, 0.0))
    regenerated = PassScore((True,), 0.95, 10, 10, 0, 0.0, text="a")
    assert HoldRule(max_similarity_loss=0.1).holds(regenerated, PassScore((False,), 0.86, 5, 5, 0, 0.0, text="b"))
    assert not HoldRule(max_similarity_loss=0.1).holds(regenerated, PassScore((False,), 0.84, 5, 5, 0, 0.0, text="b"))
    checked = PassScore((False,), 0.1, 5, 5, 0, 0.0, text="b", check=True)
    assert HoldRule().holds(regenerated, checked)  # checks decide where the answer has them


def test_plan_cost_counts_every_pass_as_it_would_be_sent():
    context = _context(5)
    plan = plan_ablations(5)
    cost = plan_cost(context, plan, "logprob", 12)
    assert cost.passes == 6
    assert cost.prompt_tokens == sum(context.request_for(m).plan.prompt_tokens for m in plan.masks)
    assert 0 < cost.reused_tokens < cost.prompt_tokens
    assert plan_cost(context, plan, "similarity", 12).reused_tokens == 0


def test_a_job_runs_on_its_own_thread_and_stops_between_passes():
    release, scoring = threading.Event(), threading.Event()
    context = _context(4)

    class Slow(FormulaScorer):
        def score(self, context, kept):
            scoring.set()
            release.wait(5)
            return super().score(context, kept)

    job = Job(lambda progress: attribute(context, Slow([1.0] * 4), plan_ablations(4), progress))
    assert not job.done
    assert scoring.wait(10)  # the first pass is under way (on a loaded machine the thread may not have begun)
    job.stop()
    release.set()
    assert job.wait(10)
    assert job.result is None and job.error.startswith("Stopped by you after 1 of 5 passes")


def test_a_failing_pass_ends_the_job_with_its_reason():
    class Broken(FormulaScorer):
        def score(self, context, kept):
            raise RuntimeError("The server refused the request (400).")

    job = Job(lambda progress: attribute(_context(3), Broken([0.0] * 3), plan_ablations(3), progress))
    assert job.wait(10)
    assert job.error == "The server refused the request (400)." and job.result is None


def test_progress_check_raises_once_stopped():
    progress = Progress()
    progress.check()
    progress.stop()
    with pytest.raises(Stopped):
        progress.check()


def test_the_smallest_context_as_a_compare_variant_sends_exactly_the_kept_units():
    from lib.analysis.attribution.run import as_variant
    from lib.analysis.compare import Variant, plan_variant

    context = _context(6)
    scorer = FormulaScorer([0.0, 4.0, 0.05, 0.0, 0.3, 0.0], needed=[1])
    found = smallest_context(context, scorer, attribute(context, scorer, plan_ablations(6)), HoldRule(max_fall=0.5))
    variant = Variant("Last turn", Strategy("last_turns", last_turns=1), temperature=0.7, max_tokens=50)
    added = as_variant(found, variant)
    assert added.name == "Last turn · smallest context (1 of 6)"
    sent = plan_variant(added, SystemPrompt("Ignored."), [], "Where?", TARGET, Sampling()).plan.body
    kept = [{"role": u.message.role, "content": u.message.content} for u in context.kept_units(found.kept)]
    assert sent["messages"] == [*kept, {"role": "user", "content": "Where?"}]
    assert sent["messages"][:-1] == context.request_for(found.kept).plan.body["messages"][:-1]
    assert (sent["temperature"], sent["max_tokens"]) == (0.7, 50)  # the variant's own, not attribution's 0


def test_the_hold_rule_and_the_measure_are_said_as_the_page_says_them():
    greedy = PassScore((True,), -2.0, 10, 10, 0, 0.0, greedy=True)
    assert HoldRule(max_fall=0.5).describe("logprob", greedy) == (
        "its probability falls by at most 50 % and greedy decoding still gives exactly this answer"
    )
    assert HoldRule(max_fall=0.5, keep_greedy=False).describe("logprob", greedy) == (
        "its probability falls by at most 50 %"
    )
    regenerated = PassScore((True,), 1.0, 10, 10, 0, 0.0, text="a")
    assert HoldRule(max_similarity_loss=0.1).describe("similarity", regenerated) == (
        "the answer regenerated at temperature 0 keeps a word similarity within 0.10 of the full context's"
    )
    checked = PassScore((True,), 1.0, 10, 10, 0, 0.0, text="a", check=True)
    assert (
        HoldRule().describe("similarity", checked) == "the answer regenerated at temperature 0 still passes its checks"
    )
    assert "exact, from its own logits" in measure_label("logprob")
    assert "regenerated, not a probability" in measure_label("similarity")


def test_a_regenerated_attributions_bars_say_the_similarity_lost():
    context = _context(3)
    result = attribute(context, RegeneratingScorer(), plan_ablations(3))
    assert result.change(1).startswith("similarity −") and result.change(1).endswith(" without it")
    assert result.bar(1) == 1.0  # the unit the answer needs is the largest bar
