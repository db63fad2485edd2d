"""What a user feels, in a real browser (Debian's Chromium, headless, 1280x800), the app served as
`make run` serves it.

`python -m bench.click_to_meter [--clicks K] [--sends S] [SIZES…]`

1. **Click an include toggle → the meter shows the new count**, at 100 and 1,000 messages (the chat
   opens on its newest 50), against **the same click → rerun done** on a bare chatbot page whose
   messages carry the same toggles and nothing else (`bench/bare_chat_toggles.py`: the run ends with
   a caption counting the included messages). Both pages are served side by side; the clicks are
   interleaved; each is timed inside the page (`performance.now()` at the click, a MutationObserver
   until the number changes), so the harness's own round trips are not counted. Median of K.
2. **Click Send → the first token on screen**, against **the server's own time to first token** for
   the same prompt: the same embedded server, called directly through `lib.backends.providers.stream_chat` (the
   app's client path, with no page around it). Every prompt differs at its start ("Request i…" in the
   system prompt), so neither side reuses a prefix the other left in llama.cpp's cache; the order
   alternates. The app's own measured time to first token (its run log) is shown beside them.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from bench.common import APP, ROOT, median, result, synthetic_history, table
from lib.backends.embedded import free_port
from lib.backends.providers import ProviderConfig, make_client, stream_chat
from lib.context.conversation import Message, SystemPrompt
from lib.context.payload import Sampling, build_body
from lib.core.models import EMBEDDED_MODEL
from lib.core.outcome import CallOutcome
from lib.store import storage
from lib.store.session import Session

BARE_TOGGLES = Path(__file__).resolve().parent / "bare_chat_toggles.py"
SIZES = (100, 1_000)
CLICKS = 9
WARMUP = 2
SENDS = 7
MAX_TOKENS = 16
TARGET_RATIO = 1.5
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
VIEWPORT = {"width": 1280, "height": 800}
TIMEOUT_MS = 300_000
HISTORY_TURNS = 3  # the conversation each Send continues

# --- in-page timing -------------------------------------------------------------------------------

# Arms a timer for the next click: from its pointerdown until `read()` differs from what it was before
# (the promise is left on window, awaited after Playwright's real click).
_ARM_CLICK = """
([readSelector, contains]) => {
  const read = () => {
    const boxes = [...document.querySelectorAll(readSelector)].filter(e => e.innerText.includes(contains));
    return boxes.length ? boxes[0].innerText : null;
  };
  const before = read();
  if (before === null) throw new Error('nothing to read');
  window.__benchClick = new Promise((resolve, reject) => {
    let started = null;
    document.addEventListener('pointerdown', () => { started = performance.now(); }, { capture: true, once: true });
    const observer = new MutationObserver(() => {
      const now = read();
      if (started !== null && now !== null && now !== before) {
        observer.disconnect();
        resolve(performance.now() - started);
      }
    });
    observer.observe(document.body, { subtree: true, childList: true, characterData: true });
    setTimeout(() => { observer.disconnect(); reject(new Error('no change in 120 s')); }, 120000);
  });
}
"""


def timed_click(page, label_selector: str, read_selector: str, contains: str) -> float:
    """A real click (Playwright's mouse) on `label_selector`; milliseconds until the reading changed."""
    page.evaluate(_ARM_CLICK, [read_selector, contains])
    page.locator(label_selector).click()
    return page.evaluate("window.__benchClick")


# Clicks Send, resolves with the milliseconds until the reply's first text is on screen (the reply
# box says "Streaming…" once text has been drawn) or the whole reply is recorded already.
_SEND_UNTIL_FIRST_TOKEN = """
([messagesAfter]) => new Promise((resolve, reject) => {
  const streaming = () => [...document.querySelectorAll('[data-testid="stChatMessage"]')]
    .some(m => m.innerText.includes('Streaming…'));
  const recorded = () =>
    document.querySelectorAll('[data-testid="stChatMessage"] [class*="st-key-include_"]').length >= messagesAfter;
  const send = document.querySelector('.st-key-send button');
  const started = performance.now();
  const observer = new MutationObserver(() => {
    if (streaming() || recorded()) { observer.disconnect(); resolve(performance.now() - started); }
  });
  observer.observe(document.body, { subtree: true, childList: true, characterData: true });
  send.click();
  setTimeout(() => { observer.disconnect(); reject(new Error('no reply in 300 s')); }, 300000);
})
"""

_IDLE = """() => !document.querySelector('[data-testid="stStatusWidget"] button')
            && !document.querySelector('[data-stale="true"]')"""


def _settle(page) -> None:
    """Until the page's run is over (no stop button in the status widget, nothing stale), then a breath."""
    page.wait_for_function(_IDLE, timeout=TIMEOUT_MS)
    page.wait_for_timeout(300)


# --- the two servers --------------------------------------------------------------------------------


def serve(script: Path, env: dict[str, str]) -> tuple[subprocess.Popen, str]:
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(script),
        "--server.port",
        str(port),
        "--server.headless",
        "true",
        "--browser.gatherUsageStats",
        "false",
    ]
    process = subprocess.Popen(
        command, cwd=ROOT, env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=1):
                return process, f"http://127.0.0.1:{port}"
        except OSError:
            time.sleep(0.3)
    process.kill()
    raise RuntimeError(f"{script.name} did not start")


