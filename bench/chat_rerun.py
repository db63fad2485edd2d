"""Chat page rerun: the real app's chat page against a bare Streamlit chatbot, same history.

`python -m bench.chat_rerun [SIZES…]` — median of the timed reruns at each history size, the pages
interleaved so that load from elsewhere on the machine hits them alike. The chat page is measured
as it opens (the newest page of messages drawn, lib/context/paging.py) and, up to `--all-up-to` messages,
with every message drawn ("All" per page), which is what it cost before paging.
"""

from __future__ import annotations

import argparse

from bench.common import (
    APP,
    BARE_CHAT,
    app_test,
    element_count,
    median,
    patch_apptest_polling,
    result,
    seconds,
    synthetic_history,
    table,
)
from lib.context.paging import DEFAULT_PAGE_SIZE

SIZES = (100, 1_000, 5_000)
RERUNS = 5
TARGET_SIZE = 1_000
TARGET_RATIO = 1.3
ALL_UP_TO = 1_000  # every message drawn takes ~20 s a rerun at 5,000


def measure(size: int, reruns: int, all_on_one_page: bool) -> dict[str, float]:
    history = synthetic_history(size)
    pages = {"bare": app_test(BARE_CHAT, history), "app": app_test(APP, history)}
    if all_on_one_page:
        pages["app_all"] = app_test(APP, history, page_size=0)
    times: dict[str, list[float]] = {name: [] for name in pages}
    for _ in range(reruns):
        for name, at in pages.items():
            times[name].append(seconds(at.run))
    for name, at in pages.items():
        if at.exception:
            raise RuntimeError(f"{name} failed at {size} messages: {at.exception}")
    return {
        **{f"{name}_s": median(values) for name, values in times.items()},
        **{f"{name}_elements": element_count(at) for name, at in pages.items()},
    }


def main(argv: list[str] | None = None) -> float:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("sizes", nargs="*", type=int, default=list(SIZES))
    parser.add_argument("--reruns", type=int, default=RERUNS)
    parser.add_argument("--all-up-to", type=int, default=ALL_UP_TO, help="measure 'All per page' up to this size")
    args = parser.parse_args(argv)
    patch_apptest_polling()
    rows, ratios = [], {}
    for size in args.sizes:
        m = measure(size, args.reruns, size <= args.all_up_to)
        ratios[size] = m["app_s"] / m["bare_s"]
        rows.append((f"{size:,}", f"{m['bare_s']:.3f}", f"{m['app_s']:.3f}", f"{ratios[size]:.2f}x", *_all(m)))
        print(f"  {size:,} messages measured", flush=True)
    print(f"\nChat page rerun, AppTest, median of {args.reruns} reruns (target <= {TARGET_RATIO}x at {TARGET_SIZE:,})")
    headers = [
        "messages",
        "bare chatbot (s)",
        f"chat, {DEFAULT_PAGE_SIZE} per page (s)",
        "ratio",
        "chat, all drawn (s)",
        "ratio",
        "elements: bare / chat / all drawn",
    ]
    print(table(headers, rows))
    headline = TARGET_SIZE if TARGET_SIZE in ratios else max(ratios)
    result(f"chat_rerun_ratio_at_{headline}", ratios[headline])
    return ratios[headline]


def _all(m: dict[str, float]) -> tuple[str, str, str]:
    """The 'all drawn' columns: its time and ratio (when measured) and the element counts."""
    elements = f"{m['bare_elements']:,} / {m['app_elements']:,}"
    if "app_all_s" not in m:
        return "—", "—", elements + " / —"
    return f"{m['app_all_s']:.3f}", f"{m['app_all_s'] / m['bare_s']:.2f}x", elements + f" / {m['app_all_elements']:,}"


if __name__ == "__main__":
    main()
