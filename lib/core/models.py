"""Context windows and tokenizers of common chat models: the table the app reads; prices come from
`genai-prices` (lib/core/prices.py), looked up by the name the user gave (dated names have prices of their own).

A model not in the table gets the user's own figures (window, prices; counts are estimates).
Azure deployments often carry OpenAI's names in Azure's spelling ("gpt-35-turbo", dated names):
they map to the same entry, encoding and prices.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

from lib.core import prices as pricing

EMBEDDED_MODEL = "SmolLM2-135M-Instruct"


@dataclass(frozen=True)
class ModelInfo:
    name: str
    context_window: int
    encoding: str  # a tiktoken encoding name, or "embedded" for the model's own tokenizer
    reasoning: bool = False  # reasoning models accept no sampling temperature
    # The name prices are looked up by (genai-prices resolves dated and Azure names); None: use `own_prices`.
    price_ref: str | None = None
    own_prices: pricing.Prices | None = field(default=None, compare=False)

    @property
    def prices(self) -> pricing.Prices:
        if self.own_prices is not None:
            return self.own_prices
        found = pricing.library_prices(self.price_ref or self.name)
        return found or pricing.flat(None, None, f"not in {pricing.PACKAGE}'s data: unpriced")

    @property
    def free(self) -> bool:
        """Every call costs $0 (the embedded model, a local server given no prices): what *price as* reprices."""
        rates = (self.prices.input, self.prices.output)
        return rates[0] is not None and all(r is None or (r.base == 0 and not r.tiers) for r in rates)

    @property
    def input_per_million(self) -> float | None:
        rate = self.prices.input
        return None if rate is None else rate.base

    @property
    def output_per_million(self) -> float | None:
        rate = self.prices.output
        return None if rate is None else rate.base

    @property
    def cached_input_per_million(self) -> float | None:
        rate = self.prices.cached_input
        return None if rate is None else rate.base

    def input_cost(self, tokens: int, cached_tokens: int = 0, batch: bool = False) -> float | None:
        return pricing.cost(self.prices, tokens, cached_tokens, batch=batch)

    def output_cost(self, tokens: int, batch: bool = False) -> float | None:
        """The completion tokens' share alone (the tier follows the prompt: this assumes a short one)."""
        return pricing.output_cost(self.prices, tokens, batch=batch)


_FREE = pricing.flat(0.0, 0.0, pricing.FREE_LOCAL)

_TABLE: tuple[ModelInfo, ...] = (
    ModelInfo(EMBEDDED_MODEL, 8192, "embedded", own_prices=_FREE),
    ModelInfo("gpt-5", 400_000, "o200k_base", reasoning=True),
    ModelInfo("gpt-5-mini", 400_000, "o200k_base", reasoning=True),
    ModelInfo("gpt-5-nano", 400_000, "o200k_base", reasoning=True),
    ModelInfo("gpt-4.1", 1_047_576, "o200k_base"),
    ModelInfo("gpt-4.1-mini", 1_047_576, "o200k_base"),
    ModelInfo("gpt-4.1-nano", 1_047_576, "o200k_base"),
    ModelInfo("gpt-4o", 128_000, "o200k_base"),
    ModelInfo("gpt-4o-mini", 128_000, "o200k_base"),
    ModelInfo("o1", 200_000, "o200k_base", reasoning=True),
    ModelInfo("o3", 200_000, "o200k_base", reasoning=True),
    ModelInfo("o3-mini", 200_000, "o200k_base", reasoning=True),
    ModelInfo("o4-mini", 200_000, "o200k_base", reasoning=True),
    ModelInfo("gpt-4-turbo", 128_000, "cl100k_base"),
    ModelInfo("gpt-4", 8192, "cl100k_base"),
    ModelInfo("gpt-3.5-turbo", 16_385, "cl100k_base"),
)
MODELS: dict[str, ModelInfo] = {m.name: m for m in _TABLE}

