"""The walkthrough through AppTest: every demo runs on the real embedded model and shows both payloads and answers."""

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from lib.analysis.walkthrough import DEMO_SAMPLING, SECRET, SIDEBAR_NOTE_START, STEPS, shown_answer, verdict
from lib.context.display import inert_markdown
from tests.app.conftest import new_app

pytestmark = pytest.mark.slow

PAGE = str(Path(__file__).resolve().parents[2] / "pages" / "walkthrough.py")
APP = str(Path(PAGE).parents[1] / "app.py")


def _tour(step: int | None = None) -> AppTest:
    """The walkthrough inside the app (its last step links to the other pages, which only the app routes)."""
    at = new_app()
    at.session_state["timeout_s"] = 600  # the CPU may be shared: a slow answer is not what is tested here
    if step is not None:
        at.session_state["walkthrough_step"] = step
    at.run()
    at.switch_page("pages/walkthrough.py").run()
    assert not at.exception, at.exception
    return at


@pytest.fixture
def tour():
    return _tour()


@pytest.fixture(scope="module")
def ran():
    """Each step's demo, sent once for the whole module: the page after the run, and its calls."""
    done: dict[int, tuple[AppTest, list]] = {}

    def run(number: int):
        if number not in done:
            at = _tour(number)
            at.button(key=f"walkthrough_send_{number}").click().run()
            assert not at.exception, at.exception
            done[number] = (at, at.session_state["walkthrough_runs"][number])
        return done[number]

    return run


@pytest.mark.parametrize("step", STEPS, ids=lambda s: s.short)
def test_each_demo_shows_both_payloads_and_both_answers(ran, step):
    tour, calls = ran(step.number)
    assert len(calls) == step.calls
    assert all(c.outcome.ok and c.outcome.text.strip() for c in calls), [c.outcome.error for c in calls]
    # The server's own count of each prompt: the payload shown is the one it read.
    assert all(c.outcome.usage.prompt_tokens for c in calls)
    shown = [calls[0], calls[-1]]
    payloads = [json.loads(c.value) for c in tour.code if c.language == "json"]
    assert payloads == [c.body for c in shown]
    answers = [message.markdown[0].value for message in tour.chat_message]
    assert answers == [inert_markdown(shown_answer(c.outcome)[0]) for c in shown]
    # An answer ends where the model ended it, or at its last full sentence (and says so): never mid-word.
    for call, answer in zip(shown, answers, strict=True):
        assert call.outcome.finish_reason == "stop" or answer.endswith((".", "!", "?", "…", '"', "”"))
    captions = " ".join(c.value for c in tour.caption)
    if step.needle:
        assert all(verdict(step.needle, c.body, c.outcome.text) in captions for c in shown)
    assert all(shown_answer(c.outcome)[1] in captions for c in shown if c.outcome.finish_reason == "length")


def test_the_session_id_ties_the_turns_on_the_client_and_is_never_sent(ran):
    tour, calls = ran(3)
    session_id = tour.session_state["session_id"]  # the app's (ui/sessions.py)
    note = next(i.value for i in tour.info if "session id" in i.value)
    assert session_id in note and "Neither payload below contains it." in note
    assert all(session_id not in json.dumps(c.body) for c in calls)
    assert calls[1].body["messages"][1]["content"] == calls[0].outcome.text  # turn 1's real reply, resent


def test_the_growth_chart_follows_the_payloads(ran):
    tour, calls = ran(4)
    assert len(tour.get("plotly_chart")) == 1
    table = next(d.value for d in tour.dataframe if "payload bytes" in d.value.columns)
    assert list(table["messages sent"]) == [1, 3, 5, 7]
    assert table["payload bytes"].is_monotonic_increasing
    # The exact count equals what the server reported for each call.
    assert list(table["prompt tokens"]) == [c.outcome.usage.prompt_tokens for c in calls]


def test_a_left_out_message_is_absent_from_the_request_body(ran):
    tour, calls = ran(5)
    client_history = tour.dataframe[0].value
    assert SECRET in " ".join(client_history["message"]) and "no: left out" in list(client_history["sent in call 2"])
    assert SECRET in json.dumps(calls[0].body) and SECRET not in json.dumps(calls[1].body)


def test_next_and_back_move_through_the_steps(tour):
    assert tour.subheader[0].value.startswith("1. ")
    back, forward = (next(b for b in tour.button if b.label == label) for label in ("Back", "Next"))
    assert back.disabled and not forward.disabled
    forward.click().run()
    assert tour.subheader[0].value == f"2. {STEPS[1].title}"
    next(b for b in tour.button if b.label == "Back").click().run()
    assert tour.subheader[0].value == f"1. {STEPS[0].title}"


def test_the_step_is_kept_across_a_visit_to_another_page():
    at = new_app()
    at.run()
    at.switch_page("pages/walkthrough.py").run()
    for _ in range(2):
        next(b for b in at.button if b.label == "Next").click().run()
    assert at.subheader[0].value.startswith("3. ")
    at.switch_page("pages/chat.py").run()
    assert not at.exception, at.exception
    at.switch_page("pages/walkthrough.py").run()
    assert at.subheader[0].value.startswith("3. ")


def test_the_tour_ends_with_a_way_into_the_chat():
    last = _tour(STEPS[-1].number)
    links = last.get("page_link")
    assert [link.proto.page for link in links][:1] == ["pages/chat.py"] or any(
        "chat" in link.proto.page for link in links
    )
    assert any(m.value.startswith("**That's the tour.**") for m in last.markdown)
    first = _tour(STEPS[0].number)
    assert not first.get("page_link")


def test_the_page_says_the_sidebars_sampling_is_not_used_here(tour):
    assert any(i.value.startswith(SIDEBAR_NOTE_START) for i in tour.info)
    assert f"up to {DEMO_SAMPLING.max_tokens} tokens" in tour.caption[0].value