def embedded_url_of(app_pid: int) -> str:
    """The embedded model server the app started (`python -m lib.backends.llama_server APP_PID … --port N`)."""
    for entry in Path("/proc").iterdir():
        try:
            parts = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        args = [part.decode(errors="replace") for part in parts]
        if "lib.backends.llama_server" in args and args[args.index("lib.backends.llama_server") + 1] == str(app_pid):
            return f"http://127.0.0.1:{args[args.index('--port') + 1]}/v1"
    raise RuntimeError("the app's embedded server was not found")


# --- 1. click an include toggle ----------------------------------------------------------------------


def clicks(app_url: str, bare_url: str, browser, size: int, count: int) -> tuple[list[float], list[float]]:
    """Milliseconds per click on the app (until the meter changes) and on the bare page (until its run
    is done), the same message's toggle (the first of the app's newest page), interleaved."""
    target = f"m{max(0, size - 50):05d}"
    app = browser.new_page()
    app.set_default_timeout(TIMEOUT_MS)
    app.goto(f"{app_url}/?session=bench{size}")
    app.locator(f".st-key-include_{target}").wait_for()
    bare = browser.new_page()
    bare.set_default_timeout(TIMEOUT_MS)
    bare.goto(f"{bare_url}/?n={size}")
    bare.locator(".st-key-bench_done").wait_for()
    sides = {
        "app": (
            app,
            [f".st-key-include_{target} label", ".st-key-next_call [data-testid='stMetric']", "Prompt tokens"],
        ),
        "bare": (bare, [f".st-key-include_{target} label", ".st-key-bench_done", "messages included"]),
    }
    times: dict[str, list[float]] = {"app": [], "bare": []}
    for _, (page, _) in sides.items():
        _settle(page)
    for number in range(WARMUP + count):
        for name, (page, args) in sides.items():
            elapsed = timed_click(page, *args)
            _settle(page)
            if number >= WARMUP:
                times[name].append(elapsed)
    app.close()
    bare.close()
    return times["app"], times["bare"]


# --- 2. click Send ---------------------------------------------------------------------------------------


def _history() -> tuple[Message, ...]:
    return tuple(synthetic_history(2 * HISTORY_TURNS))


def _system(label: str) -> SystemPrompt:
    return SystemPrompt(f"Request {label}. You are a concise assistant; answer in one sentence.")


def _question(index: int) -> str:
    return f"Question {index}: why does every call resend the whole conversation?"


def app_send(app_url: str, browser, index: int) -> float:
    """Milliseconds from the Send click to the first token on screen, in a session of its own."""
    page = browser.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(f"{app_url}/?session=ttft{index}")
    page.locator(".st-key-send button").first.wait_for()
    sent = len(_history()) + 2  # the system prompt, the history, the question
    page.get_by_label("Your message").fill(_question(index))
    page.get_by_label("Your message").press("Tab")  # applies it; the meter counts it
    page.wait_for_function(
        """n => [...document.querySelectorAll('.st-key-next_call [data-testid="stMetric"]')]
                 .some(m => m.innerText.includes('Messages sent') && m.innerText.includes(String(n)))""",
        arg=sent,
    )
    _settle(page)
    elapsed = page.evaluate(_SEND_UNTIL_FIRST_TOKEN, [len(_history()) + 2])
    page.locator(".st-key-send button:not([disabled])").first.wait_for()
    _settle(page)
    page.close()
    return elapsed


def direct_send(client, index: int) -> float:
    """The server's own time to first token for the same kind of prompt, in milliseconds."""
    messages = [m.as_api() for m in (_system(f"{index}b").as_message(), *_history(), Message("user", _question(index)))]
    outcome = CallOutcome()
    for _ in stream_chat(client, build_body(EMBEDDED_MODEL, messages, Sampling(0.7, MAX_TOKENS)), outcome):
        pass
    if not outcome.ok or outcome.ttft_s is None:
        raise RuntimeError(f"the direct call failed: {outcome.error}")
    return outcome.ttft_s * 1000


