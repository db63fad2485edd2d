"""Charts of a comparison (plotly) and its shareable reports: standalone HTML and Markdown.

Every chart gives each variant its own colour, the same in every chart and in the report's tables
(`variant_colours`), set explicitly: Streamlit installs a plotly template whose colours are
placeholders it swaps in the browser, so a figure left to the default template came out black
everywhere else (the HTML report). Variant names are long, so the charts name variants by colour
and legend, not by axis labels that would be clipped.
"""

from __future__ import annotations

import html
from collections.abc import Iterable

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from lib.analysis.compare import CORRECT, Comparison, answer_stats, plan_rows, word_diff

# Okabe–Ito: told apart by colour-blind readers and in greyscale print.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00")
QUEUED_COLOUR = "#B8B8B8"
TEMPLATE = "plotly_white"  # named, never the default: see the module's docstring
CHART_FONT = {"family": "system-ui, -apple-system, Segoe UI, Roboto, sans-serif", "size": 12, "color": "#222"}

_MEASURES = {
    "prompt tokens": "Prompt tokens",
    "payload bytes": "Payload (bytes)",
    "context window %": "Window share (%)",
    "input cost $": "Input cost ($)",
}


def variant_colours(names: Iterable[str]) -> dict[str, str]:
    """One colour per variant, by position (at most six variants: one colour each)."""
    return {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(dict.fromkeys(names))}


def _style(figure: go.Figure, title: str, height: int, legend: bool) -> go.Figure:
    figure.update_layout(
        template=TEMPLATE,
        title={"text": title, "x": 0, "xanchor": "left", "y": 0.98, "yanchor": "top", "font": {"size": 15}},
        font=CHART_FONT,
        height=height,
        margin={"t": 56, "b": 96 if legend else 24, "l": 56, "r": 16},
        showlegend=legend,
        # At the foot of the figure, under the axes: never over a point (a baseline's similarity of 1
        # sat under it) nor over a panel's title.
        legend={
            "orientation": "h",
            "x": 0,
            "xanchor": "left",
            "yref": "container",
            "y": 0.01,
            "yanchor": "bottom",
            "title": None,
        },
        bargap=0.25,
    )
    return figure


def _money(value: float) -> str:
    if value == 0:
        return "$0"
    return f"${value:.6f}" if value < 0.01 else f"${value:,.4f}"


def _label(measure: str, value: float) -> str:
    if measure == "input cost $":
        return _money(value)
    return f"{value:,.2f}" if measure == "context window %" else f"{value:,.0f}"


def plan_figure(rows: list[dict], legend: bool = True, priced_note: str = "") -> go.Figure:
    """Before running: what each variant would send, one panel per measure, a bar per variant."""
    # A free or unpriced model would get an empty cost panel: only measures with a value are drawn.
    measures = [m for m in _MEASURES if any(row[m] for row in rows)] or ["prompt tokens"]
    colours = variant_colours(row["variant"] for row in rows)
    figure = make_subplots(rows=1, cols=len(measures), subplot_titles=[_MEASURES[m] for m in measures])
    for column, measure in enumerate(measures, start=1):
        for row in rows:
            value = row[measure] or 0
            figure.add_bar(
                x=[row["variant"]],
                y=[value],
                name=row["variant"],
                marker_color=colours[row["variant"]],
                legendgroup=row["variant"],
                showlegend=column == 1,
                text=[_label(measure, value)],
                textposition="outside",
                cliponaxis=False,
                constraintext="both",
                textfont_size=10,
                hovertemplate="%{x}: %{text}<extra></extra>",
                row=1,
                col=column,
            )
        if measure == "input cost $":  # dollars, not SI prefixes ("30µ")
            # Its ticks ("$0.000015") are the widest: on the right of the last panel they have the margin
            # to themselves; on the left they ran into the panel before.
            figure.update_yaxes(tickformat="$.2~r", side="right", row=1, col=column)
    figure.update_xaxes(showticklabels=False)
    figure.update_yaxes(rangemode="tozero", automargin=True)
    figure.update_annotations(font_size=13)
    # A value that does not fit over its bar (a cost of a few millionths of a dollar, four bars to a narrow
    # panel) is hidden rather than drawn over its neighbours: the hover and the table above give it.
    figure.update_layout(uniformtext={"minsize": 8, "mode": "hide"})
    title = "What each variant sends" + (f" ({priced_note})" if priced_note else "")
    return _style(figure, title, 380 if legend else 300, legend)


