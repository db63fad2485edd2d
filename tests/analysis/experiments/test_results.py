"""A run's results: Wilson intervals, the grid, per-variant figures, the Pareto frontier, regressions,
the forgetting curve, two runs compared, and exports that run nothing (CSV formulas, HTML)."""

from __future__ import annotations

import csv
import io
import re

import pytest

from lib.analysis.compare import Variant
from lib.analysis.experiments import results
from lib.analysis.experiments.cases import Case, Check, Conversation, TestSet
from lib.analysis.experiments.checks import Verdict
from lib.analysis.experiments.planner import CellKey, RunSpec
from lib.analysis.experiments.store import CellResult
from lib.context.payload import Sampling
from lib.context.strategies import Strategy
from lib.core.outcome import Usage

CASES = tuple(
    Case(f"c{i}", f"Q{i}", Conversation(), (Check("contains", "x"),), turns_ago=5 * (i + 1)) for i in range(3)
)
VARIANTS = (
    Variant("Full", Strategy("full")),
    Variant("Last 2", Strategy("last_turns", last_turns=2)),
    Variant("None", Strategy("none")),
)


def spec(repeats: int = 1, cases=CASES, variants=VARIANTS) -> RunSpec:
    return RunSpec(TestSet("t", cases), variants, repeats, 1, Sampling(), "openai", "gpt-4o-mini")


def cell(
    variant: int,
    case: str,
    status: str,
    repeat: int = 0,
    tokens: int = 100,
    cost: float | None = 0.001,
    answer: str = "x",
) -> CellResult:
    verdicts = () if status == "error" else (Verdict("contains: x", status == "pass", ""),)
    return CellResult(
        CellKey(variant, case, repeat),
        status,
        answer,
        verdicts,
        {"model": "m"},
        tokens,
        Usage(tokens, 5),
        0.5,
        cost,
        "boom" if status == "error" else None,
    )


# Full passes all three; Last 2 passes only the newest fact; None fails all; one error.
CELLS = [
    cell(0, "c0", "pass", tokens=300),
    cell(0, "c1", "pass", tokens=300),
    cell(0, "c2", "pass", tokens=300),
    cell(1, "c0", "pass", tokens=100),
    cell(1, "c1", "fail", tokens=100),
    cell(1, "c2", "error", tokens=100),
    cell(2, "c0", "fail", tokens=20),
    cell(2, "c1", "fail", tokens=20),
    cell(2, "c2", "fail", tokens=20),
]


def test_wilson_matches_the_textbook_values():
    low, high = results.wilson(8, 10)
    assert (round(low, 4), round(high, 4)) == (0.4902, 0.9433)
    assert results.wilson(0, 10)[0] == 0.0 and results.wilson(10, 10)[1] == pytest.approx(1.0)
    assert results.wilson(0, 0) is None


def test_the_grid_shows_each_cells_status():
    shown, status = results.grid(spec(), CELLS)
    assert list(shown.columns) == ["Full", "Last 2", "None"] and list(shown.index) == ["c0", "c1", "c2"]
    assert list(status["Last 2"]) == ["pass", "fail", "error"]
    colours = results.grid_colours(status)
    assert results.STATUS_COLOURS["error"] in colours.at["c2", "Last 2"]


def test_with_repeats_the_grid_counts_and_waits_for_the_rest():
    cells = [cell(0, "c0", "pass", 0), cell(0, "c0", "fail", 1), cell(0, "c1", "pass", 0)]
    shown, status = results.grid(spec(repeats=2, variants=VARIANTS[:1]), cells)
    assert shown.at["c0", "Full"] == "1/2" and status.at["c0", "Full"] == "mixed"
    assert shown.at["c1", "Full"] == "1/1…"  # one repeat still to come
    assert status.at["c2", "Full"] == "pending"


def test_per_variant_pass_rates_leave_errors_out():
    full, last, none = results.summaries(spec(), CELLS)
    assert (full.passed, full.scored, full.pass_rate) == (3, 3, 1.0)
    assert (last.passed, last.scored, last.errors, last.pass_rate) == (1, 2, 1, 0.5)
    assert none.pass_rate == 0.0
    assert (full.mean_prompt_tokens, full.prompt_tokens) == (300, 900)
    assert abs(full.cost - 0.003) < 1e-12 and full.mean_latency_s == 0.5
    rows = results.summary_rows(spec(), [full, last, none])
    assert "95 % interval" not in rows[0]  # one repeat: no interval shown
    assert results.summary_rows(spec(repeats=3), [full])[0]["95 % interval"] == "44–100 %"


def test_pareto_marks_the_variants_nothing_beats():
    assert results.pareto([(300, 1.0), (100, 0.5), (20, 0.0), (200, 0.4), (300, 0.9)]) == [
        True,
        True,
        True,
        False,
        False,
    ]
    assert results.pareto([(10, 0.5), (10, 0.5)]) == [True, True]  # equals do not beat each other


