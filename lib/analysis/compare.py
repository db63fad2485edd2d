"""The same question under different contexts: variants, their plans, a run, and how far the answers
moved (a word diff and a similarity score against a baseline).

Timings are honest per variant: latency and time to first token count from the moment the variant
was sent, and the time it waited before that (its turn on a one-request-at-a-time server, or another
tab's call ahead of it) is kept apart as `queued`. On such a server (the embedded llama.cpp one) the
variants are sent one at a time: sent at once they only queue there, and the one served last looked
four times slower than the one served first.
"""

from __future__ import annotations

import json
import math
import queue
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from difflib import SequenceMatcher
from typing import Any, Literal, NamedTuple, cast, get_args

import openai

from lib.analysis import compare_json as cjson
from lib.backends.providers import DEFAULT_LIMITS, CallLimits
from lib.backends.reply import Reply, Stopper
from lib.context.conversation import Message, MessageShapeError, Role, SystemPrompt
from lib.context.payload import RequestPlan, Sampling, in_wire_order, serialise
from lib.context.request import Request, Target, build_request, send_blocker
from lib.context.strategies import Strategy, StrategyKind, counted
from lib.context.tokens import PromptCount
from lib.context.tools import CHOICES, NO_TOOLS, ToolSettings
from lib.core.errors import InvalidComparison
from lib.core.job import Job as CoreJob
from lib.core.models import ModelInfo, priced_as
from lib.core.outcome import CallOutcome, Usage, implausible_usage
from lib.core.prices import Prices, Rate, billed

MAX_VARIANTS = 6
QUESTION_ID = "question"
FORMAT_VERSION = cjson.FORMAT_VERSION  # of the stored JSON (to_dict); from_dict refuses another
# A fixed context holds plain messages: a tool result needs the call it answers, which a
# (role, text) pair cannot name.
ROLES = tuple(role for role in get_args(Role) if role != "tool")


# A message of a fixed context: (role, text), or (role, text, fields) for one with more than those
# (a tool call's `tool_calls`, a result's `tool_call_id`, a `name`): its other wire fields as JSON text.
FixedMessage = tuple[Role, str] | tuple[Role, str, str]


def fixed_message(message: Message) -> FixedMessage:
    """A message as a fixed context keeps it (the inverse: `from_fixed`)."""
    fields = {k: v for k, v in message.as_api().items() if k not in ("role", "content")}
    if not fields:
        return (message.role, message.content)
    return (message.role, message.content, json.dumps(fields, ensure_ascii=False, sort_keys=True))


def from_fixed(item: FixedMessage, index: int) -> Message:
    role, text = item[0], item[1]
    if len(item) == 2:
        return Message(role, text, id=f"fixed-{index}")
    fields = json.loads(item[2])  # a triple: its third is the fields' JSON
    return Message.from_api(
        {**fields, "role": role, "content": text}, f"fixed message {index + 1}", id=f"fixed-{index}"
    )


