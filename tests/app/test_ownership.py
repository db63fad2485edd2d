"""Sessions belong to someone, as visitors meet it: each browser (or signed-in user) lists, opens,
renames and deletes its own sessions only; a link copied from someone else opens nothing of theirs;
a share link gives a copy. Two browsers are two cookie jars (the `browser` fixture); two signed-in
users are two `AppTest.user` identities. Each test runs on both backends: a SQLite file and a real
PostgreSQL (the `store` fixture names it in CONTEXT_LAB_DB)."""

from pathlib import Path

import pytest
from sqlalchemy import text
from streamlit.testing.v1 import AppTest

from lib.store import storage
from lib.store.session import Session
from tests.app.conftest import THIS_BROWSER, app_of_function, new_app, send, type_server, with_history
from tests.app.test_experiments_page import PAGE as EXPERIMENTS_PAGE
from tests.app.test_experiments_page import page as experiments_page
from tests.fake_openai import FakeOpenAI

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("store")]
CHAT = str(Path(__file__).resolve().parents[2] / "pages" / "chat.py")
PAIRS = [("user", "Ada's secret plan: foxes."), ("assistant", "Noted.")]
ADA = {"is_logged_in": True, "email": "ada@example.com", "sub": "ada-sub"}
BOB = {"is_logged_in": True, "email": "bob@example.com", "sub": "bob-sub"}


def _open(session_id: str | None = None, user: dict | None = None, **params) -> AppTest:
    at = new_app(CHAT)
    if user is not None:
        at.user = user
    if session_id:
        at.query_params["session"] = session_id
    for key, value in params.items():
        at.query_params[key] = value
    at.run()
    assert not at.exception, at.exception
    return at


def _sid(at: AppTest) -> str:
    return at.query_params["session"]


def _notes(at: AppTest) -> str:
    return " | ".join(e.value for kind in ("error", "warning", "info", "success") for e in getattr(at.sidebar, kind))


def _listed(at: AppTest) -> list[str]:
    """The short ids the *Open…* list shows (each row ends with one; the open session comes first)."""
    at.session_state["session_list_open"] = True  # what clicking *Open…* does
    at.run()
    return [option.rsplit(" · ", 1)[-1] for option in at.radio(key="session_pick").options]


def _contents(at: AppTest) -> list[str]:
    return [m.content for m in at.session_state["history"]]


def test_a_link_copied_from_another_browser_opens_nothing_of_its_session(browser):
    ada = _open()
    with_history(ada, PAIRS)
    link = _sid(ada)
    ada_jar = browser.jar

    browser.jar = {}  # another browser: no cookie yet
    bob = _open(link)
    assert _sid(bob) != link and _contents(bob) == []
    assert "belongs to someone else" in _notes(bob) and "secret" not in _notes(bob)
    assert link[:6] not in _listed(bob)
    with_history(bob, [("user", "Bob's own")])  # Bob works on: saved as his, under his own id
    bob.session_state["session_list_open"] = False
    next(b for b in bob.button if b.label == "Delete for good").click().run()  # deletes Bob's, not Ada's

    browser.jar = ada_jar  # Ada again, a refresh: her session as it was, and only hers listed
    again = _open(link)
    assert _sid(again) == link and _contents(again) == [text for _, text in PAIRS]
    assert _listed(again) == [link[:6]]


def test_a_new_browser_gets_a_token_that_its_cookie_keeps(browser):
    browser.jar = {}
    first = _open()
    with_history(first, PAIRS)
    token = first.session_state["owner_token"]
    assert len(token) >= 22 and token not in str(storage.calls.__doc__)
    with storage.opened() as conn:
        (row,) = conn.execute(text("SELECT owner FROM sessions")).all()
    assert row[0].startswith("browser:") and token not in row[0]  # the database holds a hash only
    browser.keep(first)  # what the cookie-writing script does in the browser
    refreshed = _open(_sid(first))
    assert _contents(refreshed) == [text for _, text in PAIRS]
    assert refreshed.session_state["owner_token"] == token


