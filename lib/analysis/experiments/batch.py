"""Runs too big to make interactively: OpenAI's Batch API, out and back in.

Out: one JSONL line per cell, `{"custom_id", "method": "POST", "url": "/v1/chat/completions", "body"}`,
the body the one builder planned (whole replies: the Batch API does not stream); one file per model
(`input_files`: the Batch API takes one model per file). The custom_id names
the variant, the case and the repeat: `v2-last-4-turns/case-7/r1`. Back in: the batch's output file,
one line per request (`{"custom_id", "response": {"status_code", "body"}, "error"}`), each answer
scored by the same checks as an interactive run. A file that does not fit the run is refused whole,
with the line and the reason (a custom_id naming no cell of the run, a line that is not JSON…).

Applying a file (`apply_output`) is idempotent: an answer whose cell the run already holds (the same
file uploaded twice, or a cell finished interactively meanwhile) is skipped and counted, never written
over; only the answers written add their call to the run log, so a second upload adds no calls or cost.
Every answer applied is priced at the Batch API's rate (`lib.core.prices.BATCH_RATE`), in its cell and
in the run log.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from lib.analysis.compare import Variant
from lib.analysis.experiments import runner, store
from lib.analysis.experiments.formats import text_of
from lib.analysis.experiments.planner import CellKey, PlannedCell, RunSpec, for_batch, plan_cells
from lib.context.payload import serialise
from lib.context.request import Target
from lib.core.errors import DocumentError, InvalidBatchFile, InvalidTestSet, NotWellFormed
from lib.core.outcome import CallOutcome, usage_of
from lib.store import storage
from lib.store.call_details import log_call
from lib.store.documents import load_json

URL = "/v1/chat/completions"
# ASCII digits, a few of them: \d takes any script's digits, and int() raises past 4,300 of them.
_CUSTOM_ID = re.compile(r"^v([0-9]{1,9})-([a-z0-9-]*)/(.+)/r([0-9]{1,9})$", re.DOTALL)


def slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:24]


def custom_id(key: CellKey, variants: tuple[Variant, ...] | list[Variant]) -> str:
    return f"v{key.variant + 1}-{slug(variants[key.variant].name)}/{key.case}/r{key.repeat + 1}"


def parse_custom_id(value: str, variants: tuple[Variant, ...] | list[Variant]) -> CellKey | None:
    """The cell a custom_id names, or None when it names no variant of this run."""
    match = _CUSTOM_ID.match(value)
    if not match:
        return None
    variant, name, case, repeat = int(match.group(1)) - 1, match.group(2), match.group(3), int(match.group(4)) - 1
    if not 0 <= variant < len(variants) or slug(variants[variant].name) != name or repeat < 0:
        return None
    return CellKey(variant, case, repeat)


def to_jsonl(cells: list[PlannedCell], variants: tuple[Variant, ...] | list[Variant]) -> str:
    """The Batch API's input file: every sendable cell (a cell over the window is left out; the run
    shows why)."""
    lines = []
    for cell in cells:
        if cell.blocker is not None:
            continue
        body = {k: v for k, v in cell.plan.body.items() if k not in ("stream", "stream_options")}
        line = {"custom_id": custom_id(cell.key, variants), "method": "POST", "url": URL, "body": body}
        lines.append(serialise(line).decode())
    return "\n".join(lines) + ("\n" if lines else "")


def models_of(variants: tuple[Variant, ...] | list[Variant], default_model: str) -> list[str]:
    """The models a run's variants send to (a variant's own, else the run's), each once, in order."""
    return list(dict.fromkeys(v.model or default_model for v in variants))


def input_files(
    cells: list[PlannedCell], variants: tuple[Variant, ...] | list[Variant], default_model: str
) -> dict[str, str]:
    """Each model's input file (`models_of` order): the Batch API takes one model per file, so variants
    with several models make several files; each output file is uploaded back to the same run."""
    return {
        model: to_jsonl([c for c in cells if (variants[c.key.variant].model or default_model) == model], variants)
        for model in models_of(variants, default_model)
    }


