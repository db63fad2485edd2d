"""What every benchmark shares: a synthetic history, timing, AppTest set-up, tables, the machine."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import statistics
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from lib.context.conversation import Message

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "app.py"
BARE_CHAT = Path(__file__).resolve().parent / "bare_chat.py"
PACKAGES = ("streamlit", "openai", "httpx2", "llama_cpp_python", "tiktoken", "protobuf", "pydantic")

_TOPICS = ("tokens", "context windows", "caching", "latency", "the system prompt", "streaming", "pricing")


def message_text(index: int) -> str:
    """Deterministic, varied text: short questions, longer markdown answers (some with code)."""
    topic = _TOPICS[index % len(_TOPICS)]
    if index % 2 == 0:
        return f"Question {index}: how do {topic} affect the next call? " + "Please be concrete. " * (index % 4)
    answer = f"**Answer {index}.** About {topic}: every call carries the whole context again.\n\n"
    answer += "".join(f"- Point {k}: the client decides what is resent, and pays for it.\n" for k in range(index % 5))
    if index % 7 == 1:
        answer += "\n```python\nclient.chat.completions.create(model=model, messages=history)\n```\n"
    return answer


def synthetic_history(size: int) -> list[Message]:
    """Alternating user/assistant messages; every tenth one is left out of the next call."""
    return [
        Message("user" if i % 2 == 0 else "assistant", message_text(i), included=i % 10 != 9, id=f"m{i:05d}")
        for i in range(size)
    ]


def seconds(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def median(values: Iterable[float]) -> float:
    return statistics.median(list(values))


def patch_apptest_polling() -> None:
    """AppTest's waiting loop rescans every event of the run once a millisecond (`any(...)` over a list
    that grows by one per element), holding the GIL against the script thread: a cost that grows with
    elements x run time and that no real server pays. Scanning only new events keeps the harness
    out of the measurement; it applies to the product and the baseline alike."""
    from streamlit.runtime.scriptrunner import ScriptRunnerEvent
    from streamlit.testing.v1.local_script_runner import LocalScriptRunner

    def script_stopped(self) -> bool:
        seen = self.__dict__.get("_bench_seen", 0)
        events = self.events
        stopped = self.__dict__.get("_bench_stopped", False)
        for index in range(seen, len(events)):
            stopped = stopped or events[index] == ScriptRunnerEvent.SHUTDOWN
        self._bench_seen, self._bench_stopped = len(events), stopped
        return stopped

    LocalScriptRunner.script_stopped = script_stopped


def app_test(script: Path, history: list[Message] | None = None, timeout: float = 600, **values):
    """An AppTest of `script` after its first run, with `history` (and any other session `values`,
    by key) in session state and drawn once."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(script), default_timeout=timeout)
    at.run()
    if history is not None:
        at.session_state["history"] = history
    for key, value in values.items():
        at.session_state[key] = value
    if history is not None or values:
        at.run()
    if at.exception:
        raise RuntimeError(f"{script.name} failed: {at.exception}")
    return at


def element_count(at) -> int:
    """Elements and blocks the run drew (what the page costs grows with this)."""

    def walk(node) -> int:
        children = getattr(node, "children", None) or {}
        return 1 + sum(walk(child) for child in children.values())

    return walk(at._tree) - 1


def table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """A Markdown table, ready to paste into RESULTS.md."""
    lines = ["| " + " | ".join(headers) + " |", "|---|" + "---:|" * (len(headers) - 1)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def result(name: str, value: float) -> None:
    """The last line of every benchmark, compared run to run."""
    print(f"{name}: {value:.3f}", flush=True)


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _ram_gib() -> float:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30


def machine() -> dict[str, str]:
    info = {
        "CPU": _cpu_model(),
        "Cores": str(os.cpu_count()),
        "RAM": f"{_ram_gib():.1f} GiB",
        "OS": platform.platform(),
        "Python": platform.python_version(),
        "Load average at start": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }
    for package in PACKAGES:
        try:
            info[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            info[package] = "not installed"
    return info


def machine_table() -> str:
    return table(["", "value"], machine().items())