@dataclass(frozen=True)
class Variant:
    name: str
    strategy: Strategy = field(default_factory=lambda: Strategy("full"))
    system_override: str | None = None  # None: the conversation's system prompt; "": none at all
    model: str = ""  # "": the sidebar's model
    temperature: float | None = None  # None: the sidebar's
    max_tokens: int | None = None  # None: the sidebar's
    # None: the strategy and the system prompt choice pick what goes before the question. Else exactly
    # these messages (role, text), in order, whatever the conversation holds now: a context fixed by
    # attribution's smallest context (`keeping`), so the variant sends what was found, to verify it.
    fixed_context: tuple[FixedMessage, ...] | None = None
    # The tool definitions it sends. None: the session's, as the chat sends them; (): none at all;
    # names: only those of the session's definitions (fewer tools), whatever their include toggles.
    tools: tuple[str, ...] | None = None

    def tool_settings(self, session: ToolSettings) -> ToolSettings:
        """The session's tools (and tool_choice, parallel_tool_calls) as this variant sends them."""
        if self.tools is None:
            return session
        kept = tuple(replace(t, included=True) for t in session.tools if t.name in self.tools)
        choice = session.tool_choice if session.tool_choice in (None, *CHOICES) else None
        if session.tool_choice in {t.name for t in kept}:
            choice = session.tool_choice  # a forced function still there stays forced
        return ToolSettings(kept, choice, session.parallel_tool_calls)

    def keeping(self, messages: Sequence[Message], name: str) -> Variant:
        """This variant (its model, temperature and reply limit) sending exactly `messages` before the
        question: the system prompt among them if it is one of them, nothing else."""
        fixed = tuple(fixed_message(m) for m in messages)
        return replace(self, name=name, strategy=Strategy("full"), system_override=None, fixed_context=fixed)

    @property
    def context_label(self) -> str:
        """The context it sends, in a few words (tables and the run log's details)."""
        if self.fixed_context is not None:
            count = len(self.fixed_context)
            return f"Fixed context: {count} message{'s' if count != 1 else ''}"
        return self.strategy.describe()

    def sends(self, pinned: int = 0) -> str:
        """What a call of this variant carries, in words (the preset names are short; this is whole)."""
        if self.fixed_context is not None:
            count = len(self.fixed_context)
            return (
                f"exactly {count} fixed message{'s' if count != 1 else ''} (a smallest context found by attribution; "
                "the conversation's later changes do not reach it) · the question"
            )
        if self.system_override is None:
            system = "the conversation's system prompt"
        else:
            system = "a custom system prompt" if self.system_override.strip() else "no system prompt"
        kind = self.strategy.kind
        history = {
            "full": "the whole history",
            "none": "no history",
            "manual": "the messages switched on in the chat",
            "last_turns": f"the last {counted(self.strategy.last_turns)}",
            "token_budget": f"the newest messages within {self.strategy.token_budget:,} tokens",
            "summarise": f"a summary of older turns and the last {counted(self.strategy.last_turns)}",
        }[kind]
        if pinned and kind != "full":
            history += f" ({pinned} pinned message{'s' if pinned != 1 else ''} still go{'es' if pinned == 1 else ''})"
        tools = ""
        if self.tools == ():
            tools = " · no tool definitions"
        elif self.tools:
            tools = " · only the tools " + ", ".join(self.tools)
        return f"{system} · {history} · the question{tools}"

    def to_dict(self) -> dict:
        return cjson.written(self.as_json())

    def as_json(self) -> cjson.VariantJson:
        s = self.strategy
        strategy = cjson.StrategyJson(kind=s.kind, last_turns=s.last_turns, token_budget=s.token_budget)
        pairs = self.fixed_context
        fixed = (
            None
            if pairs is None
            else [cast(tuple[cjson.PlainRole, str] | tuple[cjson.AnyRole, str, str], m) for m in pairs]
        )
        return cjson.VariantJson(
            name=self.name,
            strategy=strategy,
            system_override=self.system_override,
            model=self.model,
            temperature=self.temperature,
            max_tokens=self.max_tokens,
            fixed_context=fixed,
            tools=None if self.tools is None else list(self.tools),
        )

    @classmethod
    def from_dict(cls, raw: Any) -> Variant:
        return cls.of_json(cjson.read(cjson.VariantJson, raw, "variant"))

    @classmethod
    def of_json(cls, kept: cjson.VariantJson) -> Variant:
        s = kept.strategy
        return cls(
            name=kept.name,
            strategy=Strategy(cast(StrategyKind, s.kind), last_turns=s.last_turns, token_budget=s.token_budget),
            system_override=kept.system_override,
            model=kept.model,
            temperature=kept.temperature,
            max_tokens=kept.max_tokens,
            fixed_context=None if kept.fixed_context is None else tuple(kept.fixed_context),
            tools=None if kept.tools is None else tuple(kept.tools),
        )


# The names say what is sent; `Variant.sends` says it whole (pinned messages go under every strategy).
PRESETS: tuple[Variant, ...] = (
    Variant("System prompt + full history", Strategy("full")),
    Variant("Bare question: no system prompt, no history", Strategy("none"), system_override=""),
    Variant("System prompt + last 2 turns", Strategy("last_turns", last_turns=2)),
    Variant("System prompt + question, no history", Strategy("none")),
)


