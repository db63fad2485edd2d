"""Entry point of the embedded server's process: llama-cpp-python's server, two small additions.

`python -m lib.llama_server PARENT_PID [llama_cpp.server arguments…]`
- A watchdog ends the server as soon as the app that started it is gone, whatever thread started
  it (PR_SET_PDEATHSIG fires when the *thread* ends, and Streamlit starts resources in threads).
- Streamed chat completions end with a usage chunk, as OpenAI's do when asked with
  `stream_options.include_usage`: llama-cpp-python's server sends none while streaming. The
  numbers are the server's own: the length of the token list its chat handler evaluated.
"""

from __future__ import annotations

import os
import runpy
import sys
import threading
import time
from collections.abc import Iterator


def _watch(parent_pid: int) -> None:
    while True:
        if os.getppid() != parent_pid:
            os._exit(0)
        time.sleep(0.5)


def _add_stream_usage() -> None:
    from llama_cpp import Llama

    create_completion = Llama.create_completion
    create_chat_completion = Llama.create_chat_completion

    def recording_completion(self, prompt, *args, **kwargs):
        self._context_lab_prompt_tokens = len(prompt) if isinstance(prompt, list) else None
        return create_completion(self, prompt, *args, **kwargs)

    def chat_completion_with_usage(self, *args, **kwargs):
        result = create_chat_completion(self, *args, **kwargs)
        return _with_usage(self, result) if kwargs.get("stream") else result

    Llama.create_completion = recording_completion
    Llama.create_chat_completion = chat_completion_with_usage


def _with_usage(llama, chunks: Iterator[dict]) -> Iterator[dict]:
    last = None
    for chunk in chunks:
        last = chunk
        yield chunk
    prompt_tokens = getattr(llama, "_context_lab_prompt_tokens", None)
    if last is None or prompt_tokens is None:
        return
    # The context holds every generated token but the last one when the reply stopped on length.
    finished_on_length = any(c.get("finish_reason") == "length" for c in last.get("choices", []))
    completion_tokens = max(0, llama.n_tokens - prompt_tokens) + int(finished_on_length)
    usage = {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }
    yield {**{k: last[k] for k in ("id", "object", "created", "model")}, "choices": [], "usage": usage}


def main() -> None:
    parent_pid = int(sys.argv[1])
    threading.Thread(target=_watch, args=(parent_pid,), daemon=True).start()
    _add_stream_usage()
    sys.argv = ["llama_cpp.server", *sys.argv[2:]]
    runpy.run_module("llama_cpp.server", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
