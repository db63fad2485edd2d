"""Ten browser sessions at once, each one the real page: every one sees, and sends, only its own history.

AppTest swaps process-wide Streamlit globals around each run (the Runtime, a config flag) and
compiles the pages afresh for every run, which concurrent runs would trample (and CPython 3.11.7's
compiler is not thread-safe: "AST constructor recursion depth mismatch"). A real server has one
Runtime and one script cache for all its sessions, so the test sets up the same: what is shared
is what a deployment shares.
"""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from unittest.mock import MagicMock

import pytest
from streamlit.components.v2.component_manager import BidiComponentManager
from streamlit.runtime import Runtime
from streamlit.runtime.caching.storage.dummy_cache_storage import MemoryCacheStorageManager
from streamlit.runtime.dataframe_source_manager import DataframeSourceManager
from streamlit.runtime.media_file_manager import MediaFileManager
from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage
from streamlit.runtime.scriptrunner.script_cache import ScriptCache
from streamlit.testing.v1 import app_test
from streamlit.testing.v1.util import patch_config_options

from tests.app.conftest import chat_on, send, visible_text
from tests.fake_openai import Behaviour, FakeOpenAI

pytestmark = pytest.mark.slow

# Ten: every one open before any sends, and their replies overlapping. Twenty took twice the time
# (30 s of the suite, issue 27) and had never found what ten did not.
SESSIONS = 10


@pytest.fixture
def one_runtime(monkeypatch):
    shared = MagicMock(spec=Runtime)
    shared.media_file_mgr = MediaFileManager(MemoryMediaFileStorage("/mock/media"))
    shared.dataframe_source_mgr = DataframeSourceManager()
    shared.cache_storage_manager = MemoryCacheStorageManager()
    shared.bidi_component_registry = BidiComponentManager()  # the page's own components register here
    monkeypatch.setattr(Runtime, "instance", classmethod(lambda cls: shared))
    monkeypatch.setattr(Runtime, "exists", classmethod(lambda cls: True))
    script_cache = ScriptCache()
    monkeypatch.setattr(app_test, "ScriptCache", lambda: script_cache)
    with patch_config_options({"global.appTest": True}):  # each run's own patch then restores True
        yield shared


def _converse(base_url: str, name: str, start: threading.Barrier) -> tuple[list[tuple[str, str]], str]:
    at = chat_on(base_url)
    start.wait()  # every session is open before any sends
    for turn in range(2):
        send(at, f"I am {name}, turn {turn}.")
    return [(m.role, m.content) for m in at.session_state["history"]], visible_text(at)


def test_concurrent_sessions_each_see_only_their_own_history(one_runtime):
    names = [f"user{index:02d}-{uuid.uuid4().hex[:8]}" for index in range(SESSIONS)]
    start = threading.Barrier(SESSIONS)
    with FakeOpenAI() as server:
        server.behaviour = Behaviour(echo=True, delay_s=0.05)  # replies overlap in time
        with ThreadPoolExecutor(SESSIONS) as pool:
            results = list(pool.map(lambda name: _converse(server.base_url, name, start), names))
        calls = [r.json()["messages"] for r in server.requests if r.method == "POST"]

    for name, (history, shown) in zip(names, results, strict=True):
        said = [f"I am {name}, turn {turn}." for turn in range(2)]
        assert history == [("user", said[0]), ("assistant", said[0]), ("user", said[1]), ("assistant", said[1])]
        assert [other for other in names if other in shown] == [name]  # the page shows no one else
    assert len(calls) == 2 * SESSIONS
    for messages in calls:  # every request carried one session's history only
        speakers = {other for other in names for m in messages if other in m["content"]}
        assert len(speakers) == 1