def distinct_names(variants: list[Variant]) -> list[Variant]:
    """The variants with a repeated name numbered ("Name (2)"): tables, charts and the run log tell
    variants apart by name."""
    seen: Counter[str] = Counter()
    named = []
    for variant in variants:
        name = variant.name.strip() or "Unnamed"
        seen[name] += 1
        named.append(replace(variant, name=name if seen[name] == 1 else f"{name} ({seen[name]})"))
    taken = Counter(v.name for v in named)
    return named if max(taken.values(), default=0) <= 1 else distinct_names(named)


def plan_variant(
    variant: Variant,
    system: SystemPrompt,
    history: list[Message],
    question: str,
    target: Target,
    sampling: Sampling,
    summaries: Callable[[tuple[Message, ...]], str | None] | None = None,
    tools: ToolSettings = NO_TOOLS,
) -> Request:
    """The variant's request, from the one builder: the question after the history its strategy keeps,
    with the session's `tools` as the variant sends them."""
    tools = variant.tool_settings(tools)
    if variant.system_override is not None:
        system = SystemPrompt(variant.system_override, included=bool(variant.system_override.strip()))
    sampling = replace(
        sampling,
        temperature=sampling.temperature if variant.temperature is None else variant.temperature,
        max_tokens=sampling.max_tokens if variant.max_tokens is None else variant.max_tokens,
    )
    question_message = Message("user", question, id=QUESTION_ID)
    if variant.fixed_context is not None:  # exactly its messages: "full" sends every one given, in order
        fixed = [from_fixed(item, i) for i, item in enumerate(variant.fixed_context)]
        return build_request(
            SystemPrompt("", included=False), fixed, question_message, Strategy("full"), target, sampling, tools=tools
        )
    return build_request(system, history, question_message, variant.strategy, target, sampling, summaries, tools)


@dataclass(frozen=True)
class CompareSetup:
    """What the user set up on the Compare page, kept with the session: the variants and the run's options."""

    variants: tuple[Variant, ...]
    question: str = ""
    repeats: int = 1
    seed: int = 1
    priced_as: str = ""  # "": each model's own prices; else a priced model of lib.core.models
    expected: str = ""  # the answer the question should get ("": not checked)

    def to_dict(self) -> dict:
        written = cjson.written(
            cjson.SetupJson(
                format=FORMAT_VERSION,
                variants=[v.as_json() for v in self.variants],
                question=self.question,
                repeats=self.repeats,
                seed=self.seed,
                priced_as=self.priced_as,
                expected=self.expected,
            )
        )
        if not self.expected:  # a set-up without one is kept as before the field, key for key
            written.pop("expected")
        return written

    @classmethod
    def from_dict(cls, raw: Any) -> CompareSetup:
        if isinstance(raw, dict) and isinstance(raw.get("variants"), list):  # the first MAX_VARIANTS are read
            raw = {**raw, "variants": raw["variants"][:MAX_VARIANTS]}
        kept = cjson.read(cjson.SetupJson, raw, "set-up")
        return cls(
            tuple(Variant.of_json(v) for v in kept.variants),
            kept.question,
            kept.repeats,
            kept.seed,
            kept.priced_as,
            kept.expected,
        )


# --- running ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Job:
    key: tuple[int, int]  # (variant index, repeat index)
    client: openai.OpenAI
    body: dict
    secrets: tuple[str, ...] = ()
    limits: CallLimits = DEFAULT_LIMITS


@dataclass(frozen=True)
class Event:
    key: tuple[int, int]
    kind: Literal["start", "delta", "done"]
    text: str = ""
    outcome: CallOutcome | None = None
    queued_s: float | None = None  # on "start": how long the job waited before it was sent
    notices: tuple[str, ...] = ()  # on "done": the retries made (lib/backends/retry.py), each a sentence


STOPPED_BEFORE_SENT = "Stopped by you before it was sent."


def with_seed(body: dict, seed: int | None) -> dict:
    """`body` with a `seed`, where the SDK writes it: the bytes sent stay the bytes previewed."""
    return body if seed is None else in_wire_order({**body, "seed": seed})


def seeded(plan: RequestPlan, seed: int | None) -> RequestPlan:
    """The plan as it is sent with `seed`: the body, and its size, carry the seed."""
    if seed is None:
        return plan
    body = with_seed(plan.body, seed)
    return replace(plan, body=body, body_bytes=len(serialise(body)))