def sends(app_url: str, app_pid: int, browser, count: int) -> tuple[list[float], list[float], list[float]]:
    client = make_client(ProviderConfig("compatible", EMBEDDED_MODEL, base_url=embedded_url_of(app_pid)))
    direct_send(client, -1)  # warm: the model's first call loads more than later ones
    on_screen, direct = [], []
    for index in range(count):
        if index % 2:
            direct.append(direct_send(client, index))
            on_screen.append(app_send(app_url, browser, index))
        else:
            on_screen.append(app_send(app_url, browser, index))
            direct.append(direct_send(client, index))
    with storage.opened() as conn:
        app_ttft = [1000 * c.ttft_s for c in storage.calls(conn) if c.ttft_s is not None]
    return on_screen, direct, app_ttft


# --- the run ---------------------------------------------------------------------------------------------


def _sessions(sizes: list[int], sends_count: int) -> None:
    with storage.opened() as conn:
        for size in sizes:
            messages = tuple(synthetic_history(size))
            storage.save_session(conn, Session(f"bench{size}", title=f"{size} messages", messages=messages))
        settings = {"max_tokens": MAX_TOKENS, "strategy_kind": "manual"}
        for index in range(sends_count):
            session = Session(f"ttft{index}", system=_system(f"{index}a"), messages=_history(), settings=settings)
            storage.save_session(conn, session)


def main(argv: list[str] | None = None) -> float:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("sizes", nargs="*", type=int, default=list(SIZES))
    parser.add_argument("--clicks", type=int, default=CLICKS)
    parser.add_argument("--sends", type=int, default=SENDS)
    args = parser.parse_args(argv)
    from playwright.sync_api import sync_playwright

    workdir = Path(tempfile.mkdtemp(prefix="bench-click-"))
    os.environ["CONTEXT_LAB_DB"] = str(workdir / "context_lab.db")
    env = {"CONTEXT_LAB_DB": os.environ["CONTEXT_LAB_DB"], "PYTHONPATH": str(ROOT)}
    _sessions(args.sizes, args.sends)
    app, app_url = serve(APP, env)
    bare, bare_url = serve(BARE_TOGGLES, env)
    rows, ratios = [], {}
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu", "--no-first-run"]
            )
            # One browser profile for every page: sessions belong to the browser that holds their owner
            # cookie, as a user's tabs share one.
            user = browser.new_context(viewport=VIEWPORT)
            for size in args.sizes:
                app_ms, bare_ms = clicks(app_url, bare_url, user, size, args.clicks)
                ratios[f"click_to_meter_ratio_at_{size}"] = median(app_ms) / median(bare_ms)
                rows.append(
                    (
                        f"Click an include toggle, {size:,} messages",
                        f"{median(app_ms):.0f} ms (meter updated)",
                        f"{median(bare_ms):.0f} ms (bare page's run done)",
                        f"{median(app_ms) / median(bare_ms):.2f}x",
                    )
                )
                print(f"  {size:,} messages: app {_spread(app_ms)}; bare {_spread(bare_ms)}", flush=True)
            on_screen, direct, app_ttft = sends(app_url, app.pid, user, args.sends)
            browser.close()
    finally:
        for process in (app, bare):
            process.terminate()
            process.wait(timeout=30)
    ratios["send_to_first_token_ratio"] = median(on_screen) / median(direct)
    rows.append(
        (
            "Click Send → first token on screen",
            f"{median(on_screen):.0f} ms",
            f"{median(direct):.0f} ms (server's own, direct call)",
            f"{ratios['send_to_first_token_ratio']:.2f}x",
        )
    )
    print(f"  Send: on screen {_spread(on_screen)}; direct {_spread(direct)}; the app's own TTFT {_spread(app_ttft)}")
    print(f"\nIn Chromium at 1280x800, median of {args.clicks} clicks / {args.sends} sends (target <= {TARGET_RATIO}x)")
    print(table(["what the user does", "Context Lab", "baseline", "ratio"], rows))
    for name, ratio in ratios.items():
        result(name, ratio)
    worst = max(ratios.values())
    result("click_to_meter_worst_ratio", worst)
    return worst


def _spread(values: list[float]) -> str:
    ordered = sorted(values)
    return f"median {median(values):.0f} ms (min {ordered[0]:.0f}, max {ordered[-1]:.0f}, n={len(values)})"


if __name__ == "__main__":
    main()
