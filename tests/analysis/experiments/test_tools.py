"""Experiments with tools: a test set carries tool definitions (its own, a conversation's, a promptfoo
provider's `config.tools`), cases keep tool calls and results, and each variant sends the case's tools,
none, or fewer — what the server receives is exactly what the plan (and its estimate) says."""

from __future__ import annotations

import json

import pytest

from lib.analysis.compare import Variant
from lib.analysis.experiments import batch, formats, planner, runner, setup, store
from lib.analysis.experiments.cases import Case, Check, Conversation, InvalidTestSet, TestSet
from lib.analysis.experiments.planner import RunSpec
from lib.backends.providers import ProviderConfig
from lib.context.conversation import Message, SystemPrompt, ToolCall
from lib.context.payload import Sampling
from lib.context.request import Target
from lib.context.strategies import Strategy
from lib.context.tokens import TiktokenCounter
from lib.context.tools import ToolDefinition, ToolSettings
from lib.core import models
from lib.store import storage
from lib.store.session import Session
from tests.fake_openai import FakeOpenAI

WEATHER = ToolDefinition(
    "get_weather",
    "Current weather for a city.",
    {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    id="tool-0",
)
TIME = ToolDefinition("get_time", "The local time in a city.", {"type": "object", "properties": {}}, id="tool-1")
TOOLS = ToolSettings((WEATHER, TIME), "auto", False)
ROUND = (
    Message("user", "What is the weather in Rome?", id="h0000"),
    Message("assistant", "", id="h0001", tool_calls=(ToolCall("call_1", "get_weather", '{"city": "Rome"}'),)),
    Message("tool", '{"wind_kmh": 14, "sky": "clear"}', id="h0002", tool_call_id="call_1"),
    Message("assistant", "Rome: clear, wind 14 km/h.", id="h0003"),
)
CASE = Case("wind", "How strong is the wind there?", Conversation("inline", ROUND), (Check("contains", "14"),))
VARIANTS = (
    Variant("With tools", Strategy("full")),
    Variant("Without tools", Strategy("full"), tools=()),
    Variant("Only get_time", Strategy("full"), tools=("get_time",)),
)
GPT = Target(models.info_for("fake-model"), TiktokenCounter("o200k_base", False), "fake-model")


def spec(test_set: TestSet, variants=VARIANTS, kind="compatible", sampling=None) -> RunSpec:
    sampling = sampling or Sampling(temperature=0.0, max_tokens=8)
    return RunSpec(test_set, variants, 1, 1, sampling, kind, "fake-model")


def run(server_url: str, run_spec: RunSpec, target: Target, kind="compatible", model="fake-model"):
    """The run as the page makes it: planned, stored, sent on the runner's thread, read back."""
    with storage.opened() as conn:
        run_id = store.create_run(conn, run_spec, "tools run", "session-1")
    cells = planner.prefix_order(planner.plan_cells(run_spec, lambda _: target))
    config = ProviderConfig(kind, model, base_url=server_url)
    executor = runner.RunExecutor(run_id, run_spec, cells, config, "session-1", wait=lambda _: None).start()
    assert executor.join(120)
    with storage.opened() as conn:
        return cells, store.cells(conn, run_id)


def _by_variant(server: FakeOpenAI) -> dict[str, dict]:
    """Each chat call's body the server received, by the variant whose tools it carries."""
    bodies = [r.json() for r in server.requests if r.method == "POST"]
    assert len(bodies) == 3
    return {json.dumps([t["function"]["name"] for t in b.get("tools", [])]): b for b in bodies}


def test_each_variant_sends_the_sets_tools_none_or_fewer_and_the_call_round_as_written():
    with FakeOpenAI() as server:
        server.behaviour.reply = "Wind 14 km/h."
        cells, results = run(server.base_url, spec(TestSet("t", (CASE,), tools=TOOLS)), GPT)
        received = _by_variant(server)
    full = received['["get_weather", "get_time"]']
    assert full["tools"] == [WEATHER.as_api(), TIME.as_api()]
    assert (full["tool_choice"], full["parallel_tool_calls"]) == ("auto", False)
    bare = received["[]"]
    assert not {"tools", "tool_choice", "parallel_tool_calls"} & set(bare)
    fewer = received['["get_time"]']
    assert fewer["tools"] == [TIME.as_api()] and fewer["tool_choice"] == "auto"
    for body in (full, bare, fewer):  # the call and its result reach the server in their shape
        assert body["messages"][2]["tool_calls"][0]["function"] == {
            "name": "get_weather",
            "arguments": '{"city": "Rome"}',
        }
        assert body["messages"][3] == {"role": "tool", "tool_call_id": "call_1", "content": ROUND[2].content}
    # the stored body (the results grid's, the export's) carries what was received
    kept = {json.dumps([t["function"]["name"] for t in c.body.get("tools", [])]): c.body for c in results}
    assert {k: b.get("tools") for k, b in kept.items()} == {k: b.get("tools") for k, b in received.items()}
    assert {c.status for c in results} == {"pass"}
    assert [c.plan.tools.api_tools() for c in sorted(cells, key=lambda c: c.key)] == [
        [WEATHER.as_api(), TIME.as_api()],
        [],
        [TIME.as_api()],
    ]


def test_a_conversations_own_tools_win_over_the_sets():
    own = ToolSettings((TIME,), "required")
    cases = (
        CASE,
        Case("own", "Time?", Conversation("inline", (), tools=own)),
    )
    cells = planner.plan_cells(spec(TestSet("t", cases, tools=TOOLS), VARIANTS[:1]), lambda _: GPT)
    by_case = {c.key.case: c.plan.body for c in cells}
    assert [t["function"]["name"] for t in by_case["wind"]["tools"]] == ["get_weather", "get_time"]
    assert by_case["own"]["tools"] == [TIME.as_api()] and by_case["own"]["tool_choice"] == "required"


def test_a_case_asked_in_a_saved_session_brings_the_sessions_tools():
    session = Session(
        "s1",
        system=SystemPrompt("Use the tools."),
        messages=ROUND,
        tools=(WEATHER,),
        settings={"tool_choice": "get_weather", "parallel_tool_calls": True},
    )
    case = Case("saved", "Wind?", Conversation("session", session_id="s1"))
    resolved = setup.resolved(TestSet("t", (case,)), Conversation("current"), {"s1": session}.get)
    (cell,) = planner.plan_cells(spec(resolved, VARIANTS[:1]), lambda _: GPT)
    assert cell.plan.body["tools"] == [WEATHER.as_api()]
    assert cell.plan.body["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}
    assert cell.plan.body["parallel_tool_calls"] is True
    # the run stores the set as resolved: planned again from the stored spec, the same body
    again = planner.spec_from_dict(json.loads(json.dumps(planner.spec_to_dict(spec(resolved, VARIANTS)))))
    assert next(c.plan.body for c in planner.plan_cells(again, lambda _: GPT)) == cell.plan.body
    assert [v.tools for v in again.variants] == [None, (), ("get_time",)]


@pytest.mark.parametrize("extension", ["yaml", "jsonl", "csv"])
def test_a_set_with_tools_and_tool_rounds_round_trips_through_every_format(extension):
    left_out = ToolDefinition(
        "get_news", "Headlines.", {"type": "object", "properties": {}}, included=False, id="tool-2"
    )
    original = TestSet("Agent set", (CASE,), tools=ToolSettings((WEATHER, TIME, left_out), "get_weather", True))
    write, _ = formats.EXPORTERS[extension]
    back = formats.read_file(f"set.{extension}", write(original).encode())
    assert back.tools == original.tools
    assert back.cases == original.cases
    assert back.cases[0].conversation.messages[1].tool_calls == ROUND[1].tool_calls


def test_rows_that_disagree_about_the_sets_tools_are_refused_by_line():
    lines = formats.to_jsonl(TestSet("t", (CASE, Case("b", "Q?")), tools=TOOLS)).splitlines()
    second = json.loads(lines[1]) | {"tool_choice": "none"}
    with pytest.raises(InvalidTestSet, match="line 2: its tools differ from line 1's"):
        formats.read_jsonl("\n".join([lines[0], json.dumps(second)]))
    bad = 'name: t\ntools: [{type: function, function: {name: "no spaces please"}}]\ncases: [{question: Q?}]\n'
    with pytest.raises(InvalidTestSet, match=r"tools\[0\]\.function\.name"):
        formats.read_yaml(bad)


PROMPTFOO = b"""
prompts: ["What is the weather in {{city}}?"]
providers:
  - id: openai:chat:gpt-4o-mini
    config:
      apiKey: sk-proj-abcdefabcdefabcdefabcdefabcdef
      tool_choice: {type: function, function: {name: get_weather}}
      tools: file://tools.yaml
tests:
  - vars: {city: Rome}
    assert: [{type: icontains, value: rome}]
"""
PROMPTFOO_TOOLS = b"""
- type: function
  function:
    name: get_weather
    description: Current weather for a city.
    parameters: {type: object, properties: {city: {type: string}}, required: [city]}
"""


def test_a_promptfoo_providers_config_tools_are_sent_with_every_case():
    imported = formats.read_upload([("promptfooconfig.yaml", PROMPTFOO), ("tools.yaml", PROMPTFOO_TOOLS)])
    assert imported.test_set.tools.tool_choice == "get_weather"
    assert any("get_weather" in line and "are the set's" in line for line in imported.report)
    assert not any("apiKey" in line or "sk-proj" in line for line in imported.report)
    with FakeOpenAI() as server:
        run(server.base_url, spec(imported.test_set, VARIANTS[:1]), GPT)
        (body,) = [r.json() for r in server.requests if r.method == "POST"]
    assert body["tools"] == [WEATHER.as_api()]
    assert body["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}
    assert body["messages"][-1]["content"] == "What is the weather in Rome?"


def test_the_batch_file_carries_each_variants_tools():
    cells = planner.plan_cells(planner.for_batch(spec(TestSet("t", (CASE,), tools=TOOLS))), lambda _: GPT)
    lines = [json.loads(line) for line in batch.to_jsonl(cells, VARIANTS).splitlines()]
    assert [[t["function"]["name"] for t in line["body"].get("tools", [])] for line in lines] == [
        ["get_weather", "get_time"],
        [],
        ["get_time"],
    ]
    assert "tool_choice" not in lines[1]["body"] and lines[0]["body"]["tool_choice"] == "auto"


def test_the_variants_table_reads_and_writes_the_tools_column():
    rows = [setup.variant_row(v) for v in VARIANTS]
    assert [r["tools"] for r in rows] == ["the case's", "none", "get_time"]
    assert [v.tools for v in setup.variants_from(rows)] == [None, (), ("get_time",)]
    assert setup.variants_from([{"tools": "get_time, get_weather, get_time"}])[0].tools == ("get_time", "get_weather")


@pytest.mark.slow
def test_on_the_embedded_model_the_planned_tokens_are_the_servers(embedded_server, embedded_tokenizer):
    """With tools, without, and with fewer: the estimate's prompt tokens are what the server reports."""
    target = Target(models.MODELS[models.EMBEDDED_MODEL], embedded_tokenizer, models.EMBEDDED_MODEL)
    run_spec = spec(TestSet("t", (CASE,), tools=TOOLS), kind="embedded", sampling=Sampling(0.0, 4))
    cells, results = run(embedded_server.base_url, run_spec, target, kind="embedded", model=models.EMBEDDED_MODEL)
    estimate = planner.estimate(run_spec, cells)
    assert len(results) == 3 and all(c.error is None for c in results)
    reported = {c.key.variant: c.usage.prompt_tokens for c in results}
    assert {v: e.prompt_tokens for v, e in enumerate(estimate.variants)} == reported
    assert all(c.body.get("tools") or c.key.variant == 1 for c in results)


# --- checks that read the reply's tool calls -------------------------------------------------------------

LOOKUP = ToolDefinition(
    "lookup", "Look a word up.", {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]}
)
LOOSE_LOOKUP = ToolDefinition("lookup", "Look a word up.", {"type": "object", "properties": {}})


def test_tool_checks_read_the_calls_the_reply_made_against_the_tools_it_was_sent():
    from lib.analysis.experiments.cases import check_from_line

    checks = tuple(
        check_from_line(line)
        for line in ("calls-tool: lookup", "calls-tool: get_weather", "is-valid-openai-tools-call")
    )
    cases = (
        Case("strict", "Define 'tarn'.", checks=checks),  # lookup needs `q`: the fake's call sends {}
        Case("loose", "Define 'tarn'.", Conversation("inline", (), tools=ToolSettings((LOOSE_LOOKUP,))), checks),
    )
    variants = (Variant("With tools", Strategy("full")), Variant("Without tools", Strategy("full"), tools=()))
    with FakeOpenAI() as server:
        server.behaviour.tool_call, server.behaviour.reply = True, ""
        server.behaviour.finish_reason = "tool_calls"
        _, results = run(server.base_url, spec(TestSet("t", cases, tools=ToolSettings((LOOKUP,))), variants), GPT)
    verdicts = {(c.key.variant, c.key.case): [(v.passed, v.detail) for v in c.verdicts] for c in results}
    strict, loose, bare = verdicts[(0, "strict")], verdicts[(0, "loose")], verdicts[(1, "loose")]
    assert strict[0] == (True, "calls lookup({})")
    assert strict[1] == (False, "calls lookup({}), not 'get_weather'")
    assert strict[2][0] is False and "call 1 (lookup): the arguments does not match the schema" in strict[2][1]
    assert "'q' is a required property" in strict[2][1]
    assert loose[2] == (True, "every call is valid: lookup({})")
    assert bare[2] == (False, "call 1 names 'lookup', not a tool the request sent (none)")
    assert {c.status for c in results} == {"fail"}
    assert all("No text: the model asked for a tool" in " ".join(c.notices) for c in results)


def test_tool_checks_are_written_and_read_back_and_a_nameless_calls_tool_is_refused():
    from lib.analysis.experiments.cases import check_from_line, check_to_dict, to_line

    for line in ("calls-tool: get_weather", "is-valid-openai-tools-call"):
        assert to_line(check_from_line(line)) == line
    assert check_to_dict(check_from_line("calls-tool: get_weather")) == {"type": "calls-tool", "value": "get_weather"}
    with pytest.raises(InvalidTestSet, match=r"calls-tool's value .* is empty"):
        check_from_line("calls-tool:")
    imported = formats.read_upload(
        [
            (
                "promptfooconfig.yaml",
                b"prompts: ['{{q}}']\ntests:\n  - vars: {q: Hi}\n    assert: [{type: is-valid-openai-tools-call}]\n",
            )
        ]
    )
    assert [c.kind for c in imported.test_set.cases[0].checks] == ["is-valid-openai-tools-call"]
    assert not any("is-valid-openai-tools-call" in line for line in imported.report)