def wait_until_idle(
    probe: Callable[[], Any],
    timeout_s: float = 600.0,
    poll_s: float = 0.2,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> float:
    """Wait while a one-request-at-a-time server serves someone else (`probe` returns a
    lib.backends.embedded.QueueState, or None when the server cannot say: then nobody is waited for).
    Returns the seconds waited; gives up after `timeout_s` (the call then queues on the server)."""
    started = clock()
    while clock() - started < timeout_s:
        state = probe()
        if state is None or not (state.busy or state.waiting):
            break
        sleep(poll_s)
    return clock() - started


def _run_job(
    job: Job,
    events: queue.Queue,
    started: float,
    wait_turn: Callable[[], float] | None,
    stop: threading.Event,
) -> None:
    if wait_turn is not None and not stop.is_set():
        wait_turn()
    events.put(Event(job.key, "start", queued_s=time.monotonic() - started))
    if stop.is_set():
        events.put(Event(job.key, "done", outcome=CallOutcome(error=STOPPED_BEFORE_SENT)))
        return
    reply = Reply(job.client, job.body, job.secrets, limits=job.limits)
    if isinstance(stop, Stopper):
        stop.watch(reply)  # Stop hangs the call up at once, even while its server sends nothing
    try:
        for delta in reply:
            events.put(Event(job.key, "delta", delta))
            if stop.is_set():
                reply.stop()
    except Exception as exc:  # a broken variant must not stop the others
        reply.outcome.error = reply.outcome.error or f"{type(exc).__name__}: {exc}"
    finally:
        if isinstance(stop, Stopper):
            stop.forget(reply)
    events.put(Event(job.key, "done", outcome=reply.outcome, notices=tuple(reply.notices)))


def run_concurrently(
    jobs: list[Job],
    max_workers: int = 12,
    wait_turn: Callable[[], float] | None = None,
    stop: threading.Event | None = None,
) -> Iterator[Event]:
    """Send the jobs, `max_workers` at a time (1: one after another, in order); yield a `start` event
    per job as it is sent, its deltas as they arrive and one `done` event. `wait_turn` is called
    before each job is sent (to wait for a busy one-slot server); `stop` ends the run early."""
    if not jobs:
        return
    stop = stop or threading.Event()
    events: queue.Queue[Event] = queue.Queue()
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=min(max_workers, len(jobs))) as pool:
        for job in jobs:
            pool.submit(_run_job, job, events, started, wait_turn, stop)
        remaining = len(jobs)
        while remaining:
            event = events.get()
            remaining -= event.kind == "done"
            yield event


# --- results ----------------------------------------------------------------------------------


@dataclass
class VariantResult:
    variant: Variant
    plan: RequestPlan
    outcomes: list[CallOutcome] = field(default_factory=list)
    seeds: list[int | None] = field(default_factory=list)
    # Per run: seconds between the start of the comparison and this run being sent (None: not sent).
    queued: list[float | None] = field(default_factory=list)
    notices: list[tuple[str, ...]] = field(default_factory=list)  # per run: the retries made
    # Pinned messages among those sent (kept by every strategy); None: counted from the plan's messages
    # (a comparison read back from a file keeps the count, not the messages' flags).
    pinned: int | None = None

    @property
    def pinned_sent(self) -> int:
        if self.pinned is not None:
            return self.pinned
        return sum(m.pinned for m in self.plan.messages)

    @property
    def sends(self) -> str:
        """What this variant's call carried, in words: the pinned messages it sent included."""
        return self.variant.sends(self.pinned_sent)

    @property
    def answer(self) -> str:
        """The first run's answer: the one shown and diffed."""
        return self.outcomes[0].text if self.outcomes else ""

    @property
    def errors(self) -> list[str]:
        return [o.error for o in self.outcomes if o.error]

    def queued_s(self, repeat: int = 0) -> float | None:
        return self.queued[repeat] if repeat < len(self.queued) else None