def test_the_frontier_figure_stars_the_optimal_variants_and_escapes_names():
    hostile = (*VARIANTS[:2], Variant("<a href='https://evil.example'>x</a>", Strategy("none")))
    figure = results.frontier_figure(spec(variants=hostile), results.summaries(spec(variants=hostile), CELLS))
    optimal = next(t for t in figure.data if t.name == "Pareto-optimal")
    assert optimal.marker.symbol == "star" and len(optimal.x) == 3
    assert "&lt;a href=" in optimal.text[2] and "<a" not in "".join(optimal.text)
    assert any(t.name == "frontier" for t in figure.data)


def test_the_frontier_against_cost_skips_unpriced_variants():
    cells = [*CELLS[:6], *(cell(2, f"c{i}", "fail", cost=None) for i in range(3))]
    points = results.frontier_points(results.summaries(spec(), cells), by="cost")
    assert [s.name for s, _, _ in points] == ["Full", "Last 2"]


def test_regressions_list_cases_the_baseline_passes_and_another_fails():
    rows = results.regressions(spec(), CELLS, baseline=0)
    assert [(r["case"], r["variant"]) for r in rows] == [
        ("c0", "None"),
        ("c1", "Last 2"),
        ("c1", "None"),
        ("c2", "None"),
    ]
    assert results.regressions(spec(), CELLS, baseline=2) == []


def test_the_forgetting_curve_is_pass_rate_by_turns_ago_per_variant():
    curve = results.forgetting_curve(spec(), CELLS)
    last = curve[curve["variant"] == "Last 2"]
    assert list(last["turns ago"]) == [5, 10] and list(last["pass rate %"]) == [100.0, 0.0]  # the error is left out
    figure = results.forgetting_figure(curve)
    assert [t.name for t in figure.data] == ["Full", "Last 2", "None"]


def test_two_runs_compare_by_variant_and_case():
    after = [c if c.key != CellKey(1, "c1", 0) else cell(1, "c1", "pass", tokens=100) for c in CELLS]
    rows, changed = results.compare_runs((spec(), CELLS), (spec(), after))
    last = next(r for r in rows if r["variant"] == "Last 2")
    assert (last["pass rate % (A)"], last["pass rate % (B)"], last["change (points)"]) == (50.0, 100.0, 50.0)
    assert changed == [{"case": "c1", "variant": "Last 2", "A": "fail", "B": "pass", "question": "Q1"}]


def test_the_csv_export_runs_no_formula():
    cells = [cell(0, "c0", "pass", answer='=HYPERLINK("http://evil","x")'), cell(0, "c1", "fail", answer="@SUM(1)")]
    rows = list(csv.DictReader(io.StringIO(results.run_csv(spec(), cells))))
    assert [r["answer"] for r in rows] == ['\'=HYPERLINK("http://evil","x")', "'@SUM(1)"]
    assert rows[0]["checks"] == "PASS contains: x ()"


@pytest.mark.parametrize("where", ["answer", "question", "variant"])
def test_the_html_report_is_standalone_and_inert(where):
    payload = "<script>alert(1)</script><img src=x onerror=alert(2)>"
    cases = (Case("c0", payload if where == "question" else "Q", Conversation(), (Check("contains", "x"),)),)
    variants = (Variant(payload if where == "variant" else "Full", Strategy("full")),)
    cells = [cell(0, "c0", "pass", answer=payload if where == "answer" else "x")]
    page = results.report_html("run", spec(cases=cases, variants=variants), cells, "2026-01-01", "note")
    assert "<script>alert" not in page and "<img src=x" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert page.count("plotly") > 10 and not re.search(r"<script[^>]+src=[\"']https?:", page)  # plotly inlined


def test_two_variants_with_the_same_forgetting_curve_both_show():
    """Was: Full history drawn exactly under Last 12 turns (the same pass rates), hidden."""
    same = [c for c in CELLS if c.key.variant == 0]
    twin = [cell(1, c.key.case, c.status, tokens=300) for c in same]
    curve = results.forgetting_curve(spec(), [*same, *twin])
    full, twin_trace = results.forgetting_figure(curve).data[:2]
    assert list(full.y) == list(twin_trace.y)  # the same rates...
    assert all(a != b for a, b in zip(full.x, twin_trace.x, strict=True))  # ...drawn side by side
    assert full.line.dash != twin_trace.line.dash and full.marker.symbol != twin_trace.marker.symbol
    assert [d[1] for d in full.customdata] == [5, 10, 15]  # the hover says the true turns ago


def test_variants_at_one_frontier_point_share_one_label():
    """Was: two names printed over each other where two variants had the same tokens and pass rate."""
    same = [c for c in CELLS if c.key.variant == 0]
    twin = [cell(1, c.key.case, c.status, tokens=300) for c in same]
    run = spec()
    figure = results.frontier_figure(run, results.summaries(run, [*same, *twin]))
    texts = [t for trace in figure.data if trace.text is not None for t in trace.text]
    assert "Full · Last 2" in texts and texts.count("") == 1