def _per_variant(
    frame: list[dict], measure: str, title: str, names: list[str], legend: bool, y_range: list[float] | None = None
) -> go.Figure:
    """One value per run, grouped by variant: dots, and a box around them once there are enough runs
    for one to mean something (a box of a single run was a stray dash beside its dot)."""
    colours = variant_colours(names)
    figure = go.Figure()
    for name in names:
        values = [row[measure] for row in frame if row["variant"] == name and row[measure] is not None]
        if not values:
            continue
        common = {"name": name, "marker_color": colours[name], "legendgroup": name}
        if len(values) >= 3:
            figure.add_box(
                x=[name] * len(values), y=values, boxpoints="all", pointpos=0, jitter=0.3, line_width=1.5, **common
            )
        else:
            figure.add_scatter(x=[name] * len(values), y=values, mode="markers", marker_size=12, **common)
    figure.update_xaxes(showticklabels=False, title=None)
    figure.update_yaxes(title=None, automargin=True, **({"range": y_range} if y_range else {"rangemode": "tozero"}))
    return _style(figure, title, 380 if legend else 300, legend)


def _tradeoff(frame: list[dict], names: list[str], legend: bool) -> go.Figure:
    colours = variant_colours(names)
    figure = go.Figure()
    for name in names:
        rows = [row for row in frame if row["variant"] == name and row["similarity to baseline"] is not None]
        if rows:
            figure.add_scatter(
                x=[row["prompt tokens (predicted)"] for row in rows],
                y=[row["similarity to baseline"] for row in rows],
                mode="markers",
                marker={"size": 12, "color": colours[name]},
                name=name,
                legendgroup=name,
            )
    figure.update_xaxes(title="prompt tokens sent", rangemode="tozero")
    figure.update_yaxes(title="similarity", range=[-0.05, 1.08])
    return _style(figure, "Prompt tokens vs similarity", 380 if legend else 300, legend)


def _timing(frame: list[dict], names: list[str], legend: bool) -> go.Figure:
    """Each variant's first run: the wait before it was sent (grey), then the server's time to the
    first token and to the end, in the variant's colour."""
    colours = variant_colours(names)
    first = {row["variant"]: row for row in frame if row["repeat"] == 1}
    shown = [name for name in names if name in first and first[name]["latency s"] is not None]
    figure = go.Figure()
    queued = [first[name]["queued s"] or 0.0 for name in shown]
    if any(queued):
        figure.add_bar(
            x=shown,
            y=queued,
            name="queued before sending",
            marker_color=QUEUED_COLOUR,
            hovertemplate="%{x}: queued %{y:.2f} s<extra></extra>",
        )
    for name in shown:
        row = first[name]
        ttft = row["first token s"] or 0.0
        figure.add_bar(
            x=[name, name],
            y=[ttft, row["latency s"] - ttft],
            name=name,
            legendgroup=name,
            marker={"color": colours[name], "opacity": 1, "pattern": {"shape": ["/", ""]}},
            customdata=["to the first token", "the rest of the answer"],
            hovertemplate="%{x}: %{customdata} %{y:.2f} s<extra></extra>",
        )
    figure.update_layout(barmode="stack")
    figure.update_xaxes(showticklabels=False)
    figure.update_yaxes(title="seconds", rangemode="tozero")
    return _style(figure, "Time per variant (s)", 380 if legend else 300, legend)


TIMING_NOTE = (
    "Time per variant: hatched, from sending to the first token; solid, the rest of the answer; grey, the wait "
    "before it was sent (its turn on a server that answers one request at a time)."
)


def result_figures(stats: list[dict], names: list[str] | None = None, legend: bool = True) -> list[go.Figure]:
    """After running: answer length and similarity per variant, tokens sent vs similarity, the timings."""
    frame = [row for row in stats if not row["error"]]
    if not frame:
        return []
    names = names or list(dict.fromkeys(row["variant"] for row in stats))
    return [
        _per_variant(frame, "answer words", "Answer length (words)", names, legend),
        _per_variant(frame, "similarity to baseline", "Similarity to the baseline", names, legend, [-0.05, 1.08]),
        _tradeoff(frame, names, legend),
        _timing(frame, names, legend),
    ]


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