@dataclass
class Comparison:
    question: str
    results: list[VariantResult]
    created: str
    baseline: int = 0
    model_note: str = ""
    one_at_a_time: bool = False  # sent one after another (a one-slot server) rather than all at once
    # The answer the question should get ("" : none given): each answer is marked correct or not, so a
    # wrong baseline shows as wrong instead of as the reference every similarity is measured against.
    expected: str = ""

    def correct(self, index: int, repeat: int = 0) -> bool | None:
        """Whether a variant's run states the expected answer; None: none expected, or no answer."""
        outcomes = self.results[index].outcomes
        if not self.expected.strip() or repeat >= len(outcomes) or not outcomes[repeat].ok:
            return None
        return states(outcomes[repeat].text, self.expected)

    def baseline_warning(self) -> str | None:
        """A sentence when the baseline's answer is wrong: its similarities measure closeness to that."""
        if self.correct(self.baseline) is not False:
            return None
        return (
            f"The baseline ({self.results[self.baseline].variant.name}) does not give the expected answer "
            f"“{self.expected.strip()}”: similarity measures how close each answer is to a wrong one."
        )

    def to_dict(self) -> dict:
        """JSON-ready: what the session store keeps (lib/analysis/compare_store.save_comparison)."""
        return cjson.written(
            cjson.ComparisonJson(
                format=FORMAT_VERSION,
                question=self.question,
                created=self.created,
                baseline=self.baseline,
                model_note=self.model_note,
                one_at_a_time=self.one_at_a_time,
                results=[_result_json(r) for r in self.results],
                expected=self.expected,
            )
        )

    @classmethod
    def from_dict(cls, raw: Any) -> Comparison:
        kept = cjson.read(cjson.ComparisonJson, raw, "comparison")
        results = [_result_of(r) for r in kept.results]
        baseline = kept.baseline if 0 <= kept.baseline < len(results) else 0
        return cls(kept.question, results, kept.created, baseline, kept.model_note, kept.one_at_a_time, kept.expected)


class ComparisonRun:
    """A comparison being run on a thread of its own. A Streamlit page is a script any click (or a
    refresh) interrupts: the runs go on here, the page polls `texts` and `done`, and `on_done` gets
    the finished comparison once (to keep it and log its calls) whatever the page is doing."""

    def __init__(
        self,
        comparison: Comparison,
        jobs: list[Job],
        one_at_a_time: bool = False,
        wait_turn: Callable[[], float] | None = None,
        on_done: Callable[[Comparison], None] | None = None,
    ):
        self.comparison, self.jobs = comparison, jobs
        self.one_at_a_time, self.wait_turn, self.on_done = one_at_a_time, wait_turn, on_done
        self.started_at = time.monotonic()
        self.texts: dict[tuple[int, int], str] = {}
        self.sent: dict[tuple[int, int], float] = {}  # key -> seconds queued before it was sent
        self.finished: dict[tuple[int, int], Event] = {}
        # Stopper: Stop hangs up every call in flight at once (lib.backends.reply.Stopper)
        self._job = CoreJob(self._drain, "context-lab-compare", stopping=Stopper())

    @property
    def failure(self) -> str | None:
        """on_done's own failure (the store), for the page to show: the page learns of it, rather than
        a thread's traceback on stderr."""
        exc = self._job.exception
        return None if exc is None else f"{type(exc).__name__}: {exc}"

    def _drain(self, stop: threading.Event) -> None:
        workers = 1 if self.one_at_a_time else 12
        for event in run_concurrently(self.jobs, workers, self.wait_turn, stop):
            if event.kind == "start":
                self.sent[event.key] = event.queued_s or 0.0
            elif event.kind == "delta":
                self.texts[event.key] = self.texts.get(event.key, "") + event.text
            else:
                self.finished[event.key] = event
        self._fill()
        if self.on_done is not None:
            self.on_done(self.comparison)

    def _fill(self) -> None:
        for index, result in enumerate(self.comparison.results):
            if result.outcomes:  # not sent: the reason is already its outcome
                continue
            keys = [(index, repeat) for repeat in range(len(result.seeds))]
            result.outcomes = [self.finished[k].outcome or CallOutcome(error="no outcome") for k in keys]
            result.queued = [self.sent.get(k) for k in keys]
            result.notices = [self.finished[k].notices for k in keys]

    @property
    def done(self) -> bool:
        return self._job.done

    @property
    def progress(self) -> tuple[int, int]:
        return len(self.finished), len(self.jobs)

    def wait(self, timeout_s: float | None = None) -> bool:
        return self._job.wait(timeout_s)

    def stop(self) -> None:
        self._job.stop()

    def live_state(self, index: int) -> str:
        """Where variant `index`'s first run stands, in words, while the run goes on."""
        result = self.comparison.results[index]
        if result.outcomes and not any((index, r) in self.sent for r in range(len(result.seeds))):
            return result.outcomes[0].error or "not sent"
        if (index, 0) in self.finished:
            outcome = self.finished[(index, 0)].outcome
            return "done" if outcome is None or outcome.ok else f"failed: {outcome.error}"
        if (index, 0) in self.sent:
            return "streaming…" if self.texts.get((index, 0)) else "sent, waiting for the first token…"
        return "queued: waiting for its turn"


