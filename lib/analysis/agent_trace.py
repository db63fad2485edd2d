"""A built-in agent conversation: a small weather agent with several tool rounds, whose last answer
depends on a tool result.

The trace is three rounds (a weather lookup for Rome, a time-zone lookup, a weather lookup for the
city asked about), each an assistant's tool call, the tool's result and the assistant's answer.
The assistant's answers restate only part of each result; the question that follows asks for what
only the last weather result holds (the wind speed). So with the result in the context the model
can answer, and with the result cleared (the *clear old tool results* strategy keeping none) it
cannot: on SmolLM2-135M at temperature 0, the right wind speed in 10 of 10 cities with every result
sent, and with the older two cleared (the last one kept); in 0 of 10 with all three cleared
(`bench/agent_trace.py` measures it).

Messages are Chat Completions wire dicts, turned into the history's `Message`s by `Message.from_api`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

SYSTEM = "You are a weather assistant. Answer from the tool results."

# Ten cities and the wind speed (km/h) their weather result reports: the right answer to look for.
CITIES: tuple[tuple[str, int], ...] = (
    ("Oslo", 37),
    ("Lima", 14),
    ("Cairo", 23),
    ("Perth", 41),
    ("Quito", 9),
    ("Dublin", 52),
    ("Hanoi", 18),
    ("Tunis", 29),
    ("Reno", 46),
    ("Bergen", 63),
)

TOOLS: tuple[dict, ...] = (
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "The current weather in a city: temperature, conditions, wind and humidity.",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string", "description": "The city's name"}},
                "required": ["city"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "lookup_timezone",
            "description": "A city's offset from UTC.",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string", "description": "The city's name"}},
                "required": ["city"],
            },
        },
    },
)


@dataclass(frozen=True)
class AgentCase:
    city: str
    wind_kmh: int
    messages: tuple[dict, ...]  # the history, as wire dicts, oldest first
    question: str

    @property
    def expected(self) -> str:
        return str(self.wind_kmh)

    def answered(self, answer: str) -> bool:
        """The answer names the wind speed the tool reported (as a number of its own, not inside another)."""
        import re

        return re.search(rf"(?<!\d){self.wind_kmh}(?!\d)", answer) is not None


def _call(number: int, name: str, arguments: dict) -> dict:
    function = {"name": name, "arguments": json.dumps(arguments)}
    return {
        "role": "assistant",
        "content": "",
        "tool_calls": [{"id": f"call_{number}", "type": "function", "function": function}],
    }


def _result(number: int, content: dict) -> dict:
    return {"role": "tool", "tool_call_id": f"call_{number}", "content": json.dumps(content)}


def case(city: str, wind_kmh: int) -> AgentCase:
    weather = {"city": city, "temp_c": 12, "conditions": "cloudy", "wind_kmh": wind_kmh, "humidity": 70}
    messages = (
        {"role": "user", "content": "Find a city for a picnic: start with Rome."},
        _call(0, "get_weather", {"city": "Rome"}),
        _result(0, {"city": "Rome", "temp_c": 24, "conditions": "sunny", "wind_kmh": 5, "humidity": 40}),
        {"role": "assistant", "content": "Rome is sunny and 24 °C: good for a picnic."},
        {"role": "user", "content": f"Which time zone is {city} in?"},
        _call(1, "lookup_timezone", {"city": city}),
        _result(1, {"city": city, "utc_offset": "+01:00"}),
        {"role": "assistant", "content": f"{city} is at UTC+01:00."},
        {"role": "user", "content": f"What is the weather in {city}?"},
        _call(2, "get_weather", {"city": city}),
        _result(2, weather),
        {"role": "assistant", "content": f"It is cloudy in {city}, 12 °C."},
    )
    return AgentCase(city, wind_kmh, messages, f"What is the wind speed in {city}?")


def cases() -> list[AgentCase]:
    return [case(city, wind) for city, wind in CITIES]


BUILT_IN = case(*CITIES[0])  # the one the chat page loads
