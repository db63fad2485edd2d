"""A page load in a real browser (Debian's Chromium, headless, 1280x800): a new browser, a new tab or a
refresh, until the chat's draft box is drawn; and the app server's CPU for it.

`python -m bench.page_load [--loads N]`

The product is the app as `make run` serves it (.streamlit/config.toml: no source watcher); the
baseline is the same app with Streamlit's default source watcher (`--server.fileWatcherType auto`),
which resolves the path of every loaded module for each new session. Both apps are served side by
side, each on its own SQLite store, and the loads are interleaved, each in a new browser context (a
new browser: empty cache, no cookie). The first load of each app (its imports, the embedded model's
start) is left out. Median of N.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from bench.click_to_meter import CHROMIUM, VIEWPORT, serve
from bench.common import APP, median, result, table

LOADS = 9


def cpu_s(pid: int) -> float:
    """The process's user + system CPU so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--loads", type=int, default=LOADS)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        apps = {}
        for name, watcher in (("app (no source watcher)", None), ("Streamlit's default watcher", "auto")):
            env = {"CONTEXT_LAB_DB": str(Path(tmp) / f"{len(apps)}.db")}
            if watcher:
                env["STREAMLIT_SERVER_FILE_WATCHER_TYPE"] = watcher
            apps[name] = serve(APP, env)
        times: dict[str, list[float]] = {name: [] for name in apps}
        cpus: dict[str, list[float]] = {name: [] for name in apps}
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"], headless=True)
                for index in range(args.loads + 1):
                    for name, (process, url) in apps.items():
                        context = browser.new_context(viewport=VIEWPORT)
                        page = context.new_page()
                        page.set_default_timeout(300_000)
                        before, started = cpu_s(process.pid), time.perf_counter()
                        page.goto(url)
                        page.locator("textarea").first.wait_for()
                        took = time.perf_counter() - started
                        time.sleep(0.5)  # what the server still does for this load
                        if index:  # the first: the app's imports and the model's start
                            times[name].append(took)
                            cpus[name].append(cpu_s(process.pid) - before)
                        context.close()
                browser.close()
        finally:
            for process, _ in apps.values():
                process.terminate()
                process.wait(timeout=30)
    rows = [(name, f"{median(times[name]):.2f} s", f"{median(cpus[name]):.2f} s") for name in apps]
    print(table(("Page load, new browser (median)", "until the draft box is drawn", "app server CPU"), rows))
    product, baseline = (median(times[name]) for name in apps)
    result("page load ratio (app / default watcher)", product / baseline)


if __name__ == "__main__":
    main()