# --- the HTML report ------------------------------------------------------------------------------

CHART_WIDTH = 900  # px: the report's column at 1280 px; printed, zoomed to the A4 page's 180 mm
_STYLE = f"""
*{{box-sizing:border-box}}
body{{font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1f2328;max-width:{CHART_WIDTH + 40}px;
margin:2rem auto;padding:0 20px}}
h1{{font-size:1.7rem;margin:.2rem 0 .4rem}}h2{{font-size:1.25rem;margin:2rem 0 .6rem;border-bottom:1px solid #ddd;
padding-bottom:.2rem}}h3{{font-size:1.05rem;margin:0 0 .2rem}}
.kicker{{text-transform:uppercase;letter-spacing:.06em;font-size:.75rem;color:#666;margin:0}}
.meta,.note{{color:#555;font-size:.88rem;margin:.2rem 0}}
table{{border-collapse:collapse;width:100%;font-size:.82rem;margin:.4rem 0}}
th,td{{border-bottom:1px solid #e3e3e3;padding:.3rem .4rem;text-align:right;vertical-align:top}}
td{{white-space:nowrap}}td.text{{white-space:normal}}
th{{background:#f6f8fa;font-weight:600}}th:first-child,td:first-child,td.text,th.text{{text-align:left}}
td:first-child{{min-width:11em}}
.swatch{{display:inline-block;width:.8em;height:.8em;border-radius:2px;margin-right:.35em;vertical-align:-.05em}}
.card{{border:1px solid #ddd;border-left-width:6px;border-radius:6px;padding:.7rem .9rem;margin:0 0 1rem}}
.sends{{color:#555;font-size:.85rem;margin:0 0 .2rem}}
.figures{{color:#555;font-size:.8rem;margin:0 0 .5rem}}
.answer{{white-space:pre-wrap;overflow-wrap:anywhere;font-size:.95rem}}
.run{{border-top:1px dashed #ddd;margin-top:.5rem;padding-top:.4rem}}
.error{{color:#b42318}}.error-cell{{min-width:12em;overflow-wrap:anywhere}}
.chart{{width:{CHART_WIDTH}px;margin:0 0 1rem}}
ins{{background:#d4f8d4;text-decoration:none}}del{{background:#fbd3d3}}
@page{{size:A4;margin:14mm}}
@media print{{
body{{max-width:none;margin:0;padding:0;font-size:10.5pt}}
.chart{{zoom:.75}}
.card,.chart,tr{{break-inside:avoid}}h2,h3{{break-after:avoid}}
table{{font-size:7.5pt}}th,td{{padding:.15rem .25rem}}td:first-child,.error-cell{{min-width:7em}}
}}
"""


def _cell(value, digits: int = 2) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    if isinstance(value, int):
        return f"{value:,}"
    return html.escape(str(value))


def _swatch(colour: str) -> str:
    return f'<span class="swatch" style="background:{colour}"></span>'


def _glance(comparison: Comparison, stats: list[dict], plans: list[dict], colours: dict, cost: str) -> str:
    head = [
        "Variant",
        "Sends",
        "Prompt tokens",
        "Payload",
        cost,
        "Queued",
        "First token",
        "Latency",
        "Words",
        "Similarity",
    ] + (["Correct?"] if comparison.expected.strip() else [])
    rows = []
    for result, plan in zip(comparison.results, plans, strict=True):
        name = result.variant.name
        first = next((row for row in stats if row["variant"] == name), {})
        cells = [
            f'<td class="text">{_swatch(colours[name])}{html.escape(name)}</td>',
            f'<td class="text">{html.escape(result.sends)}</td>',
            f"<td>{plan['prompt tokens']:,}</td>",
            f"<td>{plan['payload bytes']:,} B</td>",
            f"<td>{_money(first['cost $']) if first.get('cost $') is not None else '—'}</td>",
            f"<td>{_seconds(first.get('queued s'))}</td>",
            f"<td>{_seconds(first.get('first token s'))}</td>",
            f"<td>{_seconds(first.get('latency s'))}</td>",
            f"<td>{_cell(first.get('answer words'))}</td>",
            f"<td>{_cell(first.get('similarity to baseline'))}</td>",
        ]
        if comparison.expected.strip():
            cells.append(f"<td>{html.escape(str(first.get(CORRECT, '—')))}</td>")
        rows.append(f"<tr>{''.join(cells)}</tr>")
    header = "".join(f'<th class="{"text" if i < 2 else ""}">{html.escape(h)}</th>' for i, h in enumerate(head))
    return f"<table><thead><tr>{header}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _seconds(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f} s"


