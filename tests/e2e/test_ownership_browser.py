"""Sessions belong to the browser that made them, in Chromium: the app's script writes the owner cookie,
a refresh of that browser reopens its session, and another browser given the same link gets nothing
of it (a session of its own, and a message). The app runs on each backend: a SQLite file, then a real
PostgreSQL (the `app` fixture)."""

import hashlib
import time
from urllib.parse import parse_qs, urlparse

import pytest
from playwright.sync_api import expect
from sqlalchemy import text

from lib.backends.embedded import free_port
from lib.store import db, storage
from tests.e2e.conftest import start_app
from tests.e2e.test_chat_browser import wait_until_settled

DRAFT = "Ada's draft about foxes"


def _load(context, url: str):
    page = context.new_page()
    page.set_default_timeout(120_000)
    page.goto(url)
    page.get_by_text("Context Lab").first.wait_for()
    wait_until_settled(page)
    return page


def _owner_cookie(context) -> dict:
    """The owner cookie, once the app's script (mounted after the run's elements) has written it."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        found = [c for c in context.cookies() if c["name"] == "context_lab_owner"]
        if found:
            return found[0]
        time.sleep(0.2)
    raise AssertionError("no owner cookie was written")


def _session_of(page) -> str:
    return parse_qs(urlparse(page.url).query)["session"][0]


def _stored_owner(store: str, session_id: str) -> str | None:
    """The saved session's owner, once its draft is saved (the draft is applied as typing pauses)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with storage.opened(store) as conn:
            query = text("SELECT owner, body FROM sessions WHERE id = :id")
            row = conn.execute(query, {"id": session_id}).first()
        if row and DRAFT in row[1]:
            return row[0]
        time.sleep(0.3)
    raise AssertionError("the draft was never saved")


@pytest.fixture(params=["sqlite", "postgresql"])
def app(request, shared_app):
    """The app and its store: the run's app on its SQLite file (a fresh app's first page is seconds, paid
    once for the run: issue 27), then an app process of this test's own on a real PostgreSQL store
    (`postgres_store`, emptied). Its URL and its CONTEXT_LAB_DB value."""
    if request.param == "sqlite":
        url, path = shared_app
        yield url, str(path)
        db.forget(db.store_url(str(path)))
        return
    store = request.getfixturevalue("postgres_store")
    port = free_port()
    process = start_app(port, {"CONTEXT_LAB_DB": store})
    try:
        yield f"http://127.0.0.1:{port}", store
    finally:
        process.terminate()
        process.wait(timeout=20)
        db.forget(db.store_url(store))


def test_the_owner_cookie_keeps_a_browsers_session_and_another_browser_gets_none(browser, app):
    url, store = app
    ada = browser.new_context(viewport={"width": 1500, "height": 1000})
    page = _load(ada, url)
    cookie = _owner_cookie(ada)
    assert len(cookie["value"]) >= 22 and cookie["sameSite"] == "Lax"
    page.locator(".st-key-draft textarea").fill(DRAFT)
    session_id = _session_of(page)
    owner = _stored_owner(store, session_id)
    assert owner == "browser:" + hashlib.sha256(cookie["value"].encode()).hexdigest()[:32]

    again = _load(ada, f"{url}/?session={session_id}")  # a new tab of the same browser: the cookie names it
    expect(again.locator(".st-key-draft textarea")).to_have_value(DRAFT)

    bob = browser.new_context(viewport={"width": 1500, "height": 1000})  # another browser, same link
    other = _load(bob, f"{url}/?session={session_id}")
    other.get_by_text("belongs to someone else").first.wait_for()
    assert _session_of(other) != session_id
    assert other.locator(".st-key-draft textarea").input_value() == ""
    bob_cookie = _owner_cookie(bob)
    assert bob_cookie["value"] != cookie["value"]
    ada.close()
    bob.close()
