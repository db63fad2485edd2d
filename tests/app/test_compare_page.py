"""The Compare page through AppTest: the pre-run table, a real run on the embedded server, a broken
variant, what survives a refresh, the explicit "inherit" choices, pricing as a hosted model."""

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from lib.analysis.compare import PRESETS
from lib.analysis.report import plan_figure
from lib.context.conversation import Message
from lib.store import storage
from lib.store.call_details import calls_with_details
from tests.app.conftest import new_app, run_log_rows, type_server
from tests.fake_openai import FakeOpenAI

pytestmark = pytest.mark.slow

PAGE = str(Path(__file__).resolve().parents[2] / "pages" / "compare.py")
HISTORY = [
    Message("user", "My name is Ada."),
    Message("assistant", "Hello Ada!"),
    Message("user", "I like foxes."),
    Message("assistant", "Foxes are clever."),
]
FULL, BARE, LAST_TWO, SYSTEM_ONLY = (v.name for v in PRESETS)


def _open(session_id: str | None = None, **values) -> AppTest:
    """A browser tab on the Compare page: the URL's session (a refresh) and values set before the first run."""
    at = new_app(PAGE)
    if session_id:
        at.query_params["session"] = session_id
    for key, value in values.items():
        at.session_state[key] = value
    at.run()
    assert not at.exception, at.exception
    return at


@pytest.fixture
def compare():
    return _open(history=list(HISTORY))


def _on(server: FakeOpenAI, at: AppTest, **values) -> AppTest:
    type_server(at, server.base_url)  # typed, as a user does: only then are its models listed
    for key, value in values.items():
        at.session_state[key] = value
    at.run()
    assert not at.exception, at.exception
    return at


def _run_button(at):
    return next(b for b in at.button if b.label.startswith("Run "))


def _run(at) -> None:
    _run_button(at).click().run()
    assert not at.exception, at.exception


def _slot(at, index: int, name: str) -> str:
    return f"variant_{at.session_state['compare_slots'][index]}_{name}"


def test_the_pre_run_table_lists_the_default_variants(compare):
    table = compare.dataframe[0].value
    assert list(table["variant"]) == [v.name for v in PRESETS]
    tokens = dict(zip(table["variant"], table["prompt tokens"], strict=True))
    assert tokens[FULL] > tokens[BARE] > tokens[SYSTEM_ONLY]
    # Sending no system prompt costs more on SmolLM2: its chat template then adds its own, longer one.
    assert compare.session_state["comparisons"] == []


def _posts(server: FakeOpenAI) -> list:
    return [r for r in server.requests if r.method == "POST"]


def test_planning_a_comparison_sends_nothing_until_run(compare):
    """Opening the page, editing the variants and the question plan every call and send none: the
    recording server, the one the page talks to (it listed its models), receives no POST until Run."""
    with FakeOpenAI() as server:
        at = _on(server, compare)
        assert any(r.method == "GET" and r.path.endswith("/models") for r in server.requests)
        at.selectbox(key=_slot(at, 2, "strategy")).set_value("token_budget").run()
        at.number_input(key=_slot(at, 2, "budget")).set_value(64).run()
        at.checkbox(key=_slot(at, 0, "temperature_inherit")).uncheck().run()
        at.text_area(key="compare_question").set_value("What do I like?").run()
        assert not at.exception, at.exception
        assert list(at.dataframe[0].value["variant"]) == [v.name for v in PRESETS]
        assert _posts(server) == [], [r.path for r in _posts(server)]
        assert at.session_state["comparisons"] == []
        _run(at)  # the same server does see the calls once asked: the check above can fail
        assert len(_posts(server)) == len(PRESETS)


def test_the_run_button_comes_before_the_cards_the_table_and_the_charts(compare):
    """Reachable without scrolling: right under the question, above every variant card."""
    run = _run_button(compare)
    assert run.label.startswith("Run 4 variants")
    order = [type(e).__name__ for e in compare.main]
    labels = [getattr(e, "label", None) for e in compare.main]
    assert labels.index("The next user message") < labels.index(run.label) < labels.index("Name")
    assert "PlotlyChart" not in order[: labels.index(run.label)]