def _answers(comparison: Comparison, colours: dict) -> str:
    cards = []
    for index, result in enumerate(comparison.results):
        name = result.variant.name
        tag = " · baseline" if index == comparison.baseline else ""
        runs = []
        for repeat, outcome in enumerate(result.outcomes):
            seed = result.seeds[repeat] if repeat < len(result.seeds) else None
            label = f"Run {repeat + 1}" + (f" (seed {seed})" if seed is not None else "")
            figures = (
                f"{result.plan.prompt_tokens:,} prompt tokens · {outcome.usage.completion_tokens or 0:,} completion · "
                f"queued {_seconds(result.queued_s(repeat))} · first token {_seconds(outcome.ttft_s)} · "
                f"latency {_seconds(outcome.latency_s)}"
            )
            error = f'<p class="error"><b>Error:</b> {html.escape(outcome.error)}</p>' if outcome.error else ""
            text = html.escape(outcome.text) if outcome.text else "<i>(no answer)</i>"
            heading = f"<b>{label}</b> · " if len(result.outcomes) > 1 else ""
            runs.append(
                f'<div class="{"run" if repeat else ""}"><p class="figures">{heading}{figures}</p>{error}'
                f'<div class="answer">{text}</div></div>'
            )
        cards.append(
            f'<article class="card" style="border-left-color:{colours[name]}"><h3>{html.escape(name)}{tag}</h3>'
            f'<p class="sends">Sends {html.escape(result.sends)}.</p>{"".join(runs)}</article>'
        )
    return "".join(cards)


def _diffs(comparison: Comparison, colours: dict) -> str:
    baseline = comparison.results[comparison.baseline]
    parts = []
    for result in comparison.results:
        if result is baseline:
            continue
        name = result.variant.name
        parts.append(
            f'<article class="card" style="border-left-color:{colours[name]}"><h3>{html.escape(name)}</h3>'
            f'<div class="answer">{diff_html(baseline.answer, result.answer)}</div></article>'
        )
    return "".join(parts)


_RUN_COLUMNS = {
    "variant": "Variant",
    "repeat": "Run",
    "seed": "Seed",
    "prompt tokens (predicted)": "Prompt (pred.)",
    "prompt tokens (reported)": "Prompt (rep.)",
    "completion tokens": "Completion",
    "queued s": "Queued s",
    "first token s": "1st token s",
    "latency s": "Latency s",
    "answer words": "Words",
    "similarity to baseline": "Similarity",
    "cost $": "Cost $",
    "error": "Error",
}