def start_run(
    variants: list[Variant],
    requests: list[Request],
    question: str,
    client: openai.OpenAI,
    seeds: list[int | None],
    *,
    created: str,
    note: str = "",
    expected: str = "",
    one_at_a_time: bool = False,
    secrets: tuple[str, ...] = (),
    limits: CallLimits = DEFAULT_LIMITS,
    wait_turn: Callable[[], float] | None = None,
    on_done: Callable[[Comparison], None] | None = None,
) -> ComparisonRun:
    """A run of the requests the page showed, each repeated once per seed, started on its own thread.
    A request that must not be sent (`send_blocker`) is not: its reason is its outcome."""
    results = [VariantResult(v, r.plan, seeds=list(seeds)) for v, r in zip(variants, requests, strict=True)]
    jobs = []
    for index, request in enumerate(requests):
        reason = send_blocker(request)
        if reason:
            results[index].outcomes = [CallOutcome(error=f"Not sent: {reason}")]
            continue
        for repeat, seed in enumerate(seeds):
            jobs.append(Job((index, repeat), client, seeded(request.plan, seed).body, secrets, limits))
    comparison = Comparison(question, results, created, 0, note, one_at_a_time, expected)
    return ComparisonRun(comparison, jobs, one_at_a_time, wait_turn, on_done)


class SentCall(NamedTuple):
    """One call a comparison sent, as the run log records it."""

    result: VariantResult
    plan: RequestPlan  # with the seed it was sent with
    outcome: CallOutcome
    queued_s: float | None
    notices: tuple[str, ...]


def sent_calls(comparison: Comparison) -> Iterator[SentCall]:
    """Every call the comparison sent (a request blocked before sending is no call: nothing to log)."""
    for result in comparison.results:
        for repeat, outcome in enumerate(result.outcomes):
            if outcome.error and outcome.error.startswith("Not sent:"):
                continue
            seed = result.seeds[repeat] if repeat < len(result.seeds) else None
            notices = result.notices[repeat] if repeat < len(result.notices) else ()
            yield SentCall(result, seeded(result.plan, seed), outcome, result.queued_s(repeat), notices)


_WORD = re.compile(r"\w+", re.UNICODE)


def similarity(a: str, b: str) -> float:
    """Cosine similarity of the answers' word counts (case-folded): 1 = the same words, 0 = none shared.

    Word choice, not meaning: a cheap, offline, explainable signal of how far an answer moved.
    """
    left, right = Counter(_WORD.findall(a.casefold())), Counter(_WORD.findall(b.casefold()))
    if not left and not right:
        return 1.0
    dot = sum(left[w] * right[w] for w in left.keys() & right.keys())
    norm = math.sqrt(sum(v * v for v in left.values())) * math.sqrt(sum(v * v for v in right.values()))
    return dot / norm if norm else 0.0


DiffOp = Literal["equal", "insert", "delete"]


def word_diff(baseline: str, other: str) -> list[tuple[DiffOp, str]]:
    """The other answer against the baseline, word by word (whitespace kept with its word)."""
    old, new = re.findall(r"\S+\s*", baseline), re.findall(r"\S+\s*", other)
    ops: list[tuple[DiffOp, str]] = []
    for tag, i1, i2, j1, j2 in SequenceMatcher(a=old, b=new, autojunk=False).get_opcodes():
        if tag == "equal":
            ops.append(("equal", "".join(new[j1:j2])))
            continue
        if i2 > i1:
            ops.append(("delete", "".join(old[i1:i2])))
        if j2 > j1:
            ops.append(("insert", "".join(new[j1:j2])))
    return ops


