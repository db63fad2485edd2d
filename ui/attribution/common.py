"""What the attribution panel's parts share: each answer's `Panel` (the run in progress, what the last
runs found) kept in session state, the scorer a backend is attributed with (the embedded model in
process, `scoring_model`, made once; else regeneration through the backend's client), and a run started."""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from lib.analysis.attribution import (
    Attribution,
    Job,
    LogprobScorer,
    RegenerationScorer,
    Scorer,
    ScoringModel,
    SmallestContext,
)
from lib.context.payload import RequestPlan
from lib.core.outcome import CallOutcome
from ui import resources, state
from ui.settings import Settings

KEY = "attribution_"
APPLIED = KEY + "applied"
POLL_S = 1.0
TOP = 3
FALLS = (0.1, 0.25, 0.5, 0.75, 0.9)  # how much less likely the answer may become and still "hold"


@st.cache_resource(show_spinner="Loading the embedded model in process for scoring (SmolLM2-135M)…")
def scoring_model() -> ScoringModel:
    return ScoringModel()


@dataclass
class Check:
    """The smallest context, sent as a real call at temperature 0."""

    plan: RequestPlan
    job: Job[CallOutcome]
    logged: bool = False


@dataclass
class Panel:
    """One answer's attribution state: the run in progress, and what the last runs found."""

    job: Job | None = None
    scorer: Scorer | None = None
    logged_calls: int = 0
    attribution: Attribution | None = None
    attributed_for: str = ""  # the context's fingerprint when it was attributed
    smallest: SmallestContext | None = None
    check: Check | None = None
    error: str | None = None
    added: str = ""  # the Compare variant the smallest context was added as (its name)

    @property
    def running(self) -> bool:
        return (self.job is not None and not self.job.done) or (self.check is not None and not self.check.job.done)


def panel_of(key: str) -> Panel:
    panel = state.get(KEY + key)
    if not isinstance(panel, Panel):
        panel = Panel()
        state.put(KEY + key, panel)
    return panel


# --- how a backend is attributed, and a run started ------------------------------------------


def exact(settings: Settings) -> bool:
    return settings.provider.backend.counts_in_process


def scorer_for(settings: Settings) -> Scorer:
    if exact(settings):
        return LogprobScorer(scoring_model(), resources.embedded_tokenizer())
    return RegenerationScorer(resources.client(settings.provider), settings.provider.secrets)


def start(panel: Panel, job: Job, scorer: Scorer) -> None:
    panel.job, panel.scorer, panel.logged_calls, panel.error = job, scorer, 0, None
    st.rerun()  # the whole page: the panel redraws itself while the run goes on