def test_a_share_link_opens_a_copy_as_the_visitors_own(browser):
    ada = _open()
    with_history(ada, PAIRS)
    ada.session_state["share_open"] = True  # what clicking *Share* does
    ada.run()
    next(b for b in ada.sidebar.button if b.label == "Make a share link").click().run()
    assert not ada.exception, ada.exception
    link = next(c.value for c in ada.sidebar.code if "?share=" in c.value)
    token = link.split("?share=")[1]
    ada_jar = browser.jar

    browser.jar = {"context_lab_owner": "another-browser-token-98765"}
    bob = _open(share=token)
    assert _sid(bob) != _sid(ada) and _contents(bob) == [text for _, text in PAIRS]
    assert "copy of a shared session" in _notes(bob) and "share" not in bob.query_params
    with_history(bob, [("user", "Bob changes his copy")])
    with storage.opened() as conn:
        assert [m.content for m in storage.load_session(conn, _sid(ada), THIS_BROWSER).messages] == [
            text for _, text in PAIRS
        ]

    browser.jar = ada_jar  # Ada's tab again
    next(b for b in ada.sidebar.button if b.label == "Stop sharing").click().run()
    assert "Sharing stopped" in _notes(ada)
    browser.jar = {"context_lab_owner": "a-third-browser-token-5555"}
    late = _open(share=token)
    assert _contents(late) == [] and "names no shared session" in _notes(late)


def test_signed_in_users_own_their_sessions_across_browsers(browser):
    ada = _open(user=ADA)
    with_history(ada, PAIRS)
    link = _sid(ada)
    assert "Signed in as **ada@example.com**" in " ".join(c.value for c in ada.sidebar.caption)

    bob = _open(link, user=BOB)  # Bob, same browser even: Ada's link opens nothing of hers
    assert _sid(bob) != link and _contents(bob) == [] and "belongs to someone else" in _notes(bob)
    assert link[:6] not in _listed(bob)

    browser.jar = {"context_lab_owner": "ada-on-her-laptop-token-77"}  # Ada elsewhere: still hers
    elsewhere = _open(link, user=ADA)
    assert _contents(elsewhere) == [text for _, text in PAIRS]
    with storage.opened() as conn:
        assert [i.id for i in storage.list_sessions(conn, "user:ada@example.com")] == [link]


def test_the_run_log_records_who_made_each_call(browser):
    with FakeOpenAI() as server:
        for user in (ADA, BOB):
            at = new_app(CHAT)
            at.user = user
            at.session_state["provider_kind"] = "compatible"
            at.run()
            type_server(at, server.base_url)
            send(at, f"Hello from {user['email']}")
    with storage.opened() as conn:
        assert [c.owner for c in storage.calls(conn)] == ["user:ada@example.com", "user:bob@example.com"]


def test_sessions_saved_before_owners_go_to_the_first_browser_only(browser):
    with storage.opened() as conn:
        old = storage.save_session(conn, Session("old0000000000001", title="From before owners"))
    first = _open()
    assert old.id[:6] in _listed(first)
    browser.jar = {"context_lab_owner": "a-second-browser-token-42"}
    second = _open(old.id)
    assert _sid(second) != old.id and old.id[:6] not in _listed(second)


AUTH = {
    "redirect_uri": "http://localhost:8501/oauth2callback",
    "cookie_secret": "a-test-cookie-secret",
    "client_id": "context-lab",
    "client_secret": "not-a-real-secret",
    "server_metadata_url": "https://id.example.com/.well-known/openid-configuration",
}


