"""The Batch API both ways: a run's requests out as JSONL, the batch's output file back in and scored;
a file that does not fit the run is refused whole, by line. Offline: the output file is written from
the embedded model's real answers to the exported requests."""

from __future__ import annotations

import json

import pytest

from lib.analysis.compare import Variant
from lib.analysis.experiments import batch, builtin, planner, results, runner
from lib.analysis.experiments.cases import Case, Check, Conversation, TestSet
from lib.analysis.experiments.planner import CellKey, RunSpec
from lib.backends.providers import ProviderConfig, make_client
from lib.context.payload import Sampling
from lib.context.request import Target
from lib.context.strategies import Strategy
from lib.context.tokens import TiktokenCounter
from lib.core import models
from lib.core.outcome import CallOutcome

GPT = Target(models.MODELS["gpt-4o-mini"], TiktokenCounter.for_model("gpt-4o-mini"), "gpt-4o-mini")
VARIANTS = (Variant("Full history", Strategy("full")), Variant("No history", Strategy("none")))
CASES = (
    Case("a/b c", "Say yes", Conversation(), (Check("contains", "yes", ignore_case=True),)),
    Case("r2", "Say no", Conversation(), (Check("contains", "no"),)),
)


def spec(cases=CASES, repeats: int = 2) -> RunSpec:
    return planner.for_batch(RunSpec(TestSet("t", cases), VARIANTS, repeats, 1, Sampling(), "openai", "gpt-4o-mini"))


def completion(text: str, finish: str = "stop") -> dict:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 0,
        "model": "gpt-4o-mini",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": finish}],
        "usage": {
            "prompt_tokens": 20,
            "completion_tokens": 2,
            "total_tokens": 22,
            "prompt_tokens_details": {"cached_tokens": 16},
        },
    }


def test_a_custom_id_names_variant_case_and_repeat_and_reads_back():
    key = CellKey(1, "a/b c", 1)
    value = batch.custom_id(key, VARIANTS)
    assert value == "v2-no-history/a/b c/r2"
    assert batch.parse_custom_id(value, VARIANTS) == key
    assert batch.parse_custom_id("v2-full-history/a/r1", VARIANTS) is None  # the name does not match variant 2
    assert batch.parse_custom_id("v9-x/a/r1", VARIANTS) is None
    assert batch.parse_custom_id("nonsense", VARIANTS) is None


def test_the_export_is_one_request_line_per_cell():
    cells = planner.plan_cells(spec(), lambda _: GPT)
    lines = [json.loads(line) for line in batch.to_jsonl(cells, VARIANTS).splitlines()]
    assert len(lines) == 2 * 2 * 2
    first = lines[0]
    assert set(first) == {"custom_id", "method", "url", "body"}
    assert (first["method"], first["url"]) == ("POST", "/v1/chat/completions")
    assert first["body"] == {k: v for k, v in cells[0].plan.body.items() if k != "stream"}
    assert first["body"]["seed"] == 1 and lines[1]["body"]["seed"] == 2  # each repeat its seed
    assert len({line["custom_id"] for line in lines}) == 8


def test_an_output_file_is_read_and_scored():
    run = spec()
    cells = planner.plan_cells(run, lambda _: GPT)
    lines = [
        batch.output_line(c.key, VARIANTS, completion("Yes." if c.key.case == "a/b c" else "Maybe"), i)
        for i, c in enumerate(cells)
    ]
    answers = batch.read_output("\n".join(lines).encode(), cells, VARIANTS)
    assert len(answers) == 8
    planned = {c.key: c for c in cells}
    scored = [runner.answered_cell(planned[a.key], a.outcome, judged=False) for a in answers]
    assert {(c.key.case, c.status) for c in scored} == {("a/b c", "pass"), ("r2", "fail")}
    first = scored[0]
    assert first.usage.prompt_tokens == 20 and first.usage.cached_tokens == 16 and first.body == cells[0].plan.body
    shown, _ = results.grid(run, scored)
    assert shown.at["a/b c", "Full history"] == "2/2"