def test_preset_names_and_cards_say_what_is_sent(compare):
    sends = [c.value for c in compare.caption if c.value.startswith("Sends ")]
    assert sends[1] == "Sends no system prompt · no history · the question"
    assert sends[0] == "Sends the conversation's system prompt · the whole history · the question"
    pinned = [HISTORY[0].__class__("user", "Pinned fact.", pinned=True), *HISTORY]
    at = _open(history=pinned)
    sends = [c.value for c in at.caption if c.value.startswith("Sends ")]
    assert "no history (1 pinned message still goes)" in sends[1]


def test_temperature_and_reply_limit_inherit_the_sidebar_by_an_explicit_choice(compare):
    with FakeOpenAI() as server:
        at = _on(server, compare)
        assert at.checkbox(key=_slot(at, 0, "temperature_inherit")).value is True
        assert not any(n.label == "Temperature" for n in at.number_input)  # no sentinel value to type
        at.checkbox(key=_slot(at, 0, "temperature_inherit")).uncheck().run()
        at.number_input(key=_slot(at, 0, "temperature")).set_value(0.3).run()
        at.checkbox(key=_slot(at, 1, "max_tokens_inherit")).uncheck().run()
        at.number_input(key=_slot(at, 1, "max_tokens")).set_value(9).run()
        _run(at)
        bodies = [r.json() for r in server.requests if r.method == "POST"]
    sent = sorted((b["temperature"], b["max_tokens"]) for b in bodies)
    assert (0.3, 256) in sent and (0.7, 9) in sent and sent.count((0.7, 256)) == 2


def test_a_run_on_the_embedded_model_sends_one_variant_at_a_time_and_times_each_on_its_own():
    compare = _open(history=list(HISTORY), max_tokens=24)  # short answers: four calls on a shared CPU
    _run(compare)
    comparison = compare.session_state["comparisons"][-1]
    assert comparison.one_at_a_time
    assert [r.variant.name for r in comparison.results] == [v.name for v in PRESETS]
    for result in comparison.results:
        assert result.errors == [] and result.answer.strip()
        assert result.outcomes[0].usage.prompt_tokens == result.plan.prompt_tokens  # exact prediction
    # Sent in turn: each variant waited (queued) at least as long as the ones before it took, so its
    # latency, counted from its own sending, is its own and not the queue's.
    for before, after in zip(comparison.results, comparison.results[1:], strict=False):
        assert after.queued[0] >= before.queued[0] + before.outcomes[0].latency_s
    assert len(compare.dataframe) == 2  # every run's row, and the pre-run table
    assert any(b.label.startswith("Download the report") for b in compare.get("download_button"))
    captions = " ".join(c.value for c in compare.caption)
    assert "queued" in captions and "sent one at a time" in captions


def test_a_broken_variant_shows_its_error_and_the_others_finish(compare):
    with FakeOpenAI() as server:
        server.behaviour.reject_unknown_models = True
        at = _on(server, compare)
        at.session_state[_slot(at, 1, "model")] = "no-such-model"
        at.run()
        _run(at)
    results = at.session_state["comparisons"][-1].results
    assert "(404)" in results[1].errors[0]
    assert all(r.answer == "Hello from the fake server." for i, r in enumerate(results) if i != 1)
    assert any("(404)" in e.value for e in at.error)


