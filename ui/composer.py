"""The chat's composer as a user meets it: the meter counts the draft as it is typed, and the page
keeps the meter in view and every message's controls on one line.

Streamlit applies a text area's value when it loses focus or on Ctrl+Enter; until then the server
has never seen the draft, so the meter could not count it and a refresh lost it. `draft_sync`
mounts a small script (a Components v2 component: inline JavaScript, no build step) that applies
the draft a moment after typing pauses, through the text area's own Ctrl+Enter path: the value
reaches the server as if the user had pressed it, nothing is written back into the box while the
user types, and the session autosave then keeps the draft. The Send button's own shortcut (Ctrl
or Cmd+Enter, `st.button(shortcut=...)`) sends; a keypress made by this script never reaches it.
"""

from __future__ import annotations

import streamlit as st

DRAFT_DEBOUNCE_MS = 350  # typing pauses this long: the draft is applied, the meter counts it

_JS = """
export default function (component) {
  const { data } = component;
  const selector = data.selector;
  const delay = data.delay_ms;
  let timer = null;
  let ours = null;  // the keypress this script sends: it must not reach the Send shortcut

  const apply = (area) => {
    timer = null;
    if (!area.isConnected) return;
    const init = { key: "Enter", code: "Enter", ctrlKey: true, bubbles: true, cancelable: true };
    ours = new KeyboardEvent("keydown", init);
    area.dispatchEvent(ours);  // the text area's own handler (React, on the app root) applies its value
    ours = null;
  };
  const onInput = (event) => {
    const area = event.target;
    if (!(area instanceof HTMLTextAreaElement) || !area.matches(selector)) return;
    clearTimeout(timer);
    timer = setTimeout(() => apply(area), delay);
  };
  const onKeyDown = (event) => {
    if (event === ours) return;
    // A real Ctrl/Cmd+Enter in the box sends the draft as it is: nothing is left to apply.
    if (sends(event) && event.target.matches?.(selector)) {
      clearTimeout(timer);
      timer = null;
    }
  };
  const onBlur = (event) => {
    // Leaving the box applies the draft (Streamlit's own rule): a later apply from here could bring
    // a sent draft back into the box, so the pending one is dropped.
    if (event.target.matches?.(selector)) { clearTimeout(timer); timer = null; }
  };
  const sends = (event) => event.key === "Enter" && (event.ctrlKey || event.metaKey);
  const editable = (el) => el && (el.tagName === "TEXTAREA" || el.tagName === "INPUT" || el.isContentEditable);
  // Runs between the app's root (where React's handlers apply a box's value) and the document (where
  // the Send button's shortcut listens): Ctrl/Cmd+Enter sends from the draft box only; in the system
  // prompt or a message editor it keeps its usual meaning, apply what was typed there.
  const shield = (event) => {
    if (event === ours || (sends(event) && editable(event.target) && !event.target.matches(selector))) {
      event.stopPropagation();
    }
  };
  const flush = () => {
    if (timer === null) return;
    clearTimeout(timer);
    const area = document.querySelector(selector);
    if (area) apply(area);
  };
  const onHidden = () => { if (document.visibilityState === "hidden") flush(); };

  document.addEventListener("input", onInput, true);
  document.addEventListener("keydown", onKeyDown, true);
  document.addEventListener("focusout", onBlur, true);
  document.body.addEventListener("keydown", shield);
  window.addEventListener("pagehide", flush);
  document.addEventListener("visibilitychange", onHidden);
  return () => {
    clearTimeout(timer);
    document.removeEventListener("input", onInput, true);
    document.removeEventListener("keydown", onKeyDown, true);
    document.removeEventListener("focusout", onBlur, true);
    document.body.removeEventListener("keydown", shield);
    window.removeEventListener("pagehide", flush);
    document.removeEventListener("visibilitychange", onHidden);
  };
}
"""

_draft_sync = st.components.v2.component("context_lab_draft_sync", js=_JS, isolate_styles=False)


def draft_sync(draft_key: str) -> None:
    """Apply the text area keyed `draft_key` shortly after each pause in typing."""
    _draft_sync(
        key="draft_sync",
        data={"selector": f".st-key-{draft_key} textarea", "delay_ms": DRAFT_DEBOUNCE_MS},
        width="content",
    )


# Scoped by the keys the chat page gives its containers (Streamlit adds the class st-key-<key>).
_CSS = """
<style>
/* The chat and the meter side by side, 3:2, each as tall as the row (Streamlit wraps each keyed
   container in a layout box: these are the row's children); on a narrow screen the meter goes under. */
.st-key-chat_layout { flex-wrap: wrap; }
.st-key-chat_layout > * { align-self: stretch !important; }
.st-key-chat_layout > :first-child { flex: 3 1 0 !important; min-width: min(100%, 28rem); }
.st-key-chat_layout > :last-child { flex: 2 1 0 !important; min-width: min(100%, 18rem); }
/* The meter stays in view beside the history and the composer, however long the chat. A sticky box
   cannot leave its row, which ends with the composer: at the end of the page the box fits between
   the header and the composer's bottom only if it is no taller than the viewport less the header and
   the page's bottom padding (made small here), so it scrolls inside beyond that. */
.st-key-next_call {
  position: sticky;
  top: 3.75rem;
  max-height: calc(100vh - 7rem);
  overflow-y: auto;
  overscroll-behavior: contain;
}
[data-testid="stMainBlockContainer"] { padding-bottom: 2rem; }
/* Rows inside the history (a message's controls; Undo; Regenerate): one line under every strategy,
   the second item (a message's caption) wrapping inside its own box; a message's icon buttons (its
   third item on) keep their names for screen readers and tests, not on screen. Class selectors only:
   the browser restyles as each of a rerun's hundreds of elements arrives, and substring or :has()
   selectors made that cost seconds per click (bench/RESULTS.md). */
.st-key-history .stHorizontalBlock { flex-wrap: nowrap !important; }
.st-key-history .stHorizontalBlock > * { flex-shrink: 0; }
.st-key-history .stHorizontalBlock > .stElementContainer:nth-child(2) { flex: 1 1 0 !important; min-width: 0; }
.st-key-history .stHorizontalBlock > :nth-child(n + 3) button .stMarkdownEllipsis {
  position: absolute !important;
  width: 1px;
  height: 1px;
  overflow: hidden;
  clip-path: inset(50%);
  white-space: nowrap;
}
/* A message's Pin, Edit and Delete show when the pointer is over the message or a key reaches them (Tab):
   a newcomer faces each message's In-context toggle, not four controls a message. A pinned pin (primary)
   and an open editor's Edit (primary) stay shown: they say something about the message. */
.st-key-history .stHorizontalBlock > :nth-child(n + 3) [data-testid="stBaseButton-secondary"] { opacity: 0; }
.st-key-history .stHorizontalBlock:hover > :nth-child(n + 3) [data-testid="stBaseButton-secondary"],
.st-key-history .stHorizontalBlock:focus-within > :nth-child(n + 3) [data-testid="stBaseButton-secondary"] {
  opacity: 1;
}
/* The composer: Send on the left, adding a message by hand on the right. */
.st-key-add_by_hand_open { margin-left: auto; }
/* The draft box's own hint says Ctrl+Enter *applies*; here it sends (the Send button's shortcut). */
.st-key-draft [data-testid="InputInstructions"] { display: none; }
.st-key-draft_sync { display: none; }
</style>
"""


def page_style() -> None:
    st.html(_CSS)
