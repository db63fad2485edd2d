"""Context attribution: which messages an answer used, and the smallest context that keeps it.

- `context`: the answer's units (every message sent before its question) and ablated requests,
  built by the one request builder.
- `planner`: leave-one-out up to 20 units, random ablations above; prefix order; costs before running.
- `scoring`: exact log-probabilities from the embedded model in process (`LogprobScorer`), or
  regeneration at temperature 0 on any other backend (`RegenerationScorer`).
- `fit`: the sparse linear model (Lasso) over random ablations, with its held-out R².
- `minimise`: the greedy search for the smallest context that keeps the answer.
- `run`: running them (`attribute`, `smallest_context`, `Job`) and what the results say; the smallest
  context as a Compare variant (`as_variant`).
"""

from lib.analysis.attribution.context import AnswerContext, Mask, Unit, sampling_of
from lib.analysis.attribution.fit import LinearFit, fit_linear
from lib.analysis.attribution.minimise import Minimal, minimise
from lib.analysis.attribution.planner import AblationPlan, PassCost, plan_ablations
from lib.analysis.attribution.run import (
    Attribution,
    HoldRule,
    Job,
    Progress,
    SmallestContext,
    as_variant,
    attribute,
    measure_label,
    plan_cost,
    smallest_context,
)
from lib.analysis.attribution.scoring import (
    LogprobScorer,
    PassScore,
    RegenerationScorer,
    Scorer,
    ScoringError,
    ScoringModel,
)
from lib.core.errors import AttributionError

__all__ = [
    "AblationPlan",
    "AnswerContext",
    "Attribution",
    "AttributionError",
    "HoldRule",
    "Job",
    "LinearFit",
    "LogprobScorer",
    "Mask",
    "Minimal",
    "PassCost",
    "PassScore",
    "Progress",
    "RegenerationScorer",
    "Scorer",
    "ScoringError",
    "ScoringModel",
    "SmallestContext",
    "Unit",
    "as_variant",
    "attribute",
    "fit_linear",
    "measure_label",
    "minimise",
    "plan_ablations",
    "plan_cost",
    "sampling_of",
    "smallest_context",
]
