"""A run set up from what the Experiments page holds: the variants' table rows to `Variant`s and back,
every conversation of a set written out, the `RunSpec`, the judge's target and backend, whether the
sidebar's backend can resume a stored run, and the words a run's status is said in.

The page's widgets hold plain values (the table's rows, numbers); this module decides what they mean.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pandas as pd

from lib.analysis.compare import Variant
from lib.analysis.experiments import runner, store
from lib.analysis.experiments.cases import Conversation, InvalidTestSet, TestSet
from lib.analysis.experiments.judge import JudgeSpec
from lib.analysis.experiments.planner import RunSpec
from lib.analysis.targets import TargetSettings, embedded_target, model_target
from lib.backends.kinds import BACKENDS
from lib.backends.providers import ProviderConfig
from lib.context.payload import Sampling
from lib.context.strategies import STRATEGY_LABELS, Strategy, StrategyKind
from lib.context.tools import ToolSettings
from lib.core import models
from lib.store.session import Session

SYSTEM_CHOICES = ("the conversation's", "none", "custom")
LABEL_TO_KIND: dict[str, StrategyKind] = {label: kind for kind, label in STRATEGY_LABELS.items()}

# --- the variants' table -----------------------------------------------------------------------------


def variant_row(variant: Variant) -> dict[str, Any]:
    """A variant as a row of the page's table (its column names are the headers shown)."""
    mode = (
        "the conversation's"
        if variant.system_override is None
        else ("none" if not variant.system_override else "custom")
    )
    return {
        "name": variant.name,
        "context": STRATEGY_LABELS[variant.strategy.kind],
        "turns": variant.strategy.last_turns,
        "token budget": variant.strategy.token_budget,
        "system prompt": mode,
        "custom system prompt": variant.system_override or "",
        "model": variant.model,
        "temperature": variant.temperature,
        "max reply tokens": variant.max_tokens,
        "tools": tools_cell(variant.tools),
    }


TOOLS_ALL, TOOLS_NONE = "the case's", "none"


def tools_cell(tools: tuple[str, ...] | None) -> str:
    """A variant's tools as its table cell: the case's (its set's or conversation's), none, or names."""
    if tools is None:
        return TOOLS_ALL
    return ", ".join(tools) if tools else TOOLS_NONE


def tools_of_cell(cell: Any) -> tuple[str, ...] | None:
    """The cell read back: blank or "the case's": None; "none": (); else the names it lists."""
    text = "" if cell is None or (not isinstance(cell, str) and pd.isna(cell)) else str(cell).strip()
    if not text or text.lower() in (TOOLS_ALL, "all", "the case’s"):
        return None
    if text.lower() in (TOOLS_NONE, "no tools"):
        return ()
    return tuple(dict.fromkeys(n.strip() for n in text.split(",") if n.strip()))


def _number(value: Any, kind: Callable[[Any], Any] = float) -> Any:
    """A table cell as a number, or None for a blank one (None, or NaN as pandas gives a blank number)."""
    return None if value is None or pd.isna(value) else kind(value)


def variants_from(rows: list[dict[str, Any]]) -> list[Variant]:
    """The table's rows as variants: a blank name is numbered, a blank number is the run's own."""
    variants = []
    for index, row in enumerate(rows):
        kind = LABEL_TO_KIND.get(str(row.get("context")), "full")
        strategy = Strategy(
            kind,
            last_turns=_number(row.get("turns"), int) or 0,
            token_budget=_number(row.get("token budget"), int) or 0,
        )
        mode = row.get("system prompt") or SYSTEM_CHOICES[0]
        if mode == SYSTEM_CHOICES[0]:
            override = None  # the conversation's own
        elif mode == "none":
            override = ""
        else:
            override = str(row.get("custom system prompt") or "")
        name = str(row.get("name") or "").strip() or f"Variant {index + 1}"
        model = str(row.get("model") or "").strip()
        temperature, max_tokens = _number(row.get("temperature")), _number(row.get("max reply tokens"), int)
        tools = tools_of_cell(row.get("tools"))
        variants.append(Variant(name, strategy, override, model, temperature, max_tokens, tools=tools))
    return variants


# --- the run -----------------------------------------------------------------------------------------