def _runs_table(stats: list[dict], colours: dict) -> str:
    # A column nothing fills (no seeds: one run each; no errors) is left out: the table fits the page.
    columns = {
        key: label
        for key, label in _RUN_COLUMNS.items()
        if key not in ("seed", "error") or any(row[key] not in (None, "") for row in stats)
    }
    text_columns = ("variant", "error")
    header = "".join(
        f'<th class="{"text" if key in text_columns else ""}">{label}</th>' for key, label in columns.items()
    )
    rows = []
    for row in stats:
        cells = []
        for key in columns:
            value = row[key]
            if key == "variant":
                cells.append(f'<td class="text">{_swatch(colours[value])}{html.escape(value)}</td>')
            elif key == "error":
                cells.append(f'<td class="text error-cell">{html.escape(value)}</td>')
            elif key == "cost $":
                cells.append(f"<td>{'—' if value is None else _money(value)}</td>")
            else:
                cells.append(f"<td>{_cell(value)}</td>")
        rows.append(f"<tr>{''.join(cells)}</tr>")
    return f"<table><thead><tr>{header}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def report_html(comparison: Comparison, price_as: str = "") -> str:
    """A standalone page to send on: plotly.js inlined once (it works offline), every answer in
    full, the charts coloured by variant. Readable at 1280 px; prints to A4."""
    stats = answer_stats(comparison.results, comparison.baseline, price_as, comparison.expected)
    variants = [r.variant for r in comparison.results]
    plans = plan_rows(
        variants, [r.plan for r in comparison.results], price_as, [r.pinned_sent for r in comparison.results]
    )
    names = [v.name for v in variants]
    colours = variant_colours(names)
    priced = f"priced as {price_as}" if price_as else ""
    figures = [plan_figure(plans, priced_note=priced), *result_figures(stats, names)]
    config = {"displayModeBar": False, "responsive": False}
    charts = [
        '<div class="chart">'
        + f.update_layout(width=CHART_WIDTH).to_html(full_html=False, include_plotlyjs=i == 0, config=config)
        + "</div>"
        for i, f in enumerate(figures)
    ]
    baseline = comparison.results[comparison.baseline]
    cost = f"Cost ({priced})" if priced else "Cost"
    meta = " · ".join(
        part
        for part in (
            comparison.created,
            comparison.model_note,
            f"{len(comparison.results)} variants",
            "sent one at a time (the server answers one request at a time)" if comparison.one_at_a_time else "",
            priced and f"costs {priced} (its prices, this run's tokens)",
        )
        if part
    )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>Context Lab comparison: {html.escape(comparison.question[:80])}</title>"
        f"<style>{_STYLE}</style></head><body>"
        '<header><p class="kicker">Context Lab · comparison report</p>'
        f"<h1>“{html.escape(comparison.question)}”</h1><p class='meta'>{html.escape(meta)}</p>"
        "<p class='note'>The same question, sent with different contexts: which history, which system prompt. "
        "Latency and first token count from the moment a variant was sent; “queued” is the wait before.</p>"
        "</header>"
        + _expected_html(comparison)
        + f"<h2>At a glance</h2>{_glance(comparison, stats, plans, colours, cost)}"
        f"<h2>Answers</h2>{_answers(comparison, colours)}"
        f"<h2>Charts</h2>{''.join(charts)}<p class='note'>{html.escape(TIMING_NOTE)}</p>"
        f"<h2>What changed against the baseline ({html.escape(baseline.variant.name)})</h2>"
        "<p class='note'>Green: words added; red: words dropped. Similarity is the cosine of the answers' word "
        "counts (1 = the same words, 0 = none shared): word choice, not meaning.</p>"
        f"{_diffs(comparison, colours)}"
        f"<h2>Every run</h2>{_runs_table(stats, colours)}"
        "</body></html>"
    )


def _expected_html(comparison: Comparison) -> str:
    """The expected answer, and a warning when the baseline does not give it."""
    if not comparison.expected.strip():
        return ""
    said = f"<p class='meta'>Expected answer: “{html.escape(comparison.expected.strip())}” (an answer is correct when "
    said += "it contains it, ignoring case).</p>"
    warning = comparison.baseline_warning()
    return said + (f'<p class="error"><b>Wrong baseline:</b> {html.escape(warning)}</p>' if warning else "")


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


def report_markdown(comparison: Comparison, price_as: str = "") -> str:
    stats = answer_stats(comparison.results, comparison.baseline, price_as, comparison.expected)
    plans = plan_rows(
        [r.variant for r in comparison.results],
        [r.plan for r in comparison.results],
        price_as,
        [r.pinned_sent for r in comparison.results],
    )
    sections = [
        "# Context Lab comparison",
        f"**Question:** {comparison.question}",
        f"{comparison.created} · {comparison.model_note} · baseline: "
        f"{comparison.results[comparison.baseline].variant.name}"
        + (f" · costs priced as {price_as}" if price_as else "")
        + (f" · expected answer: “{comparison.expected.strip()}”" if comparison.expected.strip() else ""),
        *([f"> **Wrong baseline:** {comparison.baseline_warning()}"] if comparison.baseline_warning() else []),
        "## What each variant sent",
        _markdown_table(plans),
        "## Answers",
    ]
    for result in comparison.results:
        sections.append(f"### {result.variant.name}")
        sections.append(f"Sends {result.sends}.")
        sections += [f"> **Error:** {e}" for e in result.errors]
        sections.append("\n".join("> " + line for line in (result.answer or "(no answer)").splitlines()))
    sections += ["## Runs", _markdown_table(stats)]
    return "\n\n".join(sections) + "\n"