CORRECT = "correct?"


def answer_stats(results: list[VariantResult], baseline: int, price_as: str = "", expected: str = "") -> list[dict]:
    """One row per run: for the tables and the charts. Latency and first token count from the moment
    the run was sent; `queued s` is the wait before that. `price_as` prices every run as that model.
    `expected`: the answer the question should get; each run is marked `correct?` yes or no beside its
    similarity (the baseline too: a wrong reference shows as wrong)."""
    reference = results[baseline].answer if results else ""
    rows = []
    for result in results:
        model = priced_as(result.plan.model, price_as)
        for repeat, outcome in enumerate(result.outcomes):
            rows.append(
                {
                    "variant": result.variant.name,
                    "repeat": repeat + 1,
                    "seed": result.seeds[repeat] if repeat < len(result.seeds) else None,
                    "prompt tokens (predicted)": result.plan.prompt_tokens,
                    "prompt tokens (reported)": outcome.usage.prompt_tokens,
                    "cached tokens (reported)": outcome.usage.cached_tokens,
                    "completion tokens": outcome.usage.completion_tokens,
                    "payload bytes": result.plan.body_bytes,
                    "queued s": result.queued_s(repeat),
                    "first token s": outcome.ttft_s,
                    "latency s": outcome.latency_s,
                    "answer words": len(_WORD.findall(outcome.text)),
                    "similarity to baseline": similarity(reference, outcome.text) if outcome.ok else None,
                    **(
                        {CORRECT: _yes_no(states(outcome.text, expected) if outcome.ok else None)}
                        if expected.strip()
                        else {}
                    ),
                    "cost $": call_cost(model, result.plan, outcome),
                    "error": outcome.error or "",
                }
            )
    return rows


def states(answer: str, expected: str) -> bool | None:
    """Whether `answer` states `expected`, as an experiment's `icontains` check decides it (the text found,
    case folded); None when nothing is expected. Compare's *correct?* and attribution's warning read it."""
    if not expected.strip():
        return None
    return expected.strip().casefold() in answer.casefold()


def _yes_no(value: bool | None) -> str:
    return "—" if value is None else ("yes" if value else "no")


def call_cost(model: ModelInfo, plan: RequestPlan, outcome: CallOutcome) -> float | None:
    """What a call cost at `model`'s prices (lib/core/prices.py, the one cost formula): the reported usage,
    cached prompt tokens at their own rate, else the prediction; None when unpriced."""
    return billed(model.prices, plan.prompt_tokens, outcome.usage)


def plan_rows(
    variants: list[Variant], plans: list[RequestPlan], price_as: str = "", pinned: list[int] | None = None
) -> list[dict]:
    """The pre-run table: what each variant would send, before anything is sent. `pinned`: the pinned
    messages each sent (default: counted from the plans' messages), named beside its strategy."""
    counts = pinned if pinned is not None else [sum(m.pinned for m in plan.messages) for plan in plans]
    return [
        {
            "variant": variant.name,
            "strategy": variant.context_label + _pinned_note(variant, count),
            "messages": len(plan.messages),
            "prompt tokens": plan.prompt_tokens,
            "payload bytes": plan.body_bytes,
            "context window %": round(100 * plan.context_share, 3),
            "input cost $": priced_as(plan.model, price_as).input_cost(plan.prompt_tokens),
            "model": plan.body["model"],
        }
        for variant, plan, count in zip(variants, plans, counts, strict=True)
    ]


def _pinned_note(variant: Variant, pinned: int) -> str:
    if not pinned or variant.fixed_context is not None or variant.strategy.kind == "full":
        return ""
    return f" + {pinned} pinned message{'s' if pinned != 1 else ''}"


def input_estimate(plans: Sequence[RequestPlan], price_as: str = "", repeats: int = 1) -> float:
    """What a run's prompts cost, every variant `repeats` times, at each model's prices or `price_as`'s
    (an unpriced model counts $0)."""
    return sum((priced_as(p.model, price_as).input_cost(p.prompt_tokens) or 0) for p in plans) * repeats