def file_stem(model: str) -> str:
    """A model's name as a file name's part (a name from the user's settings: nothing of it is a path)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", model).strip("-.")[:60] or "model"


@dataclass(frozen=True)
class BatchAnswer:
    key: CellKey
    outcome: CallOutcome


def _outcome(line: dict[str, Any]) -> CallOutcome:
    error = line.get("error")
    response = line.get("response")
    if error:
        message = error.get("message", "") if isinstance(error, dict) else str(error)
        code = error.get("code", "") if isinstance(error, dict) else ""
        return CallOutcome(error=f"The batch request failed ({code or 'no code'}): {message}".strip())
    if not isinstance(response, dict):
        raise InvalidTestSet("neither a `response` nor an `error`")
    status, body = response.get("status_code"), response.get("body")
    if not isinstance(body, dict):
        raise InvalidTestSet("the response has no `body` object")
    if status != 200:
        detail = body.get("error", {}).get("message", "") if isinstance(body.get("error"), dict) else ""
        return CallOutcome(error=f"The batch request failed ({status}): {detail}".strip(), status_code=status)
    choices = body.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        return CallOutcome(error="The batch answer has no choices (a content filter or a server fault).")
    message = choices[0].get("message") or {}
    text = message.get("content") if isinstance(message, dict) else None
    outcome = CallOutcome(text=text if isinstance(text, str) else "", finish_reason=choices[0].get("finish_reason"))
    calls = message.get("tool_calls") if isinstance(message, dict) else None
    if isinstance(calls, list):  # what a tool check reads (the calls are scored, never run)
        outcome.tool_calls = [c for c in calls if isinstance(c, dict)]
    usage = body.get("usage")
    if isinstance(usage, dict):  # a batch file is a server's word too: kept as said, priced only if plausible
        outcome.usage = usage_of(usage) or outcome.usage
    if not outcome.text and isinstance(message, dict) and message.get("refusal"):
        outcome.error = f"The model refused: {message['refusal']}"
    return outcome


def read_output(
    data: bytes, cells: list[PlannedCell], variants: tuple[Variant, ...] | list[Variant]
) -> list[BatchAnswer]:
    """The answers in a batch output file, each tied to its cell; InvalidBatchFile names the first
    line that does not fit this run."""
    try:
        text = text_of(data)
    except InvalidTestSet as problem:
        raise InvalidBatchFile(str(problem)) from None
    planned = {c.key for c in cells if c.blocker is None}
    answers: list[BatchAnswer] = []
    seen: set[CellKey] = set()
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            item = load_json(line)
        except NotWellFormed as exc:
            raise InvalidBatchFile(f"line {number}: not valid JSON ({exc.problem} at character {exc.column})") from None
        except DocumentError as exc:
            raise InvalidBatchFile(f"line {number}: {exc.problem}") from None
        if not isinstance(item, dict) or not isinstance(item.get("custom_id"), str):
            raise InvalidBatchFile(f"line {number}: no `custom_id`: is this a Batch API output file?")
        key = parse_custom_id(item["custom_id"], variants)
        if key is None or key not in planned:
            raise InvalidBatchFile(
                f"line {number}: custom_id {item['custom_id'][:80]!r} names no cell of this run "
                "(was the file made for another run?)"
            )
        if key in seen:
            raise InvalidBatchFile(f"line {number}: custom_id {item['custom_id'][:80]!r} comes twice")
        seen.add(key)
        try:
            answers.append(BatchAnswer(key, _outcome(item)))
        except InvalidTestSet as problem:
            raise InvalidBatchFile(f"line {number}: {problem}") from None
    if not answers:
        raise InvalidBatchFile("the file holds no answers")
    return answers


def output_line(
    key: CellKey, variants: tuple[Variant, ...] | list[Variant], completion: dict[str, Any], index: int = 0
) -> str:
    """One line of an output file as the Batch API writes it (for tests, and for a server that answered
    the requests one by one)."""
    line = {
        "id": f"batch_req_{index}",
        "custom_id": custom_id(key, variants),
        "response": {"status_code": 200, "request_id": f"req_{index}", "body": completion},
        "error": None,
    }
    return json.dumps(line, ensure_ascii=False)


@dataclass(frozen=True)
class Applied:
    """What applying an output file did to its run."""

    applied: int  # answers written as cells (each with its call in the run log)
    skipped: int  # answers whose cell the run already held: left as they were
    to_judge: bool  # a written cell awaits the judge (a resume grades it)

    def sentence(self) -> str:
        said = f"{self.applied} answers applied"
        if self.skipped:
            said += f", {self.skipped} already in the run, skipped"
        said += "."
        if self.to_judge:
            said += " Resume the run to have the judge grade the rubric checks."
        return said


def apply_output(
    conn: Connection,
    run_id: str,
    spec: RunSpec,
    cells: list[PlannedCell],
    data: bytes,
    session_id: str,
    secrets: tuple[str, ...] = (),
    owner: str | None = None,
) -> Applied:
    """Score a Batch API output file into its run: each answer a cell the run does not hold yet is
    checked (runner.answered_cell, as an interactive answer is), written, and its call logged; an answer
    for a cell already there is skipped. InvalidBatchFile (nothing written) for a file that does not fit."""
    planned = {c.key: c for c in cells}
    answers = read_output(data, cells, spec.variants)
    applied = skipped = 0
    to_judge = False
    for answer in answers:
        cell = planned[answer.key]
        result = runner.answered_cell(cell, answer.outcome, (), secrets, judged=spec.judge is not None, batch=True)
        if not store.record_new_cell(conn, run_id, result):
            skipped += 1
            continue
        applied += 1
        to_judge = to_judge or result.status == "judging"
        variant = spec.variants[answer.key.variant].name
        log_call(
            conn,
            session_id,
            f"experiment (batch) · {variant}",
            spec.provider_kind,
            cell.plan,
            answer.outcome,
            secrets,
            owner,
            batch=True,
        )
    return Applied(applied, skipped, to_judge)


def requests_left(run_id: str, spec: RunSpec, target_for: Callable[[Variant], Target]) -> dict[str, str]:
    """The Batch API input files (one per model, `input_files`) for the run's cells not finished yet,
    planned for the targets the run was planned for (so each body is the one the run would send)."""
    done = runner.finished_cells(run_id)
    todo = [c for c in plan_cells(for_batch(spec), target_for) if c.key not in done]
    return input_files(todo, spec.variants, spec.provider_model)


def score_output(
    run_id: str,
    spec: RunSpec,
    target_for: Callable[[Variant], Target],
    data: bytes,
    session_id: str,
    secrets: tuple[str, ...] = (),
    owner: str | None = None,
) -> Applied:
    """A Batch API output file scored into its stored run (`apply_output`), the run planned again for its
    targets. Raises InvalidBatchFile (nothing written) for a file that does not fit, and what a failing
    store raises (lib.core.errors.STORE_FAILED)."""
    planned = plan_cells(spec, target_for)
    with storage.opened() as conn:
        return apply_output(conn, run_id, spec, planned, data, session_id, secrets, owner)