def test_failed_requests_in_the_output_become_errored_cells():
    run = spec(repeats=1)
    cells = planner.plan_cells(run, lambda _: GPT)
    keys = [c.key for c in cells]
    lines = [
        json.dumps(
            {
                "custom_id": batch.custom_id(keys[0], VARIANTS),
                "response": None,
                "error": {"code": "batch_expired", "message": "This request could not be executed."},
            }
        ),
        json.dumps(
            {
                "custom_id": batch.custom_id(keys[1], VARIANTS),
                "response": {"status_code": 400, "body": {"error": {"message": "Invalid model"}}},
                "error": None,
            }
        ),
        json.dumps(
            {
                "custom_id": batch.custom_id(keys[2], VARIANTS),
                "response": {
                    "status_code": 200,
                    "body": {
                        "choices": [{"message": {"content": None, "refusal": "I can't help."}, "finish_reason": "stop"}]
                    },
                },
            }
        ),
    ]
    outcomes = [a.outcome for a in batch.read_output("\n".join(lines).encode(), cells, VARIANTS)]
    assert outcomes[0].error == "The batch request failed (batch_expired): This request could not be executed."
    assert outcomes[1].error == "The batch request failed (400): Invalid model"
    assert outcomes[2].error == "The model refused: I can't help."


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("not json\n", "line 1: not valid JSON"),
        ('{"id": 1}\n', "line 1: no `custom_id`"),
        ('{"custom_id": "v1-full-history/zzz/r1", "response": {}}\n', "names no cell of this run"),
        ('{"custom_id": "v1-full-history/r2/r9", "response": {}}\n', "names no cell of this run"),
        ('{"custom_id": "v1-full-history/r2/r1", "response": {"status_code": 200}}\n', "line 1: the response has no"),
        ("\n\n", "the file holds no answers"),
        # A traceback before (RecursionError, ValueError): now named, with the line.
        ("\n" + "[" * 100_000 + "\n", "line 2: lists and mappings nest more than 64 levels deep"),
        ('{"custom_id": ' + "9" * 5_001 + "}\n", "line 1: a number of more than 4,300 digits"),
        ('{"custom_id": "v' + "9" * 5_001 + '-full-history/r2/r1"}\n', "line 1: custom_id 'v999"),
        ('{"custom_id": "v1-full-history/r2/r' + "9" * 5_001 + '"}\n', "names no cell of this run"),
    ],
)
def test_an_output_that_does_not_fit_the_run_is_refused_whole(content, reason):
    cells = planner.plan_cells(spec(), lambda _: GPT)
    with pytest.raises(batch.InvalidBatchFile) as refused:
        batch.read_output(content.encode(), cells, VARIANTS)
    assert reason in str(refused.value)


def test_a_custom_id_twice_is_refused():
    cells = planner.plan_cells(spec(), lambda _: GPT)
    line = batch.output_line(cells[0].key, VARIANTS, completion("yes"))
    with pytest.raises(batch.InvalidBatchFile, match=r"line 2: .* comes twice"):
        batch.read_output(f"{line}\n{line}\n".encode(), cells, VARIANTS)


@pytest.mark.slow
def test_both_directions_offline_with_the_embedded_models_real_answers(embedded_server, embedded_tokenizer):
    """Export the requests, answer each with the embedded model as the Batch API would, import the
    output file: the run scores as if it had been sent from the page."""
    target = Target(models.MODELS[models.EMBEDDED_MODEL], embedded_tokenizer, models.EMBEDDED_MODEL)
    cases = tuple(c for c in builtin.test_set().cases if c.id in ("A-city", "B-number"))
    run = planner.for_batch(RunSpec(TestSet("b", cases), VARIANTS, 1, 1, Sampling(0.0, 24), "embedded", "x"))
    cells = planner.plan_cells(run, lambda _: target)
    exported = batch.to_jsonl(cells, VARIANTS)
    client = make_client(ProviderConfig("embedded", models.EMBEDDED_MODEL, base_url=embedded_server.base_url))
    output = []
    for index, line in enumerate(exported.splitlines()):
        request = json.loads(line)
        answer = client.chat.completions.create(**request["body"]).model_dump()
        output.append(
            json.dumps(
                {
                    "id": f"batch_req_{index}",
                    "custom_id": request["custom_id"],
                    "response": {"status_code": 200, "body": answer},
                    "error": None,
                }
            )
        )
    answers = batch.read_output("\n".join(output).encode(), cells, VARIANTS)
    planned = {c.key: c for c in cells}
    scored = {a.key: runner.answered_cell(planned[a.key], a.outcome, judged=False) for a in answers}
    assert set(scored) == set(planned)
    for key, cell in scored.items():
        assert cell.status in ("pass", "fail") and cell.answer.strip()
        assert cell.usage.prompt_tokens == planned[key].plan.prompt_tokens  # the builder's exact count
    assert {scored[k].status for k in scored if k.variant == 1} == {"fail"}  # no history: the facts are not there


# --- applying a file to its run, on both stores: idempotent, never over a finished cell -------------------


def _output(cells, answer=lambda key: "Yes." if key.case == "a/b c" else "Maybe") -> bytes:
    return "\n".join(
        batch.output_line(c.key, VARIANTS, completion(answer(c.key)), i) for i, c in enumerate(cells)
    ).encode()


def _logged() -> list:
    from lib.store import storage

    with storage.opened() as conn:
        return storage.calls(conn)


def test_the_same_output_applied_twice_adds_no_cell_call_or_cost(store):
    from lib.analysis.experiments import store as experiments
    from lib.store import storage

    run = spec()
    cells = planner.plan_cells(run, lambda _: GPT)
    with storage.opened() as conn:
        run_id = experiments.create_run(conn, run, "batch", "s1", "batch", owner="me")
        first = batch.apply_output(conn, run_id, run, cells, _output(cells), "s1", owner="me")
        stored = experiments.cells(conn, run_id, "me")
    logged = _logged()
    assert (first.applied, first.skipped) == (8, 0) and len(stored) == 8 and len(logged) == 8
    with storage.opened() as conn:
        again = batch.apply_output(conn, run_id, run, cells, _output(cells), "s1", owner="me")
        assert experiments.cells(conn, run_id, "me") == stored  # not one cell rewritten
    assert (again.applied, again.skipped) == (0, 8)
    assert again.sentence() == "0 answers applied, 8 already in the run, skipped."
    assert _logged() == logged  # the run log's calls and cost, once
    assert sum(c.cost or 0 for c in _logged()) == sum(c.cost or 0 for c in logged)


