"""A finished attribution drawn: a bar per message of the context (its influence on the answer), the
most influential messages with a sentence each, and how far the numbers can be trusted."""

from __future__ import annotations

import streamlit as st

from lib.analysis.attribution import (
    Attribution,
)
from lib.analysis.attribution.explain import percent
from lib.context.display import inert_markdown
from ui.attribution.common import TOP
from ui.glossary import explain


def draw(result: Attribution) -> None:
    st.markdown("**Influence of each message on this answer**", help=explain("attribution"))
    for index, unit in enumerate(result.units):
        st.progress(
            result.bar(index),
            text=inert_markdown(f"**{unit.label}** · {unit.snippet or '(empty)'} — {result.change(index)}"),
        )
    top = result.top(TOP)
    if top:
        # Ranks in words, positions in words: "#3" read as a rank where it was the message's position.
        lines = [
            f"- **Rank {rank}:** {result.units[i].label} “{result.units[i].snippet}” — {result.sentence(i)}"
            for rank, i in enumerate(top, start=1)
        ]
        st.markdown("**Most influential**\n\n" + inert_markdown("\n".join(lines)))
    else:
        st.markdown("**No message supports this answer**: leaving out any one of them does not make it less likely.")
    notes = [f"{len(result.passes)} passes in {result.seconds:.1f} s"]
    if result.measure == "logprob":
        full = result.full
        notes.append(f"with every message the answer's log-probability is {full.value:.2f}")
        if full.greedy is not None:
            notes.append(
                "temperature 0 gives exactly this answer"
                if full.greedy
                else "temperature 0 would give a different answer (this one was sampled, or near a tie)"
            )
        total = result.reused_tokens + result.evaluated_tokens
        if total:
            notes.append(
                f"{result.reused_tokens:,} of {total:,} tokens came from the prefix cache "
                f"({percent(result.reused_tokens / total)} not evaluated again)"
            )
        notes.append("exact and deterministic: a second run gives the same numbers")
    else:
        notes.append("regenerated at temperature 0; a provider may still vary from call to call")
    st.caption(" · ".join(notes) + ".")
    if result.fit is not None:
        fit = result.fit
        quality = f"Fit: a sparse linear model (Lasso, α = {fit.alpha:.3g}) over {fit.samples} scored contexts; " + (
            f"on ablations it was not fitted on it explains {percent(max(fit.heldout_r2, 0.0))} of the variation "
            f"(held-out R² = {fit.heldout_r2:.2f})."
        )
        (st.warning if fit.heldout_r2 < 0.5 else st.caption)(
            quality + (" Read the bars as rough." if fit.heldout_r2 < 0.5 else "")
        )
