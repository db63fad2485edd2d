"""A run's results: the grid, per-variant pass rates (Wilson intervals), the frontier, regressions,
the forgetting curve, the judge's agreement, two runs side by side, and the exports (CSV, HTML).

A case "passes" under a variant when most of its scored repeats pass; a cell that ended in an error
is counted apart (it is neither a pass nor a fail). Every string a user, a file or a model wrote is
escaped on its way into the HTML report and the charts (plotly reads tags in its labels).
"""

from __future__ import annotations

import html
import json
import math
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from lib.analysis.experiments.cases import Case
from lib.analysis.experiments.checks import FINISH_NOTES
from lib.analysis.experiments.formats import csv_text
from lib.analysis.experiments.judge import Agreement, agreement
from lib.analysis.experiments.planner import CellKey, RunSpec
from lib.analysis.experiments.store import CellResult

Z_95 = 1.959963984540054
STATUS_COLOURS = {
    "pass": "#b7e4b7",
    "fail": "#f4b6b6",
    "error": "#f7d49b",
    "mixed": "#fbeaa0",
    "answered": "#cfdcf2",
    "pending": "#eeeeee",
}
STATUS_WORDS = {"pass": "pass", "fail": "fail", "error": "error", "answered": "answered", "pending": "…"}
# A grid cell with a reply cut short (max_tokens, the content filter) or with no text (a tool call).
FLAG = "⚑"


def cell_note(cell: CellResult) -> str | None:
    """The note of a reply that is not an ordinary answer (checks.finish_note), if it is one."""
    return next((n for n in cell.notices if n in FINISH_NOTES), None)


def wilson(successes: int, trials: int, z: float = Z_95) -> tuple[float, float] | None:
    """The Wilson score interval of a proportion (95 % by default); None with no trials."""
    if trials <= 0:
        return None
    p = successes / trials
    denominator = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denominator
    margin = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denominator
    return max(0.0, centre - margin), min(1.0, centre + margin)


def variant_labels(spec: RunSpec) -> list[str]:
    """The variants' names, numbered where two share one (the grid's columns must differ)."""
    names = [v.name for v in spec.variants]
    return [f"{i + 1}. {n}" if names.count(n) > 1 else n for i, n in enumerate(names)]


# --- cells gathered per (case, variant) -----------------------------------------------------------


@dataclass(frozen=True)
class Tally:
    passed: int = 0
    failed: int = 0
    errors: int = 0
    answered: int = 0  # finished with no checks to decide
    pending: int = 0  # not finished yet (or awaiting the judge)
    flagged: int = 0  # finished cells whose reply was cut short or had no text (cell_note)

    @property
    def scored(self) -> int:
        return self.passed + self.failed

    @property
    def status(self) -> str:
        if self.pending and not (self.scored or self.errors or self.answered):
            return "pending"
        if self.scored:
            if self.passed == self.scored and not self.errors:
                return "pass"
            if self.failed == self.scored and not self.errors:
                return "fail"
            return "mixed"
        return "error" if self.errors else "answered"

    @property
    def passes(self) -> bool | None:
        """The case's verdict under the variant: most scored repeats passed; None when none is scored."""
        return None if not self.scored else 2 * self.passed > self.scored

    def label(self, repeats: int) -> str:
        flag = f" {FLAG}" if self.flagged else ""
        if repeats == 1 or self.status == "pending":
            return STATUS_WORDS.get(self.status, self.status) + flag
        text = f"{self.passed}/{self.scored}" if self.scored else STATUS_WORDS.get(self.status, self.status)
        return (
            text
            + (f" · {self.errors} err" if self.errors and self.scored else "")
            + ("…" if self.pending else "")
            + flag
        )


