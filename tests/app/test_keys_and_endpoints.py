"""A key goes only to the endpoint it was typed for, and opening a file makes no request by itself.

The attack (issue 13): with an OpenAI key in the sidebar, importing a session whose settings name
a compatible server made the app call `GET {that URL}/models` with `Authorization: Bearer <key>`.
The recording fake server plays the attacker's URL; the import goes through the real uploader.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from lib.context.conversation import Message
from lib.store.session import Session, export_json
from tests.app.conftest import chat_on, new_app, payload_json, send, type_server, visible_text
from tests.fake_openai import Behaviour, FakeOpenAI

pytestmark = pytest.mark.slow

CHAT = str(Path(__file__).resolve().parents[2] / "pages" / "chat.py")
KEY = "sk-proj-EXFILCHECK-0123456789abcdefXYZ"
ENTER_THE_KEY = "Enter the key for this endpoint"


def _openai_with_key(key: str = KEY) -> AppTest:
    """The chat page on OpenAI with a key typed in the sidebar (OpenAI's models come from the table: no call)."""
    at = new_app(CHAT)
    at.session_state["provider_kind"] = "openai"
    at.run()
    at.text_input(key="api_key").set_value(key).run()
    assert not at.exception, at.exception
    return at


def _import(at: AppTest, **settings) -> None:
    """Import a session file whose settings are `settings`, through the sidebar's uploader."""
    session = Session("from-a-stranger", "Shared notes", messages=(Message("user", "hello"),), settings=settings)
    at.file_uploader[0].set_value(("notes.json", export_json(session).encode(), "application/json")).run()
    assert not at.exception, at.exception
    assert at.session_state["session_id"] == "from-a-stranger"  # the import itself worked


def _carried_the_key(requests, key: str = KEY) -> list[str]:
    return [f"{r.method} {r.path}" for r in requests if any(key in value for value in r.headers.values())]


def test_an_imported_url_gets_no_request_and_never_the_key():
    with FakeOpenAI() as attacker:
        at = _openai_with_key()
        _import(at, provider_kind="compatible", base_url=attacker.base_url, compatible_model="fake-model")
        at.run()  # and any rerun after it
        assert attacker.requests == []  # no /models probe, nothing
        assert at.text_input(key="api_key").value == ""  # the OpenAI key is not this endpoint's
        assert any(ENTER_THE_KEY in c.value for c in at.sidebar.caption)
        assert any(b.label == "List models" for b in at.sidebar.button)
        assert "Bearer" not in payload_json(at) and KEY not in visible_text(at)

        send(at, "Hello?")  # the user sends, to the URL shown: without the key
        assert [r.method for r in attacker.requests] == ["POST"]
        next(b for b in at.sidebar.button if b.label == "List models").click().run()  # asked for, by the user
        type_server(at, attacker.base_url + "/")  # and the URL typed by hand
        send(at, "Again?")
        assert [r.path for r in attacker.requests].count("/v1/models") >= 1 and len(attacker.requests) >= 4
        assert _carried_the_key(attacker.requests) == []
        # The window probe sends no key at all (None); every other request the placeholder the SDK needs.
        assert {r.headers.get("authorization") for r in attacker.requests} <= {"Bearer not-needed", None}


def test_a_key_stays_with_its_endpoint_when_the_url_is_changed_by_hand():
    with FakeOpenAI() as mine, FakeOpenAI() as other:
        at = chat_on(mine.base_url, key=KEY)
        send(at, "Hi")
        assert mine.requests[-1].headers["authorization"] == f"Bearer {KEY}"  # the key is in use where typed
        type_server(at, other.base_url)
        assert at.text_input(key="api_key").value == "" and any(ENTER_THE_KEY in c.value for c in at.sidebar.caption)
        send(at, "Hi there")
        assert other.requests and _carried_the_key(other.requests) == []
        type_server(at, mine.base_url)  # back to the first endpoint: its key is back too
        assert at.text_input(key="api_key").value == KEY
        send(at, "And back")
        assert mine.requests[-1].headers["authorization"] == f"Bearer {KEY}"


def test_the_environments_azure_key_goes_only_to_the_environments_endpoint(monkeypatch):
    env_key = "0123456789abcdef0123456789abcdef"
    with FakeOpenAI() as azure, FakeOpenAI() as attacker:
        monkeypatch.setenv("AZURE_OPENAI_API_KEY", env_key)
        monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", azure.base_url.removesuffix("/v1"))
        monkeypatch.setenv("AZURE_OPENAI_DEPLOYMENT", "fake-model")
        at = new_app(CHAT)
        at.session_state["provider_kind"] = "azure"
        at.run()
        send(at, "Hi")
        assert azure.requests[-1].headers["api-key"] == env_key
        _import(at, provider_kind="azure", azure_endpoint=attacker.base_url.removesuffix("/v1"))
        assert any(ENTER_THE_KEY in c.value for c in at.sidebar.caption)
        send(at, "Hi again")
        assert attacker.requests == []  # no key for this endpoint: refused before any call ("Set an API key")
        assert "an API key" in " ".join(e.value for e in at.error)


# --- what /models answers -----------------------------------------------------------------------

HOSTILE_MODELS = {
    "an HTML page": (b"<html><body><h1>It works!</h1></body></html>", "text/html"),
    "an image": (b"\x89PNG\r\n\x1a\n" + bytes(64), "image/png"),
    "an empty JSON list": (b"[]", "application/json"),
    "data that is not a list": (b'{"data": "notalist"}', "application/json"),
}


@pytest.mark.parametrize("answer", list(HOSTILE_MODELS))
def test_a_models_answer_that_is_no_list_means_no_models(answer):
    with FakeOpenAI() as server:
        server.behaviour.models_body, server.behaviour.models_type = HOSTILE_MODELS[answer]
        at = chat_on(server.base_url)
        for _ in range(2):  # every rerun
            at.run()
            assert not at.exception, at.exception
            assert any("The server lists no models" in c.value for c in at.sidebar.caption)
            assert at.text_input(key="compatible_model").value == ""


def test_listed_ids_with_a_lone_surrogate_or_a_megabyte_are_left_out():
    ids = ["half \ud83d", "x" * 1_000_000, "good-model", "line\nbreak"]
    with FakeOpenAI() as server:
        server.behaviour.models_body = json.dumps({"object": "list", "data": [{"id": i} for i in ids]}).encode()
        at = chat_on(server.base_url)
        at.run()
        assert not at.exception, at.exception
        assert at.selectbox(key="compatible_model").options == ["good-model"]
        assert json.loads(payload_json(at))["model"] == "good-model"


# --- a key a reply echoes -----------------------------------------------------------------------


def test_a_key_echoed_by_a_reply_is_masked_everywhere_it_would_land(session_db):
    with FakeOpenAI() as server:
        at = chat_on(server.base_url, key=KEY)
        server.behaviour = Behaviour(reply=f"Your key is {KEY}; its tail {KEY[-12:]}, a part {KEY[9:19]}.")
        send(at, "What is my key?")
        reply = at.session_state["history"][-1]
        assert reply.content == "Your key is ***; its tail ***, a part ***."
        shown = visible_text(at) + payload_json(at)
    stored = b"".join(p.read_bytes() for p in session_db.parent.glob(session_db.name + "*"))
    assert b"What is my key?" in stored  # the scan reads real content
    fragments = [KEY[i : i + 6] for i in range(len(KEY) - 5)]
    assert [f for f in fragments if f in shown] == []
    assert [f for f in fragments if f.encode() in stored] == []


# --- where clients made with a key live ------------------------------------------------------------


def _client_script():
    import streamlit as st

    from lib.backends.providers import ProviderConfig
    from ui import resources

    key = st.session_state.get("typed", "")
    config = ProviderConfig("compatible", "m", base_url="http://127.0.0.1:9/v1", api_key=key)
    st.session_state["client_id"] = id(resources.client(config))
    st.session_state["client_key"] = resources.client(config).api_key


def _tab(key: str) -> AppTest:
    at = AppTest.from_function(_client_script)
    at.session_state["typed"] = key
    at.run()
    assert not at.exception, at.exception
    return at


def test_a_client_made_with_a_key_stays_in_its_browser_session():
    first, second = _tab(KEY), _tab(KEY)  # two browser sessions, even with the same key
    assert first.session_state["client_key"] == KEY
    assert first.session_state["client_id"] != second.session_state["client_id"]
    kept = first.session_state["client_id"]
    first.run()
    assert first.session_state["client_id"] == kept  # made once per session, not per rerun


def test_a_keyless_client_is_shared_by_the_process():
    first, second = _tab(""), _tab("")
    assert first.session_state["client_id"] == second.session_state["client_id"]
    assert first.session_state["client_key"] == "not-needed"


def _many_clients_script():
    import streamlit as st

    from lib.backends.providers import ProviderConfig
    from ui import resources

    key = st.session_state["typed"]
    made = [
        resources.client(ProviderConfig("compatible", "m", base_url=f"http://127.0.0.1:{9 + i}/v1", api_key=key))
        for i in range(resources.SESSION_CLIENTS_KEPT + 1)
    ]
    st.session_state["closed"] = [c.is_closed() for c in made]


def test_a_session_keeps_its_newest_keyed_clients_and_closes_the_one_it_lets_go():
    from ui.resources import SESSION_CLIENTS_KEPT

    at = AppTest.from_function(_many_clients_script)
    at.session_state["typed"] = KEY
    at.run()
    assert not at.exception, at.exception
    # The oldest client, evicted when the fifth was made, released its connections at once.
    assert at.session_state["closed"] == [True] + [False] * SESSION_CLIENTS_KEPT
