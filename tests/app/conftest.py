import os
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
import streamlit as st
from streamlit.runtime.scriptrunner.script_cache import ScriptCache
from streamlit.testing.v1 import AppTest, app_test

from lib.context.conversation import Message

THIS_BROWSER = "browser:" + __import__("hashlib").sha256(b"tests-browser-token-0123456789").hexdigest()[:32]

APP = str(Path(__file__).resolve().parents[2] / "app.py")
# How long one run of a script may take before AppTest gives up: long enough for a run that waits for the
# embedded model on a loaded 2-core machine (a reply, an attribution, the walkthrough's calls); pytest's
# own timeout (pyproject.toml) still ends a hung test.
TIMEOUT_S = 600


def new_app(script: str = APP) -> AppTest:
    """A new browser tab on `script` (the routed app unless a page is named), not yet run: every AppTest
    of the suite is made here (or by the two below), with one timeout."""
    return AppTest.from_file(script, default_timeout=TIMEOUT_S)


def app_of_function(function: Callable[[], None]) -> AppTest:
    """A new tab on a script written as a test's function (a page's glue called with a hook)."""
    return AppTest.from_function(function, default_timeout=TIMEOUT_S)


def app_of_string(script: str) -> AppTest:
    """A new tab on a script written as a test's string."""
    return AppTest.from_string(script, default_timeout=TIMEOUT_S)


class _ProcessScriptCache(ScriptCache):
    """One script cache for every AppTest of the process, as a Streamlit server has one for all its
    sessions: AppTest made a new one for every run, so each run read, rewrote (magic) and compiled
    app.py and its page again, a fifth of a chat page's run (issue 27). Keyed by the file's size and
    time too: a script a test rewrites in place is compiled again."""

    def __init__(self) -> None:
        super().__init__()
        self._versions: dict[str, tuple[int, int]] = {}
        self._versions_lock = threading.Lock()

    def get_bytecode(self, script_path: str):
        path = os.path.abspath(script_path)
        stat = os.stat(path)
        version = (stat.st_mtime_ns, stat.st_size)
        with self._versions_lock:
            if self._versions.get(path) != version:
                with self._lock:
                    self._cache.pop(path, None)
                self._versions[path] = version
        return super().get_bytecode(path)


_SCRIPT_CACHE = _ProcessScriptCache()


@pytest.fixture(autouse=True)
def one_script_cache(monkeypatch):
    monkeypatch.setattr(app_test, "ScriptCache", lambda: _SCRIPT_CACHE)


@pytest.fixture(scope="session", autouse=True)
def components_found_once():
    """Each AppTest's first run looks for installed Streamlit components by reading the metadata of
    every installed distribution: a quarter of the AppTests' time went to parsing those files again
    for every new tab (issue 27). A server looks once at its start; so does the test process (what is
    installed does not change while it runs); each tab still gets its own component registry."""
    from streamlit.components.v2 import manifest_scanner

    found = manifest_scanner.scan_component_manifests()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(manifest_scanner, "scan_component_manifests", lambda max_workers=None: list(found))
        yield


def _wait_for_the_run(runner, timeout: float = 3) -> None:
    """AppTest's wait for a run, without its polling: it woke every millisecond and rescanned every event
    of the run so far (one per element drawn), holding the GIL against the script thread it waits for
    — work that grows with the elements x the run's time and that no Streamlit server does. The script
    thread ends once the run has (SHUTDOWN is its last event), so it is joined, with the same timeout
    and the same failure."""
    thread = runner._script_thread
    if thread is not None:
        thread.join(timeout)
    if thread is None or thread.is_alive():
        runner.request_stop()
        runner.join()
        raise RuntimeError(f"AppTest script run timed out after {timeout}(s)")


@pytest.fixture(scope="session", autouse=True)
def runs_waited_for_without_polling():
    from streamlit.testing.v1 import local_script_runner

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(local_script_runner, "require_widgets_deltas", _wait_for_the_run)
        yield


@pytest.fixture(autouse=True)
def fresh_caches():
    st.cache_data.clear()
    yield


