"""`python -m tests.e2e.composition_screenshot`: the composition bar at 1280×800, from the running app, into
docs/screenshots/composition-bar.png. An agent session is imported (no call spent): the built-in
weather agent's rounds, then a day of station readings whose tool results fill most of the window."""

from __future__ import annotations

import json

from playwright.sync_api import sync_playwright

from lib.analysis.agent_trace import BUILT_IN, SYSTEM, TOOLS
from lib.backends.embedded import free_port
from lib.context.conversation import Message, SystemPrompt
from lib.context.tools import ToolDefinition
from lib.store.session import Session, export_json, new_session_id
from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS, ROOT, start_app

OUT = ROOT / "docs" / "screenshots" / "composition-bar.png"
SCREEN = {"width": 1280, "height": 800}


def readings(station: int, rows: int) -> str:
    """A tool result of about 60 characters a row: a day of a weather station's hourly readings."""
    hours = [{"hour": h, "temp_c": (station + h) % 25, "wind_kmh": (station * 3 + h) % 40} for h in range(rows)]
    return json.dumps({"station": station, "readings": hours})


def agent_messages(rounds: int = 12, rows: int = 24) -> list[Message]:
    """The built-in weather trace, then `rounds` rounds of a station's readings and an answer each."""
    messages = [Message.from_api(m) for m in BUILT_IN.messages]
    for i in range(rounds):
        call = {
            "id": f"call_s{i}",
            "type": "function",
            "function": {"name": "get_readings", "arguments": json.dumps({"station": i})},
        }
        messages += [
            Message("user", f"And station {i}: was it windy today?"),
            Message.from_api({"role": "assistant", "content": "", "tool_calls": [call]}),
            Message.from_api({"role": "tool", "tool_call_id": f"call_s{i}", "content": readings(i, rows)}),
            Message("assistant", f"Station {i} had a light wind most of the day."),
        ]
    return messages


def agent_session_json(rounds: int = 12, rows: int = 24) -> str:
    tools = tuple(ToolDefinition.from_api(t) for t in TOOLS)
    messages = tuple(agent_messages(rounds, rows))
    session = Session(
        new_session_id(), title="Weather agent", system=SystemPrompt(SYSTEM), messages=messages, tools=tools
    )
    return export_json(session)


def import_agent_session(page, rounds: int = 12, rows: int = 24) -> None:
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(
        files=[
            {"name": "agent.json", "mimeType": "application/json", "buffer": agent_session_json(rounds, rows).encode()}
        ]
    )
    page.get_by_text("Imported Weather agent").wait_for()


def main() -> None:
    port = free_port()
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        process = start_app(port, {"CONTEXT_LAB_DB": f"{folder}/context_lab.db"})
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
                page = browser.new_page(viewport=SCREEN)
                page.set_default_timeout(300_000)
                page.goto(f"http://127.0.0.1:{port}")
                page.get_by_text("Context Lab").first.wait_for()
                import_agent_session(page, rounds=8)
                page.get_by_label("Your message").click()
                # Typed, not sent: the draft is applied as typing pauses, and the meter counts it.
                page.keyboard.type("Which station was the windiest?", delay=20)
                page.wait_for_timeout(3000)
                bar = page.locator(".st-key-composition")
                bar.locator(".composition-bar [data-part]").first.wait_for()
                page.wait_for_timeout(2000)
                bar.scroll_into_view_if_needed()
                page.wait_for_timeout(1000)
                page.screenshot(path=OUT)
                browser.close()
        finally:
            process.terminate()
            process.wait(timeout=20)
    print(OUT)


if __name__ == "__main__":
    main()
