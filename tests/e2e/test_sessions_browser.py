"""Sessions in a real browser: the URL names the session; a reload, a page change or a new tab keeps it."""

import re

import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.slow, pytest.mark.e2e]
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
