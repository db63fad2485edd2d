"""The run log as a table and two charts: what every call sent, what the server said, what it cost;
and the one way the app writes a table as CSV."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from lib.store import csvtext
from lib.store.storage import CallRecord

# The record's fields under the names the page shows, in the order it shows them.
COLUMNS = {
    "at": "time",
    "variant": "variant",
    "provider": "provider",
    "model": "model",
    "messages_sent": "messages sent",
    "predicted_prompt_tokens": "predicted prompt tokens",
    "prompt_tokens": "prompt tokens",
    "cached_tokens": "cached tokens",
    "completion_tokens": "completion tokens",
    "payload_bytes": "payload bytes",
    "latency_s": "latency s",
    "ttft_s": "ttft s",
    "cost": "cost $",
    "status": "status",
    "error": "error",
    "implausible_usage": "implausible usage",
    "session_id": "session id",
    "predicted_exact": "exact prediction",
    "owner": "who",
}


def calls_frame(records: list[CallRecord], labels: Mapping[str, str] | None = None) -> pd.DataFrame:
    """One row per call, oldest first; `labels` names sessions (a deleted one shows its id)."""
    labels = labels or {}
    rows = [{**r.columns(), "predicted_exact": r.predicted_exact} for r in records]
    frame = pd.DataFrame(rows, columns=list(COLUMNS))[list(COLUMNS)].rename(columns=COLUMNS)
    frame["time"] = pd.to_datetime(frame["time"], utc=True)
    frame.insert(1, "session", frame["session id"].map(lambda i: labels.get(i, i)))
    for column in ("prompt tokens", "cached tokens", "completion tokens"):
        frame[column] = frame[column].astype("Int64")  # a call with no reported usage stays empty, not NaN
    return frame


def csv_cell(value: object) -> object:
    """`value`, with a single quote put before a text a spreadsheet would read as a formula
    (lib/store/csvtext.py's one rule); numbers and None as they are."""
    return csvtext.quoted(value) if isinstance(value, str) else value


def csv_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` with every text cell a spreadsheet would run as a formula neutralised (`csv_cell`);
    numbers stay numbers (a negative one is no formula)."""
    safe = frame.rename(columns=csv_cell)
    for name, column in safe.items():
        if pd.api.types.is_object_dtype(column) or pd.api.types.is_string_dtype(column):
            safe[name] = column.map(csv_cell)
    return safe


def csv_text(frame: pd.DataFrame) -> str:
    """`frame` as the CSV text a download offers, through the app's one CSV writer (lib/store/csvtext.py):
    a missing value empty, every text cell formula-safe."""
    present = frame.astype(object).where(frame.notna(), None)
    columns = [str(name) for name in frame.columns]
    rows = [dict(zip(columns, values, strict=True)) for values in present.itertuples(index=False, name=None)]
    return csvtext.csv_text(rows, columns)


def filtered(frame: pd.DataFrame, **choices: list[str]) -> pd.DataFrame:
    """Rows whose column (`session=[…]`, `variant=[…]`, …) is among the chosen values; empty = all."""
    mask = pd.Series(True, index=frame.index)
    for column, values in choices.items():
        if values:
            mask &= frame[column].isin(values)
    return frame[mask]


def run_log_figures(frame: pd.DataFrame):
    """Prompt tokens per call over time, and predicted against reported prompt tokens."""
    import plotly.express as px

    hover = ["session", "variant", "model", "messages sent", "status"]
    sent = frame.assign(
        **{"prompt tokens (reported, else predicted)": frame["prompt tokens"].fillna(frame["predicted prompt tokens"])}
    )
    over_time = px.line(
        sent,
        x="time",
        y="prompt tokens (reported, else predicted)",
        color="variant",
        markers=True,
        hover_data=hover,
        title="Prompt tokens per call",
    )
    reported = frame.dropna(subset=["prompt tokens"]).astype({"prompt tokens": "int64"})
    scatter = px.scatter(
        reported,
        x="predicted prompt tokens",
        y="prompt tokens",
        color="model",
        hover_data=hover,
        title="Predicted vs reported prompt tokens (on the line: exact)",
    )
    top = max([1, *reported["predicted prompt tokens"], *reported["prompt tokens"]])
    scatter.add_shape(type="line", x0=0, y0=0, x1=top, y1=top, line={"dash": "dot", "color": "grey"})
    for figure in (over_time, scatter):
        figure.update_layout(height=380, margin={"t": 50, "b": 10}, legend={"orientation": "h", "y": -0.2})
    return over_time, scatter
