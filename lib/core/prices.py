"""What a call costs: one formula, fed by the `genai-prices` data or by the user's own figures.

Prices of OpenAI models come from `genai-prices` (a maintained table: input, cached input, output,
and the long-prompt tiers), read from the data bundled with the installed release: its updater is
never started, so nothing is fetched at run time, and every cost shown names the data's date.
A model the data does not know is priced with the user's figures; a local model is free.

Every cost in the app is `cost(prices, prompt_tokens, cached_tokens, completion_tokens, batch)` (a
model's prices: `ModelInfo.prices`): cached tokens are part of the prompt tokens (as OpenAI reports them)
and billed at the cached-input rate. `batch`: a request sent through OpenAI's Batch API, billed at
`BATCH_RATE` of the list price (input, cached input and output alike).
"""

from __future__ import annotations

import importlib.metadata
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lib.core.outcome import Usage

PACKAGE = "genai-prices"
PER = 1_000_000  # prices are USD per million tokens
# OpenAI's Batch API bills half the list price (its pricing page's "Batch" column: 50% off input and
# output); genai-prices carries no batch figures, so the one formula applies this factor.
BATCH_RATE = 0.5
BATCH_LABEL = "the Batch API's rate: half the list price"


@dataclass(frozen=True)
class Rate:
    """USD per million tokens; above a tier's `start` prompt tokens, all tokens pay its price
    (genai-prices' "cliff" tiers: crossing the threshold reprices the whole prompt)."""

    base: float
    tiers: tuple[tuple[int, float], ...] = ()

    def per_million(self, prompt_tokens: int) -> float:
        for start, price in reversed(self.tiers):
            if prompt_tokens > start:
                return price
        return self.base


@dataclass(frozen=True)
class Prices:
    input: Rate | None  # None: unknown
    output: Rate | None
    # None: no cached-input price (the model has no cache discount, or none is known): cached
    # tokens are billed as input.
    cached_input: Rate | None
    source: str  # where the figures come from, shown beside every cost

    @property
    def cache_discount(self) -> bool:
        return self.cached_input is not None


def flat(
    input_per_million: float | None,
    output_per_million: float | None,
    source: str,
    cached_per_million: float | None = None,
) -> Prices:
    """Prices with no tiers (the user's own figures, a free local model)."""
    return Prices(
        None if input_per_million is None else Rate(input_per_million),
        None if output_per_million is None else Rate(output_per_million),
        None if cached_per_million is None else Rate(cached_per_million),
        source,
    )


def cost(
    prices: Prices, prompt_tokens: int, cached_tokens: int = 0, completion_tokens: int = 0, batch: bool = False
) -> float | None:
    """USD for a call: uncached prompt tokens at the input rate, cached ones at the cached-input
    rate (the input rate where there is none), completion tokens at the output rate. None when a
    price it needs is unknown. The tier is chosen by the whole prompt, cached tokens included.
    `batch`: sent through the Batch API, so the whole at `BATCH_RATE`."""
    if prices.input is None or (completion_tokens and prices.output is None):
        return None
    cached = min(max(cached_tokens, 0), prompt_tokens)
    cached_rate = prices.cached_input or prices.input
    total = (prompt_tokens - cached) * prices.input.per_million(prompt_tokens)
    total += cached * cached_rate.per_million(prompt_tokens)
    total /= PER
    if batch:
        total *= BATCH_RATE
    if completion_tokens:
        total += output_cost(prices, completion_tokens, prompt_tokens, batch) or 0.0
    return total


def output_cost(prices: Prices, completion_tokens: int, prompt_tokens: int = 0, batch: bool = False) -> float | None:
    """The completion tokens' share alone, at the tier the prompt picks (a short prompt by default):
    for an estimate's "at most" before the prompt's cost is known."""
    rate = prices.output
    if rate is None:
        return None
    return completion_tokens * rate.per_million(prompt_tokens) / PER * (BATCH_RATE if batch else 1.0)


def billed(prices: Prices, predicted_prompt: int, usage: Usage, batch: bool = False) -> float | None:
    """A finished call's cost: the server's usage where it reported some, else the prediction; cached
    tokens only as reported (none reported: billed as uncached). Every page, the run log, Compare
    and the experiments price a finished call with this. Implausible usage (`Usage.flag`,
    `lib.core.outcome.implausible_usage`) is not priced: None, an unknown cost. `batch`: the call went
    through the Batch API."""
    if usage.flag:
        return None
    prompt = usage.prompt_tokens if usage.prompt_tokens is not None else predicted_prompt
    return cost(prices, prompt, usage.cached_tokens or 0, usage.completion_tokens or 0, batch)


# --- the genai-prices data --------------------------------------------------------------------


def package_version() -> str:
    try:
        return importlib.metadata.version(PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


_CHECKED = re.compile(r"(?:checked|verified|as of|updated)[^.;]{0,40}?(20\d\d-\d\d-\d\d)", re.IGNORECASE)


@cache
def _snapshot():
    """The data bundled with the installed release, in a snapshot of our own: even if something in
    the process started genai-prices' updater, these prices would not change under the app."""
    from genai_prices.data import providers
    from genai_prices.data_snapshot import DataSnapshot

    return DataSnapshot(providers=providers, from_auto_update=False)


@cache
def data_date() -> str | None:
    """The newest date the bundled data says its prices were checked (its price comments carry
    "checked 2026-…" notes); None when it says none."""
    texts = [p.price_comments or "" for p in _snapshot().providers]
    texts += [m.price_comments or "" for p in _snapshot().providers for m in p.models]
    dates = [date for text in texts for date in _CHECKED.findall(text)]
    return max(dates) if dates else None


@cache
def data_label() -> str:
    """Where library prices come from, for the caption beside a cost."""
    date = data_date()
    when = f", prices checked up to {date}" if date else ""
    return f"{PACKAGE} {package_version()} (bundled data{when}; never updated at run time)"


def _rate(value) -> Rate | None:
    from genai_prices.types import TieredPrices

    if value is None:
        return None
    if isinstance(value, TieredPrices):
        return Rate(float(value.base), tuple((tier.start, float(tier.price)) for tier in value.tiers))
    return Rate(float(value))


@cache
def library_prices(model_ref: str, provider_id: str = "openai") -> Prices | None:
    """The data's current standard prices for `model_ref` (dated and Azure names included:
    "gpt-4o-2024-08-06", "gpt-35-turbo"); None when the data does not know the model."""
    try:
        _provider, model = _snapshot().find_provider_model(model_ref, None, provider_id, None)
    except LookupError:
        return None
    price = model.get_prices(datetime.now(tz=UTC))
    rates = price.__dict__
    input_rate = _rate(rates.get("input_mtok"))
    if input_rate is None:
        return None
    return Prices(input_rate, _rate(rates.get("output_mtok")), _rate(rates.get("cache_read_mtok")), data_label())


@cache
def library_context_window(model_ref: str, provider_id: str = "openai") -> int | None:
    try:
        return _snapshot().find_provider_model(model_ref, None, provider_id, None)[1].context_window
    except LookupError:
        return None


FREE_LOCAL = "free: a local model"
USER_FIGURES = "your figures (the price data does not know this model)"


def money(value: float | None) -> str:
    """A cost as the app prints it: small amounts keep six decimals, none is "unpriced"."""
    if value is None:
        return "unpriced"
    if value == 0:
        return "$0"
    return f"${value:.6f}" if abs(value) < 0.01 else f"${value:,.4f}"
