"""A test set's cases as the page shows and edits them (lib/analysis/experiments/cases.py); reading and
writing them in each file format is tests/analysis/experiments/test_formats.py."""

from lib.analysis.experiments.cases import (
    Case,
    Conversation,
    TestSet,
    case_revision,
    history_from_text,
    history_to_text,
    with_case,
)
from lib.analysis.experiments.cases import test_set as make_set  # not collected as a test
from lib.analysis.experiments.kinds import Check
from lib.context.conversation import Message, ToolCall
from lib.context.tools import ToolDefinition, ToolSettings


def test_a_cases_conversation_says_where_its_history_comes_from():
    assert Conversation("current").describe() == "the current session"
    assert Conversation("session", session_id="s-42").describe() == "saved session s-42"
    assert Conversation().describe() == "no history"
    one = Conversation(messages=history_from_text("user: Hi\nassistant: Hello"))
    assert one.describe() == "1 turn written in the case"
    agent = Conversation(
        messages=(
            Message("user", "Weather?"),
            Message("assistant", "", tool_calls=(ToolCall("c1", "get_weather", "{}"), ToolCall("c2", "now", "{}"))),
            Message("tool", "14 °C", tool_call_id="c1"),
            Message("tool", "09:00", tool_call_id="c2"),
            Message("user", "And tomorrow?"),
        ),
        tools=ToolSettings((ToolDefinition("get_weather"), ToolDefinition("now", included=False)), "auto"),
    )
    assert agent.describe() == (
        "2 turns written in the case (2 tool calls, 2 results) · its own tools: get_weather, now (left out) "
        "(tool_choice auto)"
    )


def test_the_history_text_reads_back_as_it_was_written():
    text = "user: My name is Ada.\nassistant: Hello Ada.\nuser: I like foxes."
    assert history_to_text(history_from_text(text)) == text


def test_a_set_is_judged_when_a_case_asks_a_judge():
    plain = Case("c1", "Q?", checks=(Check("contains", "x"),))
    judged = Case("c2", "Q?", checks=(Check("llm-rubric", "Names the city."),))
    assert not make_set("s", [plain]).judged and make_set("s", [plain, judged]).judged


def test_an_edited_case_replaces_its_old_self_in_place_and_gets_another_revision():
    first, second = Case("c1", "First?"), Case("c2", "Second?")
    original = make_set("Set", [first, second], "about things")
    edited = Case("c1", "First, edited?")
    changed = with_case(original, edited, replacing="c1")
    assert isinstance(changed, TestSet) and [c.question for c in changed.cases] == ["First, edited?", "Second?"]
    assert (changed.name, changed.description) == ("Set", "about things")
    assert [c.id for c in with_case(original, Case("c3", "Third?")).cases] == ["c1", "c2", "c3"]
    assert case_revision(first) == case_revision(Case("c1", "First?"))  # the same content, the same revision
    assert case_revision(edited) != case_revision(first)
    assert case_revision(Case("c1", "First?", checks=(Check("contains", "x"),))) != case_revision(first)
