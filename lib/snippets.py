"""`curl` and Python equivalents of a request plan. Keys appear only as environment variables."""

from __future__ import annotations

import json
import pprint
import shlex

from lib.providers import ProviderConfig


def _key_header(config: ProviderConfig) -> str | None:
    if config.kind == "azure":
        return "api-key: $AZURE_OPENAI_API_KEY"
    if config.kind == "openai":
        return "Authorization: Bearer $OPENAI_API_KEY"
    if config.secrets:
        return "Authorization: Bearer $API_KEY"
    return None


def curl_snippet(config: ProviderConfig, body: dict) -> str:
    lines = [f"curl {shlex.quote(config.endpoint)}", "-H 'Content-Type: application/json'"]
    header = _key_header(config)
    if header:
        # Double quotes so the shell expands the variable: the key never sits in the snippet.
        lines.append(f'-H "{header}"')
    lines.append("-d " + shlex.quote(json.dumps(body, ensure_ascii=False, indent=2)))
    return " \\\n  ".join(lines)


def python_snippet(config: ProviderConfig, body: dict) -> str:
    if config.kind == "azure":
        client = (
            "client = AzureOpenAI(\n"
            f"    azure_endpoint={config.base_url!r},\n"
            '    api_key=os.environ["AZURE_OPENAI_API_KEY"],\n'
            f"    api_version={config.api_version!r},\n)"
        )
        imports = "import os\n\nfrom openai import AzureOpenAI"
    else:
        key = (
            'os.environ["OPENAI_API_KEY"]'
            if config.kind == "openai"
            else ('os.environ["API_KEY"]' if config.secrets else '"not-needed"')
        )
        base = "" if config.kind == "openai" else f"base_url={config.base_url!r}, "
        client = f"client = OpenAI({base}api_key={key})"
        imports = "import os\n\nfrom openai import OpenAI"
    body_text = pprint.pformat(body, sort_dicts=False, width=96)
    return (
        f"{imports}\n\n{client}\nbody = {body_text}\n"
        "for chunk in client.chat.completions.create(**body):\n"
        "    if chunk.choices and chunk.choices[0].delta.content:\n"
        '        print(chunk.choices[0].delta.content, end="")\n'
    )
