import pandas as pd

from lib.runlog import calls_frame, filtered, run_log_figures
from lib.storage import CallRecord

T0 = "2026-01-01T10:00:00.000+00:00"


def _record(session_id="s1", variant="chat", predicted=100, reported=98, status="ok", at=T0):
    return CallRecord(
        session_id, variant, "embedded", "SmolLM2-135M-Instruct", 3, predicted, True, reported,
        None if reported is None else 7, 500, 0.4, 0.1, 0.0, status, None if status == "ok" else "boom", at,
    )  # fmt: skip


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