def test_an_answer_for_a_cell_finished_interactively_is_skipped_and_counted(store):
    from lib.analysis.experiments import store as experiments
    from lib.store import storage

    run = spec(repeats=1)
    cells = planner.plan_cells(run, lambda _: GPT)
    interactive = runner.answered_cell(cells[0], CallOutcome(text="Yes, interactively."), judged=False)
    with storage.opened() as conn:
        run_id = experiments.create_run(conn, run, "batch", "s1", "batch", owner="me")
        experiments.record_cell(conn, run_id, interactive)
        applied = batch.apply_output(conn, run_id, run, cells, _output(cells, lambda _: "No."), "s1", owner="me")
        stored = {c.key: c for c in experiments.cells(conn, run_id, "me")}
    assert (applied.applied, applied.skipped) == (3, 1)
    assert applied.sentence() == "3 answers applied, 1 already in the run, skipped."
    assert stored[cells[0].key].answer == "Yes, interactively."  # the finished cell is as it was
    assert {stored[c.key].answer for c in cells[1:]} == {"No."}
    assert len(_logged()) == 3  # only the answers written add a call


def test_a_file_that_does_not_fit_writes_nothing(store):
    from lib.analysis.experiments import store as experiments
    from lib.store import storage

    run = spec(repeats=1)
    cells = planner.plan_cells(run, lambda _: GPT)
    bad = _output(cells) + b"\nnot json"
    with storage.opened() as conn:
        run_id = experiments.create_run(conn, run, "batch", "s1", "batch", owner="me")
        with pytest.raises(batch.InvalidBatchFile, match="line 5: not valid JSON"):
            batch.apply_output(conn, run_id, run, cells, bad, "s1", owner="me")
        assert experiments.cells(conn, run_id, "me") == []
    assert _logged() == []


def test_the_estimate_of_a_batch_run_is_half_the_interactive_one_but_the_judge_is_not():
    run = spec()
    cells = planner.plan_cells(run, lambda _: GPT)
    listed, batched = planner.estimate(run, cells), planner.estimate(run, cells, batch=True)
    assert listed.max_cost and batched.max_cost == pytest.approx(listed.max_cost / 2)
    for a, b in zip(listed.variants, batched.variants, strict=True):
        assert b.input_cost == pytest.approx((a.input_cost or 0) / 2)
        assert b.max_output_cost == pytest.approx((a.max_output_cost or 0) / 2)
        assert (a.calls, a.prompt_tokens) == (b.calls, b.prompt_tokens)


def test_every_cell_and_call_applied_from_a_batch_file_is_priced_at_the_batch_rate(store):
    from lib.analysis.experiments import store as experiments
    from lib.core.prices import billed
    from lib.store import storage

    run = spec(repeats=1)
    cells = planner.plan_cells(run, lambda _: GPT)
    with storage.opened() as conn:
        run_id = experiments.create_run(conn, run, "batch", "s1", "batch", owner="me")
        batch.apply_output(conn, run_id, run, cells, _output(cells), "s1", owner="me")
        stored = experiments.cells(conn, run_id, "me")
    from lib.core.outcome import Usage

    listed = billed(GPT.model.prices, 0, Usage(prompt_tokens=20, completion_tokens=2, cached_tokens=16))
    assert listed
    assert [c.cost for c in stored] == pytest.approx([listed / 2] * 4)
    assert [c.cost for c in _logged()] == pytest.approx([listed / 2] * 4)


def test_variants_with_several_models_give_one_input_file_per_model():
    mini = Target(models.MODELS["gpt-4o"], TiktokenCounter.for_model("gpt-4o"), "gpt-4o")
    variants = (
        Variant("Full history", Strategy("full")),
        Variant("On 4o", Strategy("full"), model="gpt-4o"),
        Variant("No history", Strategy("none")),
    )
    run = planner.for_batch(RunSpec(TestSet("t", CASES), variants, 1, 1, Sampling(), "openai", "gpt-4o-mini"))
    cells = planner.plan_cells(run, lambda v: mini if v.model == "gpt-4o" else GPT)
    files = batch.input_files(cells, variants, "gpt-4o-mini")
    assert list(files) == ["gpt-4o-mini", "gpt-4o"]
    for model, text in files.items():
        lines = [json.loads(line) for line in text.splitlines()]
        assert {line["body"]["model"] for line in lines} == {model}
    ids = [json.loads(line)["custom_id"] for text in files.values() for line in text.splitlines()]
    assert sorted(ids) == sorted(json.loads(line)["custom_id"] for line in batch.to_jsonl(cells, variants).splitlines())
    assert batch.file_stem("../a b/gpt:4o") == "a-b-gpt-4o"