def test_with_sign_in_configured_a_visitor_sees_only_the_sign_in_button(browser):
    with storage.opened() as conn:
        old = storage.save_session(conn, Session("old0000000000002", title="From before owners"))
    at = new_app(CHAT)
    at.secrets["auth"] = AUTH
    at.user = {"is_logged_in": False}
    at.query_params["session"] = old.id
    at.run()
    assert not at.exception, at.exception
    assert [b.label for b in at.button] == ["Sign in"]
    assert not at.text_area and not at.sidebar.button  # no chat, no sessions
    with storage.opened() as conn:  # and nobody claimed the older sessions
        assert [i.id for i in storage.list_sessions(conn)] == [old.id]

    at.user = ADA  # signed in: her own (empty) list, a way out, and still no claim on older sessions
    at.run()
    assert any(b.label == "Sign out" for b in at.sidebar.button)
    assert _sid(at) != old.id and "belongs to someone else" in _notes(at)
    with storage.opened() as conn:
        assert [i.id for i in storage.list_sessions(conn)] == [old.id]


def _opened_calls():
    from ui.call_details import run_log_with_details, show_call

    log = run_log_with_details()
    records, details = log.records, log.details
    for record, detail in zip(records, details, strict=True):
        show_call(record, detail)


def test_a_team_run_log_shows_who_ran_a_call_but_not_what_they_sent(browser):
    from lib.context.conversation import Message
    from lib.context.payload import Sampling, plan_request
    from lib.context.tokens import TiktokenCounter
    from lib.core import models
    from lib.core.outcome import CallOutcome, Usage
    from lib.store.call_details import details_of, record_with_details

    model = models.MODELS["gpt-4o"]
    plan = plan_request(
        [Message("user", "Ada's secret plan")], model, TiktokenCounter.for_model(model.name), Sampling()
    )
    outcome = CallOutcome("Ada's secret answer", Usage(9, 4), latency_s=0.2)
    record = storage.CallRecord.of("s-ada", "chat", "openai", plan, outcome, owner="user:ada@example.com")
    with storage.opened() as conn:
        record_with_details(conn, record, details_of(plan, outcome, "Full history"))

    def shown(user: dict) -> str:
        at = app_of_function(_opened_calls)
        at.user = user
        at.run()
        assert not at.exception, at.exception
        return " ".join(str(e.value) for kind in ("markdown", "code", "info", "caption") for e in getattr(at, kind))

    assert "Ada's secret" in shown(ADA)
    seen_by_bob = shown(BOB)
    assert "Made by ada@example.com" in seen_by_bob and "secret" not in seen_by_bob


# --- experiments belong to their owner too ---------------------------------------------------------

ADA_OWNER, BOB_OWNER = "user:ada@example.com", "user:bob@example.com"


def _experiments(section: str, user: dict | None = None, run: str | None = None, **values) -> AppTest:
    return experiments_page(None, section, user=user, run=run, **values)


def _shown(at: AppTest) -> str:
    parts = [
        str(e.value)
        for kind in ("markdown", "caption", "info", "error", "warning", "success", "code")
        for e in getattr(at, kind)
    ]
    parts += [f"{s.label}: {s.options}" for s in at.selectbox]
    parts += [d.value.to_csv() for d in at.dataframe]
    return "\n".join(parts)


def _a_run(owner: str | None, name: str, answer: str) -> str:
    """A finished run of `owner`'s, one cell with `answer` (made as the runner leaves it)."""
    from lib.analysis.compare import Variant
    from lib.analysis.experiments import store
    from lib.analysis.experiments.cases import Case, Check, TestSet
    from lib.analysis.experiments.checks import Verdict
    from lib.analysis.experiments.planner import CellKey, RunSpec
    from lib.context.payload import Sampling
    from lib.context.strategies import Strategy
    from lib.core.outcome import Usage

    cases = (Case("c1", f"{name}: what is the plan?", checks=(Check("contains", "foxes"),)),)
    spec = RunSpec(
        TestSet(f"{name} set", cases), (Variant("Full history", Strategy("full")),), 1, 1, Sampling(), "openai", "m"
    )
    with storage.opened() as conn:
        run_id = store.create_run(conn, spec, name, "s", owner=owner)
        answered = store.CellResult(
            CellKey(0, "c1", 0), "pass", answer, (Verdict("contains: foxes", True, ""),), {}, 10, Usage(10, 3), 0.1, 0.0
        )
        store.record_cell(conn, run_id, answered)
        store.set_status(conn, run_id, "done")
    return run_id


