"""The JSON Compare keeps with a session (a comparison, the variant set-up), as pydantic models: what
lib/analysis/compare.py's `to_dict` writes and `from_dict` reads, field for field, in the order it has
always been written, so a comparison stored before these models reads back, and writes, the same.

Typed where the app wrote the value itself (strict: a `true` is no count, a "3" no number); as it was
sent where a server chose it (a finish reason, an error code, the usage as reported), since whatever a
server sends is kept, not refused. A value that does not fit is InvalidComparison, its sentence naming
the field. No I/O.
"""

from __future__ import annotations

from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_serializer

from lib.context.strategies import STRATEGY_LABELS
from lib.core.errors import InvalidComparison

FORMAT_VERSION = 1  # of the stored JSON; another is refused (`read`)
PlainRole = Literal["system", "developer", "user", "assistant"]  # lib.context.conversation.Role but "tool"
AnyRole = Literal["system", "developer", "user", "assistant", "tool"]  # lib.context.conversation.Role


class _Json(BaseModel):
    # Strict: the app wrote these values; ignore what a newer version added (read back as before).
    model_config = ConfigDict(strict=True, extra="ignore")


class WritesToolsOnlyWhenNamed(BaseModel):
    """A variant's `tools`: None (the session's or the case's tools) is not written at all, so a variant
    stored before tools existed is written key for key as it was. Shared by Compare's variants and an
    experiment run's."""

    tools: list[str] | None = None

    @model_serializer(mode="wrap")
    def _without_absent_tools(self, handler: Any) -> dict[str, Any]:
        written = handler(self)
        if written.get("tools") is None:
            written.pop("tools", None)
        return written


class StrategyJson(_Json):
    kind: str
    last_turns: int = 2
    token_budget: int = 1024

    @field_validator("kind")
    @classmethod
    def _known(cls, kind: str) -> str:
        if kind not in STRATEGY_LABELS:
            raise ValueError(f"unknown strategy {kind!r}")
        return kind


class VariantJson(_Json, WritesToolsOnlyWhenNamed):
    name: str
    strategy: StrategyJson
    system_override: str | None = None
    model: str = ""
    temperature: float | None = None
    max_tokens: int | None = None
    # [role, text] pairs (a JSON list each); a tool result cannot be one: it needs the call it answers.
    # …or [role, text, fields] for a tool call or result: its other wire fields (`tool_calls`,
    # `tool_call_id`, `name`) as JSON text, so a fixed context sends whole tool rounds.
    fixed_context: list[tuple[PlainRole, str] | tuple[AnyRole, str, str]] | None = None
    tools: list[str] | None = None  # None: the session's tools (and the key is not written)

    @field_validator("fixed_context", mode="before")
    @classmethod
    def _pairs(cls, value: Any) -> Any:
        """JSON has no tuples: each [role, text] list is read as the pair it stands for."""
        if isinstance(value, list):
            return [tuple(item) if isinstance(item, list) else item for item in value]
        return value


class SetupJson(_Json):
    format: int
    variants: list[VariantJson]
    question: str = ""
    repeats: int = 1
    seed: int = 1
    priced_as: str = ""
    expected: str = ""


class RateJson(BaseModel):  # read as the dataclass was built: float(base), (int, float) tiers
    base: float
    tiers: list[tuple[int, float]] = []


class PricesJson(BaseModel):
    input: RateJson | None = None
    output: RateJson | None = None
    cached_input: RateJson | None = None
    source: str = ""


class ModelJson(_Json):  # lib.core.models.ModelInfo, as `asdict` writes it
    name: str
    context_window: int
    encoding: str
    reasoning: bool = False
    price_ref: str | None = None
    own_prices: PricesJson | None = None


class CountJson(BaseModel):  # lib.context.tokens.PromptCount, as it was read: tuple, int, bool, str
    model_config = ConfigDict(strict=False)
    per_message: list[int]
    total: int
    exact: bool
    method: str


class PlanJson(_Json):
    body: dict[str, Any]
    body_bytes: int
    count: CountJson
    model: ModelJson
    max_tokens: int


class OutcomeJson(BaseModel):
    """A call's outcome, flat: its usage's counts beside its text (as the JSON has always had it)."""

    model_config = ConfigDict(extra="ignore")
    text: str = ""
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cached_tokens: int | None = None
    latency_s: float | None = None
    ttft_s: float | None = None
    finish_reason: Any = None  # a server's word, kept as sent
    error: str | None = None
    status_code: int | None = None
    error_code: Any = None  # a server's word, kept as sent
    retry_after_s: float | None = None
    reported_usage: dict[str, Any] | None = None  # the usage exactly as the server sent it


class ResultJson(_Json):
    variant: VariantJson
    plan: PlanJson
    outcomes: list[OutcomeJson]
    seeds: list[Any] = []
    queued: list[Any] = []
    notices: list[list[str]] = []
    # The pinned messages the call carried (its variant's description names them); None, and not
    # written, when there were none (a comparison stored before this field reads back, and writes, the same).
    pinned: int | None = None

    @model_serializer(mode="wrap")
    def _without_absent_pinned(self, handler: Any) -> dict[str, Any]:
        written = handler(self)
        if written.get("pinned") is None:
            written.pop("pinned", None)
        return written


class ComparisonJson(_Json):
    format: int
    question: str
    created: str
    baseline: int = 0
    model_note: str = ""
    one_at_a_time: bool = False
    results: list[ResultJson] = Field(min_length=1)
    expected: str = ""  # the answer the question should get; "" (and not written): none given

    @model_serializer(mode="wrap")
    def _without_absent_expected(self, handler: Any) -> dict[str, Any]:
        written = handler(self)
        if not written.get("expected"):
            written.pop("expected", None)
        return written


M = TypeVar("M", bound=BaseModel)


def read(model: type[M], raw: Any, what: str) -> M:
    """`raw` (a stored body) as `model`; InvalidComparison, with a sentence naming the field, if it is not."""
    if not isinstance(raw, dict):
        raise InvalidComparison(f"{what}: expected an object, got {type(raw).__name__}")
    if "format" in model.model_fields and raw.get("format") != FORMAT_VERSION:
        raise InvalidComparison(f"{what} of format {raw.get('format')!r}; this version reads {FORMAT_VERSION}")
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"]) or what
        if error["type"] == "too_short" and error["loc"] == ("results",):
            raise InvalidComparison("a comparison without results") from None
        raise InvalidComparison(f"{what}: {where}: {error['msg']}"[:300]) from None


def written(model: BaseModel) -> dict[str, Any]:
    """The model as the JSON-ready dict the store keeps."""
    return model.model_dump(mode="json")