def resolved(test_set: TestSet, current: Conversation, load_session: Callable[[str], Session | None]) -> TestSet:
    """The set with every conversation written out (`current`: the chat's session now; a saved one as
    `load_session` reads it), so the run holds what it asked in, and a resume asks in the same.
    InvalidTestSet names a case whose saved session is not there."""
    cases = []
    for case in test_set.cases:
        conversation = case.conversation
        if conversation.source == "current":
            conversation = current
        elif conversation.source == "session":
            session = load_session(conversation.session_id)
            if session is None:
                raise InvalidTestSet(f"{case.id}: the saved session {conversation.session_id!r} is not there")
            system = session.system.content if session.system.included else ""
            conversation = Conversation("inline", tuple(session.messages), system, tools=session_tools(session))
        cases.append(replace(case, conversation=conversation))
    return replace(test_set, cases=tuple(cases))


def session_tools(session: Session) -> ToolSettings:
    """A saved session's tool definitions and how the model may use them, as its chat sends them."""
    settings = session.settings
    parallel = settings.get("parallel_tool_calls")
    return ToolSettings(
        session.tools,
        settings.get("tool_choice"),
        parallel if isinstance(parallel, bool) else None,
    )


def run_spec(
    test_set: TestSet,
    variants: list[Variant],
    provider: ProviderConfig,
    sampling: Sampling,
    judge: JudgeSpec | None,
    *,
    temperature: float,
    max_tokens: int,
    repeats: int,
    seed: int,
    concurrency: int,
) -> RunSpec:
    """The run of `test_set` (its conversations written out) on the sidebar's backend: the sidebar's
    `sampling` with the run's temperature and reply limit (each repeat's seed is the run's)."""
    sampling = replace(sampling, temperature=temperature, max_tokens=max_tokens, seed=None)
    return RunSpec(
        test_set,
        tuple(variants),
        repeats,
        seed,
        sampling,
        provider.kind,
        provider.model,
        "" if provider.backend.started_by_the_app else provider.base_url,
        judge,
        concurrency,
        0,
    )


def judge_setup(
    spec: JudgeSpec | None, provider: ProviderConfig, targets: TargetSettings, embedded_url: Callable[[], str]
) -> runner.JudgeSetup | None:
    """Who grades the rubric checks, and through which backend: the embedded model (`embedded_url`
    starts it if needed), or a model on the sidebar's backend with its key."""
    if spec is None:
        return None
    if BACKENDS[spec.kind].started_by_the_app:
        if provider.replay is not None:  # a recorded demo grades too: nothing is started, nothing sent
            config = ProviderConfig(
                "embedded", models.EMBEDDED_MODEL, base_url=provider.base_url, replay=provider.replay
            )
        else:
            config = ProviderConfig("embedded", models.EMBEDDED_MODEL, base_url=embedded_url())
        return runner.JudgeSetup(spec, embedded_target(targets), config)
    return runner.JudgeSetup(spec, model_target(spec.model, targets), replace(provider, model=spec.model))


def backend_mismatch(spec: RunSpec, provider: ProviderConfig) -> str | None:
    """Why the sidebar's backend cannot resume the stored run (None: it can)."""
    if spec.provider_kind != provider.kind:
        return f"This run was made on the {spec.provider_kind} backend: pick it in the sidebar to resume it."
    if not provider.backend.started_by_the_app and (spec.provider_base_url, spec.provider_model) != (
        provider.base_url,
        provider.model,
    ):
        return f"This run was made with {spec.provider_model} at {spec.provider_base_url}: pick them to resume it."
    return None


# --- a run's status ---------------------------------------------------------------------------------


def status_word(info: store.RunInfo) -> str:
    if runner.running_elsewhere(info):
        return "running on another replica"
    if info.status == "running" and runner.active(info.id) is None:
        return "interrupted"
    return info.status


def tally(info: store.RunInfo, cells: list[store.CellResult]) -> str:
    """The run's status and its cells' verdicts, in one Markdown line."""
    counts = {status: sum(c.status == status for c in cells) for status in ("pass", "fail", "error", "judging")}
    parts = [f"{counts['pass']} pass", f"{counts['fail']} fail", f"{counts['error']} error"]
    if counts["judging"]:
        parts.append(f"{counts['judging']} waiting for the judge")
    return f"**{status_word(info)}** · **{info.finished:,} of {info.cells:,} cells finished** · " + " · ".join(parts)


def run_label(info: store.RunInfo) -> str:
    """A run picker's label: what never changes about a run (its name, size and start). Its status and
    progress are drawn beside the picker, fresh on every run of the page: a browser keeps showing the text
    a picked option had when it was picked, so a label with a status in it went on saying "running · 0/N"
    for a finished run."""
    return f"{info.name} · {info.cells} cells · started {info.created_at[:19].replace('T', ' ')}"
