"""Sessions in a real browser: the URL names the session; a reload, a page change or a new tab keeps it."""

import re

import pytest
from playwright.sync_api import expect

from lib.context.conversation import Message
from lib.store.session import Session, export_json, new_session_id

pytestmark = [pytest.mark.slow, pytest.mark.e2e]
WAIT = 60_000  # ms: a rerun on a busy machine
SESSION_IN_URL = re.compile(r"[?&]session=([A-Za-z0-9_-]+)")


def session_of(url: str) -> str:
    match = SESSION_IN_URL.search(url)
    assert match, url
    return match.group(1)


def test_a_reload_a_page_change_and_a_new_tab_reopen_the_session(page, app_url):
    page.wait_for_url(SESSION_IN_URL)
    session_id = session_of(page.url)
    prompt = page.get_by_label("System prompt", exact=True)
    prompt.fill("Answer like a pirate.")
    prompt.press("Control+Enter")  # commits the text area: a rerun, which saves
    page.get_by_text("Payload preview (exactly what is sent)").click()
    page.locator('[data-testid="stExpander"] code').filter(has_text="pirate").first.wait_for()

    page.reload()
    expect(page.get_by_label("System prompt", exact=True)).to_have_value("Answer like a pirate.", timeout=60_000)
    assert session_of(page.url) == session_id

    page.get_by_role("link", name="Run log").click()
    page.get_by_role("heading", name="Run log").wait_for()
    page.wait_for_url(SESSION_IN_URL)  # Streamlit clears query parameters on a page change; the app restores it
    assert session_of(page.url) == session_id

    other = page.context.new_page()
    other.goto(f"{app_url}/?session={session_id}")
    expect(other.get_by_label("System prompt", exact=True)).to_have_value("Answer like a pirate.", timeout=60_000)
    fresh = page.context.new_page()
    fresh.goto(app_url)
    fresh.wait_for_url(SESSION_IN_URL)
    assert session_of(fresh.url) != session_id
    expect(fresh.get_by_label("System prompt", exact=True)).to_have_value(
        "You are a helpful assistant.", timeout=60_000
    )


def _idle(page) -> None:
    """Wait for the app's run to finish: a click landing mid-run may be redrawn away by its end."""
    page.locator('[data-testid="stApp"][data-test-script-state="notRunning"]').wait_for()


def _import(page, session: Session) -> None:
    uploader = page.get_by_test_id("stFileUploaderDropzoneInput")
    expect(uploader).to_have_count(1, timeout=WAIT)  # not the emptied one of the last import, still fading out
    data = export_json(session).encode()
    uploader.set_input_files(files=[{"name": "s.json", "mimeType": "application/json", "buffer": data}])
    page.wait_for_url(re.compile(rf"[?&]session={session.id}"))
    expect(page.get_by_text(f"Imported {session.title}")).to_be_visible(timeout=WAIT)
    _idle(page)


def test_closing_the_session_list_with_escape_opens_nothing(page):
    """Escape used to make the list's select box report a change: another session, same title, opened."""
    older = Session(new_session_id(), title="Same title", messages=(Message("user", "the older one"),))
    newer = Session(new_session_id(), title="Same title", messages=(Message("user", "the newer one"),))
    _import(page, older)
    _import(page, newer)
    sidebar = page.get_by_test_id("stSidebar")
    for name in ("Open…", "New", "Copy", "Rename", "Delete"):  # names, not icon ligatures ("add", "edit")
        expect(sidebar.get_by_role("button", name=name, exact=True)).to_be_visible(timeout=WAIT)

    sidebar.get_by_role("button", name="Open…", exact=True).click()
    rows = page.get_by_test_id("stRadio").get_by_role("radio")
    expect(page.get_by_test_id("stRadio").get_by_text(re.compile("Same title · "))).to_have_count(2, timeout=WAIT)
    labels = page.get_by_test_id("stRadio").inner_text()
    assert labels.index(newer.id[:6]) < labels.index(older.id[:6])  # newest first, told apart by id
    older_row = page.get_by_text(re.compile(rf"Same title · .* · {older.id[:6]}"))
    older_row.click()  # a row chosen, not opened
    page.keyboard.press("Escape")
    expect(page.get_by_role("button", name="Open this session")).to_have_count(0, timeout=WAIT)
    _idle(page)

    # Reopening the list is a round trip to the app, after whatever the Escape sent: still the same session.
    sidebar.get_by_role("button", name="Open…", exact=True).click()
    expect(rows.first).to_be_visible(timeout=WAIT)
    assert session_of(page.url) == newer.id
    expect(rows.first).to_be_checked(timeout=WAIT)  # the open one, the most recently saved
    older_row.click()
    page.get_by_role("button", name="Open this session").click()
    page.wait_for_url(re.compile(rf"[?&]session={older.id}"))
    expect(page.get_by_test_id("stChatMessage").filter(has_text="the older one")).to_be_visible(timeout=WAIT)