class Browser:
    """The cookies the app's page load sends (`st.context.cookies`). AppTest has no browser, so this is
    the one seam: every AppTest of a test is a tab of the same browser unless the test swaps the jar
    (`browser.jar = {}`: a new browser; `browser.keep(at)`: store what the app asked to write)."""

    def __init__(self) -> None:
        self.jar = {"context_lab_owner": "tests-browser-token-0123456789"}

    @property
    def owner(self) -> str:
        """The owner the app names this browser by (ui/owner.py)."""
        import hashlib

        return "browser:" + hashlib.sha256(self.jar["context_lab_owner"].encode()).hexdigest()[:32]

    def keep(self, at: AppTest) -> None:
        """What the cookie-writing script does in a real browser: keep the token the app made."""
        self.jar = {"context_lab_owner": at.session_state["owner_token"]}


@pytest.fixture(autouse=True)
def browser(monkeypatch):
    from streamlit.runtime.context import ContextProxy, StreamlitCookies

    one = Browser()
    monkeypatch.setattr(ContextProxy, "cookies", property(lambda self: StreamlitCookies(dict(one.jar))))
    return one


@pytest.fixture
def app():
    """The real app; the embedded server it starts is kept for the whole test process."""
    at = new_app()
    at.run()
    assert not at.exception, at.exception
    return at


def with_history(at: AppTest, pairs: list[tuple[str, str]]) -> list[Message]:
    history = [Message(role, content) for role, content in pairs]
    at.session_state["history"] = history
    at.run()
    assert not at.exception, at.exception
    return history


def metric(at: AppTest, label_start: str) -> str:
    return next(m.value for m in at.metric if m.label.startswith(label_start))


def open_preview(at: AppTest) -> None:
    """Open the chat's payload preview, as a user would (its contents are drawn only while it is open)."""
    closed = any(e.label.startswith("Payload preview") for e in at.expander) and not any(
        c.language == "json" for c in at.code
    )
    if closed:
        at.session_state["payload_preview_open"] = True
        at.run()
        assert not at.exception, at.exception


def payload_json(at: AppTest) -> str:
    open_preview(at)
    return next(c.value for c in at.code if c.language == "json")


def visible_text(at: AppTest) -> str:
    """Everything the page shows as text, the payload preview open, for leak checks."""
    open_preview(at)
    parts = []
    for kind in ("markdown", "caption", "code", "error", "warning", "info", "success", "text", "json"):
        parts += [str(e.value) for e in getattr(at, kind)]
    parts += [f"{m.label} {m.value}" for m in at.metric]
    parts += [str(w.value) for w in at.text_input if w.key != "api_key"]
    parts += [str(w.value) for w in at.text_area]
    return "\n".join(parts)


def chat_on(base_url: str, key: str = "", **settings) -> AppTest:
    """The chat page on an OpenAI-compatible server, chosen before the first run (so the embedded
    model is not started); `settings` are sidebar values by key (e.g. timeout_s=1)."""
    at = new_app()
    at.session_state["provider_kind"] = "compatible"
    for name, value in settings.items():
        at.session_state[name] = value
    at.run()
    assert not at.exception, at.exception
    type_server(at, base_url, key)
    return at


def type_server(at: AppTest, base_url: str, key: str = "") -> None:
    """Type a compatible server's URL (and a key for it) in the sidebar, as a user does: only a URL
    typed in this browser session is asked for its models, and a key goes only to the endpoint it
    was typed for (a value put in session state is what opening an imported session does)."""
    if at.session_state["provider_kind"] != "compatible":
        at.session_state["provider_kind"] = "compatible"
        at.run()
    at.text_input(key="base_url").set_value(base_url)
    if key:
        at.text_input(key="api_key").set_value(key)
    at.run()
    assert not at.exception, at.exception


def send(at: AppTest, text: str) -> None:
    at.text_area(key="draft").set_value(text).run()
    next(b for b in at.button if b.label == "Send").click().run()
    assert not at.exception, at.exception


def chat_calls(server) -> list:
    """The chat completions a fake server received (not the model list or the window it was asked for)."""
    return [r for r in server.requests if r.path.endswith("/chat/completions")]


def errors_shown(at: AppTest) -> str:
    return " ".join(e.value for e in at.error)


def run_log_rows() -> list:
    """The run log as the database holds it (each test has a database of its own)."""
    from lib.store import storage

    with storage.opened() as conn:
        return storage.calls(conn)
