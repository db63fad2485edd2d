"""Charts of a comparison (plotly) and its shareable reports: standalone HTML and Markdown."""

from __future__ import annotations

import html

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

from lib.compare import Comparison, answer_stats, plan_rows, word_diff

_METRICS = ("prompt tokens", "payload bytes", "context window %", "input cost $")


def plan_figure(rows: list[dict]) -> go.Figure:
    """Before running: what each variant would send, one panel per measure."""
    frame = pd.DataFrame(rows)
    # A free or unpriced model would get an empty cost panel: only measures with a value are drawn.
    measures = [m for m in _METRICS if frame[m].fillna(0).any()] or list(_METRICS[:1])
    long = frame.melt(id_vars="variant", value_vars=measures, var_name="measure").fillna(0)
    figure = px.bar(long, x="variant", y="value", color="variant", facet_col="measure", facet_col_wrap=4)
    figure.update_yaxes(matches=None, showticklabels=True)
    figure.for_each_annotation(lambda a: a.update(text=a.text.split("=")[-1]))
    figure.update_layout(showlegend=False, height=320, margin={"t": 40, "b": 10})
    return figure


def result_figures(stats: list[dict]) -> list[go.Figure]:
    """After running: answer length and similarity spread per variant; tokens sent vs similarity."""
    frame = pd.DataFrame([row for row in stats if not row["error"]])
    if frame.empty:
        return []
    lengths = px.box(frame, x="variant", y="answer words", color="variant", points="all", title="Answer length")
    similar = px.box(
        frame, x="variant", y="similarity to baseline", color="variant", points="all",
        title="Similarity to the baseline answer (word-count cosine)", range_y=[0, 1.05],
    )  # fmt: skip
    tradeoff = px.scatter(
        frame, x="prompt tokens (predicted)", y="similarity to baseline", color="variant",
        hover_data=["repeat", "seed"], title="Tokens sent vs similarity to the baseline", range_y=[0, 1.05],
    )  # fmt: skip
    for figure in (lengths, similar, tradeoff):
        figure.update_layout(showlegend=figure is tradeoff, height=340, margin={"t": 50, "b": 10})
    return [lengths, similar, tradeoff]


# Inline, so the colours survive wherever the fragment is shown (the page, the report).
_INS = ' style="background:#d4f8d4;text-decoration:none"'
_DEL = ' style="background:#fbd3d3"'


def diff_html(baseline: str, other: str) -> str:
    """A word diff as inert HTML: every word escaped, only <ins>/<del> added."""
    parts = []
    for op, text in word_diff(baseline, other):
        escaped = html.escape(text)
        parts.append(
            {"equal": escaped, "insert": f"<ins{_INS}>{escaped}</ins>", "delete": f"<del{_DEL}>{escaped}</del>"}[op]
        )
    return "".join(parts)


_STYLE = """
body{font-family:system-ui,sans-serif;max-width:1100px;margin:2rem auto;padding:0 1rem;color:#222}
table{border-collapse:collapse;font-size:.9rem}td,th{border:1px solid #ccc;padding:.3rem .5rem}
.answer{white-space:pre-wrap;border:1px solid #ddd;border-radius:6px;padding:.6rem;margin:.4rem 0 1rem}
ins{background:#d4f8d4;text-decoration:none}del{background:#fbd3d3}
"""


def report_html(comparison: Comparison) -> str:
    """A standalone page: plotly.js is inlined once, so the report works offline."""
    stats = answer_stats(comparison.results, comparison.baseline)
    plans = plan_rows([r.variant for r in comparison.results], [r.plan for r in comparison.results])
    figures = [plan_figure(plans), *result_figures(stats)]
    charts = [f.to_html(full_html=False, include_plotlyjs=(i == 0)) for i, f in enumerate(figures)]
    baseline = comparison.results[comparison.baseline]
    answers = []
    for result in comparison.results:
        body = html.escape(result.answer) if result is baseline else diff_html(baseline.answer, result.answer)
        errors = "".join(f"<p><b>Error:</b> {html.escape(e)}</p>" for e in result.errors)
        answers.append(f"<h3>{html.escape(result.variant.name)}</h3>{errors}<div class='answer'>{body}</div>")
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>Context Lab comparison</title>"
        f"<style>{_STYLE}</style></head><body><h1>Context Lab comparison</h1>"
        f"<p><b>Question:</b> {html.escape(comparison.question)}</p>"
        f"<p>{html.escape(comparison.created)} · {html.escape(comparison.model_note)} · baseline: "
        f"{html.escape(baseline.variant.name)} (other answers show insertions and deletions against it)</p>"
        f"<h2>What each variant sent</h2>{pd.DataFrame(plans).to_html(index=False, na_rep='—')}"
        f"<h2>Answers</h2>{''.join(answers)}"
        f"<h2>Runs</h2>{pd.DataFrame(stats).to_html(index=False, na_rep='—', float_format='%.3f')}"
        f"<h2>Charts</h2>{''.join(charts)}</body></html>"
    )


def _markdown_table(rows: list[dict]) -> str:
    if not rows:
        return ""
    head = list(rows[0])

    def cell(value) -> str:
        if value is None:
            return "—"
        text = f"{value:.3f}" if isinstance(value, float) else str(value)
        return text.replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(cell(row[h]) for h in head) + " |" for row in rows]
    return "\n".join(lines)


def report_markdown(comparison: Comparison) -> str:
    stats = answer_stats(comparison.results, comparison.baseline)
    plans = plan_rows([r.variant for r in comparison.results], [r.plan for r in comparison.results])
    sections = [
        "# Context Lab comparison",
        f"**Question:** {comparison.question}",
        f"{comparison.created} · {comparison.model_note} · baseline: "
        f"{comparison.results[comparison.baseline].variant.name}",
        "## What each variant sent",
        _markdown_table(plans),
        "## Answers",
    ]
    for result in comparison.results:
        sections.append(f"### {result.variant.name}")
        sections += [f"> **Error:** {e}" for e in result.errors]
        sections.append("\n".join("> " + line for line in (result.answer or "(no answer)").splitlines()))
    sections += ["## Runs", _markdown_table(stats)]
    return "\n\n".join(sections) + "\n"