def test_signed_in_users_see_and_open_only_their_own_test_sets_and_runs(browser):
    from lib.analysis.experiments import store

    ada = _experiments("Test set", ADA)  # Ada imports a test set: it is hers
    cases = b'{"question": "Ada\'s secret question: foxes?", "checks": [{"type": "contains", "value": "x"}]}'
    ada.file_uploader[0].set_value(("ada-secrets.jsonl", cases + b"\n", "application/jsonl")).run()
    assert not ada.exception, ada.exception
    with storage.opened() as conn:
        ((ada_set, _, _),) = [s for s in store.list_sets(conn, ADA_OWNER) if s[1] == "ada-secrets"]
    ada_run = _a_run(ADA_OWNER, "Ada's run", "Ada's secret answer: foxes under the bridge.")

    # Bob, in the same browser even, with Ada's run link and her set's id: nothing of hers
    bob = _experiments("Results", BOB, run=ada_run, exp_set_id=ada_set)
    assert any("No run yet" in i.value for i in bob.info) and "secret" not in _shown(bob)
    bob = _experiments("Test set", BOB, exp_set_id=ada_set)
    assert bob.selectbox(key="exp_set_id").value != ada_set
    assert ada_set not in bob.selectbox(key="exp_set_id").options and "secret" not in _shown(bob)
    bobs_first = bob.selectbox(key="exp_set_id").value  # his copy of the built-in set, made on his first visit
    next(b for b in bob.button if b.label == "Delete the set").click().run()  # deletes his own, not hers
    assert not bob.exception, bob.exception
    bob = _experiments("Compare runs", BOB)
    assert "Ada" not in _shown(bob) and "secret" not in _shown(bob)

    # Ada, on another browser: her set and her run, as she left them
    browser.jar = {"context_lab_owner": "ada-on-her-laptop-token-77"}
    again = _experiments("Results", ADA, run=ada_run)
    assert again.selectbox(key="exp_run_pick").value == ada_run
    assert "1 of 1 cells finished" in _shown(again)
    again.session_state["exp_grid"] = {"selection": {"rows": [], "columns": [], "cells": [(0, "Full history")]}}
    again.run()
    assert "Ada's secret answer" in _shown(again)
    with storage.opened() as conn:
        assert ada_set in [i for i, _, _ in store.list_sets(conn, ADA_OWNER)]
        assert [r.id for r in store.list_runs(conn, ADA_OWNER)] == [ada_run]
        bobs = store.list_sets(conn, BOB_OWNER)  # a new copy of the built-in set: his first was deleted
        assert bobs_first not in [i for i, _, _ in bobs] and "ada-secrets" not in [n for _, n, _ in bobs]


def test_experiments_made_before_owners_go_to_the_first_browser_only(browser):
    from lib.analysis.experiments import store

    old_run = _a_run(None, "From before owners", "An old answer")
    first = _experiments("Results", run=old_run)
    assert first.selectbox(key="exp_run_pick").value == old_run
    browser.jar = {"context_lab_owner": "a-second-browser-token-42"}
    second = _experiments("Results", run=old_run)
    assert any("No run yet" in i.value for i in second.info) and "old answer" not in _shown(second)
    with storage.opened() as conn:
        assert [r.id for r in store.list_runs(conn, THIS_BROWSER)] == [old_run]


def test_with_sign_in_configured_experiments_from_before_owners_stay_nobodys(browser):
    from lib.analysis.experiments import store

    old_run = _a_run(None, "From before owners", "An old answer")
    ada = new_app(EXPERIMENTS_PAGE)
    ada.secrets["auth"] = AUTH
    ada.user = ADA
    ada.query_params["run"] = old_run
    ada.session_state["exp_section"] = "Results"
    ada.run()
    assert not ada.exception, ada.exception
    assert any("No run yet" in i.value for i in ada.info)
    with storage.opened() as conn:
        assert [r.id for r in store.list_runs(conn)] == [old_run]  # nobody claimed it