def tallies(spec: RunSpec, cells: list[CellResult]) -> dict[tuple[str, int], Tally]:
    """(case id, variant index) → its repeats, counted."""
    counts: dict[tuple[str, int], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for cell in cells:
        bucket = {"pass": "passed", "fail": "failed", "error": "errors", "answered": "answered"}.get(cell.status)
        counts[(cell.key.case, cell.key.variant)][bucket or "pending"] += 1
        if bucket and cell_note(cell):
            counts[(cell.key.case, cell.key.variant)]["flagged"] += 1
    result = {}
    for case in spec.test_set.cases:
        for variant in range(len(spec.variants)):
            found = counts.get((case.id, variant), {})
            finished = sum(found.get(k, 0) for k in ("passed", "failed", "errors", "answered"))
            result[(case.id, variant)] = Tally(
                found.get("passed", 0),
                found.get("failed", 0),
                found.get("errors", 0),
                found.get("answered", 0),
                spec.repeats - finished,
                found.get("flagged", 0),
            )
    return result


def grid(spec: RunSpec, cells: list[CellResult]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Cases x variants: the label each cell shows, and its status (for its colour)."""
    counted = tallies(spec, cells)
    labels = variant_labels(spec)
    index = [c.id for c in spec.test_set.cases]
    shown = pd.DataFrame(
        {label: [counted[(c, v)].label(spec.repeats) for c in index] for v, label in enumerate(labels)}, index=index
    )
    status = pd.DataFrame(
        {label: [counted[(c, v)].status for c in index] for v, label in enumerate(labels)}, index=index
    )
    shown.index.name = status.index.name = "case"
    return shown, status


def grid_colours(status: pd.DataFrame) -> pd.DataFrame:
    """CSS for each grid cell (a pandas Styler's `apply(axis=None)`)."""
    return status.map(lambda s: f"background-color: {STATUS_COLOURS.get(s, '#ffffff')}; color: #111")


# --- per variant ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class VariantSummary:
    index: int
    name: str
    finished: int
    passed: int
    failed: int
    errors: int
    interval: tuple[float, float] | None  # Wilson 95 % of the pass rate
    mean_prompt_tokens: float | None  # per call sent (reported where the server reported them)
    prompt_tokens: int
    cost: float | None
    mean_latency_s: float | None
    cached_tokens: int

    @property
    def scored(self) -> int:
        return self.passed + self.failed

    @property
    def pass_rate(self) -> float | None:
        return self.passed / self.scored if self.scored else None


def summaries(spec: RunSpec, cells: list[CellResult]) -> list[VariantSummary]:
    labels = variant_labels(spec)
    result = []
    for index, label in enumerate(labels):
        mine = [c for c in cells if c.key.variant == index and c.finished]
        sent = [c for c in mine if c.latency_s is not None]  # a cell that was not sent has no latency
        passed = sum(c.status == "pass" for c in mine)
        failed = sum(c.status == "fail" for c in mine)
        costs = [c.cost for c in sent]
        result.append(
            VariantSummary(
                index,
                label,
                len(mine),
                passed,
                failed,
                sum(c.status == "error" for c in mine),
                wilson(passed, passed + failed),
                sum(c.sent_prompt_tokens for c in sent) / len(sent) if sent else None,
                sum(c.sent_prompt_tokens for c in sent),
                None if any(c is None for c in costs) else sum(c for c in costs if c is not None),
                sum(c.latency_s or 0 for c in sent) / len(sent) if sent else None,
                sum(c.usage.cached_tokens or 0 for c in sent),
            )
        )
    return result


def summary_rows(spec: RunSpec, summaries_: list[VariantSummary]) -> list[dict[str, Any]]:
    rows = []
    for s in summaries_:
        row: dict[str, Any] = {
            "variant": s.name,
            "pass rate %": None if s.pass_rate is None else round(100 * s.pass_rate, 1),
            "passed": s.passed,
            "scored": s.scored,
            "errors": s.errors,
        }
        if spec.repeats > 1:
            row["95 % interval"] = (
                "" if s.interval is None else f"{100 * s.interval[0]:.0f}–{100 * s.interval[1]:.0f} %"
            )
        row.update(
            {
                "prompt tokens per call": None if s.mean_prompt_tokens is None else round(s.mean_prompt_tokens, 1),
                "prompt tokens": s.prompt_tokens,
                "cached tokens": s.cached_tokens,
                "cost $": s.cost,
                "mean latency s": None if s.mean_latency_s is None else round(s.mean_latency_s, 3),
            }
        )
        rows.append(row)
    return rows


# --- the frontier --------------------------------------------------------------------------------


def pareto(points: list[tuple[float, float]]) -> list[bool]:
    """Which points no other beats: as cheap or cheaper (x) and as good or better (y), one strictly."""
    return [
        not any((ox <= x and oy >= y) and (ox < x or oy > y) for j, (ox, oy) in enumerate(points) if j != i)
        for i, (x, y) in enumerate(points)
    ]


def frontier_points(summaries_: list[VariantSummary], by: str = "tokens") -> list[tuple[VariantSummary, float, bool]]:
    """(variant, x, Pareto-optimal?) for each variant with a pass rate; x is prompt tokens per call or
    the cost."""
    usable = [s for s in summaries_ if s.pass_rate is not None and (s.mean_prompt_tokens is not None)]
    if by == "cost":
        usable = [s for s in usable if s.cost is not None]
    xs = [float(s.cost if by == "cost" else s.mean_prompt_tokens) for s in usable]  # type: ignore[arg-type]
    optimal = pareto([(x, s.pass_rate) for x, s in zip(xs, usable, strict=True)])  # type: ignore[misc]
    return list(zip(usable, xs, optimal, strict=True))


def plot_text(text: str) -> str:
    """A label plotly shows as it is: it reads <b>, <a href> and the like in labels; entities it shows."""
    return html.escape(text, quote=False)


def _point_labels(points: list[tuple[VariantSummary, float, bool]]) -> dict[int, tuple[str, str]]:
    """Each point's label and its position: variants at one point share one label ("A · B"), drawn once
    (they were drawn one over the other, unreadable); neighbours along x alternate above and below."""
    at: dict[tuple[float, float], list[int]] = defaultdict(list)
    for index, (summary, x, _) in enumerate(points):
        at[(round(x, 9), round(100 * (summary.pass_rate or 0.0), 6))].append(index)
    labels: dict[int, tuple[str, str]] = {}
    for rank, key in enumerate(sorted(at)):
        first, *others = at[key]
        position = "top center" if rank % 2 == 0 else "bottom center"
        labels[first] = (" · ".join(plot_text(points[i][0].name) for i in at[key]), position)
        labels.update({i: ("", position) for i in others})
    return labels


def frontier_figure(spec: RunSpec, summaries_: list[VariantSummary], by: str = "tokens") -> go.Figure:
    points = frontier_points(summaries_, by)
    labels = _point_labels(points)
    title_x = "cost of the run ($)" if by == "cost" else "prompt tokens per call"
    figure = go.Figure()
    for optimal in (False, True):
        indices = [i for i, (_, _, o) in enumerate(points) if o is optimal]
        chosen = [(points[i][0], points[i][1]) for i in indices]
        if not chosen:
            continue
        errors = None
        if spec.repeats > 1:
            errors = {
                "type": "data",
                "symmetric": False,
                "array": [100 * (s.interval[1] - (s.pass_rate or 0.0)) if s.interval else 0 for s, _ in chosen],
                "arrayminus": [100 * ((s.pass_rate or 0.0) - s.interval[0]) if s.interval else 0 for s, _ in chosen],
            }
        figure.add_trace(
            go.Scatter(
                x=[x for _, x in chosen],
                y=[100 * (s.pass_rate or 0.0) for s, _ in chosen],
                mode="markers+text",
                text=[labels[i][0] for i in indices],
                textposition=[labels[i][1] for i in indices],
                customdata=[plot_text(s.name) for s, _ in chosen],
                error_y=errors,
                marker={
                    "size": 16 if optimal else 11,
                    "symbol": "star" if optimal else "circle",
                    "color": "#1b7f3b" if optimal else "#7a8599",
                },
                name="Pareto-optimal" if optimal else "dominated",
                hovertemplate="%{customdata}<br>" + title_x + ": %{x}<br>pass rate: %{y:.1f} %<extra></extra>",
            )
        )
    line = sorted((x, 100 * (s.pass_rate or 0.0)) for s, x, o in points if o)
    if len(line) > 1:
        frontier = {"dash": "dot", "color": "#1b7f3b"}
        xs, ys = [x for x, _ in line], [y for _, y in line]
        figure.add_trace(go.Scatter(x=xs, y=ys, mode="lines", line=frontier, name="frontier", hoverinfo="skip"))
    figure.update_layout(
        title="Pass rate against " + ("cost" if by == "cost" else "prompt tokens") + " (stars: Pareto-optimal)",
        xaxis_title=title_x,
        yaxis_title="pass rate %",
        yaxis_range=[-5, 110],
        height=420,
        margin={"t": 50, "b": 10},
        legend={"orientation": "h", "y": -0.2},
    )
    return figure


# --- regressions, forgetting, the judge ----------------------------------------------------------


def regressions(spec: RunSpec, cells: list[CellResult], baseline: int) -> list[dict[str, Any]]:
    """Cases that pass under the baseline variant and fail under another."""
    counted = tallies(spec, cells)
    labels = variant_labels(spec)
    rows = []
    for case in spec.test_set.cases:
        base = counted[(case.id, baseline)]
        if base.passes is not True:
            continue
        for index, label in enumerate(labels):
            other = counted[(case.id, index)]
            if index != baseline and other.passes is False:
                rows.append(
                    {
                        "case": case.id,
                        "question": case.question,
                        "variant": label,
                        f"under {labels[baseline]}": f"{base.passed}/{base.scored} pass",
                        "under the variant": f"{other.passed}/{other.scored} pass",
                    }
                )
    return rows


def forgetting_curve(spec: RunSpec, cells: list[CellResult]) -> pd.DataFrame:
    """Pass rate by how many turns ago the fact was told, per variant (cases with `turns_ago` only)."""
    ago = {c.id: c.turns_ago for c in spec.test_set.cases if c.turns_ago is not None}
    labels = variant_labels(spec)
    rows = []
    grouped: dict[tuple[int, int], list[CellResult]] = defaultdict(list)
    for cell in cells:
        if cell.key.case in ago and cell.status in ("pass", "fail"):
            grouped[(cell.key.variant, ago[cell.key.case])].append(cell)
    for (variant, turns), mine in sorted(grouped.items()):
        passed = sum(c.status == "pass" for c in mine)
        rows.append(
            {
                "variant": labels[variant],
                "turns ago": turns,
                "pass rate %": 100 * passed / len(mine),
                "cells": len(mine),
            }
        )
    return pd.DataFrame(rows, columns=["variant", "turns ago", "pass rate %", "cells"])


# Each variant's line its own dash and marker, and a small sideways offset: two variants with the same
# pass rates (Full history and Last 12 turns, while the facts are within 12 turns) drew one line over
# the other, and the one under it was hidden.
_DASHES = ("solid", "dash", "dot", "dashdot", "longdash", "longdashdot")
_SYMBOLS = ("circle", "square", "diamond", "triangle-up", "x", "star")
_OFFSET_TURNS = 0.12


def forgetting_figure(curve: pd.DataFrame) -> go.Figure:
    figure = go.Figure()
    groups = list(curve.groupby("variant", sort=False))
    for index, (variant, part) in enumerate(groups):
        offset = (index - (len(groups) - 1) / 2) * _OFFSET_TURNS
        hover = "%{customdata[1]} turns ago: %{y:.0f} % of %{customdata[0]} cells<extra></extra>"
        figure.add_trace(
            go.Scatter(
                x=part["turns ago"] + offset,
                y=part["pass rate %"],
                mode="lines+markers",
                name=plot_text(str(variant)),
                customdata=list(zip(part["cells"], part["turns ago"], strict=True)),
                hovertemplate=hover,
                line={"dash": _DASHES[index % len(_DASHES)], "width": 2.5},
                marker={"symbol": _SYMBOLS[index % len(_SYMBOLS)], "size": 9},
            )
        )
    figure.update_layout(
        title="Forgetting curve: pass rate by how long ago the fact was told",
        xaxis_title="turns ago",
        yaxis_title="pass rate %",
        yaxis_range=[-5, 105],
        height=400,
        margin={"t": 50, "b": 10},
        legend={"orientation": "h", "y": -0.25},
    )
    return figure


def judge_agreement(spec: RunSpec, cells: list[CellResult]) -> Agreement:
    pairs = []
    for cell in cells:
        judged = [v for v in cell.verdicts if v.judge and v.passed is not None]
        checked = [v for v in cell.verdicts if not v.judge]
        if judged and checked and all(v.passed is not None for v in checked):
            pairs.append((all(v.passed for v in judged), all(v.passed for v in checked)))
    return agreement(pairs)


# --- two runs side by side ---------------------------------------------------------------------


def compare_runs(
    a: tuple[RunSpec, list[CellResult]], b: tuple[RunSpec, list[CellResult]]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Variants matched by name: their pass rate and tokens in each run; and the cases whose verdict
    changed from one run to the other."""
    (spec_a, cells_a), (spec_b, cells_b) = a, b
    sum_a = {s.name: s for s in summaries(spec_a, cells_a)}
    sum_b = {s.name: s for s in summaries(spec_b, cells_b)}
    rows = []
    for name in [n for n in sum_a if n in sum_b]:
        ra, rb = sum_a[name].pass_rate, sum_b[name].pass_rate
        rows.append(
            {
                "variant": name,
                "pass rate % (A)": None if ra is None else round(100 * ra, 1),
                "pass rate % (B)": None if rb is None else round(100 * rb, 1),
                "change (points)": None if ra is None or rb is None else round(100 * (rb - ra), 1),
                "prompt tokens per call (A)": _round(sum_a[name].mean_prompt_tokens),
                "prompt tokens per call (B)": _round(sum_b[name].mean_prompt_tokens),
            }
        )
    changed = []
    tallies_a, tallies_b = tallies(spec_a, cells_a), tallies(spec_b, cells_b)
    labels_a, labels_b = variant_labels(spec_a), variant_labels(spec_b)
    for case in spec_a.test_set.cases:
        if spec_b.test_set.case(case.id) is None:
            continue
        for ia, name in enumerate(labels_a):
            if name not in labels_b:
                continue
            before, after = tallies_a[(case.id, ia)].passes, tallies_b[(case.id, labels_b.index(name))].passes
            if before is not None and after is not None and before != after:
                changed.append(
                    {
                        "case": case.id,
                        "variant": name,
                        "A": "pass" if before else "fail",
                        "B": "pass" if after else "fail",
                        "question": case.question,
                    }
                )
    return rows, changed


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


# --- exports -------------------------------------------------------------------------------------

CSV_COLUMNS = (
    "variant",
    "case",
    "repeat",
    "status",
    "question",
    "answer",
    "checks",
    "predicted prompt tokens",
    "prompt tokens",
    "completion tokens",
    "cached tokens",
    "latency s",
    "cost $",
    "error",
    "note",
    "turns ago",
)


def cell_rows(spec: RunSpec, cells: list[CellResult]) -> list[dict[str, Any]]:
    labels = variant_labels(spec)
    cases = {c.id: c for c in spec.test_set.cases}
    rows = []
    for cell in sorted(cells, key=lambda c: (c.key.variant, _case_rank(spec, c.key.case), c.key.repeat)):
        case = cases.get(cell.key.case)
        rows.append(
            {
                "variant": labels[cell.key.variant],
                "case": cell.key.case,
                "repeat": cell.key.repeat + 1,
                "status": cell.status,
                "question": case.question if case else "",
                "answer": cell.answer,
                "checks": "\n".join(
                    f"{'PASS' if v.passed else 'FAIL' if v.passed is False else '??'} {v.check} ({v.detail})"
                    for v in cell.verdicts
                ),
                "predicted prompt tokens": cell.predicted_prompt_tokens,
                "prompt tokens": cell.usage.prompt_tokens,
                "completion tokens": cell.usage.completion_tokens,
                "cached tokens": cell.usage.cached_tokens,
                "latency s": cell.latency_s,
                "cost $": cell.cost,
                "error": cell.error or "",
                "note": cell_note(cell) or "",
                "turns ago": case.turns_ago if case else None,
            }
        )
    return rows


def _case_rank(spec: RunSpec, case_id: str) -> int:
    return next((i for i, c in enumerate(spec.test_set.cases) if c.id == case_id), len(spec.test_set.cases))


def run_csv(spec: RunSpec, cells: list[CellResult]) -> str:
    """One row per finished cell; a cell a spreadsheet would run as a formula is quoted."""
    return csv_text(cell_rows(spec, cells), CSV_COLUMNS)


def cell_of(cells: list[CellResult], key: CellKey) -> CellResult | None:
    return next((c for c in cells if c.key == key), None)


def case_of(spec: RunSpec, case_id: str) -> Case | None:
    return spec.test_set.case(case_id)


_STYLE = """
body{font-family:system-ui,sans-serif;max-width:1200px;margin:2rem auto;padding:0 1rem;color:#222}
table{border-collapse:collapse;font-size:.85rem;margin:.5rem 0 1.2rem}td,th{border:1px solid #ccc;padding:.25rem .45rem}
.answer{white-space:pre-wrap}details{margin:.3rem 0}summary{cursor:pointer}
"""


def _table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "<p>None.</p>"
    return pd.DataFrame(rows).to_html(index=False, na_rep="—", float_format=lambda v: f"{v:.4g}", escape=True)


def _grid_html(spec: RunSpec, cells: list[CellResult]) -> str:
    shown, status = grid(spec, cells)
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in shown.columns)
    body = []
    for case_id in shown.index:
        tds = "".join(
            f"<td style='background:{STATUS_COLOURS.get(status.at[case_id, col], '#fff')}'>"
            f"{html.escape(str(shown.at[case_id, col]))}</td>"
            for col in shown.columns
        )
        body.append(f"<tr><th>{html.escape(str(case_id))}</th>{tds}</tr>")
    return f"<table><tr><th>case</th>{head}</tr>{''.join(body)}</table>"


def report_html(run_name: str, spec: RunSpec, cells: list[CellResult], created: str = "", note: str = "") -> str:
    """A standalone page (plotly.js inlined once, so it opens offline); every text escaped."""
    summaries_ = summaries(spec, cells)
    figures = [frontier_figure(spec, summaries_)]
    curve = forgetting_curve(spec, cells)
    if not curve.empty:
        figures.append(forgetting_figure(curve))
    charts = "".join(f.to_html(full_html=False, include_plotlyjs=(i == 0)) for i, f in enumerate(figures))
    agreement_ = judge_agreement(spec, cells)
    details = []
    for row in cell_rows(spec, cells):
        details.append(
            f"<details><summary>{html.escape(str(row['variant']))} · {html.escape(str(row['case']))} · run "
            f"{row['repeat']} · <b>{html.escape(row['status'])}</b>{' ' + FLAG if row['note'] else ''}</summary>"
            f"<p><b>Question:</b> {html.escape(row['question'])}</p>"
            f"<div class='answer'>{html.escape(row['answer'])}</div>"
            f"<pre>{html.escape(row['checks'])}</pre>"
            f"{'<p>' + html.escape(row['error']) + '</p>' if row['error'] else ''}"
            f"{'<p>' + FLAG + ' ' + html.escape(row['note']) + '</p>' if row['note'] else ''}"
            "</details>"
        )
    baseline = variant_labels(spec)[spec.baseline] if spec.variants else ""
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>Context Lab experiment</title>"
        f"<style>{_STYLE}</style></head><body><h1>Context Lab experiment: {html.escape(run_name)}</h1>"
        f"<p>{html.escape(created)} · test set <b>{html.escape(spec.test_set.name)}</b> · "
        f"{len(spec.test_set.cases)} cases × {len(spec.variants)} variants × {spec.repeats} repeat(s) · "
        f"{html.escape(note)}</p>"
        f"<h2>Per variant</h2>{_table(summary_rows(spec, summaries_))}"
        f"<h2>Cases × variants</h2>{_grid_html(spec, cells)}"
        f"<h2>Regressions against {html.escape(baseline)}</h2>{_table(regressions(spec, cells, spec.baseline))}"
        f"<h2>Judge</h2><p>{html.escape(agreement_.sentence())}</p>"
        f"<h2>Charts</h2>{charts}"
        f"<h2>Every cell</h2>{''.join(details)}"
        f"<h2>Variants</h2><pre>{html.escape(json.dumps(_variants_for_report(spec), indent=2, ensure_ascii=False))}"
        "</pre></body></html>"
    )


def _variants_for_report(spec: RunSpec) -> list[dict[str, Any]]:
    return [
        {
            "name": v.name,
            "strategy": v.strategy.describe(),
            "system prompt": "the conversation's" if v.system_override is None else (v.system_override or "none"),
            "model": v.model or spec.provider_model,
            "temperature": spec.sampling.temperature if v.temperature is None else v.temperature,
            "max reply tokens": spec.sampling.max_tokens if v.max_tokens is None else v.max_tokens,
        }
        for v in spec.variants
    ]
