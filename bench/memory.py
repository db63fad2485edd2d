"""Memory: peak RSS of the app process holding a 5,000-message session, against the bare chatbot.

`python -m bench.memory [SIZE]` — each page runs in a fresh subprocess (AppTest: the first run,
the history seeded, two reruns), which then reports its own `ru_maxrss`. The embedded model's
server is a separate process: its peak RSS is reported beside, not added in.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
from pathlib import Path

from bench.common import APP, BARE_CHAT, ROOT, app_test, patch_apptest_polling, result, synthetic_history, table

SIZE = 5_000
PAGES = {"bare": BARE_CHAT, "app": APP}


def _peak_rss_mib(pid: int | None = None) -> float | None:
    if pid is None:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    kib = next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:")), None)
    return None if kib is None else kib / 1024


def child(page: str, size: int) -> None:
    """Runs in the subprocess: draw the page, then print what this process peaked at."""
    patch_apptest_polling()
    at = app_test(PAGES[page], synthetic_history(size) if size else None)
    at.run()
    server_mib = None
    if page == "app":
        from ui import resources

        server_mib = _peak_rss_mib(resources.embedded_server().pid)
    print(json.dumps({"rss_mib": _peak_rss_mib(), "server_rss_mib": server_mib}))


def measure(page: str, size: int) -> dict:
    command = [sys.executable, "-m", "bench.memory", "--child", page, str(size)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{page} at {size} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> float:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("size", nargs="?", type=int, default=SIZE)
    parser.add_argument("--child", choices=list(PAGES))
    args = parser.parse_args(argv)
    if args.child:
        child(args.child, args.size)
        return 0.0
    peaks = {(page, size): measure(page, size) for page in PAGES for size in (0, args.size)}
    rows = []
    for page, label in (("bare", "bare chatbot"), ("app", "Context Lab chat")):
        empty, full = peaks[(page, 0)]["rss_mib"], peaks[(page, args.size)]["rss_mib"]
        rows.append((label, f"{empty:.0f}", f"{full:.0f}", f"{full - empty:+.0f}"))
    server = peaks[("app", args.size)]["server_rss_mib"]
    ratio = peaks[("app", args.size)]["rss_mib"] / peaks[("bare", args.size)]["rss_mib"]
    print(f"\nPeak RSS of the page's process (MiB), AppTest, empty session and {args.size:,} messages")
    print(table(["page", "empty", f"{args.size:,} messages", "the history's share"], rows))
    if server is not None:
        print(f"The embedded model's server process (separate, not in the ratio): peak {server:.0f} MiB")
    result(f"memory_ratio_at_{args.size}", ratio)
    return ratio


if __name__ == "__main__":
    main()