def seeds_for(repeats: int, base_seed: int = 1) -> list[int | None]:
    return [base_seed + i for i in range(repeats)] if repeats > 1 else [None]


# --- JSON: what the session store keeps ------------------------------------------------------------


def _plan_json(plan: RequestPlan) -> cjson.PlanJson:
    c, m = plan.count, plan.model
    prices = None if m.own_prices is None else cjson.PricesJson.model_validate(asdict(m.own_prices))
    return cjson.PlanJson(
        body=plan.body,
        body_bytes=plan.body_bytes,
        count=cjson.CountJson(per_message=list(c.per_message), total=c.total, exact=c.exact, method=c.method),
        model=cjson.ModelJson(
            name=m.name,
            context_window=m.context_window,
            encoding=m.encoding,
            reasoning=m.reasoning,
            price_ref=m.price_ref,
            own_prices=prices,
        ),
        max_tokens=plan.max_tokens,
    )


def _rate_of(kept: cjson.RateJson | None) -> Rate | None:
    return None if kept is None else Rate(kept.base, tuple(kept.tiers))


def _plan_of(kept: cjson.PlanJson) -> RequestPlan:
    m, c, own = kept.model, kept.count, kept.model.own_prices
    prices = None
    if own is not None:  # a model's own prices (None: looked up by name, as the table does)
        prices = Prices(_rate_of(own.input), _rate_of(own.output), _rate_of(own.cached_input), own.source)
    info = ModelInfo(m.name, m.context_window, m.encoding, m.reasoning, m.price_ref, prices)
    try:
        # The messages sent are the body's own: their ids in the chat are not kept (nothing reads them).
        messages = tuple(Message.from_api(raw, id=f"sent-{i}") for i, raw in enumerate(kept.body["messages"]))
    except (KeyError, TypeError, MessageShapeError) as exc:
        raise InvalidComparison(f"a plan with a missing or wrong field ({exc})") from exc
    count = PromptCount(tuple(c.per_message), c.total, c.exact, c.method)
    return RequestPlan(messages, kept.body, kept.body_bytes, count, info, kept.max_tokens)


def _outcome_json(outcome: CallOutcome) -> cjson.OutcomeJson:
    u = outcome.usage
    return cjson.OutcomeJson(
        text=outcome.text,
        prompt_tokens=u.prompt_tokens,
        completion_tokens=u.completion_tokens,
        cached_tokens=u.cached_tokens,
        latency_s=outcome.latency_s,
        ttft_s=outcome.ttft_s,
        finish_reason=outcome.finish_reason,
        error=outcome.error,
        status_code=outcome.status_code,
        error_code=outcome.error_code,
        retry_after_s=outcome.retry_after_s,
        reported_usage=u.reported,
    )


def _outcome_of(kept: cjson.OutcomeJson) -> CallOutcome:
    reported = kept.reported_usage
    usage = Usage(
        kept.prompt_tokens,
        kept.completion_tokens,
        kept.cached_tokens,
        flag=implausible_usage(reported),
        reported=reported,
    )
    return CallOutcome(
        text=kept.text,
        usage=usage,
        latency_s=kept.latency_s,
        ttft_s=kept.ttft_s,
        finish_reason=kept.finish_reason,
        error=kept.error,
        status_code=kept.status_code,
        error_code=kept.error_code,
        retry_after_s=kept.retry_after_s,
    )


def _result_json(result: VariantResult) -> cjson.ResultJson:
    return cjson.ResultJson(
        variant=result.variant.as_json(),
        plan=_plan_json(result.plan),
        outcomes=[_outcome_json(o) for o in result.outcomes],
        seeds=list(result.seeds),
        queued=list(result.queued),
        notices=[list(n) for n in result.notices],
        pinned=result.pinned_sent or None,
    )


def _result_of(kept: cjson.ResultJson) -> VariantResult:
    return VariantResult(
        Variant.of_json(kept.variant),
        _plan_of(kept.plan),
        [_outcome_of(o) for o in kept.outcomes],
        list(kept.seeds),
        list(kept.queued),
        [tuple(n) for n in kept.notices],
        kept.pinned or 0,
    )
