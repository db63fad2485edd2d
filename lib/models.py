"""Context windows, prices and tokenizers of common chat models: the one table the app reads.

Prices are USD per million tokens (list prices; check your provider's page before quoting them).
A model not in the table gets `UNKNOWN`; the UI lets the user fill in its window and prices.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

EMBEDDED_MODEL = "SmolLM2-135M-Instruct"


@dataclass(frozen=True)
class ModelInfo:
    name: str
    context_window: int
    input_per_million: float | None  # None: price unknown (or free, for local models: 0.0)
    output_per_million: float | None
    encoding: str  # a tiktoken encoding name, or "embedded" for the model's own tokenizer
    reasoning: bool = False  # reasoning models accept no sampling temperature

    def input_cost(self, tokens: int) -> float | None:
        if self.input_per_million is None:
            return None
        return tokens * self.input_per_million / 1_000_000

    def output_cost(self, tokens: int) -> float | None:
        if self.output_per_million is None:
            return None
        return tokens * self.output_per_million / 1_000_000


_TABLE: tuple[ModelInfo, ...] = (
    ModelInfo(EMBEDDED_MODEL, 8192, 0.0, 0.0, "embedded"),
    ModelInfo("gpt-5", 400_000, 1.25, 10.0, "o200k_base", reasoning=True),
    ModelInfo("gpt-5-mini", 400_000, 0.25, 2.0, "o200k_base", reasoning=True),
    ModelInfo("gpt-5-nano", 400_000, 0.05, 0.40, "o200k_base", reasoning=True),
    ModelInfo("gpt-4.1", 1_047_576, 2.0, 8.0, "o200k_base"),
    ModelInfo("gpt-4.1-mini", 1_047_576, 0.40, 1.60, "o200k_base"),
    ModelInfo("gpt-4.1-nano", 1_047_576, 0.10, 0.40, "o200k_base"),
    ModelInfo("gpt-4o", 128_000, 2.50, 10.0, "o200k_base"),
    ModelInfo("gpt-4o-mini", 128_000, 0.15, 0.60, "o200k_base"),
    ModelInfo("o1", 200_000, 15.0, 60.0, "o200k_base", reasoning=True),
    ModelInfo("o3", 200_000, 2.0, 8.0, "o200k_base", reasoning=True),
    ModelInfo("o3-mini", 200_000, 1.10, 4.40, "o200k_base", reasoning=True),
    ModelInfo("o4-mini", 200_000, 1.10, 4.40, "o200k_base", reasoning=True),
    ModelInfo("gpt-4-turbo", 128_000, 10.0, 30.0, "cl100k_base"),
    ModelInfo("gpt-4", 8192, 30.0, 60.0, "cl100k_base"),
    ModelInfo("gpt-3.5-turbo", 16_385, 0.50, 1.50, "cl100k_base"),
)
MODELS: dict[str, ModelInfo] = {m.name: m for m in _TABLE}

# Families, longest prefix first, for dated or suffixed names such as "gpt-4o-2024-08-06".
_FAMILY_PREFIXES = sorted(MODELS, key=len, reverse=True)

DEFAULT_UNKNOWN_WINDOW = 8192


def lookup(model: str) -> ModelInfo | None:
    """The table's entry for `model`, by exact name or by family prefix; None if unknown."""
    name = model.strip()
    if name in MODELS:
        return MODELS[name]
    for prefix in _FAMILY_PREFIXES:
        if name.startswith(prefix + "-") and prefix != EMBEDDED_MODEL:
            return MODELS[prefix]
    return None


def info_for(
    model: str,
    context_window: int | None = None,
    input_per_million: float | None = None,
    output_per_million: float | None = None,
) -> ModelInfo:
    """The table's entry, or an entry built from the user's own figures for an unknown model."""
    known = lookup(model)
    if known is not None:
        return known
    return ModelInfo(
        name=model,
        context_window=context_window or DEFAULT_UNKNOWN_WINDOW,
        input_per_million=input_per_million,
        output_per_million=output_per_million,
        encoding="o200k_base",
    )


def is_known(model: str) -> bool:
    return lookup(model) is not None


def priced_models() -> list[str]:
    """The table's models that have a price: what a free run can be priced "as if"."""
    return [m.name for m in _TABLE if m.input_per_million]


def priced_as(model: ModelInfo, other: str | None) -> ModelInfo:
    """`model` with the prices of the table's `other` (None or "": its own), to tell the money story of
    a real deployment from a free run. Only the prices change: the tokens are still `model`'s own, as
    its tokenizer counted them (another model's tokenizer would count the same text a little differently)."""
    if not other:
        return model
    priced = lookup(other)
    if priced is None:
        raise KeyError(f"{other!r} is not in the model table")
    return replace(model, input_per_million=priced.input_per_million, output_per_million=priced.output_per_million)
