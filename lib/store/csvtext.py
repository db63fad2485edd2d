"""The one way the app writes a CSV file (the run log, the cost timeline, a test set, a run's results with
the model's answers), and the one rule that keeps every cell of it inert in a spreadsheet.

A spreadsheet opening a CSV runs a cell that starts like a formula: `=HYPERLINK(…)` sends data away on a
click, `=cmd|…` asks to run a program (OWASP, "CSV Injection"). Spreadsheets skip what comes before the
`=` (spaces, a tab, a line break) and some read the full-width or small forms (`＝`, `﹦`, `＋`, `－`, `＠`)
as the ASCII ones. A session title, a model id, a server's error message, a question, a model's answer
can start so: such a text is written with a leading `'`, which makes the cell text. Numbers stay
numbers (a negative number is no formula).

A test set's CSV is read back (lib/analysis/experiments/formats.py): `unquoted` takes off exactly the
quote `quoted` put on, so an export imports unchanged. A text that itself starts with quotes before a
formula start (`'=x`) gets one more on the way out (`''=x`) and loses it on the way in. The one
asymmetry: a hand-written CSV whose cell is `'=x` is read as `=x` (the quote is taken for the guard it
looks like).
"""

from __future__ import annotations

import csv
import io
import math
import numbers
import unicodedata
from collections.abc import Iterable, Mapping, Sequence

# What a formula starts with once the cell's leading blanks are skipped (after NFKC, which maps the
# full-width and small forms to these); a minus sign too, which some spreadsheets take for `-`.
_FORMULA_CHARACTERS = frozenset("=+-@\u2212")
# A cell that starts with one of these is quoted whatever follows (OWASP's list: a reader may drop them).
_BREAKS = ("\t", "\r", "\n")
QUOTE = "'"


def _skipped(character: str) -> bool:
    """Characters a spreadsheet may pass over before it looks for `=`: blanks, and the invisible
    format and control characters (a zero-width space, a byte-order mark)."""
    return character.isspace() or unicodedata.category(character) in ("Cf", "Cc")


def starts_formula(text: str) -> bool:
    """Whether a spreadsheet could read `text` as a formula."""
    if text.startswith(_BREAKS):
        return True
    first = next((ch for ch in text if not _skipped(ch)), "")
    return bool(first) and (
        first in _FORMULA_CHARACTERS or unicodedata.normalize("NFKC", first)[:1] in _FORMULA_CHARACTERS
    )


def _guarded(text: str) -> bool:
    """Whether `text` looks as `quoted` leaves a formula: quotes, then a formula start."""
    return text.startswith(QUOTE) and starts_formula(text.lstrip(QUOTE))


def quoted(text: str) -> str:
    """`text` as a cell a spreadsheet shows and never runs (see the module's docstring)."""
    return QUOTE + text if starts_formula(text) or _guarded(text) else text


def unquoted(text: str) -> str:
    """A cell as it was before `quoted`: `unquoted(quoted(t)) == t` for every text."""
    return text[1:] if _guarded(text) else text


def cell(value: object) -> str:
    """One value as the text of a cell: empty for None and NaN, a finite number as it is, anything else
    as text, quoted where a spreadsheet would run it."""
    if value is None:
        return ""
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        if isinstance(value, numbers.Integral):
            return str(int(value))
        number = float(value)
        if math.isnan(number):
            return ""
        if math.isfinite(number):
            return repr(number)
    return quoted(str(value))


def csv_text(rows: Iterable[Mapping[str, object]], columns: Sequence[str]) -> str:
    """The rows as a CSV file's text (a header of `columns`, then one line per row, a missing value
    empty), every cell through `cell`: every CSV the app offers is written here."""
    out = io.StringIO(newline="")
    # RFC 4180's CRLF: the writer quotes a field holding any character of its line terminator, so a
    # lone CR in a cell (which a "\n" terminator would leave bare) cannot split the row in a reader.
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([cell(name) for name in columns])
    for row in rows:
        writer.writerow([cell(row.get(name)) for name in columns])
    return out.getvalue()
