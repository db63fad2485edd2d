"""Chat page rerun: the real app's chat page against a bare Streamlit chatbot, same history.

`python -m bench.chat_rerun [SIZES…]` — median of the timed reruns at each history size, the two
pages interleaved so that load from elsewhere on the machine hits both alike.
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

SIZES = (100, 1_000, 5_000)
RERUNS = 5
TARGET_SIZE = 1_000
TARGET_RATIO = 1.3


def measure(size: int, reruns: int) -> dict[str, float]:
    history = synthetic_history(size)
    pages = {"bare": app_test(BARE_CHAT, history), "app": app_test(APP, history)}
    times: dict[str, list[float]] = {name: [] for name in pages}
    for _ in range(reruns):
        for name, at in pages.items():
            times[name].append(seconds(at.run))
    for name, at in pages.items():
        if at.exception:
            raise RuntimeError(f"{name} failed at {size} messages: {at.exception}")
    return {
        "bare_s": median(times["bare"]),
        "app_s": median(times["app"]),
        "bare_elements": element_count(pages["bare"]),
        "app_elements": element_count(pages["app"]),
    }


def main(argv: list[str] | None = None) -> float:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("sizes", nargs="*", type=int, default=list(SIZES))
    parser.add_argument("--reruns", type=int, default=RERUNS)
    args = parser.parse_args(argv)
    patch_apptest_polling()
    rows, ratios = [], {}
    for size in args.sizes:
        m = measure(size, args.reruns)
        ratios[size] = m["app_s"] / m["bare_s"]
        rows.append(
            (f"{size:,}", f"{m['bare_s']:.3f}", f"{m['app_s']:.3f}", f"{ratios[size]:.2f}x",
             f"{m['bare_elements']:,}", f"{m['app_elements']:,}")
        )  # fmt: skip
        print(f"  {size:,} messages measured", flush=True)
    print(f"\nChat page rerun, AppTest, median of {args.reruns} reruns (target <= {TARGET_RATIO}x at {TARGET_SIZE:,})")
    headers = ["messages", "bare chatbot (s)", "Context Lab chat (s)", "ratio", "bare elements", "chat elements"]
    print(table(headers, rows))
    headline = TARGET_SIZE if TARGET_SIZE in ratios else max(ratios)
    result(f"chat_rerun_ratio_at_{headline}", ratios[headline])
    return ratios[headline]


if __name__ == "__main__":
    main()
