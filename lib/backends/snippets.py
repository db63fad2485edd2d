"""`curl` and Python equivalents of a request plan: run as they are, they send the plan's very body.

The curl snippet carries `serialise(body)`, the compact bytes the app's own call sends; the Python
snippet the body as a literal the SDK sends the same way. Both carry the whole text (only the
on-screen preview shortens a huge message). Keys appear only as environment variables.
"""

from __future__ import annotations

import pprint
import shlex

from lib.backends.providers import ProviderConfig
from lib.context.payload import serialise

# Linux refuses a single command-line argument longer than 128 KiB (MAX_ARG_STRLEN) with "Argument
# list too long"; a body near that size goes through a here-document instead, which has no limit.
ARGUMENT_LIMIT = 100_000
HEREDOC_END = "JSON"


def curl_snippet(config: ProviderConfig, body: dict) -> str:
    lines = [f"curl {shlex.quote(config.endpoint)}", "-H 'Content-Type: application/json'"]
    header = config.backend.key_header(config)
    if header:
        # Double quotes so the shell expands the variable: the key never sits in the snippet.
        lines.append(f'-H "{header}"')
    data = serialise(body).decode()
    if len(data.encode()) <= ARGUMENT_LIMIT:
        lines.append("-d " + shlex.quote(data))
        return " \\\n  ".join(lines)
    # `-d @-` reads the data from standard input and drops its line breaks: compact JSON has none of
    # its own (json escapes them inside strings), so only the here-document's final one goes.
    lines.append(f"-d @- <<'{HEREDOC_END}'")
    return " \\\n  ".join(lines) + f"\n{data}\n{HEREDOC_END}"


def python_snippet(config: ProviderConfig, body: dict) -> str:
    sdk_import, client = config.backend.python_client(config)
    imports = ("import os\n\n" if "os.environ" in client else "") + sdk_import
    # A dict literal keeps the body's key order; the SDK sends it as the app does.
    body_text = pprint.pformat(body, sort_dicts=False, width=96)
    if body.get("stream"):
        call = (
            "for chunk in client.chat.completions.create(**body):\n"
            "    if chunk.choices and chunk.choices[0].delta.content:\n"
            '        print(chunk.choices[0].delta.content, end="", flush=True)\n'
            "print()\n"
        )
    else:  # the whole reply at once: a ChatCompletion, not an iterator of chunks
        call = "completion = client.chat.completions.create(**body)\nprint(completion.choices[0].message.content)\n"
    return f"{imports}\n\n{client}\nbody = {body_text}\n{call}"
