"""Where a variant's request goes: the one place a `Target` (the model's facts, its counter, the name on
the wire) is made for a Compare variant, an experiment's cell, a stored run planned again, or a judge.

The chat's target is the sidebar's (`TargetSettings.chat`). A variant naming another model is counted
with that model's tokenizer and priced from the table, with the sidebar's context window for a model the
table lacks; a backend that serves one model (the embedded one) serves it whatever a variant names.
The counters themselves are the caller's (`counter_for`, `embedded_counter`): made once per process there.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from lib.analysis.compare import Variant
from lib.backends.kinds import BACKENDS
from lib.context.request import Target
from lib.context.tokens import PromptCounter
from lib.core import models
from lib.core.models import ModelInfo
from lib.core.wire import Kind


@dataclass(frozen=True)
class TargetSettings:
    """What targets are made from: the sidebar's choice and how a model's prompt is counted."""

    chat: Target  # the sidebar's model, its counter (exact where the backend allows), its wire name
    kind: Kind  # the sidebar's backend
    one_model: bool  # the backend serves one model, whatever a variant names
    counter_for: Callable[[str], PromptCounter]  # a named model's tokenizer (tiktoken's, by model name)
    embedded_counter: Callable[[], PromptCounter]  # the embedded model's own tokenizer
    counts_in_process: bool = False  # the backend's prompts are counted by the embedded tokenizer


def embedded_target(settings: TargetSettings) -> Target:
    info = models.info_for(models.EMBEDDED_MODEL)
    return Target(info, settings.embedded_counter(), models.EMBEDDED_MODEL)


def model_target(name: str, settings: TargetSettings) -> Target:
    """The table's `name` (or one with the sidebar's context window), counted by its own tokenizer."""
    info = models.info_for(name, settings.chat.model.context_window)
    return Target(info, settings.counter_for(info.name), name)


def target_for(variant: Variant, settings: TargetSettings) -> Target:
    """A variant sent now on the sidebar's backend: its own model if it names one the backend can serve."""
    if not variant.model or settings.one_model:
        return settings.chat
    return model_target(variant.model, settings)


def stored_target_for(variant: Variant, kind: Kind, model: str, settings: TargetSettings) -> Target:
    """A variant of a run stored as made on backend `kind` with `model` (whatever the sidebar shows now),
    so planning it again gives the bodies it sent; the sidebar only lends a model's own figures."""
    if BACKENDS[kind].counts_in_process:
        return embedded_target(settings)
    name = variant.model or model
    if name == settings.chat.wire_model and kind == settings.kind:
        return Target(settings.chat.model, settings.counter_for(settings.chat.model.name), name)
    return model_target(name, settings)


def plan_target(model: ModelInfo, wire_model: str, settings: TargetSettings) -> Target:
    """The target of a request already planned for `model` (an answer's, to ask again): counted as the
    sidebar counts its own model, else by that model's tokenizer."""
    if settings.counts_in_process:
        counter = settings.embedded_counter()
    elif model.name == settings.chat.model.name:
        counter = settings.chat.counter
    else:
        counter = settings.counter_for(model.name)
    return Target(model, counter, wire_model)