def test_results_and_variant_edits_survive_a_refresh(compare):
    session_id = compare.query_params["session"]
    with FakeOpenAI() as server:
        server.behaviour.reply = "You are Ada, and you like foxes."
        at = _on(server, compare)
        at.text_input(key=_slot(at, 2, "name")).set_value("Just the last turn").run()
        at.selectbox(key=_slot(at, 2, "strategy")).set_value("last_turns").run()
        at.number_input(key=_slot(at, 2, "turns")).set_value(1).run()
        at.text_area(key="compare_question").set_value("Who am I?").run()
        at.text_input(key="compare_expected").set_value("Ada").run()
        _run(at)
        # F5: a new browser session on the same URL, same database.
        again = _open(session_id, provider_kind="compatible", base_url=server.base_url)
    kept = again.session_state["comparisons"]
    assert len(kept) == 1 and kept[0].question == "Who am I?"
    assert [r.answer for r in kept[0].results] == ["You are Ada, and you like foxes."] * 4
    assert kept[0].results[2].variant.name == "Just the last turn"
    assert any(s.value.startswith("Answers to “Who am I") for s in again.subheader)  # the question, made inert
    assert again.text_area(key="compare_question").value == "Who am I?"
    assert again.text_input(key="compare_expected").value == "Ada"  # the answer it should get, kept too
    assert again.text_input(key=_slot(again, 2, "name")).value == "Just the last turn"
    assert again.number_input(key=_slot(again, 2, "turns")).value == 1
    assert list(again.dataframe[-1].value["variant"])[2] == "Just the last turn"  # the plan, from the edit


def test_another_session_has_its_own_comparisons(compare):
    with FakeOpenAI() as server:
        _run(_on(server, compare))
        other = _open(provider_kind="compatible", base_url=server.base_url)
    assert other.session_state["comparisons"] == []
    assert [other.text_input(key=_slot(other, i, "name")).value for i in range(4)] == [v.name for v in PRESETS]


def test_runs_can_be_priced_as_a_hosted_model(compare):
    compare.selectbox(key="price_as").set_value("").run()  # each model's own prices (the default is a hosted one)
    assert compare.dataframe[0].value["input cost $"].eq(0).all()  # offline: everything is $0
    compare.selectbox(key="price_as").set_value("gpt-4o-mini").run()
    table = compare.dataframe[0].value
    column = "input cost $ (priced as gpt-4o-mini)"
    tokens = dict(zip(table["variant"], table["prompt tokens"], strict=True))
    costs = dict(zip(table["variant"], table[column], strict=True))
    assert costs[FULL] == pytest.approx(tokens[FULL] * 0.15 / 1_000_000)
    assert "priced as gpt-4o-mini" in _run_button(compare).label
    with FakeOpenAI() as server:
        at = _on(server, compare)
        _run(at)
    runs = at.dataframe[0].value
    assert "cost $ (priced as gpt-4o-mini)" in runs.columns and runs["cost $ (priced as gpt-4o-mini)"].gt(0).all()


def test_answers_read_as_text_and_the_word_diff_is_on_request(compare):
    with FakeOpenAI() as server:
        server.behaviour.reply = "Your name is Ada."
        _run(_on(server, compare))
    assert not compare.html or all("<ins" not in h.value for h in compare.html)
    assert sum(m.value == "Your name is Ada." for m in compare.markdown) == 4
    compare.toggle(key="compare_diff").set_value(True).run()
    diffs = [h.value for h in compare.html if "white-space:pre-wrap" in h.value]
    assert len(diffs) == 3  # every answer but the baseline's, as a diff


def _run_repeated_on(server: FakeOpenAI, at, repeats: int, seed: int) -> list:
    """Run every variant `repeats` times against the fake server; the requests it received."""
    _on(server, at, compare_repeats=repeats, compare_seed=seed)
    _run(at)
    return [r for r in server.requests if r.method == "POST"]


def test_repeats_send_a_seed_each(compare):
    with FakeOpenAI() as server:
        seeds = sorted(r.json()["seed"] for r in _run_repeated_on(server, compare, 3, 7))
    assert seeds == sorted([7, 8, 9] * len(PRESETS))
    results = compare.session_state["comparisons"][-1].results
    assert all(len(r.outcomes) == 3 and r.seeds == [7, 8, 9] for r in results)


