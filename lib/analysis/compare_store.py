"""Compare's kept results and set-up, per session: `Comparison` and `CompareSetup` as the plain data the
store keeps (lib/store/storage.py), and read back from it. One that cannot be read back (another
format, a wrong field) is skipped, or None: the others, and the page, must not be lost to it.
I/O through the store's connection.
"""

from __future__ import annotations

from sqlalchemy import Connection

from lib.analysis.compare import CompareSetup, Comparison
from lib.store import storage


def save_comparison(conn: Connection, session_id: str, comparison: Comparison, secrets: tuple[str, ...] = ()) -> int:
    """Keep a finished comparison with its session; returns its row id."""
    return storage.save_comparison_body(conn, session_id, comparison.to_dict(), secrets)


def list_comparisons(conn: Connection, session_id: str) -> list[Comparison]:
    """The session's comparisons, oldest first, each that can be read back."""
    kept = []
    for body in storage.comparison_bodies(conn, session_id):
        try:
            kept.append(Comparison.from_dict(body))
        except ValueError:  # InvalidComparison, or a value a field of it refuses
            continue
    return kept


def save_compare_setup(conn: Connection, session_id: str, setup: CompareSetup, secrets: tuple[str, ...] = ()) -> None:
    storage.save_compare_setup_body(conn, session_id, setup.to_dict(), secrets)


def load_compare_setup(conn: Connection, session_id: str) -> CompareSetup | None:
    """The session's Compare set-up; None if it has none (or one this version cannot read)."""
    body = storage.compare_setup_body(conn, session_id)
    if body is None:
        return None
    try:
        return CompareSetup.from_dict(body)
    except ValueError:  # InvalidComparison, or a value a field of it refuses
        return None
