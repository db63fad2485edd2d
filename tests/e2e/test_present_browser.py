"""The presenter's view in Chromium at a projector's 1920×1080 and a laptop's 1280×800: the switch hides the
sidebar, the arrow keys step a saved comparison forward and back, and nothing is cut off (no sideways
scroll, the two numbers on the first screen)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from lib.analysis import compare_store
from lib.analysis.compare import PRESETS, Comparison, VariantResult, plan_variant
from lib.context.conversation import Message, SystemPrompt
from lib.context.payload import Sampling
from lib.context.request import Target
from lib.context.tokens import TiktokenCounter
from lib.core import models
from lib.core.outcome import CallOutcome, Usage
from lib.store import db, storage
from lib.store.session import Session, export_json, new_session_id

pytestmark = [pytest.mark.slow, pytest.mark.e2e]
WAIT = 120_000  # ms: a rerun on a busy machine
SESSION_IN_URL = re.compile(r"[?&]session=([A-Za-z0-9_-]+)")
SCREENS = [{"width": 1920, "height": 1080}, {"width": 1280, "height": 800}]
HISTORY = (
    Message("user", "My locker number is 4471.", pinned=True),
    Message("assistant", "Noted: locker 4471."),
    Message("user", "Then I tidied the kitchen and fed the cat."),
    Message("assistant", "A busy morning!"),
)
ANSWERS = ["Your locker is 4471.", "I do not know your locker.", "It is 4471.", "I cannot say."]


def comparison() -> Comparison:
    target = Target(models.MODELS["gpt-4o"], TiktokenCounter.for_model("gpt-4o"), "gpt-4o")
    results = []
    for variant, answer in zip(PRESETS, ANSWERS, strict=True):
        plan = plan_variant(
            variant, SystemPrompt(), list(HISTORY), "What is my locker number?", target, Sampling()
        ).plan
        outcome = CallOutcome(text=answer, usage=Usage(plan.prompt_tokens, 6), finish_reason="stop")
        results.append(VariantResult(variant, plan, [outcome], [None], [0.0]))
    return Comparison("What is my locker number?", results, "2026-12-07 10:00:00", expected="4471")


def _settled(page) -> None:
    page.wait_for_function(
        """() => document.querySelector('[data-testid="stApp"][data-test-script-state="notRunning"]')
                 && !document.querySelector('[data-stale="true"]')
                 && !document.querySelector('[data-testid="stSkeleton"]')""",
        timeout=WAIT,
    )


def import_session(page, session: Session) -> str:
    """The session imported on the chat page (the sidebar's uploader), as a user does; its id."""
    uploader = page.get_by_test_id("stFileUploaderDropzoneInput")
    expect(uploader).to_have_count(1, timeout=WAIT)
    data = export_json(session).encode()
    uploader.set_input_files(files=[{"name": "demo.json", "mimeType": "application/json", "buffer": data}])
    page.wait_for_url(re.compile(rf"[?&]session={session.id}"))
    expect(page.get_by_text(f"Imported {session.title}")).to_be_visible(timeout=WAIT)
    _settled(page)
    return session.id


def keep_comparison(store_path, session_id: str, monkeypatch) -> None:
    """A comparison saved with the session, as a finished Compare run keeps it."""
    monkeypatch.setenv("CONTEXT_LAB_DB", str(store_path))
    try:
        with storage.opened() as conn:
            compare_store.save_comparison(conn, session_id, comparison())
    finally:
        db.forget(db.store_url(str(store_path)))


def open_presenter(page) -> None:
    page.get_by_role("link", name="Presenter view").click()
    page.locator(".st-key-present_top").wait_for(timeout=WAIT)
    _settled(page)


def step_shown(page) -> str:
    return page.locator(".st-key-present_counter").inner_text(timeout=WAIT).strip()


def wait_for_step(page, text: str) -> None:
    expect(page.locator(".st-key-present_counter")).to_have_text(text, timeout=WAIT)


def nothing_cut_off(page) -> None:
    """No sideways scroll anywhere on the page, and no element wider than the window."""
    overflow = page.evaluate(
        """() => {
            const doc = document.documentElement;
            const wide = [...document.querySelectorAll('[data-testid="stMain"] *')]
                .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1 && e.offsetParent !== null)
                .map(e => e.getAttribute('data-testid') || e.className || e.tagName).slice(0, 5);
            return {scroll: doc.scrollWidth - doc.clientWidth, wide};
        }"""
    )
    assert overflow["scroll"] <= 0, overflow
    assert overflow["wide"] == [], overflow


@pytest.mark.parametrize("screen", SCREENS, ids=lambda s: f"{s['width']}x{s['height']}")
def test_the_arrow_keys_step_a_saved_comparison_and_nothing_is_cut_off(browser, shared_app, monkeypatch, screen):
    url, store_path = shared_app  # the run's app: a comparison is written into its store
    context = browser.new_context(viewport=screen)
    page = context.new_page()
    page.set_default_timeout(WAIT)
    try:
        page.goto(url)
        page.get_by_text("Context Lab").first.wait_for()
        session = Session(new_session_id(), title="Locker demo", messages=HISTORY)
        session_id = import_session(page, session)
        keep_comparison(store_path, session_id, monkeypatch)
        open_presenter(page)
        # The switch is on: no sidebar; the two numbers on the first screen, beside the conversation.
        expect(page.get_by_test_id("stSidebar")).to_be_hidden()
        numbers = page.locator(".st-key-present_numbers")
        expect(numbers).to_contain_text("Tokens sent")
        box = numbers.bounding_box()
        assert box is not None and box["y"] + box["height"] <= screen["height"], box
        expect(numbers).not_to_contain_text(re.compile(r"\$0(?![.\d])"))  # never a bare $0
        nothing_cut_off(page)

        page.get_by_text("Step through", exact=True).click()
        wait_for_step(page, "Variant 1 of 4")
        _settled(page)
        nothing_cut_off(page)
        for expected in ("Variant 2 of 4", "Variant 3 of 4", "Variant 4 of 4"):
            page.keyboard.press("ArrowRight")
            wait_for_step(page, expected)
            _settled(page)
        expect(page.locator(".st-key-present_step")).to_contain_text(ANSWERS[3])
        page.keyboard.press("ArrowRight")  # past the last: it stays
        _settled(page)
        assert step_shown(page) == "Variant 4 of 4"
        page.keyboard.press("ArrowLeft")
        wait_for_step(page, "Variant 3 of 4")
        _settled(page)
        page.keyboard.press("PageUp")  # a presenter's clicker
        wait_for_step(page, "Variant 2 of 4")
        _settled(page)
        page.keyboard.press("PageDown")
        wait_for_step(page, "Variant 3 of 4")
        _settled(page)
        expect(page.locator(".st-key-present_step")).to_contain_text(ANSWERS[2])
        expect(page.locator(".st-key-present_step")).to_contain_text("Right: it says “4471”")
        nothing_cut_off(page)

        # The switch off: the sidebar (the settings) comes back.
        page.get_by_text("Presenting", exact=True).click()
        expect(page.get_by_test_id("stSidebar")).to_be_visible(timeout=WAIT)
    finally:
        context.close()
