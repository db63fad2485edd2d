"""A reply survives its page: refreshed (or opened in a second tab) while the reply streams, the session
shows it still arriving, then whole; the server is asked once, the run log holds one successful call,
and the stored session holds the reply (a real `streamlit run app.py`, a slow OpenAI-compatible server)."""

import json

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from lib.backends.embedded import free_port
from lib.store import db, schema, storage
from lib.store.session import from_dict
from tests.e2e.conftest import start_app
from tests.e2e.test_chat_browser import send
from tests.e2e.test_hostile_browser import use_compatible_server
from tests.e2e.test_sessions_browser import SESSION_IN_URL, session_of
from tests.fake_openai import FakeOpenAI

pytestmark = [pytest.mark.slow, pytest.mark.e2e]
QUESTION = "Tell me a slow story."
# 300 words, 0.4 s apart: up to 2 minutes of streaming, room for a reload and a second tab on a busy
# machine. Once both tabs show it arriving, the rest comes at once (the server reads `chunk_delay_s`
# before each word): the test waits for what the refresh and the second tab need, not for the clock.
REPLY = " ".join(f"word{i}" for i in range(300))
WAIT = 120_000  # ms


@pytest.fixture(scope="module")
def own_app(tmp_path_factory):
    """The app on a store of its own, so a test can read what it stored; one app process for the module
    (a start is seconds of CPU): each test is a new browser of its own and reads only its session's rows."""
    path = tmp_path_factory.mktemp("reply_refresh") / "context_lab.db"
    port = free_port()
    process = start_app(port, {"CONTEXT_LAB_DB": str(path)})
    yield f"http://127.0.0.1:{port}", path
    process.terminate()
    process.wait(timeout=20)
    db.forget(db.store_url(str(path)))


def _reply_shown(page) -> None:
    """Until the history holds the question and the whole reply (each with its include toggle)."""
    messages = page.locator('[data-testid="stChatMessage"]')
    expect(messages.filter(has=page.locator('[class*="st-key-include_"]'))).to_have_count(2, timeout=WAIT)
    expect(messages.nth(1)).to_contain_text(REPLY, timeout=WAIT)
    expect(page.get_by_role("button", name="Stop")).to_have_count(0, timeout=WAIT)


def test_a_refresh_and_a_second_tab_while_the_reply_streams_lose_nothing(browser, own_app):
    url, path = own_app
    context = browser.new_context(viewport={"width": 1500, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(WAIT)
    page.goto(url)
    page.get_by_text("Context Lab").first.wait_for()
    with FakeOpenAI() as server:
        use_compatible_server(page, server.base_url)
        server.behaviour.reply, server.behaviour.chunk_delay_s = REPLY, 0.4
        send(page, QUESTION)
        page.get_by_role("button", name="Stop").wait_for()
        page.locator('[data-testid="stChatMessage"]').get_by_text("word2").first.wait_for()  # text is arriving
        page.wait_for_url(SESSION_IN_URL)
        session_id = session_of(page.url)

        page.reload()
        # The reopened session shows the reply still arriving (its progress, and Stop), not "unanswered".
        expect(page.get_by_role("button", name="Stop")).to_be_visible(timeout=60_000)
        assert session_of(page.url) == session_id
        other = context.new_page()  # a second tab of the same session, meanwhile
        other.set_default_timeout(WAIT)
        other.goto(f"{url}/?session={session_id}")
        # The second tab, too, shows the reply still arriving (it opened mid-stream, not after it).
        expect(other.get_by_role("button", name="Stop")).to_be_visible(timeout=60_000)
        server.behaviour.chunk_delay_s = 0.0  # the rest of the reply now comes at once
        for tab in (page, other):
            _reply_shown(tab)
            assert "unanswered" not in tab.locator('[data-testid="stChatMessage"]').first.inner_text()
        assert sum(r.method == "POST" and r.path.endswith("/chat/completions") for r in server.requests) == 1
    context.close()

    with storage.opened(str(path)) as conn:
        calls = [c for c in storage.calls(conn) if c.session_id == session_id]
        body = conn.execute(select(schema.sessions.c.body).where(schema.sessions.c.id == session_id)).scalar_one()
    assert [(c.variant, c.status) for c in calls] == [("chat", "ok")]  # one call, successful, not a failed one
    stored = from_dict(json.loads(body))
    assert [(m.role, m.content, m.status) for m in stored.messages] == [
        ("user", QUESTION, "ok"),
        ("assistant", REPLY, "ok"),
    ]


def test_stop_after_a_refresh_still_stops_the_reply(browser, own_app):
    url, path = own_app
    context = browser.new_context(viewport={"width": 1500, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(WAIT)
    page.goto(url)
    page.get_by_text("Context Lab").first.wait_for()
    with FakeOpenAI() as server:
        use_compatible_server(page, server.base_url)
        server.behaviour.reply, server.behaviour.chunk_delay_s = REPLY, 0.4
        send(page, QUESTION)
        page.locator('[data-testid="stChatMessage"]').get_by_text("word2").first.wait_for()
        page.wait_for_url(SESSION_IN_URL)
        session_id = session_of(page.url)
        page.reload()
        page.get_by_role("button", name="Stop").click(timeout=60_000)
        expect(page.get_by_role("button", name="Stop")).to_have_count(0, timeout=WAIT)
        messages = page.locator('[data-testid="stChatMessage"]')
        expect(messages).to_have_count(2, timeout=WAIT)
        expect(messages.nth(0)).to_contain_text("unanswered")
        expect(messages.nth(1)).to_contain_text("incomplete")
        expect(page.get_by_role("button", name="Retry")).to_have_count(1)
        assert sum(r.method == "POST" and r.path.endswith("/chat/completions") for r in server.requests) == 1
    context.close()

    with storage.opened(str(path)) as conn:
        calls = [c for c in storage.calls(conn) if c.session_id == session_id]
        body = conn.execute(select(schema.sessions.c.body).where(schema.sessions.c.id == session_id)).scalar_one()
    assert [c.status for c in calls] == ["incomplete"]
    stored = from_dict(json.loads(body))
    assert [m.status for m in stored.messages] == ["unanswered", "incomplete"]
    assert REPLY.startswith(stored.messages[1].content) and stored.messages[1].content != REPLY  # cut, not whole