# Names a family prefix would get wrong: GPT-4 Turbo's previews and GPT-4-32k are not GPT-4's 8k window.
_SPECIAL: dict[str, tuple[str, int]] = {
    "gpt-4-1106-preview": ("gpt-4-turbo", 128_000),
    "gpt-4-0125-preview": ("gpt-4-turbo", 128_000),
    "gpt-4-turbo-preview": ("gpt-4-turbo", 128_000),
    "gpt-4-32k": ("gpt-4", 32_768),
}

# Families, longest prefix first, for dated or suffixed names such as "gpt-4o-2024-08-06".
_FAMILY_PREFIXES = sorted(MODELS, key=len, reverse=True)

DEFAULT_UNKNOWN_WINDOW = 8192

# Azure spells GPT-3.5 without its dot ("gpt-35-turbo", "gpt-35-turbo-0125", "gpt-35-turbo-16k").
_AZURE_35 = re.compile(r"^gpt-35(?=-|$)", re.IGNORECASE)


def canonical(model: str) -> str:
    """OpenAI's spelling of a model name: Azure's "gpt-35-turbo-0125" is "gpt-3.5-turbo-0125"."""
    return _AZURE_35.sub("gpt-3.5", model.strip())


def lookup(model: str) -> ModelInfo | None:
    """The table's entry for `model`, by exact name or family prefix, in OpenAI's or Azure's
    spelling; its prices are those of the name given (a dated name may be priced differently)."""
    name = canonical(model)
    if name in MODELS:
        return MODELS[name]
    for special, (family, window) in _SPECIAL.items():
        if name == special or name.startswith(special + "-"):
            return ModelInfo(name, window, MODELS[family].encoding, price_ref=name)
    for prefix in _FAMILY_PREFIXES:
        if name.startswith(prefix + "-") and prefix != EMBEDDED_MODEL:
            entry = MODELS[prefix]
            return ModelInfo(entry.name, entry.context_window, entry.encoding, entry.reasoning, price_ref=name)
    return None


def underlying_model(deployment: str) -> str | None:
    """The table's model behind an Azure deployment named after it ("gpt-35-turbo" → "gpt-3.5-turbo"),
    for the sidebar's default; None when the name says nothing (a deployment can be called anything)."""
    name = canonical(deployment)
    if name in MODELS and name != EMBEDDED_MODEL:
        return name
    for special, (family, _window) in _SPECIAL.items():
        if name == special or name.startswith(special + "-"):
            return family
    return next((p for p in _FAMILY_PREFIXES if name.startswith(p + "-") and p != EMBEDDED_MODEL), None)


def info_for(
    model: str,
    context_window: int | None = None,
    input_per_million: float | None = None,
    output_per_million: float | None = None,
    cached_input_per_million: float | None = None,
) -> ModelInfo:
    """The table's entry, or an entry built from the user's own figures for an unknown model."""
    known = lookup(model)
    if known is not None:
        return known
    return ModelInfo(
        name=model,
        context_window=context_window or DEFAULT_UNKNOWN_WINDOW,
        encoding="o200k_base",
        own_prices=pricing.flat(input_per_million, output_per_million, pricing.USER_FIGURES, cached_input_per_million),
    )


def is_known(model: str) -> bool:
    return lookup(model) is not None


def priced_models() -> list[str]:
    """The table's models that have a price: what a free run can be priced "as if"."""
    return [m.name for m in _TABLE if m.input_per_million]


def priced_as(model: ModelInfo, other: str | None) -> ModelInfo:
    """`model` with the prices of the table's `other` (None or "": its own), to tell the money story of
    a real deployment from a free run. Only the prices change: the tokens are still `model`'s own, as
    its tokenizer counted them (another model's tokenizer would count the same text a little differently).
    Only a free model is repriced: a hosted model's own list price is what its calls cost (one picker
    serves every page, so a Compare variant on gpt-4o is not priced as the gpt-4o-mini picked for the chat)."""
    if not other:
        return model
    priced = lookup(other)
    if priced is None:
        raise KeyError(f"{other!r} is not in the model table")
    if not model.free:
        return model
    return replace(model, price_ref=priced.price_ref or priced.name, own_prices=priced.own_prices)