def test_every_run_is_in_the_run_log_with_the_bytes_it_sent_and_its_details(compare):
    with FakeOpenAI() as server:
        posts = _run_repeated_on(server, compare, 2, 3)
        sent = sorted(len(r.body) for r in posts)
    with storage.opened() as conn:
        logged = calls_with_details(conn)
    calls = [record for record, _ in logged]
    assert sorted(c.variant for c in calls) == sorted([v.name for v in PRESETS] * 2)
    assert sorted(c.payload_bytes for c in calls) == sent  # the seeded bodies, byte for byte
    assert {(c.status, c.provider) for c in calls} == {("ok", "compatible")}
    details = {record.variant: d for record, d in logged}
    assert details[LAST_TWO].strategy == "Last 2 turns" and details[LAST_TWO].answer == "Hello from the fake server."
    assert details[FULL].body["messages"][-1]["content"] == "What is my name?"
    assert {json.dumps(d.body, separators=(",", ":"), ensure_ascii=False) for _, d in logged} == {
        r.body.decode() for r in posts
    }


def test_an_expected_answer_marks_each_run_correct_or_not_and_a_wrong_baseline_is_said():
    """Was: the wrong full-history answer was the 1.00 reference of every similarity, and nothing said it
    was wrong."""
    pinned = [Message("user", "My name is Ada.", pinned=True), *HISTORY[1:]]
    at = _open(history=pinned)
    plan = at.dataframe[0].value
    assert (
        dict(zip(plan["variant"], plan["strategy"], strict=True))[BARE] == "No history (stateless) + 1 pinned message"
    )
    with FakeOpenAI() as server:
        server.behaviour.reply = "Your name is Bob."
        at = _on(server, at, compare_expected="Ada")
        _run(at)
    runs = at.dataframe[0].value
    assert list(runs["correct?"]) == ["no"] * 4
    assert list(runs.columns).index("correct?") == list(runs.columns).index("similarity to baseline") + 1
    assert any("does not give the expected answer “Ada”" in w.value for w in at.warning)
    kept = at.session_state["comparisons"][-1]
    assert kept.expected == "Ada" and kept.correct(0) is False


def test_a_summarising_variant_says_what_its_summary_costs_and_the_button_makes_it(compare):
    """A variant that summarises older turns is not run until its summary is made: the page says what
    that call costs, the button makes it (logged as the summary's call), and the variant then sends it."""
    with FakeOpenAI() as server:
        at = _on(server, compare)
        at.selectbox(key=_slot(at, 2, "strategy")).set_value("summarise").run()
        at.number_input(key=_slot(at, 2, "turns")).set_value(1).run()
        warning = next(w.value for w in at.warning if "summarised first" in w.value)
        assert warning.startswith(f"{LAST_TWO}: the older messages must be summarised first — 1 call(s), ")
        assert "prompt tokens, input $" in warning and warning.endswith("Until then that variant is not run.")
        assert _posts(server) == []  # saying what it costs costs nothing
        next(b for b in at.button if b.label == "Make the summaries").click().run()
        assert not at.exception, at.exception
        assert len(_posts(server)) == 1
        assert not any("summarised first" in w.value for w in at.warning)
        assert [row.variant for row in run_log_rows()] == ["summary (compare)"]
        _run(at)
        bodies = [r.json() for r in _posts(server)[1:]]
    summarised = [b for b in bodies if any("Summary of the earlier conversation" in str(m) for m in b["messages"])]
    assert len(bodies) == len(PRESETS) and len(summarised) == 1


def test_the_plan_chart_is_made_once_while_the_plan_stays_the_same(compare, monkeypatch):
    """A rerun that changes nothing the chart shows draws the chart made before (plotly's checks took
    30-55 ms a rerun); a change to what a variant sends makes it again."""
    from ui.compare import before

    made: list[list[dict]] = []
    monkeypatch.setattr(before, "plan_figure", lambda rows, **kw: made.append(rows) or plan_figure(rows, **kw))
    before._plan_chart.clear()
    compare.run()
    charts = len(compare.get("plotly_chart"))  # the plan's, beside the composition's
    compare.run()  # a rerun, as any click elsewhere on the page makes
    assert not compare.exception, compare.exception
    assert len(made) == 1 and len(compare.get("plotly_chart")) == charts  # drawn again, not made again
    compare.text_area(key="compare_question").set_value("What do I like, and why?").run()
    assert len(made) == 2 and made[1] != made[0]  # every variant sends the new question: charted anew
    assert len(compare.get("plotly_chart")) == charts
