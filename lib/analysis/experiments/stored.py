"""The JSON an experiment run is stored as (lib/analysis/experiments/store.py): its spec (what was run:
the test set, the variants, sampling, the backend, the judge) and each cell's verdicts, as pydantic
models that read and write exactly what the hand-written codec did, key for key and in its order, so a
run stored before them reads back and writes the same.

Read as that codec read them: numbers as `int()` took them (lax), a value absent as its default. A
stored spec or verdict that does not fit is InvalidRun, its sentence naming the field. The test set
inside a spec keeps its own reader (lib/analysis/experiments/cases.set_from_dict), which says where a
file of one is wrong. No I/O.
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from lib.analysis.compare_json import WritesToolsOnlyWhenNamed
from lib.analysis.experiments.judge import JUDGE_MAX_TOKENS
from lib.core.errors import InvalidRun


class _Json(BaseModel):
    model_config = ConfigDict(extra="ignore")


class StrategyJson(_Json):
    kind: str
    last_turns: int
    token_budget: int


class VariantJson(_Json, WritesToolsOnlyWhenNamed):
    name: str
    strategy: StrategyJson
    system_override: str | None = None
    model: str = ""
    temperature: int | float | None = None  # as written: a 1 stays 1
    max_tokens: int | None = None
    # None: the case's tools, as its set or conversation holds them; []: none; names: only those.
    tools: list[str] | None = None


class SamplingJson(_Json):
    temperature: int | float = 0.7
    max_tokens: int = 256
    token_limit_field: str = "max_tokens"
    stream: bool = True
    end_user: str | None = None
    end_user_field: str = "user"


class ProviderJson(_Json):
    kind: str
    model: str
    base_url: str = ""


class JudgeJson(_Json):
    kind: str
    model: str
    base_url: str = ""
    max_tokens: int = JUDGE_MAX_TOKENS


class SpecJson(_Json):
    test_set: dict[str, Any]  # cases.set_to_dict's, read by cases.set_from_dict
    variants: list[VariantJson]
    repeats: int
    base_seed: int
    sampling: SamplingJson
    provider: ProviderJson
    judge: JudgeJson | None = None
    concurrency: int = 1
    baseline: int = 0
    summaries: list[tuple[str, str]] = []  # (summary key, summary text) pairs


class VerdictJson(_Json):
    check: str
    passed: bool | None = None
    detail: str = ""
    judge: bool = False


M = TypeVar("M", bound=BaseModel)


def read(model: type[M], raw: Any, what: str) -> M:
    """`raw` as `model`; InvalidRun, with a sentence naming the field, if it does not fit."""
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"])
        raise InvalidRun(f"The stored {what} cannot be read: {where or 'it'}: {error['msg']}."[:300]) from None


def written(model: BaseModel) -> dict[str, Any]:
    return model.model_dump(mode="json")
