"""The one run-log writer (`log_call`), and what a run-log row opens to: the request body as sent, the
answer, the strategy, the timings.

The run log's `calls` table (lib/store/storage.CallRecord) holds the figures of each call; its details live
in `call_details`, one row per call, written in the same breath (`record_with_details`). Every call the app
makes is logged through `log_call`: the chat (lib/store/chat_replies.py), Compare, the experiments (and
their Batch API answers), attribution and the summary call. A very long
message is kept shortened in the middle (the call sent it whole), so one 5 MB paste resent at every
turn does not fill the disk. Nothing here imports Streamlit; ui/call_details.py draws it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace

from sqlalchemy import Connection, insert, select

from lib.context.conversation import clean_text
from lib.context.display import shortened_body
from lib.context.payload import RequestPlan
from lib.core.models import lookup, priced_as
from lib.core.outcome import CallOutcome
from lib.core.prices import billed
from lib.core.secrets import masked_json, redact
from lib.store.schema import call_details
from lib.store.schema import calls as calls_table
from lib.store.storage import CALL_COLUMNS, CallRecord, call_record, record_call, writing

KEPT_MESSAGE_CHARS = 50_000  # per message, in the stored body


@dataclass(frozen=True)
class CallDetails:
    request_body: str | None  # the JSON body as sent (a message past KEPT_MESSAGE_CHARS shortened)
    answer: str | None  # the reply's text, whole or as far as it came
    strategy: str | None  # the context strategy, described ("Last 2 turns"); None if not known
    finish_reason: str | None
    queued_s: float | None = None  # waited before it was sent (Compare on a one-slot server)
    notices: tuple[str, ...] = ()  # the retries made, each a sentence
    left_out_chars: int = 0  # characters of long messages not kept in `request_body`
    # The functions the reply asked to call, as wire dicts (a recorded demo replays them: lib/store/recordings.py)
    tool_calls: tuple[dict, ...] = ()

    @property
    def body(self) -> dict | None:
        return None if self.request_body is None else json.loads(self.request_body)


def details_of(
    plan: RequestPlan,
    outcome: CallOutcome,
    strategy: str | None = None,
    queued_s: float | None = None,
    notices: tuple[str, ...] | list[str] = (),
    secrets: tuple[str, ...] = (),
) -> CallDetails:
    """A finished call's details, keys masked wherever they could have landed."""
    body, left_out = shortened_body(plan.body, KEPT_MESSAGE_CHARS)
    masked = masked_json(json.dumps(body, ensure_ascii=False, indent=1), secrets)
    return CallDetails(
        request_body=masked,
        # A reply may carry half a UTF-16 pair (a JSON "\ud83d" escape): SQLite cannot encode it.
        answer=clean_text(masked_json(outcome.text, secrets)),
        strategy=clean_text(strategy) if strategy is not None else None,
        finish_reason=outcome.finish_reason,
        queued_s=queued_s,
        notices=tuple(clean_text(redact(n, secrets)) for n in notices),
        left_out_chars=left_out,
        tool_calls=tuple(
            json.loads(masked_json(json.dumps(call, ensure_ascii=False), secrets)) for call in outcome.tool_calls
        ),
    )


def record_with_details(conn: Connection, record: CallRecord, details: CallDetails) -> int:
    """Log the call (lib.store.storage.record_call) and its details; returns the call's id. The details
    are optional to the log: written just after, on the same connection."""
    call_id = record_call(conn, record)
    extra = json.dumps(
        {"notices": list(details.notices), "left_out": details.left_out_chars}
        | ({"tool_calls": list(details.tool_calls)} if details.tool_calls else {})
    )
    with writing(conn):
        conn.execute(
            insert(call_details).values(
                call_id=call_id,
                request_body=details.request_body,
                answer=details.answer,
                strategy=details.strategy,
                finish_reason=details.finish_reason,
                queued_s=details.queued_s,
                notices=extra,
            )
        )
    return call_id


def log_call(
    conn: Connection,
    session_id: str,
    variant: str,
    provider: str,
    plan: RequestPlan,
    outcome: CallOutcome,
    secrets: tuple[str, ...] = (),
    owner: str | None = None,
    strategy: str | None = None,
    queued_s: float | None = None,
    notices: tuple[str, ...] | list[str] = (),
    at: str | None = None,
    batch: bool = False,
) -> int:
    """Log a finished call, with its details, keys masked (`secrets`): the one way a call enters the run
    log. `variant` names what made it ("chat", a Compare variant, "experiment · …", "attribution");
    `provider` is its backend's kind; `owner` who made it (None: its session's owner); `at` when it
    ended, for a writer that writes later (None: now); `batch`: an answer from the Batch API, priced at
    its rate. Returns its id."""
    record = CallRecord.of(session_id, variant, provider, plan, outcome, secrets, owner, batch=batch)
    if at is not None:
        record = replace(record, at=at)
    return record_with_details(conn, record, details_of(plan, outcome, strategy, queued_s, notices, secrets))


def calls_with_details(conn: Connection, session_id: str | None = None) -> list[tuple[CallRecord, CallDetails | None]]:
    """The run log as lib.store.storage.calls has it (oldest first), each call with its details (None for a
    call logged before details were kept)."""
    d = call_details.c
    query = (
        select(
            *(calls_table.c[name] for name in CALL_COLUMNS),
            d.call_id,
            d.request_body,
            d.answer,
            d.strategy,
            d.finish_reason,
            d.queued_s,
            d.notices,
        )
        .select_from(calls_table.outerjoin(call_details, d.call_id == calls_table.c.id))
        .order_by(calls_table.c.at, calls_table.c.id)
    )
    if session_id:
        query = query.where(calls_table.c.session_id == session_id)
    pairs = []
    for row in conn.execute(query):
        call_id, body, answer, strategy, finish, queued, extra = row[len(CALL_COLUMNS) :]
        details = None
        if call_id is not None:
            kept = json.loads(extra or "{}")
            details = CallDetails(
                body,
                answer,
                strategy,
                finish,
                queued,
                tuple(kept.get("notices", ())),
                kept.get("left_out", 0),
                tuple(call for call in kept.get("tool_calls", ()) if isinstance(call, dict)),
            )
        pairs.append((call_record(row), details))
    return pairs


# --- for the page ----------------------------------------------------------------------------------


def timings(record: CallRecord, details: CallDetails | None) -> list[tuple[str, str]]:
    """The call's timings, each labelled: queued (before it was sent), first token, generation, latency."""

    def seconds(value: float | None) -> str:
        return "—" if value is None else f"{value:.2f} s"

    generation = (
        record.latency_s - record.ttft_s if record.latency_s is not None and record.ttft_s is not None else None
    )
    queued = details.queued_s if details is not None else None
    return [
        ("Queued before sending", seconds(queued)),
        ("First token", seconds(record.ttft_s)),
        ("Rest of the answer", seconds(generation)),
        ("Latency (sent → done)", seconds(record.latency_s)),
    ]


def cost_as(record: CallRecord, model: str) -> float | None:
    """The call's cost had it been billed at the table's `model` prices (the run log's "price as"):
    the reported prompt tokens (else the predicted ones), cached ones as reported, and the completion tokens."""
    info = lookup(model)
    if info is None:
        raise KeyError(f"{model!r} is not in the model table")
    priced = priced_as(info, model)
    return billed(priced.prices, record.predicted_prompt_tokens, record.usage)
